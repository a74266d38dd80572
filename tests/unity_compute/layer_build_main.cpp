// Runs the two kernels of Ex4dLayerBuild.compute (translated by tests/test_unity_layers.py into
// layer_build_kernels.inc) over every thread id, in dispatch order, as LayerMesh.UploadGpu
// dispatches them. Reads the input LayerTests.cs wrote for one decoded layer, writes the vertex
// and index buffers.
//
//   layer_build INPUT.gpu_input.bin OUT.vertices.bin OUT.indices.bin
#include <cstdio>
#include <fstream>
#include <iostream>
#include "hlsl_shim.h"
#include "layer_build_kernels.inc"

template <typename T>
static T read(std::ifstream& in)
{
    T v;
    in.read(reinterpret_cast<char*>(&v), sizeof(T));
    if (!in) throw "truncated input";
    return v;
}

template <typename T>
static std::vector<T> readArray(std::ifstream& in, size_t n)
{
    std::vector<T> v(n);
    if (n) in.read(reinterpret_cast<char*>(v.data()), n * sizeof(T));
    if (!in) throw "truncated input";
    return v;
}

static void run(void (*kernel)(uint3), uint count)
{
    _GroupsX = (count + 63u) / 64u;
    _Count = count;
    for (uint x = 0; x < _GroupsX * 64u; x++) kernel(uint3(x, 0u, 0u));
}

int main(int argc, char** argv)
{
    if (argc != 4)
    {
        std::cerr << "usage: layer_build INPUT OUT_VERTICES OUT_INDICES\n";
        return 2;
    }
    try
    {
        std::ifstream in(argv[1], std::ios::binary);
        uint w = read<int32_t>(in), h = read<int32_t>(in);
        float cap[3] = {read<float>(in), read<float>(in), read<float>(in)};
        auto depth = readArray<float>(in, size_t(w) * h);
        auto rayX = readArray<float>(in, w);
        auto rayY = readArray<float>(in, h);
        uint occludedBytes = read<int32_t>(in);
        auto occluded = readArray<uint8_t>(in, occludedBytes);
        occluded.resize(((occludedBytes + 3) / 4) * 4 + 4, 0);  // whole words, as uploaded

        uint vertices = w * h + 1;
        uint faces = 2u * (w - 1u) * (h - 1u) + 2u * (w + h) - 4u;
        std::vector<uint8_t> vertexBytes(size_t(vertices) * VERTEX_BYTES, 0xCD);
        std::vector<uint8_t> indexBytes(size_t(faces) * 12, 0xCD);

        _Width = w;
        _Height = h;
        _Cap = float4{cap[0], cap[1], cap[2], 0.0f};
        _Depth.data = &depth;
        _RayX.data = &rayX;
        _RayY.data = &rayY;
        _Occluded.data = &occluded;
        _Vertices.data = &vertexBytes;
        _Indices.data = &indexBytes;

        run(LayerVertices, vertices);
        run(LayerFaces, faces);

        std::ofstream(argv[2], std::ios::binary)
            .write(reinterpret_cast<const char*>(vertexBytes.data()), vertexBytes.size());
        std::ofstream(argv[3], std::ios::binary)
            .write(reinterpret_cast<const char*>(indexBytes.data()), indexBytes.size());
    }
    catch (const char* e)
    {
        std::cerr << "error: " << e << "\n";
        return 1;
    }
    return 0;
}
