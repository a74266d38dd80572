using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// The fixed triangle list of a DW-Mesh (TOPOLOGY_GRID_FAN_V1, geometry.proto), identical
    /// to ex4d_bridge.geometry.topology.grid_topology. Vertex i*W + j is pixel (row i, column
    /// j); vertex H*W is the cap centre. Faces, in this order:
    /// all [BL, TL, TR] of the pixel quads (row-major), then all [BL, TR, BR], then the cap fan
    /// [cap, loop[k+1], loop[k]] over the border loop (top row left to right, right column
    /// down, bottom row right to left, left column up), k+1 cyclic.
    /// Built once per resolution and shared (immutable after construction).
    /// </summary>
    public sealed class GridFanTopology
    {
        public readonly int Width;
        public readonly int Height;
        /// <summary>3 vertex indices per face, NumFaces faces.</summary>
        public readonly int[] Indices;
        /// <summary>Vertex ids of the border loop, clockwise on the image.</summary>
        public readonly int[] BorderLoop;

        public int NumVertices { get { return Width * Height + 1; } }
        public int NumQuads { get { return (Width - 1) * (Height - 1); } }
        public int NumGridFaces { get { return 2 * NumQuads; } }
        public int NumCapFaces { get { return BorderLoop.Length; } }
        public int NumFaces { get { return NumGridFaces + NumCapFaces; } }
        public int CapVertex { get { return Width * Height; } }

        static readonly object Gate = new object();
        // A few recent resolutions: the player's and the presenter's grids.
        static readonly GridFanTopology[] Cache = new GridFanTopology[4];
        static int _nextSlot;

        /// <summary>Faces for an H x W grid: 2(H-1)(W-1) + 2(H+W) - 4.</summary>
        public static long FaceCount(int width, int height)
        {
            return 2L * (width - 1) * (height - 1) + 2L * (width + height) - 4;
        }

        /// <summary>The topology for a width x height depth map (cached).</summary>
        public static GridFanTopology Get(int width, int height)
        {
            lock (Gate)
            {
                for (int i = 0; i < Cache.Length; i++)
                {
                    var t = Cache[i];
                    if (t != null && t.Width == width && t.Height == height) return t;
                }
                var built = new GridFanTopology(width, height);
                Cache[_nextSlot] = built;
                _nextSlot = (_nextSlot + 1) % Cache.Length;
                return built;
            }
        }

        public GridFanTopology(int width, int height)
        {
            if (width < 2 || height < 2)
                throw new Ex4dFormatException("a DW-Mesh needs at least 2x2 pixels, got "
                    + width + "x" + height);
            if (width > DepthDecoder.MaxResolution || height > DepthDecoder.MaxResolution)
                throw new Ex4dFormatException("grid " + width + "x" + height + " is larger than "
                    + DepthDecoder.MaxResolution + " per side");
            Width = width;
            Height = height;

            int loopLength = 2 * (width + height) - 4;
            BorderLoop = new int[loopLength];
            int k = 0;
            for (int j = 0; j < width; j++) BorderLoop[k++] = j;
            for (int i = 1; i < height; i++) BorderLoop[k++] = i * width + width - 1;
            for (int j = width - 2; j >= 0; j--) BorderLoop[k++] = (height - 1) * width + j;
            for (int i = height - 2; i >= 1; i--) BorderLoop[k++] = i * width;

            int quads = (width - 1) * (height - 1);
            Indices = new int[3 * (2 * quads + loopLength)];
            int f = 0;
            int second = 3 * quads;
            for (int i = 0; i < height - 1; i++)
            {
                for (int j = 0; j < width - 1; j++)
                {
                    int tl = i * width + j;
                    int tr = tl + 1;
                    int bl = tl + width;
                    int br = bl + 1;
                    Indices[f] = bl;
                    Indices[f + 1] = tl;
                    Indices[f + 2] = tr;
                    Indices[second + f] = bl;
                    Indices[second + f + 1] = tr;
                    Indices[second + f + 2] = br;
                    f += 3;
                }
            }
            int cap = width * height;
            int c = 6 * quads;
            for (int m = 0; m < loopLength; m++)
            {
                Indices[c++] = cap;
                Indices[c++] = BorderLoop[(m + 1) % loopLength];
                Indices[c++] = BorderLoop[m];
            }
        }
    }
}
