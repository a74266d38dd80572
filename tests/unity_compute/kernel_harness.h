// What the compute-kernel harnesses (mesh_build_main.cpp, layer_build_main.cpp) share: reading
// the input the C# tests wrote, dispatching a kernel over every thread id in dispatch order, and
// the command line. Include after the translated kernels: run() sets their _GroupsX and _Count.
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
