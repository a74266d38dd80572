using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// How completion layers are drawn behind the source surface (geometry.proto: where both
    /// show a surface at about the same depth, within 2%, the source wins; a layer shows where
    /// the source has nothing or is farther). The layer shader pushes every layer vertex away
    /// from the eye along its view ray by <see cref="Push"/> (Ex4dCommon.hlsl's
    /// Ex4dLayerPush): the screen position is unchanged, the depth grows by that factor.
    /// </summary>
    public static class CompletionDepth
    {
        /// <summary>The default bias: the contract's 2%.</summary>
        public const double DefaultBias = 0.02;
        /// <summary>Extra push per later layer: earlier layers win ties with later ones.
        /// </summary>
        public const double PerLayer = 0.001;

        /// <summary>The factor on a layer's view-space position.</summary>
        public static double Push(double bias, int layerOrder)
        {
            if (!(bias >= 0) || double.IsInfinity(bias))
                throw new Ex4dArgumentException("depth bias must be a finite number >= 0");
            if (layerOrder < 0) throw new Ex4dArgumentException("layer order must be >= 0");
            return 1.0 + bias + PerLayer * layerOrder;
        }

        /// <summary>Whether the depth test lets a layer surface at view distance
        /// <paramref name="layerDepth"/> cover the source surface at
        /// <paramref name="sourceDepth"/> (+inf where the source has nothing).</summary>
        public static bool LayerWins(double sourceDepth, double layerDepth, double bias,
            int layerOrder)
        {
            return layerDepth * Push(bias, layerOrder) < sourceDepth;
        }
    }
}
