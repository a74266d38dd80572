using System;
using Ex4d.Bridge.Core;
using Unity.Collections;
using UnityEngine;
using UnityEngine.Rendering;

namespace Ex4d.Bridge
{
    /// <summary>
    /// One completion layer on screen: a child object of the scene root with its own mesh,
    /// material and colour texture, refilled from a <see cref="DecodedLayer"/> every frame.
    /// GPU path: the padded grid's depth, ray tables and occluded bits are uploaded and
    /// Ex4dLayerBuild.compute writes the mesh's vertex and index buffers (occluded faces
    /// collapsed); the object's local transform is the layer's pose. CPU path (no compute
    /// shaders): the core's compacted world-space faces are copied in and the transform is
    /// the identity. A layer's size changes every frame, so every buffer (and the raw colour
    /// texture) is kept at the largest size seen and only the used part is drawn: after the
    /// first frames an update allocates nothing.
    /// </summary>
    internal sealed class LayerMesh : IDisposable
    {
        static readonly int IdDepth = Shader.PropertyToID("_Depth");
        static readonly int IdRayX = Shader.PropertyToID("_RayX");
        static readonly int IdRayY = Shader.PropertyToID("_RayY");
        static readonly int IdOccluded = Shader.PropertyToID("_Occluded");
        static readonly int IdVertices = Shader.PropertyToID("_Vertices");
        static readonly int IdIndices = Shader.PropertyToID("_Indices");
        static readonly int IdWidth = Shader.PropertyToID("_Width");
        static readonly int IdHeight = Shader.PropertyToID("_Height");
        static readonly int IdCap = Shader.PropertyToID("_Cap");
        static readonly int IdMainTex = Shader.PropertyToID("_MainTex");
        static readonly int IdTopRowFirst = Shader.PropertyToID("_ColorTopRowFirst");
        static readonly int IdUvScale = Shader.PropertyToID("_UvScale");
        static readonly int IdDepthBias = Shader.PropertyToID("_DepthBias");
        static readonly int IdLayerOrder = Shader.PropertyToID("_LayerOrder");

        readonly GameObject _object;
        readonly MeshRenderer _renderer;
        readonly Mesh _mesh;
        readonly Material _material;
        readonly ComputeShader _compute;
        readonly int _kVertices, _kFaces;
        readonly TextureSlot _encoded;

        bool _gpuBuffers;
        int _vertexCapacity, _indexCapacity, _pixelCapacity, _widthCapacity, _heightCapacity;
        GraphicsBuffer _depth, _rayX, _rayY, _occluded, _vertexBuffer, _indexBuffer;
        uint[] _occludedWords = new uint[0];
        float[] _cpuVertices = new float[0];
        Texture2D _raw;

        /// <summary><paramref name="compute"/> null: the CPU path only. Kernels are looked
        /// up by the caller after its support check (FindKernel throws where the shader did
        /// not compile).</summary>
        public LayerMesh(Transform sceneRoot, int order, Shader shader, ComputeShader compute,
            int kVertices, int kFaces)
        {
            _object = new GameObject("Ex4d completion layer " + order)
            {
                hideFlags = HideFlags.DontSave | HideFlags.NotEditable,
            };
            _object.transform.SetParent(sceneRoot, false);
            // Same culling layer as the player, so cameras that draw the scene draw its layers.
            _object.layer = sceneRoot.gameObject.layer;
            _mesh = new Mesh { name = "Ex4d completion layer " + order };
            _mesh.MarkDynamic();
            _mesh.indexFormat = IndexFormat.UInt32;
            _object.AddComponent<MeshFilter>().sharedMesh = _mesh;
            _renderer = _object.AddComponent<MeshRenderer>();
            _renderer.shadowCastingMode = ShadowCastingMode.Off;
            _renderer.receiveShadows = false;
            _material = new Material(shader) { name = "Ex4d completion layer " + order };
            _renderer.sharedMaterial = _material;
            _renderer.enabled = false;
            _compute = compute;
            _kVertices = kVertices;
            _kFaces = kFaces;
            _encoded = new TextureSlot("Ex4d completion layer colour " + order, false);
        }

        public bool Visible
        {
            get { return _renderer.enabled; }
            set { _renderer.enabled = value; }
        }

        /// <summary>Shows <paramref name="layer"/> (decoded in Unity space; compacted for the
        /// CPU path) as the <paramref name="order"/>-th layer drawn.</summary>
        public void Upload(DecodedLayer layer, int order, bool gpu, float depthBias)
        {
            if (gpu && _compute == null) gpu = false;
            if (!gpu && !layer.IsCompacted)
                throw new InvalidOperationException("the CPU path needs compacted layers "
                    + "(MeshDecodeOptions.CompactLayers)");
            if (gpu != _gpuBuffers) ResetMesh(gpu);
            bool any = gpu ? UploadGpu(layer) : UploadCpu(layer);
            if (!any)
            {
                _renderer.enabled = false;
                return;
            }
            UploadColor(layer);
            _material.SetFloat(IdDepthBias, depthBias);
            _material.SetFloat(IdLayerOrder, order);
            _renderer.enabled = true;
        }

        void ResetMesh(bool gpu)
        {
            ReleaseBuffers();
            _mesh.Clear();
            _vertexCapacity = _indexCapacity = 0;
            if (gpu)
            {
                _mesh.vertexBufferTarget |= GraphicsBuffer.Target.Raw;
                _mesh.indexBufferTarget |= GraphicsBuffer.Target.Raw;
            }
            _gpuBuffers = gpu;
        }

        static int Grow(int have, int need)
        {
            return Math.Max(need, have + have / 2);
        }

        /// <summary>Makes the mesh hold at least this many vertices and indices; returns true
        /// when its buffers were recreated.</summary>
        bool EnsureMesh(int vertices, int indices)
        {
            if (vertices <= _vertexCapacity && indices <= _indexCapacity) return false;
            _vertexCapacity = Math.Max(_vertexCapacity, Grow(_vertexCapacity, vertices));
            _indexCapacity = Math.Max(_indexCapacity, Grow(_indexCapacity, indices));
            ComputeMesh.Release(ref _vertexBuffer);
            ComputeMesh.Release(ref _indexBuffer);
            _mesh.SetVertexBufferParams(_vertexCapacity, ComputeMesh.Layout);
            _mesh.SetIndexBufferParams(_indexCapacity, IndexFormat.UInt32);
            _mesh.subMeshCount = 1;
            return true;
        }

        bool UploadGpu(DecodedLayer layer)
        {
            var g = layer.Grid;
            int w = g.Width, h = g.Height, n = w * h;
            int faces = g.NumFaces;
            if (layer.CameraMin.Z > layer.CameraMax.Z) return false; // no surface pixel
            if (EnsureMesh(n + 1, 3 * faces))
            {
                _vertexBuffer = _mesh.GetVertexBuffer(0);
                _indexBuffer = _mesh.GetIndexBuffer();
            }
            if (n > _pixelCapacity || w > _widthCapacity || h > _heightCapacity)
            {
                _pixelCapacity = Math.Max(_pixelCapacity, Grow(_pixelCapacity, n));
                _widthCapacity = Math.Max(_widthCapacity, Grow(_widthCapacity, w));
                _heightCapacity = Math.Max(_heightCapacity, Grow(_heightCapacity, h));
                ComputeMesh.Release(ref _depth);
                ComputeMesh.Release(ref _rayX);
                ComputeMesh.Release(ref _rayY);
                ComputeMesh.Release(ref _occluded);
                _depth = new GraphicsBuffer(GraphicsBuffer.Target.Structured, _pixelCapacity, sizeof(float));
                _rayX = new GraphicsBuffer(GraphicsBuffer.Target.Structured, _widthCapacity, sizeof(float));
                _rayY = new GraphicsBuffer(GraphicsBuffer.Target.Structured, _heightCapacity, sizeof(float));
                // Faces of any grid with at most _pixelCapacity pixels, as 32-bit words.
                int words = ((int)(2L * _pixelCapacity + 2L * (_widthCapacity + _heightCapacity)) / 8 + 4) / 4 + 1;
                _occluded = new GraphicsBuffer(GraphicsBuffer.Target.Raw, words, sizeof(uint));
                _occludedWords = new uint[words];
            }
            int bytes = (faces + 7) / 8;
            Buffer.BlockCopy(g.OccludedPacked, 0, _occludedWords, 0, bytes);
            _depth.SetData(g.Depth, 0, 0, n);
            _rayX.SetData(g.RayX, 0, 0, w);
            _rayY.SetData(g.RayY, 0, 0, h);
            _occluded.SetData(_occludedWords, 0, 0, (bytes + 3) / 4);

            var cs = _compute;
            cs.SetInt(IdWidth, w);
            cs.SetInt(IdHeight, h);
            cs.SetVector(IdCap, new Vector4(g.CapX, g.CapY, g.CapZ, 0f));
            cs.SetBuffer(_kVertices, IdDepth, _depth);
            cs.SetBuffer(_kVertices, IdRayX, _rayX);
            cs.SetBuffer(_kVertices, IdRayY, _rayY);
            cs.SetBuffer(_kVertices, IdVertices, _vertexBuffer);
            Dispatch(_kVertices, n + 1);
            cs.SetBuffer(_kFaces, IdOccluded, _occluded);
            cs.SetBuffer(_kFaces, IdIndices, _indexBuffer);
            Dispatch(_kFaces, faces);
            _mesh.SetSubMesh(0, new SubMeshDescriptor(0, 3 * faces, MeshTopology.Triangles),
                ComputeMesh.QuietUpdate);

            // The grid is in the generated camera's frame: the object sits at the layer's
            // pose inside the scene root (Unity axes, scene units).
            _object.transform.localPosition = UnityConventions.ToVector3(layer.Position);
            _object.transform.localRotation = UnityConventions.ToQuaternion(layer.Rotation);
            var lo = UnityConventions.ToVector3(layer.CameraMin);
            var hi = UnityConventions.ToVector3(layer.CameraMax);
            _mesh.bounds = new Bounds((lo + hi) * 0.5f, (hi - lo) * 1.01f + Vector3.one * 1e-3f);
            return true;
        }

        void Dispatch(int kernel, int count)
        {
            ComputeMesh.Dispatch(_compute, kernel, count);
        }

        bool UploadCpu(DecodedLayer layer)
        {
            int nv = layer.NumVertices, nf = layer.NumFaces;
            if (nf == 0) return false;
            EnsureMesh(nv, 3 * nf);
            int floats = LayerGrid.FloatsPerVertex * nv;
            if (_cpuVertices.Length < floats) _cpuVertices = new float[Grow(_cpuVertices.Length, floats)];
            var g = layer.Grid;
            int w = g.Width, h = g.Height, cap = w * h;
            var dst = _cpuVertices;
            for (int k = 0, o = 0; k < nv; k++, o += LayerGrid.FloatsPerVertex)
            {
                dst[o] = layer.Vertices[3 * k];
                dst[o + 1] = layer.Vertices[3 * k + 1];
                dst[o + 2] = layer.Vertices[3 * k + 2];
                int v = layer.VertexSource[k];
                if (v == cap)
                {
                    dst[o + 3] = 0.5f;
                    dst[o + 4] = 0.5f;
                    dst[o + 5] = 0f;
                }
                else
                {
                    int i = v / w, j = v - i * w;
                    dst[o + 3] = (j + 0.5f) / w;
                    dst[o + 4] = (i + 0.5f) / h;
                    dst[o + 5] = 1f;
                }
            }
            _mesh.SetVertexBufferData(dst, 0, 0, floats, 0, ComputeMesh.QuietUpdate);
            _mesh.SetIndexBufferData(layer.Faces, 0, 0, 3 * nf, ComputeMesh.QuietUpdate);
            _mesh.SetSubMesh(0, new SubMeshDescriptor(0, 3 * nf, MeshTopology.Triangles),
                ComputeMesh.QuietUpdate);
            // Vertices are already in the scene's world (Unity axes): identity transform.
            _object.transform.localPosition = Vector3.zero;
            _object.transform.localRotation = Quaternion.identity;
            var lo = UnityConventions.ToVector3(layer.WorldMin);
            var hi = UnityConventions.ToVector3(layer.WorldMax);
            _mesh.bounds = new Bounds((lo + hi) * 0.5f, (hi - lo) * 1.01f + Vector3.one * 1e-3f);
            return true;
        }

        void UploadColor(DecodedLayer layer)
        {
            var g = layer.Grid;
            int w = g.Width, h = g.Height;
            if (g.HasColorRgb)
            {
                // Rows go into the top-left of a texture kept at the largest crop size seen,
                // so a new crop size does not recreate the texture every frame.
                if (_raw == null || _raw.width < w || _raw.height < h)
                {
                    int tw = Math.Max(w, _raw == null ? 0 : Grow(_raw.width, w));
                    int th = Math.Max(h, _raw == null ? 0 : Grow(_raw.height, h));
                    if (_raw != null) UnityObjects.Destroy(_raw);
                    _raw = new Texture2D(tw, th, TextureFormat.RGB24, false, false)
                    {
                        name = "Ex4d completion layer colour",
                        wrapMode = TextureWrapMode.Clamp,
                        filterMode = FilterMode.Bilinear,
                    };
                }
                NativeArray<byte> pixels = _raw.GetPixelData<byte>(0);
                int stride = 3 * _raw.width;
                for (int i = 0; i < h; i++)
                    NativeArray<byte>.Copy(g.ColorRgb, 3 * w * i, pixels, stride * i, 3 * w);
                _raw.Apply(false, false);
                _material.SetTexture(IdMainTex, _raw);
                _material.SetFloat(IdTopRowFirst, 1f);
                _material.SetVector(IdUvScale, new Vector4((float)w / _raw.width,
                    (float)h / _raw.height, 0f, 0f));
            }
            else if (g.HasColor && g.EncodedColor.Count > 0)
            {
                // JPEG/PNG: decoded by LoadImage on this (main) thread, at the image's size.
                // The standalone tiers ask for raw colour so this never runs there.
                _encoded.UploadEncoded(g.EncodedColor);
                _material.SetTexture(IdMainTex, _encoded.Texture);
                _material.SetFloat(IdTopRowFirst, _encoded.TopRowFirst ? 1f : 0f);
                _material.SetVector(IdUvScale, new Vector4(1f, 1f, 0f, 0f));
            }
        }

        void ReleaseBuffers()
        {
            ComputeMesh.Release(ref _depth);
            ComputeMesh.Release(ref _rayX);
            ComputeMesh.Release(ref _rayY);
            ComputeMesh.Release(ref _occluded);
            ComputeMesh.Release(ref _vertexBuffer);
            ComputeMesh.Release(ref _indexBuffer);
            _pixelCapacity = _widthCapacity = _heightCapacity = 0;
        }

        public void Dispose()
        {
            ReleaseBuffers();
            _encoded.Dispose();
            if (_raw != null) UnityObjects.Destroy(_raw);
            _raw = null;
            UnityObjects.Destroy(_material);
            UnityObjects.Destroy(_mesh);
            UnityObjects.Destroy(_object);
        }
    }
}
