using System.Collections.Generic;
using UnityEngine;
using UnityEngine.XR;

namespace Ex4d.Bridge.Samples
{
    /// <summary>
    /// A minimal OpenXR rig without extra packages: a floor-level origin, a camera driven by
    /// the headset through the XR input API (updated in Update and again just before
    /// rendering, for the lowest latency), thumbstick movement (left stick, in the head's
    /// heading) and snap turns (right stick). Controller buttons are exposed for the sample.
    /// If your scene already has an XR Origin (XR Interaction Toolkit), use that instead and
    /// point Ex4dHeadPoseSource.trackingOrigin at its camera offset.
    /// </summary>
    public sealed class Ex4dXrRig : MonoBehaviour
    {
        public Camera head;
        public float moveSpeed = 1.2f;
        public float snapTurnDegrees = 30f;

        // Centre eye, else the head device (runtimes without a centre-eye device).
        readonly Ex4dXrHead _hmd = new Ex4dXrHead();
        InputDevice _left, _right;
        bool _turnArmed = true;
        readonly List<XRInputSubsystem> _subsystems = new List<XRInputSubsystem>();
        bool _floorSet;

        /// <summary>Buttons pressed this frame on the right controller (A, B) and either
        /// trigger.</summary>
        public bool PrimaryPressed { get; private set; }
        public bool SecondaryPressed { get; private set; }
        public bool TriggerPressed { get; private set; }
        bool _primaryWas, _secondaryWas, _triggerWas;

        void OnEnable()
        {
            Application.onBeforeRender += UpdateHead;
        }

        void OnDisable()
        {
            Application.onBeforeRender -= UpdateHead;
        }

        void Update()
        {
            EnsureFloorOrigin();
            UpdateHead();
            if (!_left.isValid) _left = InputDevices.GetDeviceAtXRNode(XRNode.LeftHand);
            if (!_right.isValid) _right = InputDevices.GetDeviceAtXRNode(XRNode.RightHand);

            Vector2 stick;
            if (_left.TryGetFeatureValue(CommonUsages.primary2DAxis, out stick) && stick.sqrMagnitude > 0.04f)
            {
                Vector3 forward = Vector3.ProjectOnPlane(head.transform.forward, Vector3.up).normalized;
                Vector3 right = Vector3.Cross(Vector3.up, forward);
                transform.position += (forward * stick.y + right * stick.x) * (moveSpeed * Time.deltaTime);
            }
            if (_right.TryGetFeatureValue(CommonUsages.primary2DAxis, out stick))
            {
                if (_turnArmed && Mathf.Abs(stick.x) > 0.7f)
                {
                    // Turn about the head, not the rig origin, so the view does not swing.
                    transform.RotateAround(head.transform.position, Vector3.up,
                        Mathf.Sign(stick.x) * snapTurnDegrees);
                    _turnArmed = false;
                }
                else if (Mathf.Abs(stick.x) < 0.3f) _turnArmed = true;
            }
            PrimaryPressed = Edge(_right, CommonUsages.primaryButton, ref _primaryWas);
            SecondaryPressed = Edge(_right, CommonUsages.secondaryButton, ref _secondaryWas);
            bool leftTrigger = false;
            bool l, r;
            if (_left.TryGetFeatureValue(CommonUsages.triggerButton, out l)) leftTrigger = l;
            bool rightTrigger = _right.TryGetFeatureValue(CommonUsages.triggerButton, out r) && r;
            bool trigger = leftTrigger || rightTrigger;
            TriggerPressed = trigger && !_triggerWas;
            _triggerWas = trigger;
        }

        static bool Edge(InputDevice device, InputFeatureUsage<bool> usage, ref bool was)
        {
            bool now;
            if (!device.TryGetFeatureValue(usage, out now)) now = false;
            bool pressed = now && !was;
            was = now;
            return pressed;
        }

        void UpdateHead()
        {
            if (head == null) return;
            Vector3 p;
            Quaternion q;
            if (_hmd.TryGetPose(out p, out q)) head.transform.SetLocalPositionAndRotation(p, q);
        }

        void EnsureFloorOrigin()
        {
            if (_floorSet) return;
            SubsystemManager.GetSubsystems(_subsystems);
            foreach (var s in _subsystems)
                if (s.TrySetTrackingOriginMode(TrackingOriginModeFlags.Floor)) _floorSet = true;
        }
    }
}
