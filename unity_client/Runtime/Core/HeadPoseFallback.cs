namespace Ex4d.Bridge.Core
{
    /// <summary>Which XR device the head pose comes from.</summary>
    public enum HeadDeviceNode
    {
        None = 0,
        /// <summary>The centre-eye device (XRNode.CenterEye): the point between the eyes.</summary>
        CenterEye = 1,
        /// <summary>The head device (XRNode.Head), for runtimes that expose no centre-eye
        /// device.</summary>
        Head = 2,
    }

    /// <summary>
    /// The head-pose rule every XR reader of the package follows (Ex4dXrHead, used by
    /// Ex4dHeadPoseSource and the VR sample's rig): the centre-eye device when the runtime has
    /// one, else the head device; from the centre-eye device its centre-eye pose, else its
    /// device pose. Engine types come in as type parameters and the feature reads as
    /// delegates, so the rule is tested without Unity.
    /// </summary>
    public static class HeadPoseFallback
    {
        public delegate bool PoseReader<TPosition, TRotation>(out TPosition position,
            out TRotation rotation);

        public static HeadDeviceNode Choose(bool centerEyeValid, bool headValid)
        {
            if (centerEyeValid) return HeadDeviceNode.CenterEye;
            return headValid ? HeadDeviceNode.Head : HeadDeviceNode.None;
        }

        /// <summary>Reads the pose of the device chosen for <paramref name="node"/>:
        /// <paramref name="centerEye"/> (centre-eye usages) first on a centre-eye device, then
        /// <paramref name="device"/> (device usages).</summary>
        public static bool TryRead<TPosition, TRotation>(HeadDeviceNode node,
            PoseReader<TPosition, TRotation> centerEye, PoseReader<TPosition, TRotation> device,
            out TPosition position, out TRotation rotation)
        {
            position = default(TPosition);
            rotation = default(TRotation);
            if (node == HeadDeviceNode.None) return false;
            if (node == HeadDeviceNode.CenterEye && centerEye(out position, out rotation))
                return true;
            return device(out position, out rotation);
        }
    }
}
