// What the compute-kernel harnesses (mesh_build_main.cpp, layer_build_main.cpp) share: reading
// the input the C# tests wrote, dispatching a kernel over every thread id in dispatch order, and
// the command line. Include after the translated kernels: run() and bindGrid() set their globals.
#pragma once
#include <cstdint>
#include <fstream>
#include <iostream>
#include <vector>

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

// The part of an input both kernels read the same way: the closure's cap vertex, the depth
// grid, the ray tables and the packed occluded bits.
struct GridInput
{
    float cap[3];
    std::vector<float> depth, rayX, rayY;
    std::vector<uint8_t> occluded;
};

static void readGrid(std::ifstream& in, uint w, uint h, GridInput& g)
{
    for (float& c : g.cap) c = read<float>(in);
    g.depth = readArray<float>(in, size_t(w) * h);
    g.rayX = readArray<float>(in, w);
    g.rayY = readArray<float>(in, h);
    uint occludedBytes = read<int32_t>(in);
    g.occluded = readArray<uint8_t>(in, occludedBytes);
    g.occluded.resize(((occludedBytes + 3) / 4) * 4 + 4, 0);  // whole words, as uploaded
}

// Points the kernels' grid inputs at G, which must outlive the dispatches.
static void bindGrid(GridInput& g)
{
    _Cap = float4{g.cap[0], g.cap[1], g.cap[2], 0.0f};
    _Depth.data = &g.depth;
    _RayX.data = &g.rayX;
    _RayY.data = &g.rayY;
    _Occluded.data = &g.occluded;
}

static void run(void (*kernel)(uint3), uint count)
{
    // One row of groups, as large as needed: LinearId(id) = id.x.
    _GroupsX = (count + 63u) / 64u;
    _Count = count;
    for (uint x = 0; x < _GroupsX * 64u; x++) kernel(uint3(x, 0u, 0u));
}

static void writeBytes(const char* path, const std::vector<uint8_t>& bytes)
{
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// The harnesses' main: `name INPUT OUT_VERTICES OUT_INDICES`; exit 2 on a wrong command line,
// 1 on a truncated input.
template <typename Body>
static int harnessMain(int argc, char** argv, const char* name, Body body)
{
    if (argc != 4)
    {
        std::cerr << "usage: " << name << " INPUT OUT_VERTICES OUT_INDICES\n";
        return 2;
    }
    try
    {
        std::ifstream in(argv[1], std::ios::binary);
        body(in, argv[2], argv[3]);
    }
    catch (const char* e)
    {
        std::cerr << "error: " << e << "\n";
        return 1;
    }
    return 0;
}
