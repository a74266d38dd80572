using System;
using Ex4d.Bridge.Core;
using UnityEngine;
using UnityEngine.Rendering;

namespace Ex4d.Bridge
{
    /// <summary>How faces flagged occluded (not real surface: stretched across depth edges,
    /// and the closure behind the scene) are drawn.</summary>
    public enum Ex4dOccludedFaces
    {
        /// <summary>Drawn like the rest (what the generation model is conditioned on).</summary>
        Show = 0,
        /// <summary>Faded out around occluded faces with a screen-space dither (the reference
        /// renderer's per-vertex alpha; no sorting needed, fine for stereo).</summary>
        Fade = 1,
        /// <summary>Not drawn: collapsed in the index buffer every frame (exact per face at
        /// full resolution; any invisible corner hides a face of a subsampled grid).</summary>
        Hide = 2,
    }

    /// <summary>
    /// The Unity mesh of a DW-Mesh grid and the buffers that update it. GPU path: the decoded
    /// depth, the ray tables and the occluded bits are uploaded, and Ex4dMeshBuild.compute
    /// writes the mesh's own vertex (and, for Hide, index) buffer through
    /// Mesh.vertexBufferTarget/indexBufferTarget Raw views, so vertices never cross back to
    /// the CPU. CPU path (no compute shaders): <see cref="RenderGrid"/> fills arrays that
    /// are uploaded with SetVertexBufferData. Either way every buffer is made once per
    /// resolution; a frame update allocates nothing.
    /// </summary>
    internal sealed class GridMesh : IDisposable
    {
        static readonly int IdDepth = Shader.PropertyToID("_Depth");
        static readonly int IdRayX = Shader.PropertyToID("_RayX");
        static readonly int IdRayY = Shader.PropertyToID("_RayY");
        static readonly int IdOccluded = Shader.PropertyToID("_Occluded");
        static readonly int IdVisibility = Shader.PropertyToID("_Visibility");
        static readonly int IdVisibilityIn = Shader.PropertyToID("_VisibilityIn");
        static readonly int IdVertices = Shader.PropertyToID("_Vertices");
        static readonly int IdVerticesIn = Shader.PropertyToID("_VerticesIn");
        static readonly int IdIndices = Shader.PropertyToID("_Indices");
        static readonly int IdBaseIndices = Shader.PropertyToID("_BaseIndices");
        static readonly int IdWidth = Shader.PropertyToID("_Width");
        static readonly int IdHeight = Shader.PropertyToID("_Height");
        static readonly int IdStride = Shader.PropertyToID("_Stride");
        static readonly int IdCoarseWidth = Shader.PropertyToID("_CoarseWidth");
        static readonly int IdCoarseHeight = Shader.PropertyToID("_CoarseHeight");
        static readonly int IdHasOccluded = Shader.PropertyToID("_HasOccluded");
        static readonly int IdNumFaces = Shader.PropertyToID("_NumFaces");
        static readonly int IdGridFaces = Shader.PropertyToID("_GridFaces");
        static readonly int IdCapVertex = Shader.PropertyToID("_CapVertex");
        static readonly int IdHideFaces = Shader.PropertyToID("_HideFaces");
        static readonly int IdCap = Shader.PropertyToID("_Cap");

        static readonly string[] KernelNames = { "VertexVisibility", "BuildVertices", "MaskFaces" };

        public readonly Mesh Mesh;
        readonly ComputeShader _compute;
        readonly int _kVisibility, _kVertices, _kFaces;
        readonly bool _gpuAvailable;

        RenderGrid _grid;
        bool _gpu;
        bool _indicesMasked;

        GraphicsBuffer _depth, _rayX, _rayY, _occluded, _visibility, _baseIndices;
        GraphicsBuffer _vertexBuffer, _indexBuffer;
        uint[] _occludedWords = new uint[0];

        float[] _cpuVisibility = new float[0];
        float[] _cpuVertices = new float[0];
        int[] _cpuIndices = new int[0];

        public GridMesh(ComputeShader compute)
        {
            Mesh = new Mesh { name = "Ex4d DW-Mesh" };
            Mesh.MarkDynamic();
            // FindKernel throws where the shader was not compiled for the platform: kernels are
            // looked up only after the support check, and any failure means the CPU path.
            var kernels = new int[KernelNames.Length];
            string reason;
            _gpuAvailable = ComputeKernels.TryFind(GpuSupported && compute != null, KernelNames,
                compute != null ? (Func<string, int>)compute.FindKernel : null,
                compute != null ? (Func<int, bool>)compute.IsSupported : null, kernels, out reason);
            if (_gpuAvailable)
            {
                _compute = compute;
                _kVisibility = kernels[0];
                _kVertices = kernels[1];
                _kFaces = kernels[2];
            }
            else if (compute != null)
            {
                GpuUnavailableReason = reason;
            }
        }

        /// <summary>Compute shaders and raw mesh buffers are available (Unity 2021.2+ on
        /// D3D11/12, Vulkan, Metal, GLES 3.1).</summary>
        public static bool GpuSupported
        {
            get { return SystemInfo.supportsComputeShaders; }
        }

        /// <summary>The compute path can run: compute shaders are supported and every kernel
        /// was found and runs here.</summary>
        public bool GpuAvailable { get { return _gpuAvailable; } }

        /// <summary>Why a compute shader was given but cannot be used (null otherwise).</summary>
        public string GpuUnavailableReason { get; private set; }

        public RenderGrid Grid { get { return _grid; } }
        public bool UsesGpu { get { return _gpu; } }

        /// <summary>(Re)builds the mesh and buffers when the resolution, stride or path
        /// changes; a no-op otherwise.</summary>
        public void Configure(int fineWidth, int fineHeight, int stride, bool gpu)
        {
            gpu = gpu && _gpuAvailable;
            if (_grid != null && _grid.FineWidth == fineWidth && _grid.FineHeight == fineHeight
                && _grid.Stride == stride && _gpu == gpu)
                return;
            ReleaseBuffers();
            _grid = new RenderGrid(fineWidth, fineHeight, stride);
            _gpu = gpu;
            int vertices = _grid.NumVertices;
            int[] indices = _grid.Topology.Indices;

            Mesh.Clear();
            Mesh.indexFormat = IndexFormat.UInt32;
            if (gpu)
            {
                Mesh.vertexBufferTarget |= GraphicsBuffer.Target.Raw;
                Mesh.indexBufferTarget |= GraphicsBuffer.Target.Raw;
            }
            Mesh.SetVertexBufferParams(vertices, ComputeMesh.Layout);
            Mesh.SetIndexBufferParams(indices.Length, IndexFormat.UInt32);
            Mesh.SetIndexBufferData(indices, 0, 0, indices.Length, ComputeMesh.QuietUpdate);
            Mesh.subMeshCount = 1;
            Mesh.SetSubMesh(0, new SubMeshDescriptor(0, indices.Length, MeshTopology.Triangles),
                ComputeMesh.QuietUpdate);
            _indicesMasked = false;

            int n = fineWidth * fineHeight;
            if (gpu)
            {
                _depth = new GraphicsBuffer(GraphicsBuffer.Target.Structured, n, sizeof(float));
                _rayX = new GraphicsBuffer(GraphicsBuffer.Target.Structured, fineWidth, sizeof(float));
                _rayY = new GraphicsBuffer(GraphicsBuffer.Target.Structured, fineHeight, sizeof(float));
                _visibility = new GraphicsBuffer(GraphicsBuffer.Target.Structured, n, sizeof(float));
                int fineFaces = (int)GridFanTopology.FaceCount(fineWidth, fineHeight);
                int words = ((fineFaces + 7) / 8 + 3) / 4;
                _occluded = new GraphicsBuffer(GraphicsBuffer.Target.Raw, words, sizeof(uint));
                _occludedWords = new uint[words];
                _baseIndices = new GraphicsBuffer(GraphicsBuffer.Target.Raw, indices.Length,
                    sizeof(int));
                _baseIndices.SetData(indices);
                _vertexBuffer = Mesh.GetVertexBuffer(0);
                _indexBuffer = Mesh.GetIndexBuffer();
            }
            else
            {
                _cpuVisibility = new float[n];
                _cpuVertices = new float[RenderGrid.FloatsPerVertex * vertices];
                _cpuIndices = new int[indices.Length];
            }
        }

        /// <summary>Writes <paramref name="frame"/> (decoded in Unity space) into the mesh.
        /// </summary>
        public void Upload(DecodedMeshFrame frame, Ex4dOccludedFaces mode)
        {
            if (_grid == null) throw new InvalidOperationException("Configure first");
            Vec3d min, max;
            RenderGrid.Bounds(frame, out min, out max);
            var lo = UnityConventions.ToVector3(min);
            var hi = UnityConventions.ToVector3(max);
            var bounds = new Bounds((lo + hi) * 0.5f, (hi - lo) * 1.01f + Vector3.one * 1e-3f);
            Mesh.bounds = bounds;
            bool hide = mode == Ex4dOccludedFaces.Hide;
            if (_gpu) UploadGpu(frame, hide);
            else UploadCpu(frame, hide);
        }

        void UploadGpu(DecodedMeshFrame f, bool hide)
        {
            int n = f.Width * f.Height;
            var cs = _compute;
            _depth.SetData(f.Depth, 0, 0, n);
            _rayX.SetData(f.RayX, 0, 0, f.Width);
            _rayY.SetData(f.RayY, 0, 0, f.Height);
            int faces = (int)GridFanTopology.FaceCount(f.Width, f.Height);
            if (f.HasOccluded)
            {
                int bytes = (faces + 7) / 8;
                Buffer.BlockCopy(f.OccludedPacked, 0, _occludedWords, 0, bytes);
                _occluded.SetData(_occludedWords, 0, 0, (bytes + 3) / 4);
            }
            cs.SetInt(IdWidth, f.Width);
            cs.SetInt(IdHeight, f.Height);
            cs.SetInt(IdStride, _grid.Stride);
            cs.SetInt(IdCoarseWidth, _grid.Width);
            cs.SetInt(IdCoarseHeight, _grid.Height);
            cs.SetInt(IdHasOccluded, f.HasOccluded ? 1 : 0);
            cs.SetInt(IdNumFaces, _grid.Topology.NumFaces);
            cs.SetInt(IdGridFaces, _grid.Topology.NumGridFaces);
            cs.SetInt(IdCapVertex, _grid.Topology.CapVertex);
            cs.SetInt(IdHideFaces, hide ? 1 : 0);
            cs.SetVector(IdCap, new Vector4(f.CapX, f.CapY, f.CapZ, 0f));

            cs.SetBuffer(_kVisibility, IdOccluded, _occluded);
            cs.SetBuffer(_kVisibility, IdVisibility, _visibility);
            Dispatch(_kVisibility, n);

            cs.SetBuffer(_kVertices, IdDepth, _depth);
            cs.SetBuffer(_kVertices, IdRayX, _rayX);
            cs.SetBuffer(_kVertices, IdRayY, _rayY);
            cs.SetBuffer(_kVertices, IdVisibilityIn, _visibility);
            cs.SetBuffer(_kVertices, IdVertices, _vertexBuffer);
            Dispatch(_kVertices, _grid.NumVertices);

            // Faces: collapse hidden ones every frame in Hide mode; restore the plain topology
            // once after leaving it.
            if (hide || _indicesMasked)
            {
                cs.SetBuffer(_kFaces, IdOccluded, _occluded);
                cs.SetBuffer(_kFaces, IdVerticesIn, _vertexBuffer);
                cs.SetBuffer(_kFaces, IdBaseIndices, _baseIndices);
                cs.SetBuffer(_kFaces, IdIndices, _indexBuffer);
                Dispatch(_kFaces, _grid.Topology.NumFaces);
                _indicesMasked = hide;
            }
        }

        void Dispatch(int kernel, int count)
        {
            ComputeMesh.Dispatch(_compute, kernel, count);
        }

        void UploadCpu(DecodedMeshFrame f, bool hide)
        {
            RenderGrid.VertexVisibility(f.Occluded, f.HasOccluded, f.Width, f.Height, _cpuVisibility);
            _grid.WriteVertices(f, _cpuVisibility, _cpuVertices);
            Mesh.SetVertexBufferData(_cpuVertices, 0, 0, _cpuVertices.Length, 0,
                ComputeMesh.QuietUpdate);
            if (hide || _indicesMasked)
            {
                if (hide) _grid.MaskIndices(f.Occluded, f.HasOccluded, _cpuVertices, _cpuIndices);
                else Array.Copy(_grid.Topology.Indices, _cpuIndices, _cpuIndices.Length);
                Mesh.SetIndexBufferData(_cpuIndices, 0, 0, _cpuIndices.Length,
                    ComputeMesh.QuietUpdate);
                _indicesMasked = hide;
            }
        }

        void ReleaseBuffers()
        {
            ComputeMesh.Release(ref _depth);
            ComputeMesh.Release(ref _rayX);
            ComputeMesh.Release(ref _rayY);
            ComputeMesh.Release(ref _occluded);
            ComputeMesh.Release(ref _visibility);
            ComputeMesh.Release(ref _baseIndices);
            ComputeMesh.Release(ref _vertexBuffer);
            ComputeMesh.Release(ref _indexBuffer);
        }

        public void Dispose()
        {
            ReleaseBuffers();
            UnityObjects.Destroy(Mesh);
        }
    }
}
