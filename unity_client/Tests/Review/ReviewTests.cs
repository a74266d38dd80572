// Console tests (mono) of the fixes from the review of the Unity client (issue 12 item 4):
// the pieces of logic that moved into the engine-independent core so they can be exercised
// without Unity. tests/test_unity_review.py compiles this with the core and drives it.
//
//   mono Ex4dReviewTests.exe review_vectors.json OUT_DIR
//
// OUT_DIR receives, per grid vector and stride, what RenderGrid builds (vertices, masked
// indices) and the inputs the compute kernel gets (for the HLSL harness to rebuild).
using System;
using System.Collections.Generic;
using System.IO;
using Ex4d.Bridge.Core.Tests;
using static Ex4d.Bridge.Core.Tests.ConsoleChecks;

namespace Ex4d.Bridge.Core.Review
{
    public static partial class ReviewTests
    {
        static void Throws<T>(Action action, string contains, string what) where T : Exception
        {
            try
            {
                action();
                Check(false, what + ": no exception");
            }
            catch (T e)
            {
                Check(contains == null || e.Message.Contains(contains),
                    what + ": message '" + e.Message + "' lacks '" + contains + "'");
            }
            catch (Exception e)
            {
                Check(false, what + ": wrong exception " + e);
            }
        }

        public static int Main(string[] args)
        {
            if (args.Length < 2)
            {
                Console.Error.WriteLine("usage: Ex4dReviewTests.exe review_vectors.json OUT_DIR");
                return 2;
            }
            var root = VectorReader.Obj(MiniJson.Parse(File.ReadAllText(args[0])));
            Directory.CreateDirectory(args[1]);
            var sections = new List<Action>
            {
                () => Grids(root, args[1]),
                Kernels,
                () => ToolPermissionsSection(args[1]),
                HeadFallback,
            };
            AddSections(sections, root, args[1]);
            return RunSections(sections);
        }

        /// <summary>Sections of the other review tests (other files of this folder).</summary>
        static partial void AddSections(List<Action> sections, Dictionary<string, object> root,
            string outDir);

        // -- coarse grids: RenderGrid's output for the pytest and the HLSL harness ------------

        static void WriteFloats(BinaryWriter w, float[] a, int n)
        {
            for (int i = 0; i < n; i++) w.Write(a[i]);
        }

        static void Grids(Dictionary<string, object> root, string outDir)
        {
            Group("grids");
            var decoder = new MeshFrameDecoder(new MeshDecodeOptions
            {
                Space = VertexSpace.Unity,
                BuildVertices = false,
                UnpackOccluded = true,
            });
            foreach (var o in VectorReader.Arr(root["grids"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var frameData = VectorReader.MeshFrame(v["frame"]);
                var frame = decoder.Decode(ref frameData);
                int w = frame.Width, h = frame.Height;
                var vis = new float[w * h];
                RenderGrid.VertexVisibility(frame.Occluded, frame.HasOccluded, w, h, vis);
                foreach (object so in VectorReader.Arr(v["strides"]))
                {
                    int stride = (int)(double)so;
                    var grid = new RenderGrid(w, h, stride);
                    var data = new float[RenderGrid.FloatsPerVertex * grid.NumVertices];
                    grid.WriteVertices(frame, vis, data);
                    var indices = new int[grid.Topology.Indices.Length];
                    grid.MaskIndices(frame.Occluded, frame.HasOccluded, data, indices);
                    // Blocks tile the fine grid: every pixel in exactly one block.
                    var cover = new int[w * h];
                    for (int r = 0; r < grid.Height; r++)
                        for (int c = 0; c < grid.Width; c++)
                            for (int i = grid.BlockRowStart[r]; i < grid.BlockRowStart[r + 1]; i++)
                                for (int j = grid.BlockColumnStart[c]; j < grid.BlockColumnStart[c + 1]; j++)
                                    cover[i * w + j]++;
                    bool tiles = true;
                    for (int p = 0; p < cover.Length; p++) tiles &= cover[p] == 1;
                    Check(tiles, name + " stride " + stride + ": blocks tile the fine grid");
                    string stem = Path.Combine(outDir, "grid_" + name + "_s" + stride);
                    using (var bw = new BinaryWriter(File.Create(stem + ".vertices.bin")))
                        WriteFloats(bw, data, data.Length);
                    using (var bw = new BinaryWriter(File.Create(stem + ".indices.bin")))
                        foreach (int i in indices) bw.Write(i);
                    // What GridMesh.UploadGpu hands the compute shader.
                    using (var bw = new BinaryWriter(File.Create(stem + ".gpu_input.bin")))
                    {
                        bw.Write(w);
                        bw.Write(h);
                        bw.Write(stride);
                        bw.Write(frame.HasOccluded ? 1 : 0);
                        bw.Write(frame.CapX);
                        bw.Write(frame.CapY);
                        bw.Write(frame.CapZ);
                        WriteFloats(bw, frame.Depth, w * h);
                        WriteFloats(bw, frame.RayX, w);
                        WriteFloats(bw, frame.RayY, h);
                        int bytes = frame.HasOccluded
                            ? (int)((GridFanTopology.FaceCount(w, h) + 7) / 8) : 0;
                        bw.Write(bytes);
                        bw.Write(frame.OccludedPacked, 0, bytes);
                        bw.Write(grid.Topology.Indices.Length);
                        foreach (int i in grid.Topology.Indices) bw.Write(i);
                    }
                }
            }
        }

        // -- compute kernel lookup ------------------------------------------------------------

        static void Kernels()
        {
            Group("kernels");
            var names = new[] { "VertexVisibility", "BuildVertices", "MaskFaces" };
            var kernels = new int[3];
            string reason;
            int calls = 0;
            // Unity's FindKernel throws where the shader has no variant for the platform.
            Func<string, int> throwing = n =>
            {
                calls++;
                throw new ArgumentException("Kernel '" + n + "' not found");
            };
            Func<string, int> found = n => { calls++; return Array.IndexOf(names, n) + 10; };
            Check(!ComputeKernels.TryFind(false, names, throwing, k => true, kernels, out reason)
                && calls == 0 && reason.Contains("CPU") && kernels[0] == -1,
                "no compute support: FindKernel is never called, CPU path");
            calls = 0;
            Check(!ComputeKernels.TryFind(true, names, throwing, k => true, kernels, out reason)
                && calls == 1 && reason.Contains("VertexVisibility") && reason.Contains("not found"),
                "FindKernel throwing means the CPU path, not an exception");
            calls = 0;
            Check(!ComputeKernels.TryFind(true, names, found, k => k != 11, kernels, out reason)
                && reason.Contains("BuildVertices") && kernels[0] == -1 && kernels[2] == -1,
                "a kernel the device cannot run means the CPU path");
            Check(!ComputeKernels.TryFind(true, names, null, null, kernels, out reason),
                "no shader: CPU path");
            Check(ComputeKernels.TryFind(true, names, found, k => true, kernels, out reason)
                && reason == null && kernels[0] == 10 && kernels[1] == 11 && kernels[2] == 12,
                "all kernels found: GPU path with their indices");
            Check(ComputeKernels.TryFind(true, names, found, null, kernels, out reason),
                "no support query: found kernels are used");
        }
    }
}
