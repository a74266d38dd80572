using System;
using UnityEngine;
using UnityEngine.Rendering;

namespace Ex4d.Bridge
{
    /// <summary>
    /// What <see cref="GridMesh"/> and <see cref="LayerMesh"/> share: the vertex layout their
    /// compute kernels (and CPU paths) write, the update flags of a per-frame refill, the
    /// dispatch the kernels expect, and buffer release.
    /// </summary>
    internal static class ComputeMesh
    {
        static readonly int IdGroupsX = Shader.PropertyToID("_GroupsX");
        static readonly int IdCount = Shader.PropertyToID("_Count");

        const int ThreadsPerGroup = 64;
        const int MaxGroups = 65535;

        public const MeshUpdateFlags QuietUpdate = MeshUpdateFlags.DontValidateIndices
            | MeshUpdateFlags.DontRecalculateBounds | MeshUpdateFlags.DontNotifyMeshUsers
            | MeshUpdateFlags.DontResetBoneBounds;

        public static readonly VertexAttributeDescriptor[] Layout =
        {
            new VertexAttributeDescriptor(VertexAttribute.Position, VertexAttributeFormat.Float32, 3),
            // (u, t, visibility): pixel centre over the image size (t from the top row).
            new VertexAttributeDescriptor(VertexAttribute.TexCoord0, VertexAttributeFormat.Float32, 3),
        };

        /// <summary>
        /// Runs <paramref name="kernel"/> on at least <paramref name="count"/> threads: rows of
        /// at most MaxGroups groups (a dispatch dimension's limit), the kernel rebuilding the
        /// linear id from _GroupsX and skipping ids at or past _Count.
        /// </summary>
        public static void Dispatch(ComputeShader compute, int kernel, int count)
        {
            int groups = (count + ThreadsPerGroup - 1) / ThreadsPerGroup;
            int gx = Math.Min(groups, MaxGroups);
            int gy = (groups + gx - 1) / gx;
            compute.SetInt(IdGroupsX, gx);
            compute.SetInt(IdCount, count);
            compute.Dispatch(kernel, gx, gy, 1);
        }

        public static void Release(ref GraphicsBuffer buffer)
        {
            if (buffer != null) buffer.Dispose();
            buffer = null;
        }
    }
}
