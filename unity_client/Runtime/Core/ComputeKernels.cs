using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Finds a compute shader's kernels only where compute shaders can run. Unity's
    /// ComputeShader.FindKernel throws (ArgumentException) where the shader was not compiled
    /// for the platform (e.g. GLES 3.0, WebGL), so looking kernels up before checking
    /// SystemInfo.supportsComputeShaders would end the caller instead of letting it fall back
    /// to the CPU path. The engine calls come in as delegates so the rule is testable here.
    /// </summary>
    public static class ComputeKernels
    {
        /// <summary>
        /// Fills <paramref name="kernels"/> (one per name) and returns true when every kernel
        /// was found and is supported; false with <paramref name="reason"/> (for the log)
        /// otherwise. <paramref name="find"/> is not called unless
        /// <paramref name="computeSupported"/>; its exceptions mean "not available".
        /// </summary>
        public static bool TryFind(bool computeSupported, string[] names, Func<string, int> find,
            Func<int, bool> isSupported, int[] kernels, out string reason)
        {
            if (names == null || kernels == null || kernels.Length < names.Length)
                throw new ArgumentException("one kernel slot per name is needed");
            for (int i = 0; i < kernels.Length; i++) kernels[i] = -1;
            if (!computeSupported)
            {
                reason = "this device has no compute shaders: vertices are built on the CPU";
                return false;
            }
            if (find == null)
            {
                reason = "no compute shader: vertices are built on the CPU";
                return false;
            }
            for (int i = 0; i < names.Length; i++)
            {
                int k;
                try
                {
                    k = find(names[i]);
                }
                catch (Exception e)
                {
                    reason = "compute kernel " + names[i] + " is not available here ("
                        + e.Message + "): vertices are built on the CPU";
                    for (int j = 0; j < kernels.Length; j++) kernels[j] = -1;
                    return false;
                }
                bool ok;
                try
                {
                    ok = k >= 0 && (isSupported == null || isSupported(k));
                }
                catch (Exception e)
                {
                    ok = false;
                    reason = e.Message;
                }
                if (!ok)
                {
                    reason = "compute kernel " + names[i] + " does not run on this device: "
                        + "vertices are built on the CPU";
                    for (int j = 0; j < kernels.Length; j++) kernels[j] = -1;
                    return false;
                }
                kernels[i] = k;
            }
            reason = null;
            return true;
        }
    }
}
