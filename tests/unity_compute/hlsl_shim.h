// Just enough of HLSL for Ex4dMeshBuild.compute to compile as C++ and run on the CPU, one
// thread id at a time (tests/test_unity_review.py). Buffers are plain arrays; the byte address
// buffers load and store 32-bit little-endian words as D3D does. IEEE float maths throughout
// (a GPU's division may differ in the last bits, which the test allows for).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

typedef uint32_t uint;

struct uint3
{
    uint x, y, z;
    uint3() : x(0), y(0), z(0) {}
    uint3(uint a, uint b, uint c) : x(a), y(b), z(c) {}
};

struct float3
{
    float x, y, z;
    float3() : x(0), y(0), z(0) {}
    float3(float a, float b, float c) : x(a), y(b), z(c) {}
};

struct float2
{
    float x, y;
    float2() : x(0), y(0) {}
    float2(float a, float b) : x(a), y(b) {}
    float2 operator*(float s) const { return float2(x * s, y * s); }
};

struct float4
{
    float x, y, z, w;
    float3 xyz() const { return float3(x, y, z); }
};

inline uint min(uint a, uint b) { return a < b ? a : b; }
inline float max(float a, float b) { return a > b ? a : b; }
inline float saturate(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }
inline float frac(float v) { return v - std::floor(v); }
inline float2 floor(float2 v) { return float2(std::floor(v.x), std::floor(v.y)); }
inline float2 fmod(float2 v, float m) { return float2(std::fmod(v.x, m), std::fmod(v.y, m)); }

// clip(x) discards the pixel when x < 0; here it records that it would have.
inline bool& clipped()
{
    static bool value = false;
    return value;
}
inline void clip(float v)
{
    if (v < 0.0f) clipped() = true;
}

inline uint asuint(float f)
{
    uint u;
    std::memcpy(&u, &f, 4);
    return u;
}

inline uint3 asuint(float3 v) { return uint3(asuint(v.x), asuint(v.y), asuint(v.z)); }

inline float asfloat(uint u)
{
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <typename T>
struct StructuredBuffer
{
    std::vector<T>* data = nullptr;
    T operator[](uint i) const { return data->at(i); }
};

template <typename T>
struct RWStructuredBuffer
{
    std::vector<T>* data = nullptr;
    T& operator[](uint i) { return data->at(i); }
};

struct ByteAddressBuffer
{
    std::vector<uint8_t>* data = nullptr;
    uint Load(uint address) const
    {
        if (address % 4 != 0 || address + 4 > data->size()) throw "unaligned or out of range Load";
        uint v;
        std::memcpy(&v, data->data() + address, 4);
        return v;
    }
    uint3 Load3(uint address) const
    {
        return uint3(Load(address), Load(address + 4), Load(address + 8));
    }
};

struct RWByteAddressBuffer : ByteAddressBuffer
{
    void Store(uint address, uint value)
    {
        if (address % 4 != 0 || address + 4 > data->size()) throw "unaligned or out of range Store";
        std::memcpy(data->data() + address, &value, 4);
    }
    void Store3(uint address, uint3 v)
    {
        Store(address, v.x);
        Store(address + 4, v.y);
        Store(address + 8, v.z);
    }
};
