using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// The grid a renderer draws for a decoded frame: the full DW-Mesh (stride 1) or a coarser
    /// one for standalone headsets (every stride-th pixel, always including the last row and
    /// column, so the far border stays the border), with the same GRID_FAN_V1 topology at the
    /// coarse size. Vertex data is interleaved for a Unity mesh: position (x, y, z) in Unity
    /// axes and (u, t, visibility), 6 floats per vertex, u and t the pixel centre over the
    /// image size with t from the top row. The compute shader in the Unity layer
    /// (Ex4dMeshBuild.compute) is a port of this class; this one is the reference, tested
    /// against the Python library, and the CPU fallback. A coarse vertex carries the
    /// visibility of its whole block of fine pixels, not only of the pixel it samples
    /// (<see cref="BlockRowStart"/>).
    /// </summary>
    public sealed class RenderGrid
    {
        public const int FloatsPerVertex = 6;

        public readonly int FineWidth, FineHeight, Stride;
        public readonly int Width, Height;
        public readonly GridFanTopology Topology;

        /// <summary>The stride that keeps the grid within maxSide vertices per side.</summary>
        public static int StrideFor(int width, int height, int maxSide)
        {
            if (maxSide < 2) maxSide = 2;
            int side = Math.Max(width, height);
            // Coarse side = ceil((side - 1) / stride) + 1 <= maxSide.
            int stride = (side - 1 + maxSide - 2) / (maxSide - 1);
            return Math.Max(1, stride);
        }

        public RenderGrid(int fineWidth, int fineHeight, int stride)
        {
            if (fineWidth < 2 || fineHeight < 2)
                throw new Ex4dArgumentException("a grid needs at least 2x2 pixels");
            if (stride < 1) throw new Ex4dArgumentException("stride must be at least 1");
            FineWidth = fineWidth;
            FineHeight = fineHeight;
            Stride = stride;
            Width = (fineWidth - 1 + stride - 1) / stride + 1;
            Height = (fineHeight - 1 + stride - 1) / stride + 1;
            Topology = GridFanTopology.Get(Width, Height);
            BlockRowStart = new int[Height + 1];
            BlockColumnStart = new int[Width + 1];
            for (int r = 1; r < Height; r++)
            {
                int prev = FineRow(r - 1);
                BlockRowStart[r] = prev + (FineRow(r) - prev) / 2 + 1;
            }
            BlockRowStart[Height] = fineHeight;
            for (int c = 1; c < Width; c++)
            {
                int prev = FineColumn(c - 1);
                BlockColumnStart[c] = prev + (FineColumn(c) - prev + 1) / 2;
            }
            BlockColumnStart[Width] = fineWidth;
        }

        /// <summary>
        /// The fine rows of coarse row r's block are BlockRowStart[r] to BlockRowStart[r+1]
        /// (exclusive); the same for columns. Every fine pixel belongs to the block of its
        /// nearest coarse vertex; a pixel halfway between two coarse rows goes to the upper
        /// one and halfway between two columns to the right one, so a pixel on the diagonal
        /// of a coarse cell belongs to TR or BL, the corners both faces of the cell share
        /// (GRID_FAN_V1 splits each quad along BL-TR). Hence a coarse face is hidden whenever
        /// any fine pixel inside it (its edges included) is invisible: an occluded face lying
        /// between the samples hides the coarse faces drawn over it. At stride 1 each block
        /// is the vertex's own pixel.
        /// </summary>
        public readonly int[] BlockRowStart, BlockColumnStart;

        public int NumVertices { get { return Width * Height + 1; } }

        public int FineColumn(int column)
        {
            return Math.Min(column * Stride, FineWidth - 1);
        }

        public int FineRow(int row)
        {
            return Math.Min(row * Stride, FineHeight - 1);
        }

        /// <summary>
        /// 1 for a pixel vertex that no occluded face touches, 0 otherwise (the reference
        /// renderer's vertex alpha, ex4d_bridge.geometry.DWMesh.vertex_visible): border vertices
        /// touch cap faces, which are always occluded. Without occluded bits every vertex is 1.
        /// </summary>
        public static void VertexVisibility(byte[] occluded, bool hasOccluded, int w, int h,
            float[] visibility)
        {
            int n = w * h;
            if (!hasOccluded)
            {
                for (int v = 0; v < n; v++) visibility[v] = 1f;
                return;
            }
            int qw = w - 1;
            int quads = qw * (h - 1);
            for (int i = 0; i < h; i++)
            {
                for (int j = 0; j < w; j++)
                {
                    int v = i * w + j;
                    if (i == 0 || j == 0 || i == h - 1 || j == w - 1)
                    {
                        visibility[v] = 0f;
                        continue;
                    }
                    // The six faces around an interior vertex (see GridFanTopology):
                    // TL of quad (i, j) in its first face; TR of quad (i, j-1) and BL of quad
                    // (i-1, j) in both faces; BR of quad (i-1, j-1) in its second face.
                    int q = i * qw + j;
                    int up = q - qw;
                    bool hidden = occluded[q] != 0
                        || occluded[q - 1] != 0 || occluded[quads + q - 1] != 0
                        || occluded[up] != 0 || occluded[quads + up] != 0
                        || occluded[quads + up - 1] != 0;
                    visibility[v] = hidden ? 0f : 1f;
                }
            }
        }

        /// <summary>Interleaved vertex data (FloatsPerVertex per vertex, NumVertices) from a
        /// frame decoded in Unity space; <paramref name="fineVisibility"/> from
        /// <see cref="VertexVisibility"/> (per fine pixel; a coarse vertex takes its block's
        /// minimum).</summary>
        public void WriteVertices(DecodedMeshFrame frame, float[] fineVisibility, float[] dst)
        {
            if (frame.Width != FineWidth || frame.Height != FineHeight)
                throw new ArgumentException("frame is " + frame.Width + "x" + frame.Height
                    + ", grid is for " + FineWidth + "x" + FineHeight);
            float sign = frame.Space == VertexSpace.Unity ? -1f : 1f;
            int o = 0;
            for (int r = 0; r < Height; r++)
            {
                int i = FineRow(r);
                float ry = frame.RayY[i];
                float t = (i + 0.5f) / FineHeight;
                for (int c = 0; c < Width; c++, o += FloatsPerVertex)
                {
                    int j = FineColumn(c);
                    int p = i * FineWidth + j;
                    float d = frame.Depth[p];
                    dst[o] = (float)(d * frame.RayX[j]);
                    dst[o + 1] = sign * (float)(d * ry);
                    dst[o + 2] = d;
                    dst[o + 3] = (j + 0.5f) / FineWidth;
                    dst[o + 4] = t;
                    dst[o + 5] = Stride == 1 ? fineVisibility[p] : BlockVisibility(fineVisibility, r, c);
                }
            }
            dst[o] = frame.CapX;
            dst[o + 1] = frame.CapY;
            dst[o + 2] = frame.CapZ;
            dst[o + 3] = 0.5f;
            dst[o + 4] = 0.5f;
            dst[o + 5] = 0f;
        }

        /// <summary>The visibility of coarse vertex (r, c): 0 if any fine pixel of its block
        /// is invisible (see <see cref="BlockRowStart"/>), else 1.</summary>
        public float BlockVisibility(float[] fineVisibility, int r, int c)
        {
            int j0 = BlockColumnStart[c], j1 = BlockColumnStart[c + 1];
            for (int i = BlockRowStart[r], i1 = BlockRowStart[r + 1]; i < i1; i++)
            {
                int row = i * FineWidth;
                for (int j = j0; j < j1; j++)
                    if (fineVisibility[row + j] < 0.5f) return 0f;
            }
            return 1f;
        }

        /// <summary>
        /// The index buffer with hidden faces collapsed onto the cap vertex (degenerate, so
        /// they draw nothing). Full resolution hides exactly the occluded faces; a coarse grid
        /// hides a face when any of its corners is invisible. Cap faces are always hidden.
        /// </summary>
        public void MaskIndices(byte[] fineOccluded, bool hasOccluded, float[] vertexData,
            int[] dst)
        {
            var src = Topology.Indices;
            int faces = Topology.NumFaces;
            int gridFaces = Topology.NumGridFaces;
            int cap = Topology.CapVertex;
            for (int f = 0; f < faces; f++)
            {
                int a = src[3 * f], b = src[3 * f + 1], c = src[3 * f + 2];
                bool hidden;
                if (f >= gridFaces) hidden = true;
                else if (!hasOccluded) hidden = false;
                else if (Stride == 1) hidden = fineOccluded[f] != 0;
                else
                    hidden = vertexData[FloatsPerVertex * a + 5] < 0.5f
                        || vertexData[FloatsPerVertex * b + 5] < 0.5f
                        || vertexData[FloatsPerVertex * c + 5] < 0.5f;
                if (hidden) a = b = c = cap;
                dst[3 * f] = a;
                dst[3 * f + 1] = b;
                dst[3 * f + 2] = c;
            }
        }

        /// <summary>Axis-aligned bounds of anything the frame can hold (the view frustum up
        /// to the far depth), in the frame's space, without scanning the vertices.</summary>
        public static void Bounds(DecodedMeshFrame frame, out Vec3d min, out Vec3d max)
        {
            double far = Math.Max(frame.FarDepth, Math.Abs(frame.CapZ));
            double x0 = Math.Min(frame.RayX[0], frame.RayX[frame.Width - 1]);
            double x1 = Math.Max(frame.RayX[0], frame.RayX[frame.Width - 1]);
            double y0 = Math.Min(frame.RayY[0], frame.RayY[frame.Height - 1]);
            double y1 = Math.Max(frame.RayY[0], frame.RayY[frame.Height - 1]);
            if (frame.Space == VertexSpace.Unity)
            {
                double t = y0;
                y0 = -y1;
                y1 = -t;
            }
            min = new Vec3d(Math.Min(0, Math.Min(x0 * far, frame.CapX)),
                Math.Min(0, Math.Min(y0 * far, frame.CapY)), 0);
            max = new Vec3d(Math.Max(0, Math.Max(x1 * far, frame.CapX)),
                Math.Max(0, Math.Max(y1 * far, frame.CapY)), far);
        }
    }
}
