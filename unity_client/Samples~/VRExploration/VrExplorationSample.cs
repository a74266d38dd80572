using Ex4d.Bridge.Net;
using UnityEngine;
using UnityEngine.XR;

namespace Ex4d.Bridge.Samples
{
    /// <summary>
    /// VR Exploration sample: put this on an empty GameObject in an empty scene, enable OpenXR
    /// (see the package README), build to the headset (or Play with a PC VR headset / Quest
    /// Link). It builds an XR rig, connects, and once the headset reports a pose places the 4D
    /// scene so that its source camera is where your head is, facing the way you face: you
    /// start inside the video's viewpoint and walk around the scene.
    /// Controls: walk (room scale), left stick move, right stick snap turn, A re-place the
    /// scene in front of you, B start/stop recording a walkthrough, trigger show/hide the
    /// novel-view panel.
    /// </summary>
    public sealed class VrExplorationSample : MonoBehaviour
    {
        [Header("Server")]
        public string address = "http://192.168.1.10:50051";
        public string token = "";
        [Tooltip("Empty: the newest scene on the server.")]
        public string sceneId = "";

        [Header("Scene")]
        [Tooltip("Metres per scene unit (the depth's units).")]
        public float sceneScale = 1f;
        [Tooltip("Place the source camera this far in front of the head (metres; negative "
            + "puts you behind the source viewpoint).")]
        public float placementForward = 0f;
        public Ex4dQualityTier quality = Ex4dQualityTier.Auto;
        public Ex4dOccludedFaces occludedFaces = Ex4dOccludedFaces.Fade;

        Ex4dXrRig _rig;
        Ex4dHeadPoseSource _head;
        Ex4dScenePlayer _player;
        Ex4dNovelViewPresenter _presenter;
        Ex4dWalkthroughRecorder _recorder;
        bool _placed;

        void Awake()
        {
            var rigObject = new GameObject("Ex4d XR rig");
            var offset = new GameObject("Camera offset").transform;
            offset.SetParent(rigObject.transform, false);
            var cam = Camera.main;
            if (cam == null)
            {
                var camObject = new GameObject("Main Camera") { tag = "MainCamera" };
                cam = camObject.AddComponent<Camera>();
            }
            cam.transform.SetParent(offset, false);
            cam.nearClipPlane = 0.03f;
            cam.farClipPlane = 1000f;
            cam.clearFlags = CameraClearFlags.SolidColor;
            cam.backgroundColor = Color.black;
            _rig = rigObject.AddComponent<Ex4dXrRig>();
            _rig.head = cam;

            var clientObject = new GameObject("Ex4d bridge client");
            clientObject.SetActive(false);
            var client = clientObject.AddComponent<Ex4dBridgeClient>();
            client.address = address;
            client.token = token;
            client.sceneId = sceneId;
            client.viewCamera = cam;

            var sceneObject = new GameObject("Ex4d scene");
            sceneObject.SetActive(false);
            sceneObject.transform.localScale = Vector3.one * sceneScale;
            sceneObject.AddComponent<MeshFilter>();
            sceneObject.AddComponent<MeshRenderer>();
            _player = sceneObject.AddComponent<Ex4dScenePlayer>();
            _player.source = client;
            client.player = _player;
            _player.qualityTier = quality;
            _player.occludedFaces = occludedFaces;

            _head = cam.gameObject.AddComponent<Ex4dHeadPoseSource>();
            _head.viewCamera = cam;
            _head.trackingOrigin = offset;
            var sender = cam.gameObject.AddComponent<Ex4dHeadPoseSender>();
            sender.source = client;
            sender.head = _head;
            sender.player = _player;
            _recorder = cam.gameObject.AddComponent<Ex4dWalkthroughRecorder>();
            _recorder.head = _head;
            _recorder.player = _player;
            _presenter = cam.gameObject.AddComponent<Ex4dNovelViewPresenter>();
            _presenter.source = client;
            _presenter.followCamera = cam;
            var overlay = cam.gameObject.AddComponent<Ex4dStatsOverlay>();
            overlay.source = client;
            overlay.player = _player;
            overlay.presenter = _presenter;

            clientObject.SetActive(true);
            sceneObject.SetActive(true);
            if (!XRSettings.isDeviceActive)
                Debug.LogWarning("[Ex4d] no XR device is active: enable OpenXR in Project Settings "
                    + "> XR Plug-in Management (the Editor Play Mode sample needs no headset).");
        }

        void Update()
        {
            if (!_placed) _placed = Place();
            if (_rig.PrimaryPressed) Place();
            if (_rig.SecondaryPressed) _recorder.Toggle();
            if (_rig.TriggerPressed) _presenter.enabled = !_presenter.enabled;
        }

        /// <summary>Puts the scene's source camera at the head, yaw only (the scene stays
        /// upright), optionally pushed forward.</summary>
        bool Place()
        {
            Vector3 position;
            Quaternion rotation;
            if (!_head.TryGetPose(out position, out rotation) || !_head.IsXr) return false;
            Vector3 forward = Vector3.ProjectOnPlane(rotation * Vector3.forward, Vector3.up);
            if (forward.sqrMagnitude < 1e-6f) forward = Vector3.forward;
            forward.Normalize();
            var root = _player.transform;
            root.SetPositionAndRotation(position + forward * placementForward,
                Quaternion.LookRotation(forward, Vector3.up));
            return true;
        }
    }
}
