// Evaluates Ex4dDither from Ex4dCommon.hlsl (translated into ex4d_common.inc by
// tests/test_unity_review.py) at pixel centres: x, y in [0, n) and a band near 4096, as
// float32 to stdout-named file.
//
//   dither OUT.bin N
#include <cstdlib>
#include <fstream>
#include "hlsl_shim.h"
#include "ex4d_common.inc"

int main(int argc, char** argv)
{
    if (argc != 3) return 2;
    int n = std::atoi(argv[2]);
    std::ofstream out(argv[1], std::ios::binary);
    for (int band = 0; band < 2; band++)
    {
        int base = band == 0 ? 0 : 4096 - n / 2;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
            {
                float v = Ex4dDither(float2(base + x + 0.5f, base + y + 0.5f));
                out.write(reinterpret_cast<const char*>(&v), 4);
            }
    }
    return 0;
}
