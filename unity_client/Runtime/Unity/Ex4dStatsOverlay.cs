using System.Text;
using UnityEngine;
using UnityEngine.XR;

namespace Ex4d.Bridge
{
    /// <summary>
    /// A small overlay with the connection state (reconnect countdown included), latency,
    /// frame rates and dropped poses: an IMGUI box on screen without a headset, and a text
    /// panel in front of the camera while a headset is active (no IMGUI then: it is not drawn
    /// in the headset). The text is rebuilt a few times a second, not every frame.
    /// </summary>
    public sealed class Ex4dStatsOverlay : MonoBehaviour
    {
        public Ex4dBridgeSource source;
        public Ex4dScenePlayer player;
        public Ex4dNovelViewPresenter presenter;
        public bool showOnScreen = true;
        public bool showInHeadset = true;
        public Vector3 headsetOffset = new Vector3(-0.35f, -0.2f, 1.0f);
        [Range(1f, 20f)] public float refreshPerSecond = 4f;

        readonly StringBuilder _text = new StringBuilder(512);
        string _shown = "";
        float _nextRefresh;
        TextMesh _worldText;
        GUIStyle _style;
        readonly GUIContent _content = new GUIContent();
        Vector2 _size;
        bool _sizeDirty = true;

        void OnEnable()
        {
            // No layout pass: the box is placed by hand.
            useGUILayout = false;
            if (source == null) source = Ex4dBridgeSource.FindDefault();
            if (player == null) player = FindFirstObjectByType<Ex4dScenePlayer>();
            if (presenter == null) presenter = FindFirstObjectByType<Ex4dNovelViewPresenter>();
        }

        void OnDisable()
        {
            if (_worldText != null) UnityObjects.Destroy(_worldText.gameObject);
            _worldText = null;
        }

        void Update()
        {
            if (Time.unscaledTime < _nextRefresh) return;
            _nextRefresh = Time.unscaledTime + 1f / refreshPerSecond;
            Build();
            _shown = _text.ToString();
            _sizeDirty = true;
            bool xr = showInHeadset && XRSettings.isDeviceActive;
            if (xr && _worldText == null) _worldText = MakeWorldText();
            if (_worldText != null)
            {
                _worldText.gameObject.SetActive(xr);
                if (xr) _worldText.text = _shown;
            }
        }

        void Build()
        {
            _text.Length = 0;
            _text.Append("EX-4D bridge");
            if (source == null)
            {
                _text.Append("\nno connection component in the scene");
                return;
            }
            var s = source.Status;
            _text.Append("  ").Append(s.State.ToString());
            if (!string.IsNullOrEmpty(s.Address)) _text.Append("  ").Append(s.Address);
            if (s.State == Ex4dConnectionState.Reconnecting)
            {
                _text.Append("\nretry in ").Append(s.RetryInSeconds.ToString("0.0"))
                    .Append(" s (attempt ").Append(s.Attempt).Append(')');
            }
            if (!string.IsNullOrEmpty(s.LastError) && s.State != Ex4dConnectionState.Connected)
                _text.Append("\n").Append(s.LastError);
            _text.Append("\nlatency ").Append(s.LatencyMeanMs.ToString("0")).Append(" ms (p95 ")
                .Append(s.LatencyP95Ms.ToString("0")).Append(")  server render ")
                .Append(s.ServerRenderMs.ToString("0.0")).Append(" ms");
            _text.Append("\nviews ").Append(s.ViewRepliesPerSecond.ToString("0.0"))
                .Append("/s  mesh frames in ").Append(s.MeshFramesPerSecond.ToString("0.0"))
                .Append("/s");
            if (player != null)
            {
                _text.Append("\nshown ").Append(player.FramesPerSecond.ToString("0.0"))
                    .Append("/s  frame ").Append(player.ShownFrameIndex);
                if (source.Frames != null)
                    _text.Append('/').Append(source.Frames.NumFrames)
                        .Append(" (").Append(source.Frames.Count).Append(" received)");
                if (player.DecodeErrors > 0)
                    _text.Append("\nbad mesh frames ").Append(player.DecodeErrors);
            }
            _text.Append("\nposes sent ").Append(s.PosesSent).Append("  replaced ")
                .Append(s.PosesOverwritten).Append("  dropped by server ").Append(s.DroppedByServer);
            if (presenter != null && presenter.RejectedViews > 0)
                _text.Append("\nbad view replies ").Append(presenter.RejectedViews);
        }

        TextMesh MakeWorldText()
        {
            var cam = Camera.main;
            var go = new GameObject("Ex4d stats");
            if (cam != null) go.transform.SetParent(cam.transform, false);
            go.transform.localPosition = headsetOffset;
            go.transform.localScale = Vector3.one * 0.004f;
            var text = go.AddComponent<TextMesh>();
            var font = Resources.GetBuiltinResource<Font>("LegacyRuntime.ttf");
            text.font = font;
            text.fontSize = 48;
            text.anchor = TextAnchor.UpperLeft;
            text.color = Color.white;
            go.GetComponent<MeshRenderer>().sharedMaterial = font.material;
            return text;
        }

        void OnGUI()
        {
            // While a headset is active the text panel shows the stats; IMGUI would only reach
            // the desktop mirror and still cost its layout and draw passes every frame.
            if (!showOnScreen || XRSettings.isDeviceActive) return;
            if (_style == null)
            {
                _style = new GUIStyle(GUI.skin.box)
                {
                    alignment = TextAnchor.UpperLeft,
                    fontSize = 13,
                    wordWrap = false,
                };
            }
            if (_sizeDirty)
            {
                _content.text = _shown;
                _size = _style.CalcSize(_content);
                _sizeDirty = false;
            }
            GUI.Box(new Rect(8, 8, _size.x + 8, _size.y + 4), _shown, _style);
        }
    }
}
