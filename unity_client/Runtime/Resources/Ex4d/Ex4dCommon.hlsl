// Helpers shared by the ex4d-bridge shaders (Built-in and URP).
#ifndef EX4D_COMMON_INCLUDED
#define EX4D_COMMON_INCLUDED

// 2x2 Bayer threshold (0, 2, 3, 1) / 4 of a pixel position, in float arithmetic only: integer
// ops (uint, &, >>) need shader model 3.5, which GLES 2-class targets and some mobile variants
// do not compile. fmod first keeps every value small, so it is exact at any screen size.
float Ex4dBayer2(float2 a)
{
    a = fmod(floor(a), 2.0);
    return frac(a.x * 0.5 + a.y * 0.75);
}

// 4x4 ordered dither threshold in (0, 1) for a pixel position: the Bayer matrix
// (0 8 2 10 / 12 4 14 6 / 3 11 1 9 / 15 7 13 5) + 0.5, over 16, built from two 2x2 levels.
float Ex4dDither(float2 pixel)
{
    return Ex4dBayer2(pixel) + 0.25 * Ex4dBayer2(pixel * 0.5) + 1.0 / 32.0;
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

// How far a completion layer's vertex is pushed along its view ray (a factor on its
// view-space position): 1 + bias for layer 0, and 0.1% more per later layer, so the source
// surface wins ties within `bias` and earlier layers win ties with later ones
// (Ex4d.Bridge.Core.CompletionDepth.Push is the tested twin).
float Ex4dLayerPush(float bias, float order)
{
    return 1.0 + bias + 0.001 * order;
}

#endif
