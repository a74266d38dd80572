// Edit-mode tests (Unity Test Framework) of review fixes that need the engine; the engine-
// independent parts are tested with mono (Tests/Review, tests/test_unity_review.py).
using Ex4d.Bridge.Core;
using NUnit.Framework;
using UnityEngine;

namespace Ex4d.Bridge.Tests
{
    public class ReviewFixTests
    {
        static byte[] Encoded(bool png)
        {
            var src = new Texture2D(5, 3, TextureFormat.RGBA32, false);
            try
            {
                var pixels = new Color32[15];
                for (int i = 0; i < pixels.Length; i++)
                    pixels[i] = new Color32((byte)(i * 17), (byte)(255 - i * 9), 40, 255);
                src.SetPixels32(pixels);
                src.Apply();
                return png ? src.EncodeToPNG() : src.EncodeToJPG(90);
            }
            finally
            {
                Object.DestroyImmediate(src);
            }
        }

        [TestCase(true)]
        [TestCase(false)]
        public void EncodedUploadsReuseOneTexture(bool png)
        {
            var slot = new TextureSlot("review", false);
            try
            {
                var bytes = Encoded(png);
                Assert.IsTrue(slot.UploadEncoded(new ByteSlice(bytes)));
                var first = slot.Texture;
                // LoadImage gives PNG an alpha format (ARGB32 on 2022.3): the slot must accept it.
                var format = first.format;
                for (int i = 0; i < 3; i++)
                {
                    Assert.IsTrue(slot.UploadEncoded(new ByteSlice(bytes)));
                    Assert.AreSame(first, slot.Texture, "the texture was recreated");
                }
                Assert.AreEqual(format, slot.Texture.format);
                Assert.AreEqual(5, first.width);
                Assert.AreEqual(3, first.height);
            }
            finally
            {
                slot.Dispose();
            }
        }

        [Test]
        public void GridMeshWithoutComputeSupportUsesTheCpuPath()
        {
            var compute = Resources.Load<ComputeShader>("Ex4d/Ex4dMeshBuild");
            var grid = new GridMesh(compute); // must not throw where kernels are unavailable
            try
            {
                Assert.AreEqual(SystemInfo.supportsComputeShaders && compute != null
                    && compute.IsSupported(compute.FindKernel("BuildVertices")), grid.GpuAvailable);
                grid.Configure(4, 3, 1, gpu: true);
                Assert.AreEqual(grid.GpuAvailable, grid.UsesGpu);
            }
            finally
            {
                grid.Dispose();
            }
        }
    }
}
