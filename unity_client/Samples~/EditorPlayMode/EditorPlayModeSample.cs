using Ex4d.Bridge.Net;
using UnityEngine;

namespace Ex4d.Bridge.Samples
{
    /// <summary>
    /// Editor Play Mode sample: put this on an empty GameObject in an empty scene and press
    /// Play. It builds everything else: the connection, the 4D scene player at the origin
    /// (the source camera's viewpoint), a fly camera starting there, the novel-view panel, the
    /// stats overlay and the walkthrough recorder.
    /// Keys: right mouse + WASD/QE to fly, Shift faster, Home back to the start, Space pause,
    /// R start/stop recording a walkthrough, V show/hide the novel view, O cycle occluded-face
    /// display (show, fade, hide).
    /// </summary>
    public sealed class EditorPlayModeSample : MonoBehaviour
    {
        [Header("Server")]
        public string address = "http://127.0.0.1:50051";
        public string token = "";
        [Tooltip("Empty: the newest scene on the server.")]
        public string sceneId = "";

        [Header("Scene")]
        [Tooltip("Metres per scene unit (the depth's units).")]
        public float sceneScale = 1f;
        public Ex4dQualityTier quality = Ex4dQualityTier.Desktop;

        Ex4dScenePlayer _player;
        Ex4dNovelViewPresenter _presenter;
        Ex4dWalkthroughRecorder _recorder;

        void Awake()
        {
            var clientObject = new GameObject("Ex4d bridge client");
            clientObject.SetActive(false); // configure before OnEnable connects
            var client = clientObject.AddComponent<Ex4dBridgeClient>();
            client.address = address;
            client.token = token;
            client.sceneId = sceneId;

            var sceneObject = new GameObject("Ex4d scene");
            sceneObject.SetActive(false);
            sceneObject.transform.localScale = Vector3.one * sceneScale;
            sceneObject.AddComponent<MeshFilter>();
            sceneObject.AddComponent<MeshRenderer>();
            _player = sceneObject.AddComponent<Ex4dScenePlayer>();
            _player.source = client;
            client.player = _player;
            _player.qualityTier = quality;

            var cam = Camera.main;
            if (cam == null)
            {
                var camObject = new GameObject("Main Camera") { tag = "MainCamera" };
                cam = camObject.AddComponent<Camera>();
            }
            cam.nearClipPlane = 0.02f;
            cam.farClipPlane = 1000f;
            cam.clearFlags = CameraClearFlags.SolidColor;
            cam.backgroundColor = new Color(0.05f, 0.05f, 0.07f);
            // Start where the source camera was: the scene looks like the video.
            cam.transform.SetPositionAndRotation(Vector3.zero, Quaternion.identity);
            client.viewCamera = cam;
            if (cam.GetComponent<Ex4dFlyCamera>() == null) cam.gameObject.AddComponent<Ex4dFlyCamera>();

            var head = cam.gameObject.AddComponent<Ex4dHeadPoseSource>();
            head.viewCamera = cam;
            head.preferXr = false;
            var sender = cam.gameObject.AddComponent<Ex4dHeadPoseSender>();
            sender.source = client;
            sender.head = head;
            sender.player = _player;
            _recorder = cam.gameObject.AddComponent<Ex4dWalkthroughRecorder>();
            _recorder.head = head;
            _recorder.player = _player;
            _presenter = cam.gameObject.AddComponent<Ex4dNovelViewPresenter>();
            _presenter.source = client;
            _presenter.followCamera = cam;
            var overlay = cam.gameObject.AddComponent<Ex4dStatsOverlay>();
            overlay.source = client;
            overlay.player = _player;
            overlay.presenter = _presenter;
            overlay.showInHeadset = false;

            clientObject.SetActive(true);
            sceneObject.SetActive(true);
        }

        void Update()
        {
            if (Ex4dFlyCamera.Pressed(KeyCode.Space)) _player.playing = !_player.playing;
            if (Ex4dFlyCamera.Pressed(KeyCode.R)) _recorder.Toggle();
            if (Ex4dFlyCamera.Pressed(KeyCode.V)) _presenter.enabled = !_presenter.enabled;
            if (Ex4dFlyCamera.Pressed(KeyCode.O))
                _player.occludedFaces = (Ex4dOccludedFaces)(((int)_player.occludedFaces + 1) % 3);
        }
    }
}
