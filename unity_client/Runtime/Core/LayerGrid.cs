using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// A completion layer's padded grid as a renderer draws it on the GPU path: every grid
    /// vertex in the generated camera's frame (the engine places the mesh by the layer's pose)
    /// and the full GRID_FAN_V1 index list with occluded faces collapsed onto the cap vertex,
    /// so exactly the faces whose occluded bit is 0 draw. Ex4dLayerBuild.compute is a port of
    /// this class; this one is the reference, tested against the compacted layer (and through
    /// it the Python decoder). Vertex data as <see cref="RenderGrid"/>: position, then
    /// (u, t, visibility) with u, t the pixel centre over the grid size (t from the top row).
    /// </summary>
    public static class LayerGrid
    {
        public const int FloatsPerVertex = RenderGrid.FloatsPerVertex;

        /// <summary>Vertices and indices of a layer's grid.</summary>
        public static int VertexCount(DecodedLayer layer)
        {
            return layer.Grid.Width * layer.Grid.Height + 1;
        }

        public static int IndexCount(DecodedLayer layer)
        {
            return 3 * layer.Grid.NumFaces;
        }

        /// <summary>Interleaved camera-frame vertex data (in the grid's space) of every grid
        /// vertex into dst[0 .. FloatsPerVertex * VertexCount).</summary>
        public static void WriteVertices(DecodedLayer layer, float[] dst)
        {
            var g = layer.Grid;
            int w = g.Width, h = g.Height;
            if (dst == null || dst.Length < FloatsPerVertex * (w * h + 1))
                throw new ArgumentException("dst needs " + FloatsPerVertex * (w * h + 1)
                    + " floats");
            float sign = g.Space == VertexSpace.Unity ? -1f : 1f;
            int o = 0;
            for (int i = 0; i < h; i++)
            {
                float ry = g.RayY[i];
                float t = (i + 0.5f) / h;
                int row = i * w;
                for (int j = 0; j < w; j++, o += FloatsPerVertex)
                {
                    float d = g.Depth[row + j];
                    dst[o] = (float)(d * g.RayX[j]);
                    dst[o + 1] = sign * (float)(d * ry);
                    dst[o + 2] = d;
                    dst[o + 3] = (j + 0.5f) / w;
                    dst[o + 4] = t;
                    dst[o + 5] = 1f;
                }
            }
            dst[o] = g.CapX;
            dst[o + 1] = g.CapY;
            dst[o + 2] = g.CapZ;
            dst[o + 3] = 0.5f;
            dst[o + 4] = 0.5f;
            dst[o + 5] = 0f;
        }

        /// <summary>The grid's faces in GRID_FAN_V1 order into dst[0 .. IndexCount), each
        /// occluded face as (cap, cap, cap), which draws nothing.</summary>
        public static void WriteIndices(DecodedLayer layer, int[] dst)
        {
            var g = layer.Grid;
            int w = g.Width, h = g.Height;
            int quads = (w - 1) * (h - 1);
            int loop = 2 * (w + h) - 4;
            int faces = 2 * quads + loop;
            if (dst == null || dst.Length < 3 * faces)
                throw new ArgumentException("dst needs " + 3 * faces + " indices");
            int cap = w * h;
            var bits = g.OccludedPacked;
            for (int f = 0; f < faces; f++)
            {
                int a, b, c;
                if (((bits[f >> 3] >> (7 - (f & 7))) & 1) != 0)
                {
                    a = b = c = cap;
                }
                else
                {
                    CompletionLayerDecoder.FaceVertices(f, w, h, quads, loop, out a, out b, out c);
                }
                dst[3 * f] = a;
                dst[3 * f + 1] = b;
                dst[3 * f + 2] = c;
            }
        }

        /// <summary>A camera-frame point of the layer moved to the world by the layer's
        /// pose in the decoder's space (what the engine's transform does on the GPU path).
        /// </summary>
        public static Vec3d ToWorld(DecodedLayer layer, double x, double y, double z)
        {
            var q = layer.Rotation;
            // v' = v + 2 w (u x v) + 2 u x (u x v), u = (qx, qy, qz).
            double cx = q.Y * z - q.Z * y, cy = q.Z * x - q.X * z, cz = q.X * y - q.Y * x;
            double dx = q.Y * cz - q.Z * cy, dy = q.Z * cx - q.X * cz, dz = q.X * cy - q.Y * cx;
            return new Vec3d(
                x + 2 * (q.W * cx + dx) + layer.Position.X,
                y + 2 * (q.W * cy + dy) + layer.Position.Y,
                z + 2 * (q.W * cz + dz) + layer.Position.Z);
        }
    }
}
