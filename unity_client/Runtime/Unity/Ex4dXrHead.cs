using Ex4d.Bridge.Core;
using UnityEngine;
using UnityEngine.XR;

namespace Ex4d.Bridge
{
    /// <summary>
    /// Reads the headset's tracking-space pose through the XR input API with the package's
    /// fallback (<see cref="HeadPoseFallback"/>): the centre-eye device, else the head device.
    /// Devices connect late and reconnect after a headset sleeps, so a lost device is looked
    /// up again on the next read. No allocation per read.
    /// </summary>
    public sealed class Ex4dXrHead
    {
        InputDevice _device;
        HeadDeviceNode _node;
        readonly HeadPoseFallback.PoseReader<Vector3, Quaternion> _centerEye;
        readonly HeadPoseFallback.PoseReader<Vector3, Quaternion> _devicePose;

        public Ex4dXrHead()
        {
            _centerEye = ReadCenterEye;
            _devicePose = ReadDevice;
        }

        /// <summary>The device the last read used.</summary>
        public HeadDeviceNode Node { get { return _node; } }

        public bool TryGetPose(out Vector3 position, out Quaternion rotation)
        {
            if (!_device.isValid)
            {
                var centerEye = InputDevices.GetDeviceAtXRNode(XRNode.CenterEye);
                var head = centerEye.isValid ? default(InputDevice)
                    : InputDevices.GetDeviceAtXRNode(XRNode.Head);
                _node = HeadPoseFallback.Choose(centerEye.isValid, head.isValid);
                _device = _node == HeadDeviceNode.CenterEye ? centerEye : head;
            }
            if (!HeadPoseFallback.TryRead(_node, _centerEye, _devicePose, out position, out rotation))
            {
                position = Vector3.zero;
                rotation = Quaternion.identity;
                return false;
            }
            return true;
        }

        bool ReadCenterEye(out Vector3 position, out Quaternion rotation)
        {
            rotation = Quaternion.identity;
            return _device.TryGetFeatureValue(CommonUsages.centerEyePosition, out position)
                && _device.TryGetFeatureValue(CommonUsages.centerEyeRotation, out rotation);
        }

        bool ReadDevice(out Vector3 position, out Quaternion rotation)
        {
            rotation = Quaternion.identity;
            return _device.TryGetFeatureValue(CommonUsages.devicePosition, out position)
                && _device.TryGetFeatureValue(CommonUsages.deviceRotation, out rotation);
        }
    }
}
