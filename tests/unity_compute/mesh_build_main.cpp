// Runs the three kernels of Ex4dMeshBuild.compute (translated by tests/test_unity_review.py
// into mesh_build_kernels.inc) over every thread id, in dispatch order, as GridMesh.UploadGpu
// dispatches them in Hide mode. Reads the input ReviewTests.cs wrote, writes the vertex and
// index buffers.
//
//   mesh_build INPUT.gpu_input.bin OUT.vertices.bin OUT.indices.bin
#include "hlsl_shim.h"
#include "mesh_build_kernels.inc"
#include "kernel_harness.h"

static void build(std::ifstream& in, const char* outVertices, const char* outIndices)
{
    uint w = read<int32_t>(in), h = read<int32_t>(in), stride = read<int32_t>(in);
    uint hasOccluded = read<int32_t>(in);
    GridInput grid;
    readGrid(in, w, h, grid);
    uint numIndices = read<int32_t>(in);
    auto baseIndices = readArray<uint8_t>(in, size_t(numIndices) * 4);

    uint cw = (w - 1 + stride - 1) / stride + 1, ch = (h - 1 + stride - 1) / stride + 1;
    uint vertices = cw * ch + 1;
    uint faces = numIndices / 3;
    std::vector<float> visibility(size_t(w) * h, -1.0f);
    std::vector<uint8_t> vertexBytes(size_t(vertices) * VERTEX_BYTES, 0xCD);
    std::vector<uint8_t> indexBytes(size_t(numIndices) * 4, 0xCD);

    _Width = w;
    _Height = h;
    _Stride = stride;
    _CoarseWidth = cw;
    _CoarseHeight = ch;
    _HasOccluded = hasOccluded;
    _NumFaces = faces;
    _GridFaces = 2u * (cw - 1u) * (ch - 1u);
    _CapVertex = cw * ch;
    _HideFaces = 1u;
    bindGrid(grid);
    _Visibility.data = &visibility;
    _VisibilityIn.data = &visibility;
    _Vertices.data = &vertexBytes;
    _VerticesIn.data = &vertexBytes;
    _BaseIndices.data = &baseIndices;
    _Indices.data = &indexBytes;

    run(VertexVisibility, w * h);
    run(BuildVertices, vertices);
    run(MaskFaces, faces);

    writeBytes(outVertices, vertexBytes);
    writeBytes(outIndices, indexBytes);
}

int main(int argc, char** argv)
{
    return harnessMain(argc, argv, "mesh_build", build);
}
