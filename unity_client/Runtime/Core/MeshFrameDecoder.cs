using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>Axes of the decoded vertices.</summary>
    public enum VertexSpace
    {
        /// <summary>As on the wire: the OpenCV camera frame (x right, y down, z forward).
        /// </summary>
        OpenCV = 0,
        /// <summary>Unity axes (x right, y up, z forward): y negated, nothing else changes.
        /// </summary>
        Unity = 1,
    }

    /// <summary>What <see cref="MeshFrameDecoder"/> produces besides the depth map.</summary>
    public sealed class MeshDecodeOptions
    {
        /// <summary>Rebuild the vertex positions on the CPU (off when a compute shader does
        /// it from <see cref="DecodedMeshFrame.Depth"/> and the ray tables).</summary>
        public bool BuildVertices = true;
        /// <summary>Expand the occluded-face bits to one byte per face (0/1). The packed bits
        /// are always kept in <see cref="DecodedMeshFrame.OccludedPacked"/>.</summary>
        public bool UnpackOccluded = true;
        public VertexSpace Space = VertexSpace.OpenCV;
        /// <summary>Decode MeshFrame.layers into <see cref="DecodedMeshFrame.Layers"/> (a frame
        /// without layers decodes to an empty set either way).</summary>
        public bool DecodeLayers = true;
        /// <summary>At most this many layers, in layer order (0: all): a quality tier's
        /// limit, applied even if the server sent more.</summary>
        public int MaxLayers;
        /// <summary>Keep each layer's visible faces compacted and moved to the world on the
        /// CPU (<see cref="DecodedLayer.Vertices"/>); off when a compute shader builds the
        /// layer from its grid and pose.</summary>
        public bool CompactLayers = true;
        /// <summary>Threads that decode a frame's layers: the decoding thread plus
        /// LayerThreads - 1 background helpers, started on the first frame with two layers or
        /// more (1: the decoding thread only). Layers are independent, so the result is the
        /// same either way.</summary>
        public int LayerThreads = 1;
    }

    /// <summary>
    /// One decoded MeshFrame. Its arrays are owned by the decoder and reused: a frame stays
    /// valid until the decoder has decoded two more frames (it double-buffers, see
    /// <see cref="MeshFrameDecoder"/>). Arrays may be longer than needed: use the counts.
    /// </summary>
    public sealed class DecodedMeshFrame
    {
        public string SceneId;
        public uint FrameIndex;
        public uint NumFrames;
        public double TimeS;
        public int Width;
        public int Height;
        public IntrinsicsData Intrinsics;
        public float FarDepth;
        /// <summary>Vertex H*W in the chosen <see cref="Space"/>.</summary>
        public float CapX, CapY, CapZ;
        public VertexSpace Space;
        public GridFanTopology Topology;
        public ServerTimingsData Timings;

        /// <summary>Sanitised depth, row-major, top row first (H*W).</summary>
        public float[] Depth = new float[0];
        /// <summary>Per column j: float32(float32(j + 0.5) - cx) / fx, and per row i the same
        /// with cy, fy: vertex (i, j) = depth * (RayX[j], RayY[i], 1) (y negated for Unity).
        /// </summary>
        public float[] RayX = new float[0];
        public float[] RayY = new float[0];
        /// <summary>x, y, z per vertex, NumVertices vertices (only with BuildVertices).</summary>
        public float[] Vertices = new float[0];
        public bool HasVertices;
        /// <summary>0/1 per face, NumFaces entries (only with UnpackOccluded and bits sent).
        /// </summary>
        public byte[] Occluded = new byte[0];
        /// <summary>The occluded bits as sent, (NumFaces + 7) / 8 bytes, MSB first.</summary>
        public byte[] OccludedPacked = new byte[0];
        /// <summary>False when the server left the bits out (skip_occluded).</summary>
        public bool HasOccluded;

        /// <summary>RGB bytes, H*W*3, top row first (RAW_RGB colour only).</summary>
        public byte[] ColorRgb = new byte[0];
        public bool HasColorRgb;
        /// <summary>JPEG or PNG colour bytes, untouched (they point into the message).</summary>
        public ByteSlice EncodedColor;
        public ImageEncoding ColorEncoding;
        public bool HasColor;

        /// <summary>The frame's completion layers (empty unless the server sent them and
        /// <see cref="MeshDecodeOptions.DecodeLayers"/> is set); owned by this buffer.
        /// </summary>
        public readonly DecodedLayerSet Layers = new DecodedLayerSet();

        public int NumVertices { get { return Width * Height + 1; } }
        public int NumFaces
        {
            get
            {
                if (Topology != null) return Topology.NumFaces;
                // Layer grids carry no topology object (their size changes every frame).
                return Width < 2 || Height < 2 ? 0 : (int)GridFanTopology.FaceCount(Width, Height);
            }
        }
    }

    /// <summary>
    /// Decodes ex4d.v1.MeshFrame into vertex, index and occlusion data, exactly as
    /// ex4d_bridge.geometry.build_dw_mesh builds them (the rule in geometry.proto):
    /// vertex i*W + j = d * ((j + 0.5 - cx) / fx, (i + 0.5 - cy) / fy, 1) in float32, in that
    /// order of operations; vertex H*W = the closure's cap centre; faces from
    /// <see cref="GridFanTopology"/>; far codes decode to the far depth.
    /// <para>Double-buffered: <see cref="Decode"/> writes into the buffer that is not
    /// <see cref="Current"/> and swaps only on success, so a malformed frame throws
    /// <see cref="Ex4dFormatException"/> and leaves the last good frame untouched. No
    /// allocation once both buffers have seen the resolution. Not thread-safe.</para>
    /// </summary>
    public sealed class MeshFrameDecoder : IDisposable
    {
        readonly MeshDecodeOptions _options;
        readonly DepthDecoder _depth;
        readonly PayloadDecoder _payload;
        readonly CompletionLayerDecoder _layers;
        DecodedMeshFrame _front;
        DecodedMeshFrame _back = new DecodedMeshFrame();

        public MeshFrameDecoder() : this(new MeshDecodeOptions()) { }

        public MeshFrameDecoder(MeshDecodeOptions options)
        {
            _options = options ?? new MeshDecodeOptions();
            var inflater = new ZlibInflater();
            _depth = new DepthDecoder(inflater);
            _payload = new PayloadDecoder(inflater);
            _layers = new CompletionLayerDecoder(this);
        }

        public MeshDecodeOptions Options { get { return _options; } }

        /// <summary>Bytes the layer helper threads allocated so far (0 without helpers).
        /// </summary>
        public long LayerHelperAllocatedBytes { get { return _layers.HelperAllocatedBytes; } }

        /// <summary>Stops the layer helper threads, if any were started.</summary>
        public void Dispose()
        {
            _layers.Dispose();
        }

        /// <summary>The last successfully decoded frame, or null before the first.</summary>
        public DecodedMeshFrame Current { get { return _front; } }

        /// <summary>Frames decoded successfully / rejected as malformed.</summary>
        public long DecodedCount { get; private set; }
        public long RejectedCount { get; private set; }

        /// <summary>Decodes <paramref name="frame"/>; returns the new <see cref="Current"/>.
        /// </summary>
        public DecodedMeshFrame Decode(ref MeshFrameData frame)
        {
            try
            {
                DecodeInto(ref frame, _back);
            }
            catch (Ex4dFormatException e)
            {
                RejectedCount++;
                // Messages are built only on failure, so a good frame allocates nothing.
                throw new Ex4dFormatException("mesh frame " + frame.FrameIndex + ": " + e.Message,
                    e);
            }
            var done = _back;
            _back = _front ?? new DecodedMeshFrame();
            _front = done;
            DecodedCount++;
            return done;
        }

        void DecodeInto(ref MeshFrameData frame, DecodedMeshFrame o)
        {
            DecodeGrid(ref frame, o, false);
            if (_options.DecodeLayers) _layers.DecodeAll(ref frame, o.Layers);
            else o.Layers.Clear();
        }

        /// <summary>Decodes one grid into <paramref name="o"/> (no double-buffering).
        /// A layer grid (<paramref name="layerGrid"/>) gets no cached topology, unpacked bits
        /// or vertices: <see cref="CompletionLayerDecoder"/> reads what it needs directly.
        /// </summary>
        internal void DecodeGrid(ref MeshFrameData frame, DecodedMeshFrame o, bool layerGrid)
        {
            if (frame.Topology != WireTopology.Unspecified && frame.Topology != WireTopology.GridFanV1)
                throw new Ex4dFormatException("unknown topology " + (int)frame.Topology
                    + " (this client knows GRID_FAN_V1)");
            int n = DepthDecoder.CheckSize(frame.Depth.Width, frame.Depth.Height, "depth");
            int w = (int)frame.Depth.Width, h = (int)frame.Depth.Height;
            if (w < 2 || h < 2)
                throw new Ex4dFormatException("a DW-Mesh needs at least 2x2 pixels, got "
                    + w + "x" + h);
            var k = frame.Intrinsics;
            if (k.Width != frame.Depth.Width || k.Height != frame.Depth.Height)
                throw new Ex4dFormatException("intrinsics are for " + k.Width + "x"
                    + k.Height + " but the depth map is " + w + "x" + h);
            if (!IsFinite(k.Fx) || !IsFinite(k.Fy) || !IsFinite(k.Cx) || !IsFinite(k.Cy)
                || k.Fx == 0.0 || k.Fy == 0.0)
                throw new Ex4dFormatException("intrinsics must be finite with non-zero "
                    + "focal lengths");
            if (!(frame.FarDepth > 0.0) || double.IsInfinity(frame.FarDepth))
                throw new Ex4dFormatException("closure far_depth " + frame.FarDepth
                    + " must be positive and finite");
            if (frame.BorderPixels > 1)
                throw new Ex4dFormatException("border of " + frame.BorderPixels
                    + " pixels is not supported (GRID_FAN_V1 has a one-pixel border)");
            var topology = layerGrid ? null : GridFanTopology.Get(w, h);
            long numVertices = (long)w * h + 1;
            long numFaces = GridFanTopology.FaceCount(w, h);
            if (frame.NumVertices != 0 && frame.NumVertices != (ulong)numVertices)
                throw new Ex4dFormatException("num_vertices " + frame.NumVertices
                    + " does not match a " + w + "x" + h + " grid (" + numVertices + ")");
            if (frame.NumFaces != 0 && frame.NumFaces != (ulong)numFaces)
                throw new Ex4dFormatException("num_faces " + frame.NumFaces
                    + " does not match a " + w + "x" + h + " grid (" + numFaces + ")");
            bool hasColor = frame.Color.Width != 0 || frame.Color.Height != 0
                || frame.Color.Data.Count != 0;
            if (hasColor && (frame.Color.Width != frame.Depth.Width
                || frame.Color.Height != frame.Depth.Height))
                throw new Ex4dFormatException("colour is " + frame.Color.Width + "x"
                    + frame.Color.Height + " but the depth map is " + w + "x" + h);

            o.SceneId = frame.SceneId;
            o.FrameIndex = frame.FrameIndex;
            o.NumFrames = frame.NumFrames;
            o.TimeS = frame.TimeS;
            o.Width = w;
            o.Height = h;
            o.Intrinsics = k;
            o.Topology = topology;
            o.Space = _options.Space;
            o.Timings = frame.Timings;
            o.FarDepth = (float)frame.FarDepth;

            // Depth first: the most likely part to be malformed, and the rest depends on it.
            if (o.Depth.Length < n) o.Depth = new float[n];
            float farValue = DepthDecoder.FarValue(ref frame.Depth, frame.FarDepth);
            _depth.Decode(ref frame.Depth, o.Depth, farValue, "depth");

            int faces = (int)numFaces;
            o.HasOccluded = frame.Occluded.Count != 0 || frame.Occluded.Data.Count != 0;
            if (o.HasOccluded)
            {
                ByteSlice packed = _payload.PackedBytes(ref frame.Occluded, faces,
                    "occluded bits");
                int bytes = (faces + 7) / 8;
                if (o.OccludedPacked.Length < bytes) o.OccludedPacked = new byte[bytes];
                Buffer.BlockCopy(packed.Array, packed.Offset, o.OccludedPacked, 0, bytes);
                if (_options.UnpackOccluded && !layerGrid)
                {
                    if (o.Occluded.Length < faces) o.Occluded = new byte[faces];
                    PayloadDecoder.Unpack(new ByteSlice(o.OccludedPacked, 0, bytes), faces,
                        o.Occluded, 1);
                }
            }

            o.HasColor = hasColor;
            o.HasColorRgb = false;
            o.EncodedColor = default(ByteSlice);
            o.ColorEncoding = frame.Color.Encoding;
            if (hasColor)
            {
                if (PayloadDecoder.IsEncodedImage(ref frame.Color, "colour"))
                {
                    o.EncodedColor = frame.Color.Data;
                }
                else
                {
                    if (o.ColorRgb.Length < 3 * n) o.ColorRgb = new byte[3 * n];
                    _payload.DecodeRawRgb(ref frame.Color, o.ColorRgb, "colour");
                    o.HasColorRgb = true;
                }
            }

            BuildRays(o, k, w, h);
            float sign = _options.Space == VertexSpace.Unity ? -1f : 1f;
            if (frame.HasCapCenter)
            {
                o.CapX = (float)frame.CapCenter.X;
                o.CapY = (float)frame.CapCenter.Y;
                o.CapZ = (float)frame.CapCenter.Z;
            }
            else
            {
                // The rule build_dw_mesh uses: the image centre's ray at the far depth.
                double far = frame.FarDepth;
                o.CapX = (float)((w / 2.0 - k.Cx) / k.Fx * far);
                o.CapY = (float)((h / 2.0 - k.Cy) / k.Fy * far);
                o.CapZ = (float)far;
            }
            o.CapY *= sign;

            o.HasVertices = _options.BuildVertices && !layerGrid;
            if (o.HasVertices)
            {
                int nv = 3 * (n + 1);
                if (o.Vertices.Length < nv) o.Vertices = new float[nv];
                BuildVertices(o.Depth, o.RayX, o.RayY, w, h, sign, o.Vertices);
                o.Vertices[3 * n] = o.CapX;
                o.Vertices[3 * n + 1] = o.CapY;
                o.Vertices[3 * n + 2] = o.CapZ;
            }
        }

        static bool IsFinite(double v)
        {
            return !double.IsNaN(v) && !double.IsInfinity(v);
        }

        static void BuildRays(DecodedMeshFrame o, IntrinsicsData k, int w, int h)
        {
            if (o.RayX.Length < w) o.RayX = new float[w];
            if (o.RayY.Length < h) o.RayY = new float[h];
            // Explicit casts force float32 rounding after every step (the CLI may otherwise
            // keep intermediates in higher precision), matching torch's float32 arithmetic.
            float cx = (float)k.Cx, fx = (float)k.Fx, cy = (float)k.Cy, fy = (float)k.Fy;
            for (int j = 0; j < w; j++)
            {
                float t = (float)((float)j + 0.5f);
                t = (float)(t - cx);
                o.RayX[j] = (float)(t / fx);
            }
            for (int i = 0; i < h; i++)
            {
                float t = (float)((float)i + 0.5f);
                t = (float)(t - cy);
                o.RayY[i] = (float)(t / fy);
            }
        }

        /// <summary>vertex (i, j) = d * (RayX[j], sign * RayY[i], 1), float32.</summary>
        public static void BuildVertices(float[] depth, float[] rayX, float[] rayY, int w, int h,
            float sign, float[] vertices)
        {
            int p = 0, v = 0;
            for (int i = 0; i < h; i++)
            {
                float ry = rayY[i];
                for (int j = 0; j < w; j++, p++, v += 3)
                {
                    float d = depth[p];
                    vertices[v] = (float)(d * rayX[j]);
                    // Negation is exact, so Unity space is OpenCV space with y's sign flipped.
                    vertices[v + 1] = sign * (float)(d * ry);
                    vertices[v + 2] = d;
                }
            }
        }
    }
}
