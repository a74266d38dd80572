using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>The device classes the client plans for (the Unity layer's Ex4dQualityTier
    /// has the same values).</summary>
    public enum QualityTierKind
    {
        /// <summary>Resolved at start (<see cref="QualityTiers.Resolve"/>).</summary>
        Auto = 0,
        /// <summary>PC VR and the editor.</summary>
        Desktop = 1,
        /// <summary>Recent standalone headsets (Quest 3 class).</summary>
        StandaloneHigh = 2,
        /// <summary>Older standalone headsets (Quest 2 class).</summary>
        StandaloneLow = 3,
    }

    /// <summary>
    /// The engine-independent part of the quality tiers: which tier a device gets and how many
    /// completion layers it streams and draws. Each layer is one more mesh (a padded crop
    /// grid) decoded, uploaded and drawn per video frame; the first layers in layer order
    /// hold the most surface (later ones only add what earlier ones lack), so a budget keeps
    /// the first N.
    /// </summary>
    public static class QualityTiers
    {
        /// <summary>Layers a tier draws per frame; 0 means all the server has.</summary>
        public static int MaxLayers(QualityTierKind tier)
        {
            switch (tier)
            {
                case QualityTierKind.StandaloneLow:
                    return 1;
                case QualityTierKind.StandaloneHigh:
                    return 2;
                case QualityTierKind.Desktop:
                    return 0;
                default:
                    throw new Ex4dArgumentException("resolve the Auto tier first "
                        + "(QualityTiers.Resolve)");
            }
        }

        /// <summary>StandaloneHigh on Android devices with about 8 GB of memory or more
        /// (Quest 3 class; 7000 MB leaves room for what the OS reserves), StandaloneLow on
        /// smaller ones (Quest 2 has 6 GB), Desktop elsewhere. Other tiers pass through.
        /// </summary>
        public static QualityTierKind Resolve(QualityTierKind tier, bool android,
            int systemMemoryMb)
        {
            if (tier != QualityTierKind.Auto) return tier;
            if (!android) return QualityTierKind.Desktop;
            return systemMemoryMb >= 7000 ? QualityTierKind.StandaloneHigh
                : QualityTierKind.StandaloneLow;
        }

        /// <summary>StreamGeometryRequest.max_layers for a budget of
        /// <paramref name="maxLayers"/> layers (negative: none wanted, which the caller
        /// expresses by not setting include_completions).</summary>
        public static uint RequestMaxLayers(int maxLayers)
        {
            return maxLayers <= 0 ? 0u : (uint)maxLayers;
        }

        /// <summary>Whether StreamGeometryRequest.include_completions is set: completions
        /// are wanted and the budget allows at least one layer (budget 0 = all).</summary>
        public static bool RequestCompletions(bool completionsWanted, int maxLayers)
        {
            return completionsWanted && maxLayers >= 0;
        }

        /// <summary>Layers to draw of <paramref name="available"/> decoded ones.</summary>
        public static int LayersToDraw(int available, int maxLayers)
        {
            if (available <= 0 || maxLayers < 0) return 0;
            return maxLayers == 0 ? available : Math.Min(available, maxLayers);
        }
    }
}
