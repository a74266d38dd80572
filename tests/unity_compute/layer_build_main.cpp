// Runs the two kernels of Ex4dLayerBuild.compute (translated by tests/test_unity_layers.py into
// layer_build_kernels.inc) over every thread id, in dispatch order, as LayerMesh.UploadGpu
// dispatches them. Reads the input LayerTests.cs wrote for one decoded layer, writes the vertex
// and index buffers.
//
//   layer_build INPUT.gpu_input.bin OUT.vertices.bin OUT.indices.bin
#include "hlsl_shim.h"
#include "layer_build_kernels.inc"
#include "kernel_harness.h"

static void build(std::ifstream& in, const char* outVertices, const char* outIndices)
{
    uint w = read<int32_t>(in), h = read<int32_t>(in);
    GridInput grid;
    readGrid(in, w, h, grid);

    uint vertices = w * h + 1;
    uint faces = 2u * (w - 1u) * (h - 1u) + 2u * (w + h) - 4u;
    std::vector<uint8_t> vertexBytes(size_t(vertices) * VERTEX_BYTES, 0xCD);
    std::vector<uint8_t> indexBytes(size_t(faces) * 12, 0xCD);

    _Width = w;
    _Height = h;
    bindGrid(grid);
    _Vertices.data = &vertexBytes;
    _Indices.data = &indexBytes;

    run(LayerVertices, vertices);
    run(LayerFaces, faces);

    writeBytes(outVertices, vertexBytes);
    writeBytes(outIndices, indexBytes);
}

int main(int argc, char** argv)
{
    return harnessMain(argc, argv, "layer_build", build);
}
