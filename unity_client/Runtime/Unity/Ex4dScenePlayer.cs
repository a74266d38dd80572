using System;
using Ex4d.Bridge.Core;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>
    /// Plays the 4D scene: every video frame, the compact MeshFrame of the current play time
    /// is decoded on a worker thread (core <see cref="BackgroundMeshDecoder"/>) and the grid
    /// mesh is rebuilt on the GPU (<see cref="GridMesh"/>, Ex4dMeshBuild.compute).
    /// <para>This object's transform is the scene root: the source camera of frame 0 sits at
    /// its origin looking along its +z, one scene unit is one local unit (scale the object to
    /// set metres per scene unit; keep the scale uniform).</para>
    /// <para>No per-frame allocations on the main thread once the resolution is known. A
    /// malformed frame is logged once per kind and the last good frame stays on screen. The
    /// render thread never waits for a decode: if one is running, the upload happens next
    /// frame.</para>
    /// <para>Completed scenes: the player asks for each frame's completion layers (through
    /// its <see cref="Budget"/>'s maxCompletionLayers, which the connection reads for
    /// StreamGeometryRequest.include_completions / max_layers) and draws the first N of them
    /// with the source mesh (<see cref="LayerMesh"/>, one child object per layer): behind
    /// the source surface by <see cref="completionDepthBias"/> (the source wins ties within
    /// 2%; a layer shows where the source has nothing or is farther). GPU path:
    /// Ex4dLayerBuild.compute builds each layer's grid and the object sits at the layer's
    /// pose; CPU path: the core's compacted world-space faces.</para>
    /// </summary>
    [DisallowMultipleComponent]
    [RequireComponent(typeof(MeshFilter), typeof(MeshRenderer))]
    public sealed class Ex4dScenePlayer : MonoBehaviour
    {
        static readonly int IdMainTex = Shader.PropertyToID("_MainTex");
        static readonly int IdTopRowFirst = Shader.PropertyToID("_ColorTopRowFirst");
        static readonly int IdOccludedMode = Shader.PropertyToID("_OccludedMode");
        static readonly int IdFadeSoftness = Shader.PropertyToID("_FadeSoftness");

        [Tooltip("The connection that supplies mesh frames (found in the scene when empty).")]
        public Ex4dBridgeSource source;

        [Header("Quality")]
        public Ex4dQualityTier qualityTier = Ex4dQualityTier.Auto;
        [Tooltip("Use the budget below instead of the tier's.")]
        public bool useCustomBudget;
        public Ex4dQualityBudget customBudget = Ex4dQualityBudget.For(Ex4dQualityTier.Desktop);

        [Header("Look")]
        public Ex4dOccludedFaces occludedFaces = Ex4dOccludedFaces.Fade;
        [Range(0.01f, 1f)] public float fadeSoftness = 0.35f;

        [Header("Completions")]
        [Tooltip("Stream and draw the scene's completion layers (generated content lifted "
            + "into 3D) with the source mesh; the quality tier caps how many per frame.")]
        public bool drawCompletions = true;
        [Tooltip("Layers are pushed back by this fraction of their distance: where the source "
            + "and a layer are within it, the source wins.")]
        [Range(0f, 0.1f)] public float completionDepthBias = (float)CompletionDepth.DefaultBias;
        [Tooltip("Hide the source's occluded faces while layers are drawn (they stand in "
            + "front of the surface the layers complete; Fade would leave a dither pattern).")]
        public bool hideOccludedWithCompletions = true;

        [Header("Playback")]
        public bool playing = true;
        public bool loop = true;
        public float playbackSpeed = 1f;
        [Tooltip("Frame rate used until the server reports the clip's own.")]
        public float fallbackFps = 16f;

        GridMesh _grid;
        BackgroundMeshDecoder _decoder;
        TextureSlot _color;
        Material _material;
        MeshRenderer _renderer;
        PlaybackClock _clock;
        Ex4dQualityBudget _budget;
        int _requestedFrame = -1;
        double _lastRequestTime = double.NegativeInfinity;
        long _seenErrors;
        double _lastErrorLog = double.NegativeInfinity;
        bool _useGpu;
        readonly RateCounter _shownRate = new RateCounter(1.0, 256);
        LayerMesh[] _layers = new LayerMesh[0];
        Shader _layerShader;
        ComputeShader _layerCompute;
        int _kLayerVertices, _kLayerFaces;
        bool _layersOnGpu;

        /// <summary>Play time in seconds (what the head-pose sender asks views for).</summary>
        public double PlaybackTimeSeconds { get { return _clock == null ? 0 : _clock.TimeSeconds; } }

        /// <summary>Frame index on screen, -1 before the first.</summary>
        public int ShownFrameIndex { get; private set; }

        /// <summary>Malformed frames so far and the newest message.</summary>
        public long DecodeErrors { get { return _decoder == null ? 0 : _decoder.ErrorCount; } }
        public string LastDecodeError { get { return _decoder == null ? null : _decoder.LastError; } }

        /// <summary>Mesh frames shown per second.</summary>
        public double FramesPerSecond { get { return _shownRate.Rate(Ex4dClock.NowSeconds); } }

        public Ex4dQualityBudget Budget { get { return _budget; } }

        /// <summary>Completion layers drawn with the frame on screen (0: the raw DW-Mesh).
        /// </summary>
        public int DrawnLayers { get; private set; }

        /// <summary>Whether the connection should ask for completion layers, and at most how
        /// many (0: all); read by Ex4dBridgeClient when it opens the geometry stream.</summary>
        public bool WantsCompletions
        {
            get { return drawCompletions && QualityTiers.RequestCompletions(true, _budget.maxCompletionLayers); }
        }

        public int MaxCompletionLayers { get { return Math.Max(0, _budget.maxCompletionLayers); } }

        /// <summary>Raised on the main thread after a frame was uploaded (frame index).</summary>
        public event Action<int> FrameShown;

        void OnEnable()
        {
            ShownFrameIndex = -1;
            _budget = useCustomBudget ? customBudget : Ex4dQualityBudget.For(qualityTier);
            var compute = Resources.Load<ComputeShader>("Ex4d/Ex4dMeshBuild");
            var shader = Resources.Load<Shader>("Ex4d/Ex4dDWMesh");
            if (shader == null) shader = Shader.Find("Ex4d/DW Mesh");
            _grid = new GridMesh(compute);
            _color = new TextureSlot("Ex4d frame colour", false);
            _material = new Material(shader) { name = "Ex4d DW-Mesh" };
            GetComponent<MeshFilter>().sharedMesh = _grid.Mesh;
            _renderer = GetComponent<MeshRenderer>();
            _renderer.sharedMaterial = _material;
            _renderer.enabled = false; // until the first frame
            if (_budget.useComputeShader && _grid.GpuUnavailableReason != null)
                Debug.Log("[Ex4d] " + _grid.GpuUnavailableReason, this);
            bool gpu = _budget.useComputeShader && _grid.GpuAvailable;
            _useGpu = gpu;
            SetUpLayers(gpu);
            _decoder = new BackgroundMeshDecoder(new MeshDecodeOptions
            {
                // The compute shader rebuilds vertices from depth; the CPU path does it in
                // RenderGrid. Either way the decoder only decodes.
                BuildVertices = false,
                UnpackOccluded = !gpu,
                Space = VertexSpace.Unity,
                // Layers: the worker compacts them and moves them to the world for the CPU
                // path; the GPU path builds them from their grids.
                DecodeLayers = WantsCompletions,
                MaxLayers = MaxCompletionLayers,
                CompactLayers = !_layersOnGpu,
                // Layers are independent: decode them on up to three threads, leaving two
                // cores to the main and render threads.
                LayerThreads = Math.Max(1, Math.Min(3, SystemInfo.processorCount - 2)),
            });
            _clock = new PlaybackClock(Math.Max(1e-3, fallbackFps), 1);
            _requestedFrame = -1;
            _seenErrors = 0;
            if (source == null) source = Ex4dBridgeSource.FindDefault();
        }

        void SetUpLayers(bool gpu)
        {
            _layerShader = Resources.Load<Shader>("Ex4d/Ex4dLayer");
            if (_layerShader == null) _layerShader = Shader.Find("Ex4d/Completion Layer");
            _layerCompute = null;
            _layersOnGpu = false;
            if (gpu)
            {
                var compute = Resources.Load<ComputeShader>("Ex4d/Ex4dLayerBuild");
                var kernels = new int[2];
                string reason;
                // The same order as GridMesh: support first, then FindKernel (it throws where
                // the shader did not compile for this platform).
                if (ComputeKernels.TryFind(GridMesh.GpuSupported && compute != null,
                        new[] { "LayerVertices", "LayerFaces" },
                        compute != null ? (Func<string, int>)compute.FindKernel : null,
                        compute != null ? (Func<int, bool>)compute.IsSupported : null,
                        kernels, out reason))
                {
                    _layerCompute = compute;
                    _kLayerVertices = kernels[0];
                    _kLayerFaces = kernels[1];
                    _layersOnGpu = true;
                }
                else if (WantsCompletions)
                {
                    Debug.Log("[Ex4d] completion layers on the CPU: " + reason, this);
                }
            }
            if (_layerShader == null && WantsCompletions)
                Debug.LogWarning("[Ex4d] the completion layer shader (Ex4d/Completion Layer) is "
                    + "missing: layers are not drawn", this);
        }

        void ShowLayers(DecodedMeshFrame frame)
        {
            int draw = _layerShader == null || !drawCompletions ? 0
                : QualityTiers.LayersToDraw(frame.Layers.Count, _budget.maxCompletionLayers);
            if (draw > _layers.Length)
            {
                // Grows to the most layers a frame had (a handful), never per frame.
                var grown = new LayerMesh[draw];
                Array.Copy(_layers, grown, _layers.Length);
                for (int k = _layers.Length; k < draw; k++)
                    grown[k] = new LayerMesh(transform, k, _layerShader, _layerCompute,
                        _kLayerVertices, _kLayerFaces);
                _layers = grown;
            }
            for (int k = 0; k < _layers.Length; k++)
            {
                if (k < draw) _layers[k].Upload(frame.Layers[k], k, _layersOnGpu, completionDepthBias);
                else _layers[k].Visible = false;
            }
            DrawnLayers = draw;
        }

        void OnDisable()
        {
            for (int k = 0; k < _layers.Length; k++) _layers[k].Dispose();
            _layers = new LayerMesh[0];
            DrawnLayers = 0;
            if (_decoder != null) _decoder.Dispose();
            if (_grid != null) _grid.Dispose();
            if (_color != null) _color.Dispose();
            UnityObjects.Destroy(_material);
            _decoder = null;
            _grid = null;
            _color = null;
            _material = null;
        }

        /// <summary>Jumps to a play time (seconds).</summary>
        public void Seek(double seconds)
        {
            if (_clock != null) _clock.TimeSeconds = seconds;
        }

        void Update()
        {
            if (source == null) return;
            MeshFrameStore store = source.Frames;
            if (store == null || store.NumFrames == 0) return;

            double fps = source.SceneFps > 0 ? source.SceneFps : fallbackFps;
            if (_clock.NumFrames != store.NumFrames || _clock.Fps != fps)
                _clock.Configure(fps, store.NumFrames);
            _clock.Loop = loop;
            _clock.Paused = !playing;
            _clock.Speed = playbackSpeed;
            _clock.Advance(Time.deltaTime);

            RequestFrame(store);
            ShowDecoded();
            ReportErrors();
        }

        void RequestFrame(MeshFrameStore store)
        {
            int wanted = _clock.FrameIndex;
            if (wanted == _requestedFrame) return;
            double now = Ex4dClock.NowSeconds;
            if (_budget.maxMeshFramesPerSecond > 0
                && now - _lastRequestTime < 1.0 / _budget.maxMeshFramesPerSecond)
                return;
            MeshFrameData frame;
            // Frames still on their way: keep showing what we have.
            if (!store.TryGet(wanted, out frame)) return;
            _decoder.Request(frame);
            _requestedFrame = wanted;
            _lastRequestTime = now;
        }

        void ShowDecoded()
        {
            DecodedMeshFrame frame;
            if (!_decoder.TryAcquire(out frame)) return;
            try
            {
                Upload(frame);
            }
            finally
            {
                _decoder.Release();
            }
        }

        void Upload(DecodedMeshFrame frame)
        {
            int stride = RenderGrid.StrideFor(frame.Width, frame.Height, _budget.maxGridSide);
            _grid.Configure(frame.Width, frame.Height, stride, _useGpu);
            ShowLayers(frame);
            // Occluded faces stand where the layers complete the surface: hidden while
            // layers are drawn (unless asked otherwise).
            var occluded = DrawnLayers > 0 && hideOccludedWithCompletions
                ? Ex4dOccludedFaces.Hide
                : occludedFaces;
            _grid.Upload(frame, occluded);

            if (frame.HasColorRgb)
                _color.UploadRaw(frame.ColorRgb, frame.Width, frame.Height, TextureFormat.RGB24);
            else if (frame.HasColor && frame.EncodedColor.Count > 0)
                _color.UploadEncoded(frame.EncodedColor);
            _material.SetTexture(IdMainTex, _color.Texture);
            _material.SetFloat(IdTopRowFirst, _color.TopRowFirst ? 1f : 0f);
            _material.SetFloat(IdOccludedMode, (float)occluded);
            _material.SetFloat(IdFadeSoftness, fadeSoftness);
            _renderer.enabled = true;

            ShownFrameIndex = (int)frame.FrameIndex;
            _shownRate.Tick(Ex4dClock.NowSeconds);
            var handler = FrameShown;
            if (handler != null) handler(ShownFrameIndex);
        }

        void ReportErrors()
        {
            long errors = _decoder.ErrorCount;
            if (errors == _seenErrors) return;
            // At most every few seconds, so a stream of bad frames does not flood the log.
            double now = Ex4dClock.NowSeconds;
            if (now - _lastErrorLog < 5.0) return;
            Debug.LogWarning("[Ex4d] " + (errors - _seenErrors) + " mesh frame(s) rejected, "
                + "keeping the last good frame: " + _decoder.LastError, this);
            _seenErrors = errors;
            _lastErrorLog = now;
        }
    }
}
