using Ex4d.Bridge.Core;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>
    /// Sends the head pose to the View stream every frame (or at most maxPosesPerSecond),
    /// relative to the scene root and in Unity axes (COORDINATE_SYSTEM_UNITY), with the
    /// player's play time so the rendered view shows the frame on screen. The source's
    /// latest-pose-wins sender drops stale poses when the link is slow. Allocation-free.
    /// </summary>
    public sealed class Ex4dHeadPoseSender : MonoBehaviour
    {
        public Ex4dBridgeSource source;
        public Ex4dHeadPoseSource head;
        [Tooltip("Scene root and play clock (its transform is the scene's frame).")]
        public Ex4dScenePlayer player;
        [Tooltip("0: the player's quality budget (or every frame).")]
        public float maxPosesPerSecond;
        [Tooltip("Skip poses that moved less than this (scene units) and turned less than "
            + "minAngleDegrees while the frame shown stays the same.")]
        public float minMove = 0.0005f;
        public float minAngleDegrees = 0.05f;

        double _lastSent = double.NegativeInfinity;
        Vector3 _lastPosition = new Vector3(float.NaN, 0, 0);
        Quaternion _lastRotation = Quaternion.identity;
        int _lastFrame = -1;

        void Reset()
        {
            head = GetComponent<Ex4dHeadPoseSource>();
            player = FindFirstObjectByType<Ex4dScenePlayer>();
        }

        void OnEnable()
        {
            if (source == null) source = Ex4dBridgeSource.FindDefault();
            if (head == null) head = GetComponent<Ex4dHeadPoseSource>();
            if (player == null) player = FindFirstObjectByType<Ex4dScenePlayer>();
        }

        void LateUpdate()
        {
            if (source == null || head == null || player == null) return;
            Vector3 position;
            Quaternion rotation;
            if (!head.TryGetPose(out position, out rotation)) return;

            double now = Ex4dClock.NowSeconds;
            float rate = maxPosesPerSecond > 0 ? maxPosesPerSecond : player.Budget.maxPosesPerSecond;
            if (rate > 0 && now - _lastSent < 1.0 / rate) return;

            PoseData pose = UnityConventions.ScenePose(player.transform, position, rotation);
            var local = UnityConventions.ToVector3(pose.Position);
            var localRot = UnityConventions.ToQuaternion(pose.Rotation);
            int frame = player.ShownFrameIndex;
            bool still = !float.IsNaN(_lastPosition.x)
                && (local - _lastPosition).sqrMagnitude < minMove * minMove
                && Quaternion.Angle(localRot, _lastRotation) < minAngleDegrees
                && frame == _lastFrame;
            if (still) return;

            source.SubmitPose(new PoseSample
            {
                ClientTimeS = now,
                Pose = pose,
                UseTime = true,
                TimeS = player.PlaybackTimeSeconds,
            });
            _lastSent = now;
            _lastPosition = local;
            _lastRotation = localRot;
            _lastFrame = frame;
        }
    }
}
