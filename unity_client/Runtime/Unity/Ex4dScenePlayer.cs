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
            _decoder = new BackgroundMeshDecoder(new MeshDecodeOptions
            {
                // The compute shader rebuilds vertices from depth; the CPU path does it in
                // RenderGrid. Either way the decoder only decodes.
                BuildVertices = false,
                UnpackOccluded = !gpu,
                Space = VertexSpace.Unity,
            });
            _clock = new PlaybackClock(Math.Max(1e-3, fallbackFps), 1);
            _requestedFrame = -1;
            _seenErrors = 0;
            if (source == null) source = Ex4dBridgeSource.FindDefault();
        }

        void OnDisable()
        {
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
            _grid.Upload(frame, occludedFaces);

            if (frame.HasColorRgb)
                _color.UploadRaw(frame.ColorRgb, frame.Width, frame.Height, TextureFormat.RGB24);
            else if (frame.HasColor && frame.EncodedColor.Count > 0)
                _color.UploadEncoded(frame.EncodedColor);
            _material.SetTexture(IdMainTex, _color.Texture);
            _material.SetFloat(IdTopRowFirst, _color.TopRowFirst ? 1f : 0f);
            _material.SetFloat(IdOccludedMode, (float)occludedFaces);
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
