using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Bit sets (ex4d.v1.PackedBits) and images (ex4d.v1.Image) into caller-visible buffers
    /// that are reused from frame to frame. Not thread-safe; use one per thread.
    /// </summary>
    public sealed class PayloadDecoder
    {
        readonly ZlibInflater _inflater;
        byte[] _bitScratch = new byte[0];

        public PayloadDecoder() : this(new ZlibInflater()) { }

        public PayloadDecoder(ZlibInflater inflater)
        {
            _inflater = inflater ?? throw new ArgumentNullException("inflater");
        }

        public ZlibInflater Inflater { get { return _inflater; } }

        /// <summary>
        /// The packed bytes of <paramref name="bits"/> ((count + 7) / 8 of them, most
        /// significant bit first), inflated if compressed. The slice points into the message
        /// or into a scratch buffer that the next call reuses. Throws unless count equals
        /// <paramref name="expectedCount"/>.
        /// </summary>
        public ByteSlice PackedBytes(ref PackedBitsData bits, long expectedCount, string what)
        {
            if (bits.Count != (ulong)expectedCount)
                throw new Ex4dFormatException(what + ": holds " + bits.Count + " bits, expected "
                    + expectedCount);
            int bytes = (int)((expectedCount + 7) / 8);
            bits.Data.Validate(what);
            if (bits.Compression == Compression.None)
            {
                if (bits.Data.Count != bytes)
                    throw new Ex4dFormatException(what + ": expected " + bytes + " bytes for "
                        + expectedCount + " bits, got " + bits.Data.Count);
                return bits.Data;
            }
            if (bits.Compression != Compression.Zlib)
                throw new Ex4dFormatException(what + ": unknown compression "
                    + (int)bits.Compression);
            if (_bitScratch.Length < bytes) _bitScratch = new byte[bytes];
            _inflater.Inflate(bits.Data, _bitScratch, 0, bytes, what);
            return new ByteSlice(_bitScratch, 0, bytes);
        }

        /// <summary>
        /// Unpacks <paramref name="bits"/> into output[0 .. expectedCount): <paramref name="one"/>
        /// where the bit is set, 0 elsewhere (use 255 to fill an 8-bit mask texture directly).
        /// </summary>
        public void UnpackBits(ref PackedBitsData bits, long expectedCount, byte[] output,
            byte one, string what)
        {
            if (output == null || output.Length < expectedCount)
                throw new ArgumentException("output needs " + expectedCount + " bytes");
            ByteSlice packed = PackedBytes(ref bits, expectedCount, what);
            Unpack(packed, expectedCount, output, one);
        }

        /// <summary>numpy.unpackbits order: bit 7 of byte 0 is element 0.</summary>
        public static void Unpack(ByteSlice packed, long count, byte[] output, byte one)
        {
            var src = packed.Array;
            int whole = (int)(count >> 3);
            int o = 0;
            int p = packed.Offset;
            for (int b = 0; b < whole; b++)
            {
                int v = src[p++];
                output[o] = (v & 0x80) != 0 ? one : (byte)0;
                output[o + 1] = (v & 0x40) != 0 ? one : (byte)0;
                output[o + 2] = (v & 0x20) != 0 ? one : (byte)0;
                output[o + 3] = (v & 0x10) != 0 ? one : (byte)0;
                output[o + 4] = (v & 0x08) != 0 ? one : (byte)0;
                output[o + 5] = (v & 0x04) != 0 ? one : (byte)0;
                output[o + 6] = (v & 0x02) != 0 ? one : (byte)0;
                output[o + 7] = (v & 0x01) != 0 ? one : (byte)0;
                o += 8;
            }
            int rest = (int)(count & 7);
            if (rest > 0)
            {
                int v = src[p];
                for (int k = 0; k < rest; k++) output[o + k] = (v & (0x80 >> k)) != 0 ? one : (byte)0;
            }
        }

        /// <summary>
        /// Raw RGB bytes (width*height*3, top row first) of a RAW_RGB image into
        /// output[0 ..), inflating if compressed. JPEG and PNG are not decoded here: the engine
        /// does that (Texture2D.LoadImage in Unity) from <see cref="ImageData.Data"/>.
        /// </summary>
        public void DecodeRawRgb(ref ImageData image, byte[] output, string what)
        {
            if (image.Encoding != ImageEncoding.RawRgb)
                throw new ArgumentException(what + " is " + image.Encoding + ", not RAW_RGB");
            int n = DepthDecoder.CheckSize(image.Width, image.Height, what) * 3;
            if (output == null || output.Length < n)
                throw new ArgumentException("output needs " + n + " bytes");
            image.Data.Validate(what);
            if (image.Compression == Compression.None)
            {
                if (image.Data.Count != n)
                    throw new Ex4dFormatException(what + ": expected " + n + " RGB bytes ("
                        + image.Width + "x" + image.Height + "x3), got " + image.Data.Count);
                Buffer.BlockCopy(image.Data.Array, image.Data.Offset, output, 0, n);
                return;
            }
            if (image.Compression != Compression.Zlib)
                throw new Ex4dFormatException(what + ": unknown compression "
                    + (int)image.Compression);
            _inflater.Inflate(image.Data, output, 0, n, what);
        }

        /// <summary>Checks an encoded (JPEG/PNG) image's header fields and returns true, or
        /// returns false for RAW_RGB. The bytes themselves are left to the engine.</summary>
        public static bool IsEncodedImage(ref ImageData image, string what)
        {
            switch (image.Encoding)
            {
                case ImageEncoding.Unspecified:
                case ImageEncoding.Jpeg:
                case ImageEncoding.Png:
                    DepthDecoder.CheckSize(image.Width, image.Height, what);
                    image.Data.Validate(what);
                    if (image.Data.Count == 0)
                        throw new Ex4dFormatException(what + ": encoded image has no bytes");
                    if (image.Compression != Compression.None)
                        throw new Ex4dFormatException(what + ": compression is only defined for "
                            + "RAW_RGB images");
                    return true;
                case ImageEncoding.RawRgb:
                    return false;
                default:
                    throw new Ex4dFormatException(what + ": unknown image encoding "
                        + (int)image.Encoding + " (this client knows JPEG, RAW_RGB, PNG)");
            }
        }
    }
}
