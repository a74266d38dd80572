using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>IEEE 754 binary16 to float32, exact, through a 64K-entry table (256 KiB, built
    /// on first use) so a 512x512 float16 depth map converts with one load per sample.
    /// </summary>
    public static class HalfFloat
    {
        static float[] _table;
        static readonly object Gate = new object();

        /// <summary>The float32 value of every half-float bit pattern.</summary>
        public static float[] Table
        {
            get
            {
                var t = _table;
                if (t != null) return t;
                lock (Gate)
                {
                    if (_table == null) _table = Build();
                    return _table;
                }
            }
        }

        public static float ToSingle(ushort bits)
        {
            return Table[bits];
        }

        static float[] Build()
        {
            var t = new float[65536];
            for (int h = 0; h < 65536; h++) t[h] = Convert((ushort)h);
            return t;
        }

        /// <summary>Bit-level conversion (used to build the table).</summary>
        public static float Convert(ushort h)
        {
            int sign = (h >> 15) & 1;
            int exp = (h >> 10) & 0x1F;
            int mant = h & 0x3FF;
            int bits;
            if (exp == 0x1F)
            {
                // Inf or NaN: keep the payload.
                bits = (sign << 31) | (0xFF << 23) | (mant << 13);
            }
            else if (exp != 0)
            {
                bits = (sign << 31) | ((exp - 15 + 127) << 23) | (mant << 13);
            }
            else if (mant == 0)
            {
                bits = sign << 31;
            }
            else
            {
                // Subnormal half: mant * 2^-24, a normal float32.
                int e = -1;
                do
                {
                    mant <<= 1;
                    e++;
                } while ((mant & 0x400) == 0);
                mant &= 0x3FF;
                bits = (sign << 31) | ((127 - 15 - e) << 23) | (mant << 13);
            }
            return BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
        }
    }
}
