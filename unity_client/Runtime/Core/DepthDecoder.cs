using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Decodes ex4d.v1.DepthMap payloads (every DepthEncoding, the GRADIENT predictor, zlib)
    /// into a float32 row-major array, top row first. Owns its scratch buffers: after the first
    /// frame of a given size it allocates nothing. Not thread-safe; use one per thread.
    /// </summary>
    public sealed class DepthDecoder
    {
        /// <summary>Largest width or height accepted (the server's MAX_RESOLUTION).</summary>
        public const int MaxResolution = 4096;

        /// <summary>UINT16_INVERSE codes 0..65534 carry depth; 65535 is the far code.</summary>
        public const int Uint16Steps = 65534;
        public const int FarCode = 65535;

        readonly ZlibInflater _inflater;
        byte[] _raw = new byte[0];
        ushort[] _codes = new ushort[0];
        ushort[] _columnSums = new ushort[0];

        public DepthDecoder() : this(new ZlibInflater()) { }

        public DepthDecoder(ZlibInflater inflater)
        {
            _inflater = inflater ?? throw new ArgumentNullException("inflater");
        }

        /// <summary>The UINT16 codes of the last UINT16_INVERSE map, after the predictor was
        /// undone (valid for the first width*height entries).</summary>
        public ushort[] LastCodes { get { return _codes; } }

        /// <summary>Checks width/height and returns width*height.</summary>
        public static int CheckSize(uint width, uint height, string what)
        {
            if (width < 1 || height < 1 || width > MaxResolution || height > MaxResolution)
                throw new Ex4dFormatException(what + ": size " + width + "x" + height
                    + " is out of range (1.." + MaxResolution + " each)");
            return (int)width * (int)height;
        }

        /// <summary>
        /// Decodes <paramref name="map"/> into output[0 .. width*height). Far codes (65535, or
        /// +inf/NaN in the float encodings) become <paramref name="farValue"/>; pass the map's
        /// FarCodeDepth, or a fallback where the sender left it unset (see
        /// <see cref="FarValue"/>). Throws <see cref="Ex4dFormatException"/> on malformed data.
        /// </summary>
        public void Decode(ref DepthMapData map, float[] output, float farValue, string what)
        {
            int n = CheckSize(map.Width, map.Height, what);
            if (output == null || output.Length < n)
                throw new ArgumentException("output needs " + n + " floats");
            var encoding = map.Encoding == DepthEncoding.Unspecified
                ? DepthEncoding.Uint16Inverse
                : map.Encoding;
            int bytesPerSample;
            switch (encoding)
            {
                case DepthEncoding.Uint16Inverse:
                case DepthEncoding.Float16:
                    bytesPerSample = 2;
                    break;
                case DepthEncoding.Float32:
                    bytesPerSample = 4;
                    break;
                default:
                    throw new Ex4dFormatException(what + ": unknown depth encoding "
                        + (int)map.Encoding + " (this client knows UINT16_INVERSE, FLOAT16, "
                        + "FLOAT32)");
            }
            if (map.Predictor != DepthPredictor.None)
            {
                if (map.Predictor != DepthPredictor.Gradient)
                    throw new Ex4dFormatException(what + ": unknown depth predictor "
                        + (int)map.Predictor);
                if (encoding != DepthEncoding.Uint16Inverse)
                    throw new Ex4dFormatException(what + ": the GRADIENT predictor is only "
                        + "defined for UINT16_INVERSE, not " + encoding);
            }

            int byteCount = n * bytesPerSample;
            ByteSlice raw = Payload(ref map.Data, map.Compression, byteCount, what);

            switch (encoding)
            {
                case DepthEncoding.Uint16Inverse:
                    DecodeUint16(ref map, raw, n, output, farValue, what);
                    break;
                case DepthEncoding.Float16:
                    DecodeFloat16(raw, n, output, farValue);
                    break;
                default:
                    DecodeFloat32(raw, n, output, farValue);
                    break;
            }
        }

        /// <summary>The value far codes decode to: the map's FarCodeDepth when set (non-zero),
        /// otherwise <paramref name="fallback"/> (the mesh's far depth, or +inf for a view).
        /// </summary>
        public static float FarValue(ref DepthMapData map, double fallback)
        {
            double v = map.FarCodeDepth;
            if (v == 0.0 || double.IsNaN(v)) v = fallback;
            return (float)v;
        }

        /// <summary>The uncompressed payload: the data itself, or it inflated into a scratch
        /// buffer. Checks the length either way.</summary>
        ByteSlice Payload(ref ByteSlice data, Compression compression, int byteCount,
            string what)
        {
            data.Validate(what);
            if (compression == Compression.None)
            {
                if (data.Count != byteCount)
                    throw new Ex4dFormatException(what + ": expected " + byteCount
                        + " bytes, got " + data.Count);
                return data;
            }
            if (compression != Compression.Zlib)
                throw new Ex4dFormatException(what + ": unknown compression " + (int)compression);
            if (_raw.Length < byteCount) _raw = new byte[byteCount];
            _inflater.Inflate(data, _raw, 0, byteCount, what);
            return new ByteSlice(_raw, 0, byteCount);
        }

        void DecodeUint16(ref DepthMapData map, ByteSlice raw, int n, float[] output,
            float farValue, string what)
        {
            double near = map.Near, far = map.Far;
            if (!(near > 0.0) || !(far >= near) || double.IsInfinity(far))
                throw new Ex4dFormatException(what + ": depth range near=" + near.ToString("R")
                    + ", far=" + far.ToString("R") + " is invalid (need 0 < near <= far, finite)");
            double invFar = 1.0 / far;
            double step = (1.0 / near - 1.0 / far) / Uint16Steps;
            if (_codes.Length < n) _codes = new ushort[n];
            var codes = _codes;
            // Little-endian samples; Buffer.BlockCopy keeps the host order.
            Buffer.BlockCopy(raw.Array, raw.Offset, codes, 0, n * 2);
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < n; i++) codes[i] = (ushort)((codes[i] >> 8) | (codes[i] << 8));

            if (map.Predictor == DepthPredictor.Gradient)
            {
                // Undo the predictor (r = q - (left + up - upleft) mod 2^16: a running sum down
                // each column, then along each row) and dequantise in one pass over the codes;
                // a padded layer grid is mostly far codes, so the loop, not the arithmetic, is
                // the cost (one array of codes is cheaper under Mono than reading byte pairs).
                int width = (int)map.Width, height = (int)map.Height;
                if (_columnSums.Length < width) _columnSums = new ushort[width];
                var col = _columnSums;
                Array.Clear(col, 0, width);
                int o = 0;
                for (int row = 0; row < height; row++)
                {
                    int acc = 0;
                    for (int j = 0; j < width; j++, o++)
                    {
                        int c = (col[j] + codes[o]) & 0xFFFF;
                        col[j] = (ushort)c;
                        acc = (acc + c) & 0xFFFF;
                        output[o] = acc == FarCode ? farValue : (float)(1.0 / (invFar + acc * step));
                    }
                }
                return;
            }

            // The same operations, in the same order, as the reference decoder
            // (ex4d_bridge.wire.decode_depth), so both agree to the bit.
            for (int i = 0; i < n; i++)
            {
                int q = codes[i];
                output[i] = q == FarCode ? farValue : (float)(1.0 / (invFar + q * step));
            }
        }

        static void DecodeFloat16(ByteSlice raw, int n, float[] output, float farValue)
        {
            var table = HalfFloat.Table;
            var src = raw.Array;
            int p = raw.Offset;
            for (int i = 0; i < n; i++, p += 2)
            {
                float v = table[src[p] | (src[p + 1] << 8)];
                // +inf is the far code; NaN and -inf are treated the same way (no surface).
                output[i] = float.IsNaN(v) || float.IsInfinity(v) ? farValue : v;
            }
        }

        static void DecodeFloat32(ByteSlice raw, int n, float[] output, float farValue)
        {
            Buffer.BlockCopy(raw.Array, raw.Offset, output, 0, n * 4);
            if (!BitConverter.IsLittleEndian)
            {
                var bytes = new byte[4];
                for (int i = 0; i < n; i++)
                {
                    Buffer.BlockCopy(raw.Array, raw.Offset + 4 * i, bytes, 0, 4);
                    Array.Reverse(bytes);
                    output[i] = BitConverter.ToSingle(bytes, 0);
                }
            }
            for (int i = 0; i < n; i++)
            {
                float v = output[i];
                if (float.IsNaN(v) || float.IsInfinity(v)) output[i] = farValue;
            }
        }
    }
}
