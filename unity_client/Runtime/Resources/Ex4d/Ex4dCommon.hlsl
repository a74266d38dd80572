// Helpers shared by the ex4d-bridge shaders (Built-in and URP).
#ifndef EX4D_COMMON_INCLUDED
#define EX4D_COMMON_INCLUDED

// 4x4 ordered dither threshold in (0, 1) for a pixel position.
float Ex4dDither(float2 pixel)
{
    const float4x4 bayer = float4x4(
        0.0, 8.0, 2.0, 10.0,
        12.0, 4.0, 14.0, 6.0,
        3.0, 11.0, 1.0, 9.0,
        15.0, 7.0, 13.0, 5.0);
    uint2 p = uint2(pixel) & 3u;
    return (bayer[p.y][p.x] + 0.5) / 16.0;
}

float2 Ex4dColorUv(float3 uvVis, float topRowFirst)
{
    return float2(uvVis.x, topRowFirst > 0.5 ? uvVis.y : 1.0 - uvVis.y);
}

// Discards the pixel where the fade hides it (mode 1 only).
void Ex4dFade(float visibility, float mode, float softness, float2 pixel)
{
    if (mode > 0.5 && mode < 1.5)
    {
        float keep = saturate(visibility / max(softness, 1e-3));
        clip(keep - Ex4dDither(pixel));
    }
}

#endif
