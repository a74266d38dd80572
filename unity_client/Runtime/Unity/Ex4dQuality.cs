using Ex4d.Bridge.Core;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>Preset budgets for the devices the client runs on. Same values as the core's
    /// QualityTierKind (the tier rules live there, tested).</summary>
    public enum Ex4dQualityTier
    {
        /// <summary>Picked at start: a standalone tier on Android (Quest-class headsets),
        /// Desktop elsewhere.</summary>
        Auto,
        /// <summary>PC VR / editor: full-resolution grid, 1024-pixel views, every completion
        /// layer.</summary>
        Desktop,
        /// <summary>Recent standalone headsets (Quest 3 class): grid capped at 384 per side, 2
        /// completion layers per frame.</summary>
        StandaloneHigh,
        /// <summary>Older standalone headsets (Quest 2 class): grid capped at 256, lower video
        /// frame rate and view resolution, 1 completion layer per frame.</summary>
        StandaloneLow,
    }

    /// <summary>The limits a tier sets. A custom budget can be set field by field.</summary>
    [System.Serializable]
    public struct Ex4dQualityBudget
    {
        [Tooltip("Largest grid side drawn; the DW-Mesh is subsampled (every n-th pixel) above it.")]
        public int maxGridSide;
        [Tooltip("Largest side of the novel views requested from the server, in pixels.")]
        public int maxViewSide;
        [Tooltip("At most this many mesh frames are decoded and uploaded per second (0: the "
            + "video's own rate).")]
        public float maxMeshFramesPerSecond;
        [Tooltip("Head poses sent per second at most (0: one per rendered frame).")]
        public float maxPosesPerSecond;
        [Tooltip("Build vertices with the compute shader (else on the CPU).")]
        public bool useComputeShader;
        [Tooltip("Ask for raw RGB colour (zlib-compressed by the server) instead of JPEG/PNG for "
            + "mesh frames and views: the core inflates it on a worker thread, so the main "
            + "thread never decodes an image (Texture2D.LoadImage costs several ms per frame on "
            + "a standalone headset). Costs several times JPEG's bytes on the link.")]
        public bool rawColor;
        [Tooltip("Completion layers streamed and drawn per frame, the first ones in layer order "
            + "(they hold the most surface): 0 all, -1 none. Each is one more mesh to decode, "
            + "upload and draw per video frame.")]
        public int maxCompletionLayers;

        public static Ex4dQualityBudget For(Ex4dQualityTier tier)
        {
            if (tier == Ex4dQualityTier.Auto) tier = AutoTier();
            switch (tier)
            {
                case Ex4dQualityTier.StandaloneHigh:
                    return new Ex4dQualityBudget
                    {
                        maxGridSide = 384,
                        maxViewSide = 768,
                        maxMeshFramesPerSecond = 30,
                        maxPosesPerSecond = 72,
                        useComputeShader = true,
                        rawColor = true,
                        maxCompletionLayers = QualityTiers.MaxLayers((QualityTierKind)tier),
                    };
                case Ex4dQualityTier.StandaloneLow:
                    return new Ex4dQualityBudget
                    {
                        maxGridSide = 256,
                        maxViewSide = 512,
                        maxMeshFramesPerSecond = 15,
                        maxPosesPerSecond = 36,
                        useComputeShader = true,
                        rawColor = true,
                        maxCompletionLayers = QualityTiers.MaxLayers((QualityTierKind)tier),
                    };
                default:
                    return new Ex4dQualityBudget
                    {
                        maxGridSide = 4096,
                        maxViewSide = 1024,
                        maxMeshFramesPerSecond = 0,
                        maxPosesPerSecond = 0,
                        useComputeShader = true,
                        rawColor = false,
                        maxCompletionLayers = QualityTiers.MaxLayers(QualityTierKind.Desktop),
                    };
            }
        }

        /// <summary>StandaloneHigh on Android devices with about 8 GB of memory or more
        /// (Quest 3 class), StandaloneLow on smaller ones (Quest 2 has 6 GB), Desktop
        /// elsewhere.</summary>
        public static Ex4dQualityTier AutoTier()
        {
            // The rule lives in the core (QualityTiers.Resolve), where it is tested.
            return (Ex4dQualityTier)QualityTiers.Resolve(QualityTierKind.Auto,
                Application.platform == RuntimePlatform.Android, SystemInfo.systemMemorySize);
        }
    }
}
