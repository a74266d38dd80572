using UnityEngine;
using UnityEngine.XR;

namespace Ex4d.Bridge
{
    /// <summary>
    /// The viewer's head pose in world space: from the OpenXR headset through the XR input
    /// API (<see cref="Ex4dXrHead"/>: centre eye, else the head node) while an XR device is active,
    /// otherwise the camera's transform (editor play mode, fly camera).
    /// </summary>
    public sealed class Ex4dHeadPoseSource : MonoBehaviour
    {
        [Tooltip("Camera used without a headset (and whose parent is the tracking origin by default).")]
        public Camera viewCamera;
        [Tooltip("Tracking-space origin (the XR Origin's camera offset): world = origin * tracked "
            + "pose. Empty: the camera's parent, or world space when the camera has none.")]
        public Transform trackingOrigin;
        [Tooltip("Read the headset through the XR input API when one is active.")]
        public bool preferXr = true;

        readonly Ex4dXrHead _xrHead = new Ex4dXrHead();

        /// <summary>True when the last pose came from a headset.</summary>
        public bool IsXr { get; private set; }

        public Camera ViewCamera
        {
            get
            {
                if (viewCamera == null) viewCamera = Camera.main;
                return viewCamera;
            }
        }

        /// <summary>The head's world-space position and rotation; false when neither a
        /// headset nor a camera is available.</summary>
        public bool TryGetPose(out Vector3 position, out Quaternion rotation)
        {
            if (preferXr && XRSettings.isDeviceActive && TryGetXr(out position, out rotation))
            {
                Transform origin = trackingOrigin;
                var cam = ViewCamera;
                if (origin == null && cam != null) origin = cam.transform.parent;
                if (origin != null)
                {
                    position = origin.TransformPoint(position);
                    rotation = origin.rotation * rotation;
                }
                IsXr = true;
                return true;
            }
            IsXr = false;
            var c = ViewCamera;
            if (c == null)
            {
                position = Vector3.zero;
                rotation = Quaternion.identity;
                return false;
            }
            var t = c.transform;
            position = t.position;
            rotation = t.rotation;
            return true;
        }

        bool TryGetXr(out Vector3 position, out Quaternion rotation)
        {
            return _xrHead.TryGetPose(out position, out rotation);
        }
    }
}
