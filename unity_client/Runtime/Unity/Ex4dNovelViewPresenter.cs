using Ex4d.Bridge.Core;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>What the presenter shows.</summary>
    public enum Ex4dViewContent
    {
        /// <summary>The server's DW-Mesh render at the head pose (unseen regions tinted).
        /// </summary>
        Rendered,
        /// <summary>The generated (completed) view where a finished generation job has one,
        /// else the render.</summary>
        GeneratedWhenAvailable,
    }

    /// <summary>
    /// Shows the novel views the server renders for the poses sent: a head-locked panel (or
    /// any renderer you assign) textured with the newest ViewReply. The reply is decoded on a
    /// worker thread by the core's BackgroundViewDecoder (RAW_RGB colour and the mask are
    /// inflated there and copied into the textures' own memory; only JPEG/PNG bytes still go to
    /// Texture2D.LoadImage here, which is why standalone tiers ask for raw RGB); a malformed
    /// reply is skipped and the last good view stays.
    /// </summary>
    public sealed class Ex4dNovelViewPresenter : MonoBehaviour
    {
        static readonly int IdMainTex = Shader.PropertyToID("_MainTex");
        static readonly int IdMaskTex = Shader.PropertyToID("_MaskTex");
        static readonly int IdMainTop = Shader.PropertyToID("_MainTopRowFirst");
        static readonly int IdMaskTop = Shader.PropertyToID("_MaskTopRowFirst");
        static readonly int IdUseMask = Shader.PropertyToID("_UseMask");

        public Ex4dBridgeSource source;
        public Ex4dViewContent content = Ex4dViewContent.GeneratedWhenAvailable;
        public bool tintUnseen = true;

        [Header("Panel")]
        [Tooltip("Renderer that shows the view. Empty: a quad in front of the camera is made.")]
        public Renderer target;
        [Tooltip("Camera the made panel follows.")]
        public Camera followCamera;
        public Vector3 panelOffset = new Vector3(0.32f, -0.18f, 1.0f);
        public float panelHeight = 0.3f;

        BackgroundViewDecoder _decoder;
        DecodedView _current;
        long _seenErrors;
        TextureSlot _view;
        TextureSlot _mask;
        Material _material;
        GameObject _madePanel;
        double _lastErrorLog = double.NegativeInfinity;

        /// <summary>The newest view shown (null before the first).</summary>
        public DecodedView Current { get { return _current; } }
        public long RejectedViews { get { return _decoder == null ? 0 : _decoder.ErrorCount; } }

        void OnEnable()
        {
            if (source == null) source = Ex4dBridgeSource.FindDefault();
            _decoder = new BackgroundViewDecoder(255);
            _seenErrors = 0;
            _view = new TextureSlot("Ex4d novel view", false);
            _mask = new TextureSlot("Ex4d novel view mask", true);
            var shader = Resources.Load<Shader>("Ex4d/Ex4dNovelView");
            if (shader == null) shader = Shader.Find("Ex4d/Novel View");
            _material = new Material(shader) { name = "Ex4d novel view" };
            if (target == null) target = MakePanel();
            target.sharedMaterial = _material;
            target.enabled = false;
        }

        void OnDisable()
        {
            if (_decoder != null) _decoder.Dispose();
            _decoder = null;
            if (_view != null) _view.Dispose();
            if (_mask != null) _mask.Dispose();
            UnityObjects.Destroy(_material);
            if (_madePanel != null)
            {
                UnityObjects.Destroy(_madePanel);
                _madePanel = null;
                target = null; // it was the made panel's renderer
            }
        }

        Renderer MakePanel()
        {
            _madePanel = GameObject.CreatePrimitive(PrimitiveType.Quad);
            _madePanel.name = "Ex4d novel view panel";
            var collider = _madePanel.GetComponent<Collider>();
            if (collider != null) UnityObjects.Destroy(collider);
            var cam = followCamera != null ? followCamera : Camera.main;
            if (cam != null) _madePanel.transform.SetParent(cam.transform, false);
            _madePanel.transform.localPosition = panelOffset;
            _madePanel.transform.localRotation = Quaternion.identity;
            _madePanel.transform.localScale = new Vector3(panelHeight, panelHeight, 1f);
            return _madePanel.GetComponent<Renderer>();
        }

        void Update()
        {
            if (source == null) return;
            ViewReplyData reply;
            if (source.TryTakeView(out reply)) _decoder.Request(reply);
            DecodedView view;
            if (_decoder.TryAcquire(out view, out reply))
            {
                try
                {
                    Show(view);
                    _current = view;
                }
                finally
                {
                    _decoder.Release();
                }
                source.ReportViewShown(reply);
            }
            long errors = _decoder.ErrorCount;
            double now = Ex4dClock.NowSeconds;
            if (errors != _seenErrors && now - _lastErrorLog > 5.0)
            {
                Debug.LogWarning("[Ex4d] " + (errors - _seenErrors) + " view reply(s) rejected, "
                    + "keeping the last view: " + _decoder.LastError, this);
                _seenErrors = errors;
                _lastErrorLog = now;
            }
        }

        void Show(DecodedView v)
        {
            bool generated = content == Ex4dViewContent.GeneratedWhenAvailable && v.HasGenerated;
            if (generated)
            {
                if (v.HasGeneratedRgb)
                    _view.UploadRaw(v.GeneratedRgb, v.GeneratedWidth, v.GeneratedHeight,
                        TextureFormat.RGB24);
                else _view.UploadEncoded(v.EncodedGenerated);
            }
            else if (v.HasColorRgb)
            {
                _view.UploadRaw(v.ColorRgb, v.Width, v.Height, TextureFormat.RGB24);
            }
            else
            {
                _view.UploadEncoded(v.EncodedColor);
            }
            bool useMask = tintUnseen && !generated && v.HasMask;
            if (useMask) _mask.UploadRaw(v.Mask, v.Width, v.Height, TextureFormat.R8);
            _material.SetTexture(IdMainTex, _view.Texture);
            _material.SetTexture(IdMaskTex, useMask ? _mask.Texture : Texture2D.whiteTexture);
            _material.SetFloat(IdMainTop, _view.TopRowFirst ? 1f : 0f);
            _material.SetFloat(IdMaskTop, 1f);
            _material.SetFloat(IdUseMask, useMask ? 1f : 0f);
            if (_madePanel != null && v.Height > 0)
            {
                float aspect = (float)v.Width / v.Height;
                _madePanel.transform.localScale = new Vector3(panelHeight * aspect, panelHeight, 1f);
            }
            target.enabled = true;
        }
    }
}
