using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// One decoded completion layer (ex4d.v1.CompletionLayerFrame). Arrays are owned by the
    /// decoder and reused; they may be longer than needed: use the counts.
    /// </summary>
    public sealed class DecodedLayer
    {
        public uint LayerIndex;
        public string Generation;
        /// <summary>The source frame the layer completes (its mesh's frame_index).</summary>
        public uint FrameIndex;
        /// <summary>The whole generated image's camera, and the box of it the layer covers.
        /// </summary>
        public IntrinsicsData Intrinsics;
        public PixelRegionData Region;

        /// <summary>The generated camera, camera-to-world, 4x4 row-major, OpenCV axes in the
        /// scene's world frame (the pose as sent, normalised and converted if it named another
        /// system).</summary>
        public readonly double[] CameraToWorld = new double[16];
        /// <summary>The same pose in the decoder's <see cref="VertexSpace"/>: position and
        /// rotation (w &gt;= 0) to place a grid built in camera space (the GPU path).</summary>
        public Vec3d Position;
        public Quatd Rotation;

        /// <summary>The padded crop's grid in the generated camera's frame: depth, ray
        /// tables, packed occluded bits and colour (no vertices: see below).</summary>
        public readonly DecodedMeshFrame Grid = new DecodedMeshFrame();

        /// <summary>Bounds of the grid's pixel vertices nearer than the far depth (the
        /// layer's surface and the padding excluded), camera frame, in the decoder's space.
        /// Empty (min &gt; max) when no pixel has a surface.</summary>
        public Vec3d CameraMin, CameraMax;

        /// <summary>Only with <see cref="MeshDecodeOptions.CompactLayers"/>: the visible faces
        /// (occluded bit 0) and the vertices they use, compacted in ascending grid-vertex
        /// order (numpy.unique's), moved to the world by the pose in float64 then rounded to
        /// float32, exactly as ex4d_bridge.wire.decode_layer_frame does.</summary>
        public bool IsCompacted;
        public int NumVertices;
        public int NumFaces;
        /// <summary>x, y, z per vertex, world, in the decoder's space.</summary>
        public float[] Vertices = new float[0];
        /// <summary>3 indices into <see cref="Vertices"/> per face, in the grid's face order.
        /// </summary>
        public int[] Faces = new int[0];
        /// <summary>The grid vertex (row * width + column, or width * height for the cap) of
        /// each compacted vertex: where its colour is in the crop image.</summary>
        public int[] VertexSource = new int[0];
        /// <summary>RGB per compacted vertex (black for the cap), when the colour is RAW_RGB.
        /// </summary>
        public byte[] Colors = new byte[0];
        public bool HasColors;
        /// <summary>World bounds of <see cref="Vertices"/> (empty when no face is visible).
        /// </summary>
        public Vec3d WorldMin, WorldMax;
    }

    /// <summary>A frame's decoded layers: <see cref="Count"/> of <see cref="Items"/>, in layer
    /// order. Items are reused from frame to frame.</summary>
    public sealed class DecodedLayerSet
    {
        DecodedLayer[] _items = new DecodedLayer[0];

        public int Count { get; private set; }
        /// <summary>Layers the frame carried before the decoder's MaxLayers limit.</summary>
        public int Sent { get; internal set; }

        public DecodedLayer this[int i]
        {
            get
            {
                if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException("i");
                return _items[i];
            }
        }

        /// <summary>Visible faces over all compacted layers.</summary>
        public int TotalFaces
        {
            get
            {
                int n = 0;
                for (int i = 0; i < Count; i++) n += _items[i].NumFaces;
                return n;
            }
        }

        internal void Clear()
        {
            Count = 0;
            Sent = 0;
        }

        internal DecodedLayer Slot(int i)
        {
            if (i >= _items.Length)
            {
                // Grows rarely (a frame with more layers than ever before), never per frame.
                var grown = new DecodedLayer[Math.Max(i + 1, 2 * _items.Length)];
                Array.Copy(_items, grown, _items.Length);
                for (int k = _items.Length; k < grown.Length; k++) grown[k] = new DecodedLayer();
                _items = grown;
            }
            return _items[i];
        }

        internal void SetCount(int count)
        {
            Count = count;
        }
    }

    /// <summary>
    /// Decodes CompletionLayerFrames as ex4d_bridge.wire.decode_layer_frame does (the rules in
    /// geometry.proto above CompletionLayerFrame): the padded crop is a MeshFrame decoded by
    /// the MeshFrame rules (every depth encoding, colour, occluded bits); its faces whose
    /// occluded bit is 0 are the layer; world = pose * vertex, in float64, then float32.
    /// Malformed layers throw <see cref="Ex4dFormatException"/>. No allocation once the
    /// buffers have seen the largest layer. Not thread-safe.
    /// </summary>
    public sealed class CompletionLayerDecoder
    {
        /// <summary>np.allclose(rtol=1e-9, atol=1e-9), the Python decoder's lens check.
        /// </summary>
        const double LensTolerance = 1e-9;

        readonly MeshFrameDecoder _grids;
        readonly double[] _axes = new double[9];
        readonly double[] _rotation = new double[9];
        byte[] _used = new byte[0];
        int[] _remap = new int[0];
        // Pass 1's visible grid faces, (top-left vertex << 1) | half, so pass 2 visits only
        // those (a padded grid is mostly occluded faces).
        int[] _visible = new int[0];
        LayerWorkerPool _pool;

        /// <summary>A stand-alone decoder (one layer at a time) with these options' space and
        /// compaction.</summary>
        public CompletionLayerDecoder(MeshDecodeOptions options)
        {
            _grids = new MeshFrameDecoder(options);
        }

        internal CompletionLayerDecoder(MeshFrameDecoder grids)
        {
            _grids = grids;
        }

        public MeshDecodeOptions Options { get { return _grids.Options; } }

        internal long HelperAllocatedBytes { get { return _pool == null ? 0 : _pool.HelperAllocatedBytes; } }

        internal void Dispose()
        {
            if (_pool != null) _pool.Dispose();
            _pool = null;
        }

        /// <summary>Decodes <paramref name="frame"/>'s layers (up to MaxLayers) into
        /// <paramref name="set"/>.</summary>
        public void DecodeAll(ref MeshFrameData frame, DecodedLayerSet set)
        {
            set.Clear();
            int sent = frame.Layers == null ? 0 : frame.NumLayers;
            if (sent < 0 || (frame.Layers != null && sent > frame.Layers.Length))
                throw new Ex4dFormatException("NumLayers " + sent + " is outside the "
                    + (frame.Layers == null ? 0 : frame.Layers.Length) + "-entry layer array");
            int max = Options.MaxLayers;
            int count = max > 0 ? Math.Min(sent, max) : sent;
            if (count > 1 && Options.LayerThreads > 1)
            {
                if (_pool == null) _pool = new LayerWorkerPool(Options, Options.LayerThreads - 1);
                try
                {
                    _pool.Run(this, frame.Layers, count, set);
                }
                catch
                {
                    set.Clear();
                    throw;
                }
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    try
                    {
                        Decode(ref frame.Layers[i], set.Slot(i));
                    }
                    catch (Ex4dFormatException e)
                    {
                        set.Clear();
                        throw new Ex4dFormatException("layer " + i + ": " + e.Message, e);
                    }
                }
            }
            for (int i = 1; i < count; i++)
            {
                if (frame.Layers[i].LayerIndex <= frame.Layers[i - 1].LayerIndex)
                {
                    set.Clear();
                    throw new Ex4dFormatException("layer " + i + ": layer_index "
                        + frame.Layers[i].LayerIndex + " does not follow "
                        + frame.Layers[i - 1].LayerIndex + " (layers come in layer order)");
                }
            }
            set.SetCount(count);
            set.Sent = sent;
        }

        /// <summary>Decodes one layer into <paramref name="o"/>.</summary>
        public void Decode(ref CompletionLayerFrameData msg, DecodedLayer o)
        {
            if (!msg.HasMesh || !msg.HasRegion || !msg.HasPose)
                throw new Ex4dFormatException("a CompletionLayerFrame needs mesh, region and "
                    + "pose (mesh " + msg.HasMesh + ", region " + msg.HasRegion + ", pose "
                    + msg.HasPose + ")");
            var k = msg.Intrinsics;
            var r = msg.Region;
            if (!(r.X0 < r.X1 && r.X1 <= k.Width && r.Y0 < r.Y1 && r.Y1 <= k.Height))
                throw new Ex4dFormatException("layer region (" + r.X0 + ", " + r.Y0 + ", "
                    + r.X1 + ", " + r.Y1 + ") is not inside the " + k.Width + "x" + k.Height
                    + " image");
            if (msg.Mesh.Occluded.Count == 0)
                throw new Ex4dFormatException("a layer's mesh must carry its occluded bits "
                    + "(they define the layer)");
            _grids.DecodeGrid(ref msg.Mesh, o.Grid, true);
            CheckLens(k, r, o.Grid.Intrinsics);
            SetPose(ref msg.Pose, o);

            o.LayerIndex = msg.LayerIndex;
            o.Generation = msg.Generation;
            o.FrameIndex = msg.Mesh.FrameIndex;
            o.Intrinsics = k;
            o.Region = r;
            CameraBounds(o, ref msg.Mesh.Depth);
            o.IsCompacted = Options.CompactLayers;
            o.NumVertices = 0;
            o.NumFaces = 0;
            o.HasColors = false;
            if (o.IsCompacted) Compact(o);
        }

        static void CheckLens(IntrinsicsData k, PixelRegionData r, IntrinsicsData g)
        {
            int w = (int)(r.X1 - r.X0) + 2, h = (int)(r.Y1 - r.Y0) + 2;
            if (g.Width != (uint)w || g.Height != (uint)h)
                throw new Ex4dFormatException("the layer grid is " + g.Width + "x" + g.Height
                    + " but the padded region is " + w + "x" + h);
            double cx = k.Cx - r.X0 + 1, cy = k.Cy - r.Y0 + 1;
            if (!Near(g.Fx, k.Fx) || !Near(g.Fy, k.Fy) || !Near(g.Cx, cx) || !Near(g.Cy, cy))
                throw new Ex4dFormatException("the layer grid's camera (" + g.Fx + ", " + g.Fy
                    + ", " + g.Cx + ", " + g.Cy + ") is not the padded crop of the layer's camera ("
                    + k.Fx + ", " + k.Fy + ", " + cx + ", " + cy + ")");
        }

        static bool Near(double got, double want)
        {
            return Math.Abs(got - want) <= LensTolerance + LensTolerance * Math.Abs(want);
        }

        /// <summary>The pose as an OpenCV camera-to-world matrix and in the output space,
        /// without allocating (Conventions' helpers return new arrays).</summary>
        void SetPose(ref PoseData pose, DecodedLayer o)
        {
            var p = pose.Position;
            var q = pose.Rotation;
            if (!Finite(p.X) || !Finite(p.Y) || !Finite(p.Z))
                throw new Ex4dFormatException("layer pose position contains NaN or infinite "
                    + "values");
            if (!Finite(q.X) || !Finite(q.Y) || !Finite(q.Z) || !Finite(q.W))
                throw new Ex4dFormatException("layer pose rotation contains NaN or infinite "
                    + "values");
            double norm = Math.Sqrt(q.X * q.X + q.Y * q.Y + q.Z * q.Z + q.W * q.W);
            if (norm < Conventions.QuatMinNorm)
                throw new Ex4dFormatException("layer pose rotation has (nearly) zero length");
            int sys = (int)pose.CoordinateSystem;
            if (sys < 1 || sys > 4)
                throw new Ex4dFormatException("layer pose coordinate system " + sys
                    + " is not one of OpenCV, OpenGL, Unity, Unreal");
            double x = q.X / norm, y = q.Y / norm, z = q.Z / norm, w = q.W / norm;
            var rs = _rotation;
            rs[0] = 1.0 - 2.0 * (y * y + z * z);
            rs[1] = 2.0 * (x * y - z * w);
            rs[2] = 2.0 * (x * z + y * w);
            rs[3] = 2.0 * (x * y + z * w);
            rs[4] = 1.0 - 2.0 * (x * x + z * z);
            rs[5] = 2.0 * (y * z - x * w);
            rs[6] = 2.0 * (x * z - y * w);
            rs[7] = 2.0 * (y * z + x * w);
            rs[8] = 1.0 - 2.0 * (x * x + y * y);
            var m = o.CameraToWorld;
            if (pose.CoordinateSystem == WireCoordinateSystem.OpenCV)
            {
                for (int i = 0; i < 3; i++)
                {
                    m[4 * i] = rs[3 * i];
                    m[4 * i + 1] = rs[3 * i + 1];
                    m[4 * i + 2] = rs[3 * i + 2];
                }
                m[3] = p.X;
                m[7] = p.Y;
                m[11] = p.Z;
            }
            else
            {
                // c2w_cv = W c2w_src W^T with W the axis change src -> OpenCV (signed
                // permutation: one non-zero per row).
                Conventions.AxisChange(pose.CoordinateSystem, WireCoordinateSystem.OpenCV, _axes);
                var a = _axes;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                    {
                        double acc = 0;
                        for (int u = 0; u < 3; u++)
                        {
                            if (a[3 * i + u] == 0) continue;
                            for (int v = 0; v < 3; v++)
                                if (a[3 * j + v] != 0) acc += a[3 * i + u] * rs[3 * u + v] * a[3 * j + v];
                        }
                        m[4 * i + j] = acc;
                    }
                m[3] = a[0] * p.X + a[1] * p.Y + a[2] * p.Z;
                m[7] = a[3] * p.X + a[4] * p.Y + a[5] * p.Z;
                m[11] = a[6] * p.X + a[7] * p.Y + a[8] * p.Z;
            }
            m[12] = m[13] = m[14] = 0;
            m[15] = 1;

            // The output space's pose for engines that place the camera-space grid.
            bool unity = Options.Space == VertexSpace.Unity;
            double qx = x, qy = y, qz = z, qw = w;
            if (pose.CoordinateSystem != WireCoordinateSystem.OpenCV)
                QuaternionOf(m, out qx, out qy, out qz, out qw);
            if (unity)
            {
                // W = diag(1, -1, 1) has det -1: M = -W = diag(-1, 1, -1) acts on (x, y, z).
                o.Position = new Vec3d(m[3], -m[7], m[11]);
                qx = -qx;
                qz = -qz;
            }
            else
            {
                o.Position = new Vec3d(m[3], m[7], m[11]);
            }
            o.Rotation = qw < 0 ? new Quatd(-qx, -qy, -qz, -qw) : new Quatd(qx, qy, qz, qw);
        }

        /// <summary>Unit quaternion of the rotation part of a 4x4 row-major matrix (the
        /// largest-diagonal construction of Conventions.MatrixToQuaternion).</summary>
        static void QuaternionOf(double[] m, out double x, out double y, out double z,
            out double w)
        {
            double r00 = m[0], r01 = m[1], r02 = m[2];
            double r10 = m[4], r11 = m[5], r12 = m[6];
            double r20 = m[8], r21 = m[9], r22 = m[10];
            double dx = 1 + r00 - r11 - r22, dy = 1 - r00 + r11 - r22;
            double dz = 1 - r00 - r11 + r22, dw = 1 + r00 + r11 + r22;
            if (dx >= dy && dx >= dz && dx >= dw)
            {
                x = dx; y = r01 + r10; z = r02 + r20; w = r21 - r12;
            }
            else if (dy >= dz && dy >= dw)
            {
                x = r01 + r10; y = dy; z = r12 + r21; w = r02 - r20;
            }
            else if (dz >= dw)
            {
                x = r02 + r20; y = r12 + r21; z = dz; w = r10 - r01;
            }
            else
            {
                x = r21 - r12; y = r02 - r20; z = r10 - r01; w = dw;
            }
            double n = Math.Sqrt(x * x + y * y + z * z + w * w);
            x /= n;
            y /= n;
            z /= n;
            w /= n;
        }

        static bool Finite(double v)
        {
            return !double.IsNaN(v) && !double.IsInfinity(v);
        }

        /// <summary>The box of the grid's camera frustum between the nearest and farthest
        /// surface pixel: a float-only pass for the depth range (the layer is mostly padding,
        /// so a per-pixel unprojection would cost more than the bound is worth).</summary>
        void CameraBounds(DecodedLayer o, ref DepthMapData map)
        {
            var g = o.Grid;
            int n = g.Width * g.Height;
            float far = g.FarDepth;
            float z0 = float.PositiveInfinity, z1 = float.NegativeInfinity;
            var depth = g.Depth;
            if (map.Encoding == DepthEncoding.Uint16Inverse
                || map.Encoding == DepthEncoding.Unspecified)
            {
                // Every UINT16_INVERSE code decodes into [near, far] (code 0 is far, 65534
                // near): the range is known without a pass over the mostly empty grid.
                z0 = (float)map.Near;
                z1 = (float)map.Far;
                if (z1 >= far) z1 = far;
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    float d = depth[i];
                    if (d < far)
                    {
                        if (d < z0) z0 = d;
                        if (d > z1) z1 = d;
                    }
                }
            }
            if (!(z0 <= z1))
            {
                o.CameraMin = new Vec3d(double.PositiveInfinity, double.PositiveInfinity,
                    double.PositiveInfinity);
                o.CameraMax = new Vec3d(double.NegativeInfinity, double.NegativeInfinity,
                    double.NegativeInfinity);
                return;
            }
            // Rays grow with the column (row), so the extremes are the first and last ones.
            double rx0 = g.RayX[0], rx1 = g.RayX[g.Width - 1];
            double ry0 = g.RayY[0], ry1 = g.RayY[g.Height - 1];
            if (g.Space == VertexSpace.Unity)
            {
                double t = ry0;
                ry0 = -ry1;
                ry1 = -t;
            }
            // Vertices are float32 products (and the depths float32 roundings of the range):
            // a little slack so their rounding stays inside.
            double pad = 1e-6 * z1;
            o.CameraMin = new Vec3d(Math.Min(z0 * rx0, z1 * rx0) - pad,
                Math.Min(z0 * ry0, z1 * ry0) - pad, z0 - pad);
            o.CameraMax = new Vec3d(Math.Max(z0 * rx1, z1 * rx1) + pad,
                Math.Max(z0 * ry1, z1 * ry1) + pad, z1 + pad);
        }

        /// <summary>Bit f of the packed occluded bits (MSB first).</summary>
        static bool Occluded(byte[] packed, int f)
        {
            return ((packed[f >> 3] >> (7 - (f & 7))) & 1) != 0;
        }

        void Compact(DecodedLayer o)
        {
            var g = o.Grid;
            int w = g.Width, h = g.Height;
            int n = w * h + 1;
            int cap = w * h;
            int qw = w - 1;
            int quads = qw * (h - 1);
            int loop = 2 * (w + h) - 4;
            int faces = 2 * quads + loop;
            var bits = g.OccludedPacked;
            if (_used.Length < n) _used = new byte[n];
            Array.Clear(_used, 0, n);
            var used = _used;

            // Pass 1: count visible faces and mark the vertices they use. Faces are walked
            // in grid order (all [BL, TL, TR], all [BL, TR, BR], the cap fan), a quad row at
            // a time so no face needs a division; bytes of eight occluded faces (most of a
            // padded grid) are skipped whole.
            int visible = 0;
            int gridVisible = 0;
            if (_visible.Length < 2 * quads) _visible = new int[2 * quads];
            var list = _visible;
            for (int half = 0; half < 2; half++)
            {
                int f = half * quads;
                for (int i = 0; i < h - 1; i++)
                {
                    int tl = i * w;
                    for (int j = 0; j < qw; j++, f++, tl++)
                    {
                        if ((f & 7) == 0 && j + 8 <= qw && bits[f >> 3] == 0xFF)
                        {
                            f += 7;
                            tl += 7;
                            j += 7;
                            continue;
                        }
                        if (((bits[f >> 3] >> (7 - (f & 7))) & 1) != 0) continue;
                        used[tl + w] = 1;
                        used[tl + 1] = 1;
                        used[half == 0 ? tl : tl + w + 1] = 1;
                        list[gridVisible++] = (tl << 1) | half;
                        visible++;
                    }
                }
            }
            for (int f = 2 * quads; f < faces; f++)
            {
                if (Occluded(bits, f)) continue;
                int a, b, c;
                FaceVertices(f, w, h, quads, loop, out a, out b, out c);
                used[a] = used[b] = used[c] = 1;
                visible++;
            }

            if (_remap.Length < n) _remap = new int[n];
            int nv = 0;
            for (int v = 0; v < n; v++)
                if (used[v] != 0) _remap[v] = nv++;
            if (o.Vertices.Length < 3 * nv) o.Vertices = new float[Grow(o.Vertices.Length, 3 * nv)];
            if (o.VertexSource.Length < nv) o.VertexSource = new int[Grow(o.VertexSource.Length, nv)];
            if (o.Faces.Length < 3 * visible) o.Faces = new int[Grow(o.Faces.Length, 3 * visible)];

            // Pass 2: the faces, renumbered, in the same order.
            var outFaces = o.Faces;
            var remap = _remap;
            int p = 0;
            for (int e = 0; e < gridVisible; e++)
            {
                int code = list[e], tl = code >> 1;
                outFaces[p] = remap[tl + w];
                if ((code & 1) == 0)
                {
                    outFaces[p + 1] = remap[tl];
                    outFaces[p + 2] = remap[tl + 1];
                }
                else
                {
                    outFaces[p + 1] = remap[tl + 1];
                    outFaces[p + 2] = remap[tl + w + 1];
                }
                p += 3;
            }
            for (int f = 2 * quads; f < faces; f++)
            {
                if (Occluded(bits, f)) continue;
                int a, b, c;
                FaceVertices(f, w, h, quads, loop, out a, out b, out c);
                outFaces[p] = remap[a];
                outFaces[p + 1] = remap[b];
                outFaces[p + 2] = remap[c];
                p += 3;
            }

            // The used vertices: camera-frame float32 by the MeshFrame rule, then world in
            // float64 (numpy's cam.astype(float64) @ R.T + t), then float32.
            var m = o.CameraToWorld;
            double r00 = m[0], r01 = m[1], r02 = m[2], t0 = m[3];
            double r10 = m[4], r11 = m[5], r12 = m[6], t1 = m[7];
            double r20 = m[8], r21 = m[9], r22 = m[10], t2 = m[11];
            float ySign = Options.Space == VertexSpace.Unity ? -1f : 1f;
            bool rgb = g.HasColorRgb;
            if (rgb && o.Colors.Length < 3 * nv) o.Colors = new byte[Grow(o.Colors.Length, 3 * nv)];
            var verts = o.Vertices;
            var src = o.VertexSource;
            var depth = g.Depth;
            var rayX = g.RayX;
            var rayY = g.RayY;
            // Grid rays are built in the grid's space; the camera vertex needs OpenCV's y.
            float raySign = g.Space == VertexSpace.Unity ? -1f : 1f;
            double minX = double.PositiveInfinity, minY = double.PositiveInfinity;
            double minZ = double.PositiveInfinity, maxX = double.NegativeInfinity;
            double maxY = double.NegativeInfinity, maxZ = double.NegativeInfinity;
            int k = 0;
            for (int v = 0, i = 0, j = 0; v < n; v++)
            {
                if (v > 0 && ++j == w)
                {
                    j = 0;
                    i++;
                }
                if (used[v] == 0) continue;
                float cx, cy, cz;
                if (v == cap)
                {
                    // The cap was stored in the grid's space; back to OpenCV.
                    cx = g.CapX;
                    cy = raySign * g.CapY;
                    cz = g.CapZ;
                }
                else
                {
                    float d = depth[v];
                    cx = (float)(d * rayX[j]);
                    cy = (float)(d * rayY[i]);
                    cz = d;
                }
                double wx = cx * r00 + cy * r01 + cz * r02 + t0;
                double wy = cx * r10 + cy * r11 + cz * r12 + t1;
                double wz = cx * r20 + cy * r21 + cz * r22 + t2;
                float fx = (float)wx, fy = ySign * (float)wy, fz = (float)wz;
                verts[3 * k] = fx;
                verts[3 * k + 1] = fy;
                verts[3 * k + 2] = fz;
                if (fx < minX) minX = fx;
                if (fx > maxX) maxX = fx;
                if (fy < minY) minY = fy;
                if (fy > maxY) maxY = fy;
                if (fz < minZ) minZ = fz;
                if (fz > maxZ) maxZ = fz;
                src[k] = v;
                if (rgb)
                {
                    if (v == cap)
                    {
                        o.Colors[3 * k] = o.Colors[3 * k + 1] = o.Colors[3 * k + 2] = 0;
                    }
                    else
                    {
                        o.Colors[3 * k] = g.ColorRgb[3 * v];
                        o.Colors[3 * k + 1] = g.ColorRgb[3 * v + 1];
                        o.Colors[3 * k + 2] = g.ColorRgb[3 * v + 2];
                    }
                }
                k++;
            }
            o.NumVertices = nv;
            o.NumFaces = visible;
            o.HasColors = rgb;
            o.WorldMin = new Vec3d(minX, minY, minZ);
            o.WorldMax = new Vec3d(maxX, maxY, maxZ);
        }

        static int Grow(int have, int need)
        {
            return Math.Max(need, have + have / 2);
        }

        /// <summary>The vertices of face f of a w x h GRID_FAN_V1 grid, computed rather than
        /// read from a topology table (layer grids change size every frame).</summary>
        public static void FaceVertices(int f, int w, int h, int quads, int loop, out int a,
            out int b, out int c)
        {
            int qw = w - 1;
            if (f < quads)
            {
                int i = f / qw, tl = f + i; // i * w + j with j = f - i * qw
                a = tl + w;
                b = tl;
                c = tl + 1;
                return;
            }
            if (f < 2 * quads)
            {
                int q = f - quads;
                int i = q / qw, tl = q + i;
                a = tl + w;
                b = tl + 1;
                c = tl + w + 1;
                return;
            }
            int m = f - 2 * quads;
            a = w * h;
            b = LoopVertex(m + 1 == loop ? 0 : m + 1, w, h);
            c = LoopVertex(m, w, h);
        }

        /// <summary>Vertex k of the border loop: top row left to right, right column down,
        /// bottom row right to left, left column up (GridFanTopology.BorderLoop).</summary>
        public static int LoopVertex(int k, int w, int h)
        {
            if (k < w) return k;
            k -= w;
            if (k < h - 1) return (k + 1) * w + w - 1;
            k -= h - 1;
            if (k < w - 1) return (h - 1) * w + (w - 2 - k);
            k -= w - 1;
            return (h - 2 - k) * w;
        }
    }
}
