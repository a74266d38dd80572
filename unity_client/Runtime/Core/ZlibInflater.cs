// zlib (RFC 1950) / DEFLATE (RFC 1951) decoder into a caller-owned buffer.
//
// Why not System.IO.Compression.DeflateStream: a DeflateStream cannot be reset, so every frame
// would allocate a new stream, its internal buffers and a native z_stream (about 8 KiB of
// garbage per payload at 90 Hz), and it does not check the zlib trailer. This decoder keeps its
// tables in the instance, writes straight into the output array, verifies the Adler-32
// checksum, and never allocates after construction. The tests cross-check it against
// DeflateStream on every vector.
using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Inflates zlib streams into preallocated arrays. One instance per decoding thread (it
    /// holds decoding tables); reuse it for every frame.
    /// </summary>
    public sealed class ZlibInflater
    {
        const int MaxBits = 15;
        const int FastBits = 10;
        const int FastMask = (1 << FastBits) - 1;

        static readonly ushort[] LengthBase =
        {
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        };

        static readonly byte[] LengthExtra =
        {
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        };

        static readonly ushort[] DistBase =
        {
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        };

        static readonly byte[] DistExtra =
        {
            0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
            12, 13, 13,
        };

        // Order in which code-length code lengths are stored (RFC 1951, 3.2.7).
        static readonly byte[] CodeLengthOrder =
        {
            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
        };

        /// <summary>A canonical Huffman code: a direct table for codes up to FastBits long,
        /// and counts/symbols for the canonical walk of longer ones.</summary>
        sealed class Huffman
        {
            public readonly short[] Count = new short[MaxBits + 1];
            public readonly short[] Symbol;
            // (symbol << 4) | length for every FastBits-bit pattern that starts with a short
            // code (bits in stream order); 0 where the code is longer (length is never 0).
            public readonly int[] Fast = new int[1 << FastBits];
            readonly short[] _offsets = new short[MaxBits + 2];

            public Huffman(int maxSymbols)
            {
                Symbol = new short[maxSymbols];
            }

            public void Build(byte[] lengths, int start, int n, string what)
            {
                Array.Clear(Count, 0, Count.Length);
                for (int s = 0; s < n; s++) Count[lengths[start + s]]++;
                Count[0] = 0;
                int left = 1;
                for (int len = 1; len <= MaxBits; len++)
                {
                    left <<= 1;
                    left -= Count[len];
                    if (left < 0)
                        throw new Ex4dFormatException("corrupt zlib data: over-subscribed " + what
                            + " code");
                }
                _offsets[1] = 0;
                for (int len = 1; len < MaxBits; len++)
                    _offsets[len + 1] = (short)(_offsets[len] + Count[len]);
                for (int s = 0; s < n; s++)
                {
                    int len = lengths[start + s];
                    if (len != 0) Symbol[_offsets[len]++] = (short)s;
                }

                Array.Clear(Fast, 0, Fast.Length);
                int code = 0;
                int index = 0;
                for (int len = 1; len <= FastBits; len++)
                {
                    for (int k = 0; k < Count[len]; k++)
                    {
                        int sym = Symbol[index++];
                        int reversed = Reverse(code, len);
                        int entry = (sym << 4) | len;
                        for (int fill = reversed; fill < (1 << FastBits); fill += 1 << len)
                            Fast[fill] = entry;
                        code++;
                    }
                    code <<= 1;
                }
            }

            static int Reverse(int code, int len)
            {
                int r = 0;
                for (int i = 0; i < len; i++)
                {
                    r = (r << 1) | (code & 1);
                    code >>= 1;
                }
                return r;
            }
        }

        readonly Huffman _lit = new Huffman(288);
        readonly Huffman _dist = new Huffman(32);
        readonly Huffman _codeLengths = new Huffman(19);
        readonly Huffman _fixedLit = new Huffman(288);
        readonly Huffman _fixedDist = new Huffman(32);
        readonly byte[] _lengths = new byte[288 + 32];

        // Decoder state for one call.
        byte[] _src;
        int _pos;
        int _end;
        ulong _bits;
        int _bitCount;
        // Bits "read" past the end of the input (zero-filled); any use of them is truncation.
        int _phantomBits;

        public ZlibInflater()
        {
            for (int i = 0; i < 144; i++) _lengths[i] = 8;
            for (int i = 144; i < 256; i++) _lengths[i] = 9;
            for (int i = 256; i < 280; i++) _lengths[i] = 7;
            for (int i = 280; i < 288; i++) _lengths[i] = 8;
            _fixedLit.Build(_lengths, 0, 288, "literal/length");
            for (int i = 0; i < 30; i++) _lengths[i] = 5;
            _fixedDist.Build(_lengths, 0, 30, "distance");
        }

        /// <summary>
        /// Inflates the zlib stream <paramref name="src"/> into
        /// dst[dstOffset .. dstOffset + expectedLength) and returns expectedLength. Throws
        /// <see cref="Ex4dFormatException"/> (naming <paramref name="what"/>) when the stream is
        /// corrupt or truncated, its checksum is wrong, or it holds more or fewer bytes than
        /// expected. Bytes after the stream's trailer are ignored, as Python's zlib does.
        /// </summary>
        public int Inflate(ByteSlice src, byte[] dst, int dstOffset, int expectedLength,
            string what)
        {
            src.Validate(what);
            if (dst == null || dstOffset < 0 || expectedLength < 0
                || dstOffset > dst.Length - expectedLength)
                throw new ArgumentException("output buffer too small for " + expectedLength
                    + " bytes");
            if (src.Count < 6)
                throw new Ex4dFormatException(what + ": zlib stream of " + src.Count
                    + " bytes is truncated (a stream has at least 6)");
            byte cmf = src.Array[src.Offset];
            byte flg = src.Array[src.Offset + 1];
            if ((cmf & 0x0F) != 8 || (cmf >> 4) > 7 || ((cmf << 8) | flg) % 31 != 0)
                throw new Ex4dFormatException(what + ": not a zlib stream (bad header bytes 0x"
                    + cmf.ToString("x2") + " 0x" + flg.ToString("x2")
                    + "); expected compression ZLIB data as zlib.compress writes it");
            if ((flg & 0x20) != 0)
                throw new Ex4dFormatException(what
                    + ": zlib stream needs a preset dictionary, which the contract never uses");

            _src = src.Array;
            _pos = src.Offset + 2;
            _end = src.Offset + src.Count;
            _bits = 0;
            _bitCount = 0;
            _phantomBits = 0;
            int outEnd = dstOffset + expectedLength;
            int outPos = dstOffset;
            try
            {
                bool last;
                do
                {
                    last = GetBits(1) == 1;
                    int type = (int)GetBits(2);
                    if (type == 0) outPos = Stored(dst, dstOffset, outPos, outEnd, what);
                    else if (type == 1)
                        outPos = Codes(_fixedLit, _fixedDist, dst, dstOffset, outPos, outEnd, what);
                    else if (type == 2)
                    {
                        ReadDynamicTables(what);
                        outPos = Codes(_lit, _dist, dst, dstOffset, outPos, outEnd, what);
                    }
                    else throw Corrupt(what, "invalid block type 3");
                    CheckNotTruncated(what);
                } while (!last);

                // Trailer: Adler-32, big-endian, byte aligned.
                DropToByteBoundary();
                uint expected = 0;
                for (int i = 0; i < 4; i++) expected = (expected << 8) | (uint)GetBits(8);
                CheckNotTruncated(what);
                if (outPos != outEnd)
                    throw new Ex4dFormatException(what + ": expected " + expectedLength
                        + " bytes after decompression, got " + (outPos - dstOffset));
                uint actual = Adler32(dst, dstOffset, expectedLength);
                if (actual != expected)
                    throw new Ex4dFormatException(what
                        + ": zlib checksum mismatch (the data is corrupt)");
                return expectedLength;
            }
            finally
            {
                _src = null;
            }
        }

        // Errors found after reading past the end of the input are reported as truncation:
        // the zero bits that stand in for the missing bytes decode to garbage.
        Ex4dFormatException Corrupt(string what, string why)
        {
            if (ReadPastEnd) return Truncated(what);
            return new Ex4dFormatException(what + ": corrupt zlib data (" + why + ")");
        }

        Ex4dFormatException TooLong(string what, int expected)
        {
            if (ReadPastEnd) return Truncated(what);
            return new Ex4dFormatException(what + ": decompresses to more than the " + expected
                + " bytes expected");
        }

        static Ex4dFormatException Truncated(string what)
        {
            return new Ex4dFormatException(what
                + ": zlib stream is truncated (it ends before its last block and checksum)");
        }

        bool ReadPastEnd { get { return _phantomBits > 0 && _bitCount < _phantomBits; } }

        void CheckNotTruncated(string what)
        {
            if (ReadPastEnd) throw Truncated(what);
        }

        void Refill()
        {
            while (_bitCount <= 56)
            {
                if (_pos < _end) _bits |= (ulong)_src[_pos++] << _bitCount;
                else _phantomBits += 8;
                _bitCount += 8;
            }
        }

        uint GetBits(int n)
        {
            if (_bitCount < n) Refill();
            uint v = (uint)(_bits & ((1UL << n) - 1));
            _bits >>= n;
            _bitCount -= n;
            return v;
        }

        void DropToByteBoundary()
        {
            int drop = _bitCount & 7;
            _bits >>= drop;
            _bitCount -= drop;
        }

        int Stored(byte[] dst, int dstStart, int outPos, int outEnd, string what)
        {
            DropToByteBoundary();
            // Hand the whole bytes still in the bit buffer back to the input, so the block's
            // bytes can be copied straight from the source.
            int buffered = _bitCount >> 3;
            int phantomBytes = _phantomBits >> 3;
            if (phantomBytes > buffered) throw Truncated(what);
            _pos -= buffered - phantomBytes;
            _phantomBits = 0;
            _bits = 0;
            _bitCount = 0;
            if (_end - _pos < 4) throw Truncated(what);
            int len = _src[_pos] | (_src[_pos + 1] << 8);
            int nlen = _src[_pos + 2] | (_src[_pos + 3] << 8);
            _pos += 4;
            if (len != (~nlen & 0xFFFF)) throw Corrupt(what, "stored block length check failed");
            if (_end - _pos < len) throw Truncated(what);
            if (outEnd - outPos < len) throw TooLong(what, outEnd - dstStart);
            Buffer.BlockCopy(_src, _pos, dst, outPos, len);
            _pos += len;
            return outPos + len;
        }

        void ReadDynamicTables(string what)
        {
            int nlen = (int)GetBits(5) + 257;
            int ndist = (int)GetBits(5) + 1;
            int ncode = (int)GetBits(4) + 4;
            if (nlen > 286 || ndist > 30)
                throw Corrupt(what, "too many length or distance codes");
            Array.Clear(_lengths, 0, 19);
            for (int i = 0; i < ncode; i++) _lengths[CodeLengthOrder[i]] = (byte)GetBits(3);
            _codeLengths.Build(_lengths, 0, 19, "code-length");
            CheckNotTruncated(what);

            int index = 0;
            int total = nlen + ndist;
            while (index < total)
            {
                int sym = Decode(_codeLengths, what);
                if (sym < 16)
                {
                    _lengths[index++] = (byte)sym;
                    continue;
                }
                int repeat;
                byte value = 0;
                if (sym == 16)
                {
                    if (index == 0) throw Corrupt(what, "repeat with no previous length");
                    value = _lengths[index - 1];
                    repeat = 3 + (int)GetBits(2);
                }
                else if (sym == 17) repeat = 3 + (int)GetBits(3);
                else repeat = 11 + (int)GetBits(7);
                if (index + repeat > total) throw Corrupt(what, "too many code lengths");
                while (repeat-- > 0) _lengths[index++] = value;
            }
            CheckNotTruncated(what);
            if (_lengths[256] == 0) throw Corrupt(what, "no end-of-block code");
            _lit.Build(_lengths, 0, nlen, "literal/length");
            _dist.Build(_lengths, nlen, ndist, "distance");
        }

        int Decode(Huffman h, string what)
        {
            if (_bitCount < MaxBits) Refill();
            int entry = h.Fast[(int)(_bits & FastMask)];
            if (entry != 0)
            {
                int len = entry & 15;
                _bits >>= len;
                _bitCount -= len;
                return entry >> 4;
            }
            int sym = DecodeSlow(h, ref _bits, ref _bitCount);
            if (sym < 0) throw Corrupt(what, "invalid Huffman code");
            return sym;
        }

        // The hot loop keeps the bit buffer in locals (the JIT keeps them in registers) and
        // refills once per symbol: after a refill at least 57 bits are buffered, enough for a
        // literal/length code (15), its extra bits (5), a distance code (15) and its extra
        // bits (13).
        int Codes(Huffman lit, Huffman dist, byte[] dst, int dstStart, int outPos, int outEnd,
            string what)
        {
            ulong bits = _bits;
            int count = _bitCount;
            int pos = _pos;
            int end = _end;
            byte[] src = _src;
            int[] litFast = lit.Fast;
            int[] distFast = dist.Fast;
            while (true)
            {
                if (count < 48)
                {
                    do
                    {
                        if (pos < end) bits |= (ulong)src[pos++] << count;
                        else _phantomBits += 8;
                        count += 8;
                    } while (count <= 56);
                }
                int sym;
                int entry = litFast[(int)bits & FastMask];
                if (entry != 0)
                {
                    int len = entry & 15;
                    bits >>= len;
                    count -= len;
                    sym = entry >> 4;
                }
                else
                {
                    sym = DecodeSlow(lit, ref bits, ref count);
                    if (sym < 0)
                    {
                        Sync(bits, count, pos);
                        throw Corrupt(what, "invalid Huffman code");
                    }
                }
                if (sym < 256)
                {
                    if (outPos >= outEnd)
                    {
                        Sync(bits, count, pos);
                        throw TooLong(what, outEnd - dstStart);
                    }
                    dst[outPos++] = (byte)sym;
                    continue;
                }
                if (sym == 256)
                {
                    Sync(bits, count, pos);
                    CheckNotTruncated(what);
                    return outPos;
                }
                sym -= 257;
                if (sym >= 29)
                {
                    Sync(bits, count, pos);
                    throw Corrupt(what, "invalid length symbol");
                }
                int extra = LengthExtra[sym];
                int length = LengthBase[sym] + (int)(bits & ((1UL << extra) - 1));
                bits >>= extra;
                count -= extra;

                int dsym;
                entry = distFast[(int)bits & FastMask];
                if (entry != 0)
                {
                    int len = entry & 15;
                    bits >>= len;
                    count -= len;
                    dsym = entry >> 4;
                }
                else
                {
                    dsym = DecodeSlow(dist, ref bits, ref count);
                    if (dsym < 0)
                    {
                        Sync(bits, count, pos);
                        throw Corrupt(what, "invalid Huffman code");
                    }
                }
                if (dsym >= 30)
                {
                    Sync(bits, count, pos);
                    throw Corrupt(what, "invalid distance symbol");
                }
                extra = DistExtra[dsym];
                int distance = DistBase[dsym] + (int)(bits & ((1UL << extra) - 1));
                bits >>= extra;
                count -= extra;
                if (distance > outPos - dstStart)
                {
                    Sync(bits, count, pos);
                    throw Corrupt(what, "distance too far back");
                }
                if (length > outEnd - outPos)
                {
                    Sync(bits, count, pos);
                    throw TooLong(what, outEnd - dstStart);
                }
                int from = outPos - distance;
                if (distance >= length && length >= 16)
                {
                    Buffer.BlockCopy(dst, from, dst, outPos, length);
                    outPos += length;
                }
                else if (distance == 1 && length >= 16)
                {
                    // A run of one byte (what zlib makes of the zero residuals that fill most
                    // of a padded layer grid): a memset, many times faster than a byte loop
                    // under Mono.
                    dst.AsSpan(outPos, length).Fill(dst[from]);
                    outPos += length;
                }
                else if (distance < length && length >= 32)
                {
                    // A repeated pattern of `distance` bytes: copy it once, then double the
                    // copied stretch (each copy reads only bytes already written).
                    int done = distance;
                    Buffer.BlockCopy(dst, from, dst, outPos, distance);
                    while (done < length)
                    {
                        int c = Math.Min(done, length - done);
                        Buffer.BlockCopy(dst, outPos, dst, outPos + done, c);
                        done += c;
                    }
                    outPos += length;
                }
                else
                {
                    int stop = outPos + length;
                    while (outPos < stop) dst[outPos++] = dst[from++];
                }
                if (_phantomBits > 0 && count < _phantomBits)
                {
                    Sync(bits, count, pos);
                    throw Truncated(what);
                }
            }
        }

        /// <summary>Stores the local bit-reader state back into the fields (before an error
        /// is built, since its message depends on it, or the loop returns).</summary>
        void Sync(ulong bits, int count, int pos)
        {
            _bits = bits;
            _bitCount = count;
            _pos = pos;
        }

        /// <summary>Canonical walk for codes longer than FastBits (RFC 1951, 3.2.2); -1 for a
        /// bit pattern that is no code. Needs 15 buffered bits.</summary>
        static int DecodeSlow(Huffman h, ref ulong bits, ref int count)
        {
            int code = 0, first = 0, index = 0;
            short[] counts = h.Count;
            for (int len = 1; len <= MaxBits; len++)
            {
                code |= (int)(bits & 1);
                bits >>= 1;
                count--;
                int c = counts[len];
                if (code - c < first) return h.Symbol[index + (code - first)];
                index += c;
                first += c;
                first <<= 1;
                code <<= 1;
            }
            return -1;
        }

        /// <summary>Adler-32 of data[offset .. offset + count) (RFC 1950).</summary>
        public static uint Adler32(byte[] data, int offset, int count)
        {
            const uint Mod = 65521;
            uint a = 1, b = 0;
            int i = offset, end = offset + count;
            while (i < end)
            {
                // 5552 is the largest block for which b cannot overflow 32 bits.
                int stop = Math.Min(end, i + 5552);
                // Unrolled by 8: the per-byte loop overhead, not the arithmetic, dominates.
                int stop8 = stop - 7;
                while (i < stop8)
                {
                    a += data[i];
                    b += a;
                    a += data[i + 1];
                    b += a;
                    a += data[i + 2];
                    b += a;
                    a += data[i + 3];
                    b += a;
                    a += data[i + 4];
                    b += a;
                    a += data[i + 5];
                    b += a;
                    a += data[i + 6];
                    b += a;
                    a += data[i + 7];
                    b += a;
                    i += 8;
                }
                while (i < stop)
                {
                    a += data[i++];
                    b += a;
                }
                a %= Mod;
                b %= Mod;
            }
            return (b << 16) | a;
        }
    }
}
