using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>One decoded ViewReply. Arrays are owned by the decoder and reused (valid until
    /// two more replies were decoded); they may be longer than Width*Height.</summary>
    public sealed class DecodedView
    {
        public ulong Sequence;
        public PoseData Pose;
        public double ClientTimeS;
        public uint FrameIndex;
        public uint Dropped;
        public ulong DroppedTotal;
        public IntrinsicsData Intrinsics;
        public ServerTimingsData Timings;
        public int Width;
        public int Height;

        /// <summary>The completed render (the source DW-Mesh composited with the scene's
        /// completion layers; the raw raster when <see cref="CompletionLayers"/> is 0): RGB
        /// bytes (RAW_RGB) or encoded bytes (JPEG/PNG).</summary>
        public ImageEncoding ColorEncoding;
        public byte[] ColorRgb = new byte[0];
        public bool HasColorRgb;
        public ByteSlice EncodedColor;

        /// <summary>Width*Height mask values, top row first: <see cref="ViewReplyDecoder.MaskOn"/>
        /// where the mesh is seen, 0 elsewhere.</summary>
        public byte[] Mask = new byte[0];
        public bool HasMask;

        /// <summary>Rendered z-depth (only when requested), +inf where nothing is seen.</summary>
        public float[] Depth = new float[0];
        public bool HasDepth;

        /// <summary>Completion layers of this frame in the scene (0: the colour is the raw
        /// render).</summary>
        public uint CompletionLayers;

        /// <summary>Width*Height <see cref="Core.Provenance"/> values, top row first (only when
        /// the request asked for provenance).</summary>
        public byte[] Provenance = new byte[0];
        public bool HasProvenance;

        /// <summary>The raw generated frame at exactly this pose, when a generation job has
        /// one.</summary>
        public bool HasGenerated;
        public ImageEncoding GeneratedEncoding;
        public ByteSlice EncodedGenerated;
        public byte[] GeneratedRgb = new byte[0];
        public bool HasGeneratedRgb;
        public int GeneratedWidth;
        public int GeneratedHeight;
        public string GeneratedJobId;
    }

    /// <summary>
    /// Decodes ex4d.v1.ViewReply: colour passed through (JPEG/PNG) or inflated (RAW_RGB), mask
    /// bits unpacked, depth decoded. Double-buffered like <see cref="MeshFrameDecoder"/>: a
    /// malformed reply throws <see cref="Ex4dFormatException"/> and <see cref="Current"/> stays
    /// the last good one. Not thread-safe.
    /// </summary>
    public sealed class ViewReplyDecoder
    {
        readonly DepthDecoder _depth;
        readonly PayloadDecoder _payload;
        DecodedView _front;
        DecodedView _back = new DecodedView();

        /// <summary>Mask value for "seen" (255 fills an 8-bit texture directly; 1 for logic).
        /// </summary>
        public byte MaskOn = 255;

        public ViewReplyDecoder()
        {
            var inflater = new ZlibInflater();
            _depth = new DepthDecoder(inflater);
            _payload = new PayloadDecoder(inflater);
        }

        public DecodedView Current { get { return _front; } }
        public long DecodedCount { get; private set; }
        public long RejectedCount { get; private set; }

        public DecodedView Decode(ref ViewReplyData reply)
        {
            try
            {
                DecodeInto(ref reply, _back);
            }
            catch (Ex4dFormatException e)
            {
                RejectedCount++;
                throw new Ex4dFormatException("view reply " + reply.Sequence + ": " + e.Message,
                    e);
            }
            var done = _back;
            _back = _front ?? new DecodedView();
            _front = done;
            DecodedCount++;
            return done;
        }

        void DecodeInto(ref ViewReplyData r, DecodedView o)
        {
            int n = DepthDecoder.CheckSize(r.Color.Width, r.Color.Height, "colour");
            int w = (int)r.Color.Width, h = (int)r.Color.Height;
            if ((r.Intrinsics.Width != 0 || r.Intrinsics.Height != 0)
                && (r.Intrinsics.Width != r.Color.Width || r.Intrinsics.Height != r.Color.Height))
                throw new Ex4dFormatException("intrinsics are for " + r.Intrinsics.Width
                    + "x" + r.Intrinsics.Height + " but the colour is " + w + "x" + h);
            o.Sequence = r.Sequence;
            o.Pose = r.Pose;
            o.ClientTimeS = r.ClientTimeS;
            o.FrameIndex = r.FrameIndex;
            o.Dropped = r.Dropped;
            o.DroppedTotal = r.DroppedTotal;
            o.Intrinsics = r.Intrinsics;
            o.Timings = r.Timings;
            o.Width = w;
            o.Height = h;

            o.ColorEncoding = r.Color.Encoding;
            o.HasColorRgb = false;
            o.EncodedColor = default(ByteSlice);
            if (PayloadDecoder.IsEncodedImage(ref r.Color, "colour"))
            {
                o.EncodedColor = r.Color.Data;
            }
            else
            {
                if (o.ColorRgb.Length < 3 * n) o.ColorRgb = new byte[3 * n];
                _payload.DecodeRawRgb(ref r.Color, o.ColorRgb, "colour");
                o.HasColorRgb = true;
            }

            o.HasMask = r.Mask.Count != 0 || r.Mask.Data.Count != 0;
            if (o.HasMask)
            {
                if (o.Mask.Length < n) o.Mask = new byte[n];
                _payload.UnpackBits(ref r.Mask, n, o.Mask, MaskOn, "mask");
            }

            o.HasDepth = r.HasDepth;
            if (r.HasDepth)
            {
                if (r.Depth.Width != r.Color.Width || r.Depth.Height != r.Color.Height)
                    throw new Ex4dFormatException("depth is " + r.Depth.Width + "x"
                        + r.Depth.Height + " but the colour is " + w + "x" + h);
                if (o.Depth.Length < n) o.Depth = new float[n];
                float far = DepthDecoder.FarValue(ref r.Depth, double.PositiveInfinity);
                _depth.Decode(ref r.Depth, o.Depth, far, "depth");
            }

            o.CompletionLayers = r.CompletionLayers;
            o.HasProvenance = r.HasProvenance;
            if (r.HasProvenance)
            {
                if (r.Provenance.Width != r.Color.Width || r.Provenance.Height != r.Color.Height)
                    throw new Ex4dFormatException("provenance is " + r.Provenance.Width + "x"
                        + r.Provenance.Height + " but the colour is " + w + "x" + h);
                if (o.Provenance.Length < n) o.Provenance = new byte[n];
                DecodeProvenance(ref r.Provenance, o.Provenance, n);
            }

            o.HasGenerated = r.HasGenerated;
            o.GeneratedJobId = r.GeneratedJobId;
            o.HasGeneratedRgb = false;
            o.EncodedGenerated = default(ByteSlice);
            o.GeneratedEncoding = r.Generated.Encoding;
            o.GeneratedWidth = (int)Math.Min(r.Generated.Width, (uint)int.MaxValue);
            o.GeneratedHeight = (int)Math.Min(r.Generated.Height, (uint)int.MaxValue);
            if (r.HasGenerated)
            {
                if (PayloadDecoder.IsEncodedImage(ref r.Generated, "generated view"))
                {
                    o.EncodedGenerated = r.Generated.Data;
                }
                else
                {
                    int g = DepthDecoder.CheckSize(r.Generated.Width, r.Generated.Height,
                        "generated view") * 3;
                    if (o.GeneratedRgb.Length < g) o.GeneratedRgb = new byte[g];
                    _payload.DecodeRawRgb(ref r.Generated, o.GeneratedRgb,
                        "generated view");
                    o.HasGeneratedRgb = true;
                }
            }
        }

        void DecodeProvenance(ref ProvenanceMapData map, byte[] output, int n)
        {
            map.Data.Validate("provenance");
            if (map.Compression == Compression.None)
            {
                if (map.Data.Count != n)
                    throw new Ex4dFormatException("provenance: expected " + n + " bytes (one "
                        + "per pixel), got " + map.Data.Count);
                Buffer.BlockCopy(map.Data.Array, map.Data.Offset, output, 0, n);
            }
            else if (map.Compression == Compression.Zlib)
            {
                _payload.Inflater.Inflate(map.Data, output, 0, n, "provenance");
            }
            else
            {
                throw new Ex4dFormatException("provenance: unknown compression "
                    + (int)map.Compression);
            }
            // A value this client does not know would be drawn as something it is not.
            for (int i = 0; i < n; i++)
                if (output[i] > (byte)Core.Provenance.Nearby)
                    throw new Ex4dFormatException("provenance: unknown value " + output[i]
                        + " at pixel " + i + " (this client knows HOLE, SOURCE, COMPLETION, "
                        + "NEARBY)");
        }
    }
}
