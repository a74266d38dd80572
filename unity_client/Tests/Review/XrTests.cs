// Review tests of the head-pose fallback the VR sample's rig now shares with
// Ex4dHeadPoseSource: centre eye, else the head device.
using System;
using static Ex4d.Bridge.Core.Tests.ConsoleChecks;

namespace Ex4d.Bridge.Core.Review
{
    public static partial class ReviewTests
    {
        struct FakeDevice
        {
            public bool HasCenterEyeUsages, HasDeviceUsages;
            public int Reads;

            public bool CenterEye(out string p, out int q)
            {
                Reads++;
                p = HasCenterEyeUsages ? "centre-eye pose" : null;
                q = HasCenterEyeUsages ? 1 : 0;
                return HasCenterEyeUsages;
            }

            public bool Device(out string p, out int q)
            {
                Reads++;
                p = HasDeviceUsages ? "device pose" : null;
                q = HasDeviceUsages ? 2 : 0;
                return HasDeviceUsages;
            }
        }

        static string Read(HeadDeviceNode node, FakeDevice d)
        {
            string p;
            int q;
            var box = new FakeDevice[] { d };
            bool ok = HeadPoseFallback.TryRead<string, int>(node,
                (out string a, out int b) => box[0].CenterEye(out a, out b),
                (out string a, out int b) => box[0].Device(out a, out b), out p, out q);
            return ok ? p + "/" + q : "none";
        }

        static void HeadFallback()
        {
            Group("head_fallback");
            Check(HeadPoseFallback.Choose(true, true) == HeadDeviceNode.CenterEye,
                "centre eye when the runtime has one");
            Check(HeadPoseFallback.Choose(false, true) == HeadDeviceNode.Head,
                "the head device when the centre eye is missing (the rig used to stay still)");
            Check(HeadPoseFallback.Choose(false, false) == HeadDeviceNode.None, "neither");
            var full = new FakeDevice { HasCenterEyeUsages = true, HasDeviceUsages = true };
            var headOnly = new FakeDevice { HasDeviceUsages = true };
            Check(Read(HeadDeviceNode.CenterEye, full) == "centre-eye pose/1",
                "centre-eye device: its centre-eye pose");
            Check(Read(HeadDeviceNode.CenterEye, headOnly) == "device pose/2",
                "centre-eye device without centre-eye usages: its device pose");
            Check(Read(HeadDeviceNode.Head, full) == "device pose/2",
                "head device: its device pose, never centre-eye usages");
            Check(Read(HeadDeviceNode.None, full) == "none", "no device: no pose");
            Check(Read(HeadDeviceNode.Head, new FakeDevice()) == "none", "device without a pose");
        }
    }
}
