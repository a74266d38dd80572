using Ex4d.Bridge.Core;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>Where a connection stands, for the stats overlay and for user feedback.</summary>
    public enum Ex4dConnectionState
    {
        Disabled,
        Connecting,
        Connected,
        /// <summary>The connection was lost; waiting <see cref="Ex4dConnectionStatus.RetryInSeconds"/>
        /// before the next attempt.</summary>
        Reconnecting,
    }

    /// <summary>A snapshot of the connection and its rates (read on the main thread).</summary>
    public struct Ex4dConnectionStatus
    {
        public Ex4dConnectionState State;
        public string Address;
        /// <summary>Why the last attempt failed (null when connected).</summary>
        public string LastError;
        public double RetryInSeconds;
        public int Attempt;
        /// <summary>Pose-to-displayed-frame round trip, milliseconds (mean and 95th
        /// percentile over the last replies).</summary>
        public double LatencyMeanMs;
        public double LatencyP95Ms;
        public double ServerRenderMs;
        /// <summary>View replies and mesh frames received per second.</summary>
        public double ViewRepliesPerSecond;
        public double MeshFramesPerSecond;
        public long PosesSent;
        public long PosesOverwritten;
        public ulong DroppedByServer;
    }

    /// <summary>
    /// What the player, presenter, pose sender and overlay need from a connection. The gRPC
    /// client (Ex4dBridgeClient, assembly Ex4d.Bridge.Grpc) is one; a recorded or offline
    /// source can be another. Members are called on the main thread unless stated.
    /// </summary>
    public abstract class Ex4dBridgeSource : MonoBehaviour
    {
        /// <summary>The compact mesh frames received so far (thread-safe store).</summary>
        public abstract MeshFrameStore Frames { get; }

        /// <summary>The clip's frame rate (0 until known).</summary>
        public abstract double SceneFps { get; }

        /// <summary>Queues a head pose for the View stream (latest pose wins).</summary>
        public abstract void SubmitPose(PoseSample sample);

        /// <summary>Takes the newest view reply not taken yet, if any.</summary>
        public abstract bool TryTakeView(out ViewReplyData reply);

        /// <summary>Reports that a reply was displayed (for the latency statistics).</summary>
        public abstract void ReportViewShown(ViewReplyData reply);

        public abstract Ex4dConnectionStatus Status { get; }

        /// <summary>The first enabled source in the loaded scenes, or null.</summary>
        public static Ex4dBridgeSource FindDefault()
        {
            return FindFirstObjectByType<Ex4dBridgeSource>();
        }
    }
}
