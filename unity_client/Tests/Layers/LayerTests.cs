// Console test runner for the core's completion-layer decoding (issue 12): checks every field
// of the layered frames tools/unity_layer_vectors.py writes from the Python encoder and client
// decoder, the GPU path's grid twin (LayerGrid) against the compacted layers, malformed layers,
// completed View replies with provenance, the quality tiers' layer budgets, steady-state
// allocation, and the walkthrough recorder's completed fields. Exit code 0 only when every
// check passed.
//
//   mono Ex4dLayerTests.exe layer_vectors.json OUT_DIR
//
// OUT_DIR receives walkthrough files for tests/test_unity_layers.py to read back with
// ex4d_bridge.camera.load_pose_path.
using System;
using System.Collections.Generic;
using System.IO;
using static Ex4d.Bridge.Core.Tests.ConsoleChecks;

namespace Ex4d.Bridge.Core.Tests
{
    public static class LayerTests
    {
        public static int Main(string[] args)
        {
            if (args.Length < 2)
            {
                Console.Error.WriteLine("usage: Ex4dLayerTests.exe layer_vectors.json OUT_DIR");
                return 2;
            }
            var root = VectorReader.Obj(MiniJson.Parse(File.ReadAllText(args[0])));
            Directory.CreateDirectory(args[1]);
            var sections = new Action[]
            {
                () => LayerFrames(root),
                () => GpuGrid(root, args[1]),
                () => MalformedLayers(root),
                () => Views(root),
                () => MalformedViews(root),
                () => Allocation(root),
                () => Threads(root),
                Tiers,
                () => Recorder(args[1]),
            };
            return RunSections(sections);
        }

        static MeshFrameDecoder Decoder(VertexSpace space, bool compact, int maxLayers)
        {
            return new MeshFrameDecoder(new MeshDecodeOptions
            {
                Space = space,
                CompactLayers = compact,
                MaxLayers = maxLayers,
                BuildVertices = false,
            });
        }

        static bool FloatsEqual(float[] a, float[] b, int n, out string detail)
        {
            detail = "";
            if (a.Length < n || b.Length < n)
            {
                detail = "lengths " + a.Length + ", " + b.Length + " < " + n;
                return false;
            }
            for (int i = 0; i < n; i++)
            {
                // Bitwise: NaN == NaN, and +0/-0 differ.
                if (BitConverter.ToInt32(BitConverter.GetBytes(a[i]), 0)
                    != BitConverter.ToInt32(BitConverter.GetBytes(b[i]), 0))
                {
                    detail = "first difference at " + i + ": " + R(a[i]) + " vs " + R(b[i]);
                    return false;
                }
            }
            return true;
        }

        static bool IntsEqual(int[] a, int[] b, int n, out string detail)
        {
            detail = "";
            if (a.Length < n || b.Length < n)
            {
                detail = "lengths " + a.Length + ", " + b.Length + " < " + n;
                return false;
            }
            for (int i = 0; i < n; i++)
                if (a[i] != b[i])
                {
                    detail = "first difference at " + i + ": " + a[i] + " vs " + b[i];
                    return false;
                }
            return true;
        }

        static bool BytesEqual(byte[] a, byte[] b, int n, out string detail)
        {
            detail = "";
            if (a.Length < n || b.Length < n)
            {
                detail = "lengths " + a.Length + ", " + b.Length + " < " + n;
                return false;
            }
            for (int i = 0; i < n; i++)
                if (a[i] != b[i])
                {
                    detail = "first difference at " + i + ": " + a[i] + " vs " + b[i];
                    return false;
                }
            return true;
        }

        static double MaxAbsDiff(float[] a, float[] b, int n)
        {
            double worst = 0;
            for (int i = 0; i < n; i++) worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
            return worst;
        }

        // -- layered frames ----------------------------------------------------------------

        static void LayerFrames(Dictionary<string, object> root)
        {
            Group("layer_frames");
            var cv = Decoder(VertexSpace.OpenCV, true, 0);
            var unity = Decoder(VertexSpace.Unity, true, 0);
            foreach (var o in VectorReader.Arr(root["layer_frames"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var expected = VectorReader.Arr(v["expected"]);
                var frame = VectorReader.MeshFrame(v["frame"]);
                var d = cv.Decode(ref frame);
                Check(d.Layers.Count == expected.Count && d.Layers.Sent == expected.Count,
                    name + ": " + d.Layers.Count + " layers decoded of " + expected.Count);
                var frameU = VectorReader.MeshFrame(v["frame"]);
                var u = unity.Decode(ref frameU);
                for (int li = 0; li < Math.Min(expected.Count, d.Layers.Count); li++)
                    CheckLayer(name + " layer " + li, d.Layers[li], u.Layers[li],
                        VectorReader.Obj(expected[li]));

                // A tier's budget keeps the first layers in layer order.
                var one = Decoder(VertexSpace.OpenCV, true, 1);
                var f1 = VectorReader.MeshFrame(v["frame"]);
                var d1 = one.Decode(ref f1);
                Check(d1.Layers.Count == Math.Min(1, expected.Count)
                    && d1.Layers.Sent == expected.Count, name + ": MaxLayers = 1 keeps "
                    + d1.Layers.Count + " of " + d1.Layers.Sent);
                if (d1.Layers.Count == 1)
                    Check(d1.Layers[0].LayerIndex == d.Layers[0].LayerIndex
                        && d1.Layers[0].NumFaces == d.Layers[0].NumFaces,
                        name + ": the budget keeps layer 0");

                // The source frame decodes as before, layers or not.
                Check(d.Width == 32 && d.Height == 24 && d.HasColorRgb, name + ": source frame");
            }
            var off = new MeshFrameDecoder(new MeshDecodeOptions { DecodeLayers = false });
            var first = VectorReader.MeshFrame(VectorReader.Obj(
                VectorReader.Arr(root["layer_frames"])[0])["frame"]);
            Check(off.Decode(ref first).Layers.Count == 0, "DecodeLayers = false ignores layers");
            var plain = VectorReader.MeshFrame(root["no_layers"]);
            var p = cv.Decode(ref plain);
            Check(p.Layers.Count == 0 && p.Layers.Sent == 0, "a frame without layers has none");
        }

        static void CheckLayer(string tag, DecodedLayer d, DecodedLayer u,
            Dictionary<string, object> e)
        {
            string detail;
            Check(d.LayerIndex == (uint)(double)e["layer_index"], tag + ": layer_index");
            Check(d.Generation == (string)e["generation"], tag + ": generation");
            Check(d.FrameIndex == (uint)(double)e["frame_index"], tag + ": frame_index");
            var region = VectorReader.Doubles(e["region"]);
            Check(d.Region.X0 == region[0] && d.Region.Y0 == region[1] && d.Region.X1 == region[2]
                && d.Region.Y1 == region[3], tag + ": region");
            var k = VectorReader.Intrinsics(e["intrinsics"]);
            Check(d.Intrinsics.Fx == k.Fx && d.Intrinsics.Fy == k.Fy && d.Intrinsics.Cx == k.Cx
                && d.Intrinsics.Cy == k.Cy && d.Intrinsics.Width == k.Width
                && d.Intrinsics.Height == k.Height, tag + ": intrinsics");
            var gk = VectorReader.Intrinsics(e["grid_intrinsics"]);
            Check(d.Grid.Intrinsics.Cx == gk.Cx && d.Grid.Intrinsics.Cy == gk.Cy
                && d.Grid.Width == (int)(double)e["grid_width"]
                && d.Grid.Height == (int)(double)e["grid_height"], tag + ": padded grid size, lens");

            var pose = VectorReader.Doubles(e["camera_to_world"]);
            double poseDiff = 0;
            for (int i = 0; i < 16; i++) poseDiff = Math.Max(poseDiff, Math.Abs(d.CameraToWorld[i] - pose[i]));
            Check(poseDiff <= 1e-12, tag + ": camera-to-world (OpenCV) within 1e-12; off by "
                + R(poseDiff));
            var up = VectorReader.Doubles(e["unity_position"]);
            var uq = VectorReader.Doubles(e["unity_rotation"]);
            Check(Math.Abs(u.Position.X - up[0]) <= 1e-12 && Math.Abs(u.Position.Y - up[1]) <= 1e-12
                && Math.Abs(u.Position.Z - up[2]) <= 1e-12, tag + ": Unity position "
                + u.Position);
            bool sameQ = Math.Abs(u.Rotation.X - uq[0]) <= 1e-12 && Math.Abs(u.Rotation.Y - uq[1]) <= 1e-12
                && Math.Abs(u.Rotation.Z - uq[2]) <= 1e-12 && Math.Abs(u.Rotation.W - uq[3]) <= 1e-12;
            Check(sameQ, tag + ": Unity rotation " + u.Rotation + " vs [" + R(uq[0]) + ", "
                + R(uq[1]) + ", " + R(uq[2]) + ", " + R(uq[3]) + "]");

            int n = d.Grid.Width * d.Grid.Height;
            Check(FloatsEqual(d.Grid.Depth, VectorReader.Floats(e["depth_decoded"]), n, out detail),
                tag + ": grid depth bit-exact; " + detail);
            var occ = VectorReader.Bytes(e["occluded"]);
            int faces = d.Grid.NumFaces;
            int bitsOk = 0;
            for (int f = 0; f < occ.Length && f < faces; f++)
                if (((d.Grid.OccludedPacked[f >> 3] >> (7 - (f & 7))) & 1) == occ[f]) bitsOk++;
            Check(faces == occ.Length && bitsOk == occ.Length && d.Grid.HasOccluded,
                tag + ": occluded bits (" + bitsOk + " of " + occ.Length + ")");
            if (e["grid_color_rgb"] != null)
                Check(d.Grid.HasColorRgb && BytesEqual(d.Grid.ColorRgb,
                    VectorReader.Bytes(e["grid_color_rgb"]), 3 * n, out detail),
                    tag + ": grid RGB; " + detail);
            else
                Check(!d.Grid.HasColorRgb && d.Grid.EncodedColor.Count > 0,
                    tag + ": encoded colour passed through");

            int nv = (int)(double)e["num_vertices"], nf = (int)(double)e["num_faces"];
            Check(d.IsCompacted && d.NumVertices == nv && d.NumFaces == nf, tag + ": "
                + d.NumVertices + " vertices, " + d.NumFaces + " faces; expected " + nv + ", " + nf);
            if (d.NumVertices != nv || d.NumFaces != nf) return;
            Check(IntsEqual(d.Faces, VectorReader.Ints(e["faces"]), 3 * nf, out detail),
                tag + ": faces identical to decode_layer_frame's; " + detail);
            Check(IntsEqual(d.VertexSource, VectorReader.Ints(e["vertex_source"]), nv, out detail),
                tag + ": vertex sources (numpy.unique order); " + detail);
            double atol = (double)e["world_atol"];
            var world = VectorReader.Floats(e["vertices"]);
            double diff = MaxAbsDiff(d.Vertices, world, 3 * nv);
            Check(diff <= atol, tag + ": world vertices within " + R(atol) + " of "
                + "decode_layer_frame's; off by " + R(diff));
            if (e["colors"] != null)
                Check(d.HasColors && BytesEqual(d.Colors, VectorReader.Bytes(e["colors"]), 3 * nv,
                    out detail), tag + ": vertex colours; " + detail);
            else Check(!d.HasColors, tag + ": no vertex colours from encoded colour");
            if (VectorReader.Get(e, "library_vertices") != null)
            {
                double lib = MaxAbsDiff(d.Vertices, VectorReader.Floats(e["library_vertices"]), 3 * nv);
                Check(lib <= atol, tag + ": world vertices within " + R(atol)
                    + " of the library's layer_mesh; off by " + R(lib));
                Check(IntsEqual(d.Faces, VectorReader.Ints(e["library_faces"]), 3 * nf, out detail),
                    tag + ": faces identical to layer_mesh's; " + detail);
            }
            bool inside = true;
            for (int i = 0; i < nv; i++)
            {
                inside &= d.Vertices[3 * i] >= d.WorldMin.X && d.Vertices[3 * i] <= d.WorldMax.X
                    && d.Vertices[3 * i + 1] >= d.WorldMin.Y && d.Vertices[3 * i + 1] <= d.WorldMax.Y
                    && d.Vertices[3 * i + 2] >= d.WorldMin.Z && d.Vertices[3 * i + 2] <= d.WorldMax.Z;
            }
            Check(inside, tag + ": world bounds contain every vertex");

            // Unity space: the same numbers with y negated, exactly; same faces.
            bool flipped = u.NumVertices == nv && u.NumFaces == nf;
            for (int i = 0; flipped && i < 3 * nv; i++)
                flipped &= u.Vertices[i] == (i % 3 == 1 ? -d.Vertices[i] : d.Vertices[i]);
            Check(flipped && IntsEqual(u.Faces, d.Faces, 3 * nf, out detail),
                tag + ": Unity-space layer is the OpenCV one with y negated");
        }

        // -- the GPU path's grid twin --------------------------------------------------------

        static void GpuGrid(Dictionary<string, object> root, string outDir)
        {
            Group("gpu_grid");
            var gpu = Decoder(VertexSpace.Unity, false, 0);
            var cpu = Decoder(VertexSpace.Unity, true, 0);
            foreach (var o in VectorReader.Arr(root["layer_frames"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var fg = VectorReader.MeshFrame(v["frame"]);
                var fc = VectorReader.MeshFrame(v["frame"]);
                var g = gpu.Decode(ref fg);
                var c = cpu.Decode(ref fc);
                for (int li = 0; li < g.Layers.Count; li++)
                {
                    string tag = name + " layer " + li;
                    var gl = g.Layers[li];
                    var cl = c.Layers[li];
                    Check(!gl.IsCompacted && gl.NumFaces == 0, tag + ": not compacted on the GPU path");
                    var verts = new float[LayerGrid.FloatsPerVertex * LayerGrid.VertexCount(gl)];
                    var idx = new int[LayerGrid.IndexCount(gl)];
                    LayerGrid.WriteVertices(gl, verts);
                    LayerGrid.WriteIndices(gl, idx);
                    WriteKernelCase(Path.Combine(outDir, "layer_" + name + "_" + li), gl, verts, idx);
                    int cap = gl.Grid.Width * gl.Grid.Height;
                    // The faces that draw, mapped through the compacted layer's vertex sources,
                    // are the compacted faces in the same order.
                    var inverse = new Dictionary<int, int>();
                    for (int k = 0; k < cl.NumVertices; k++) inverse[cl.VertexSource[k]] = k;
                    int drawn = 0, mismatched = 0;
                    for (int f = 0; f < idx.Length / 3; f++)
                    {
                        int a = idx[3 * f], b = idx[3 * f + 1], cc = idx[3 * f + 2];
                        if (a == cap && b == cap && cc == cap) continue;
                        int ka, kb, kc;
                        if (drawn >= cl.NumFaces || !inverse.TryGetValue(a, out ka)
                            || !inverse.TryGetValue(b, out kb) || !inverse.TryGetValue(cc, out kc)
                            || cl.Faces[3 * drawn] != ka || cl.Faces[3 * drawn + 1] != kb
                            || cl.Faces[3 * drawn + 2] != kc)
                            mismatched++;
                        drawn++;
                    }
                    Check(drawn == cl.NumFaces && mismatched == 0, tag + ": the grid draws the "
                        + "visible faces (" + drawn + " drawn, " + cl.NumFaces + " visible, "
                        + mismatched + " differ)");
                    // Grid vertices moved by the layer's Unity pose land on the world vertices.
                    double worst = 0, scale = 1;
                    for (int k = 0; k < cl.NumVertices; k++)
                    {
                        int s = cl.VertexSource[k] * LayerGrid.FloatsPerVertex;
                        var w = LayerGrid.ToWorld(gl, verts[s], verts[s + 1], verts[s + 2]);
                        worst = Math.Max(worst, Math.Abs(w.X - cl.Vertices[3 * k]));
                        worst = Math.Max(worst, Math.Abs(w.Y - cl.Vertices[3 * k + 1]));
                        worst = Math.Max(worst, Math.Abs(w.Z - cl.Vertices[3 * k + 2]));
                        scale = Math.Max(scale, Math.Abs(cl.Vertices[3 * k + 2]));
                    }
                    Check(worst <= 4 * 1.1920929e-7 * scale, tag + ": grid * Unity pose = world "
                        + "vertices within 4 float32 eps; off by " + R(worst));
                    // Camera bounds hold every surface vertex (for the engine's culling).
                    bool inside = true;
                    for (int k = 0; k < cl.NumVertices; k++)
                    {
                        int s = cl.VertexSource[k];
                        if (s == cap || !(gl.Grid.Depth[s] < gl.Grid.FarDepth)) continue;
                        int q = s * LayerGrid.FloatsPerVertex;
                        inside &= verts[q] >= gl.CameraMin.X && verts[q] <= gl.CameraMax.X
                            && verts[q + 1] >= gl.CameraMin.Y && verts[q + 1] <= gl.CameraMax.Y
                            && verts[q + 2] >= gl.CameraMin.Z && verts[q + 2] <= gl.CameraMax.Z;
                    }
                    Check(inside, tag + ": camera bounds contain the surface");
                }
            }
        }

        /// <summary>What LayerMesh uploads for the compute kernels (the C++ harness in
        /// tests/unity_compute runs Ex4dLayerBuild.compute on it) and LayerGrid's result.
        /// </summary>
        static void WriteKernelCase(string stem, DecodedLayer layer, float[] verts, int[] idx)
        {
            var g = layer.Grid;
            int n = g.Width * g.Height;
            int bytes = (g.NumFaces + 7) / 8;
            using (var w = new BinaryWriter(File.Create(stem + ".gpu_input.bin")))
            {
                w.Write(g.Width);
                w.Write(g.Height);
                w.Write(g.CapX);
                w.Write(g.CapY);
                w.Write(g.CapZ);
                for (int i = 0; i < n; i++) w.Write(g.Depth[i]);
                for (int i = 0; i < g.Width; i++) w.Write(g.RayX[i]);
                for (int i = 0; i < g.Height; i++) w.Write(g.RayY[i]);
                w.Write(bytes);
                w.Write(g.OccludedPacked, 0, bytes);
            }
            using (var w = new BinaryWriter(File.Create(stem + ".vertices.bin")))
                for (int i = 0; i < LayerGrid.FloatsPerVertex * (n + 1); i++) w.Write(verts[i]);
            using (var w = new BinaryWriter(File.Create(stem + ".indices.bin")))
                for (int i = 0; i < idx.Length; i++) w.Write(idx[i]);
        }

        // -- malformed ------------------------------------------------------------------------

        static void Throws(Action action, string contains, string what)
        {
            try
            {
                action();
                Check(false, what + ": no exception (expected Ex4dFormatException)");
            }
            catch (Ex4dFormatException e)
            {
                Check(e.Message.Contains(contains), what + ": message '" + e.Message + "' lacks '"
                    + contains + "'");
            }
            catch (Exception e)
            {
                Check(false, what + ": " + e.GetType().Name + " instead of Ex4dFormatException: "
                    + e.Message);
            }
        }

        static void MalformedLayers(Dictionary<string, object> root)
        {
            Group("malformed_layers");
            var decoder = Decoder(VertexSpace.Unity, true, 0);
            var goodJson = VectorReader.Obj(VectorReader.Arr(root["layer_frames"])[0])["frame"];
            var good = VectorReader.MeshFrame(goodJson);
            var first = decoder.Decode(ref good);
            int faces = first.Layers[0].NumFaces;
            var verts = (float[])first.Layers[0].Vertices.Clone();
            foreach (var o in VectorReader.Arr(root["malformed_layers"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var frame = VectorReader.MeshFrame(v["frame"]);
                Throws(() => decoder.Decode(ref frame), (string)v["error"], name);
                string detail;
                Check(ReferenceEquals(decoder.Current, first) && first.Layers.Count == 1
                    && first.Layers[0].NumFaces == faces
                    && FloatsEqual(first.Layers[0].Vertices, verts, 3 * first.Layers[0].NumVertices,
                        out detail), name + ": the last good frame and its layers are kept");
            }
            // NumLayers beyond the array is the adapter's bug, refused as malformed too.
            var broken = VectorReader.MeshFrame(goodJson);
            broken.NumLayers = broken.Layers.Length + 1;
            Throws(() => decoder.Decode(ref broken), "outside", "NumLayers past the array");
            // Random bytes in a layer's payloads: refused cleanly, never another exception.
            var rng = new Random(77);
            int wrongType = 0;
            for (int trial = 0; trial < 300; trial++)
            {
                var f = VectorReader.MeshFrame(goodJson);
                var junk = new byte[rng.Next(80)];
                rng.NextBytes(junk);
                if (junk.Length > 1 && trial % 2 == 0)
                {
                    junk[0] = 0x78;
                    junk[1] = 0x01;
                }
                switch (trial % 3)
                {
                    case 0: f.Layers[0].Mesh.Depth.Data = new ByteSlice(junk); break;
                    case 1: f.Layers[0].Mesh.Occluded.Data = new ByteSlice(junk); break;
                    default: f.Layers[0].Mesh.Color.Data = new ByteSlice(junk); break;
                }
                try
                {
                    decoder.Decode(ref f);
                }
                catch (Ex4dFormatException) { }
                catch (Exception) { wrongType++; }
            }
            Check(wrongType == 0, "random layer payload bytes: " + wrongType
                + " non-format exceptions");
        }

        // -- views -------------------------------------------------------------------------------

        static void Views(Dictionary<string, object> root)
        {
            Group("views");
            var decoder = new ViewReplyDecoder { MaskOn = 1 };
            foreach (var o in VectorReader.Arr(root["views"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var e = VectorReader.Obj(v["expected"]);
                var reply = VectorReader.ViewReply(v["reply"]);
                var d = decoder.Decode(ref reply);
                string detail;
                int n = (int)(double)e["width"] * (int)(double)e["height"];
                Check(d.CompletionLayers
                    == (uint)(double)VectorReader.Obj(v["reply"])["completion_layers"],
                    name + ": completion_layers");
                Check(BytesEqual(d.Mask, VectorReader.Bytes(e["mask"]), n, out detail),
                    name + ": mask; " + detail);
                if (e["provenance"] != null)
                    Check(d.HasProvenance && BytesEqual(d.Provenance,
                        VectorReader.Bytes(e["provenance"]), n, out detail),
                        name + ": provenance identical; " + detail);
                else Check(!d.HasProvenance, name + ": no provenance unless asked");
            }
        }

        static void MalformedViews(Dictionary<string, object> root)
        {
            Group("malformed_views");
            var decoder = new ViewReplyDecoder();
            var good = VectorReader.ViewReply(VectorReader.Obj(VectorReader.Arr(root["views"])[0])["reply"]);
            var first = decoder.Decode(ref good);
            foreach (var o in VectorReader.Arr(root["malformed_views"]))
            {
                var v = VectorReader.Obj(o);
                var reply = VectorReader.ViewReply(v["reply"]);
                Throws(() => decoder.Decode(ref reply), (string)v["error"], (string)v["name"]);
                Check(ReferenceEquals(decoder.Current, first), v["name"] + ": last good kept");
            }
        }

        // -- allocation ----------------------------------------------------------------------

        static void Allocation(Dictionary<string, object> root)
        {
            Group("allocation");
            var frames = new List<MeshFrameData>();
            foreach (var o in VectorReader.Arr(root["layer_frames"]))
                frames.Add(VectorReader.MeshFrame(VectorReader.Obj(o)["frame"]));
            foreach (bool compact in new[] { true, false })
            {
                var decoder = Decoder(VertexSpace.Unity, compact, 0);
                // Layers of every size pass through both buffers first.
                for (int round = 0; round < 3; round++)
                    for (int i = 0; i < frames.Count; i++)
                    {
                        var f = frames[i];
                        decoder.Decode(ref f);
                    }
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int round = 0; round < 5; round++)
                    for (int i = 0; i < frames.Count; i++)
                    {
                        var f = frames[i];
                        decoder.Decode(ref f);
                    }
                long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
                Check(bytes == 0, (compact ? "CPU" : "GPU") + " path: " + bytes + " bytes "
                    + "allocated decoding " + 5 * frames.Count + " warm layered frames of "
                    + "changing layer sizes");
            }
            var views = VectorReader.Arr(root["views"]);
            var vd = new ViewReplyDecoder();
            var r = VectorReader.ViewReply(VectorReader.Obj(views[1])["reply"]);
            for (int i = 0; i < 3; i++) vd.Decode(ref r);
            long b0 = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) vd.Decode(ref r);
            Check(GC.GetAllocatedBytesForCurrentThread() - b0 == 0,
                "view replies with zlib provenance allocate nothing when warm");
        }

        // -- layers on several threads ----------------------------------------------------------

        static void Threads(Dictionary<string, object> root)
        {
            Group("threads");
            foreach (bool compact in new[] { true, false })
            {
                var one = Decoder(VertexSpace.Unity, compact, 0);
                var many = new MeshFrameDecoder(new MeshDecodeOptions
                {
                    Space = VertexSpace.Unity,
                    CompactLayers = compact,
                    BuildVertices = false,
                    LayerThreads = 3,
                });
                string path = compact ? "CPU" : "GPU";
                var frames = new List<MeshFrameData>();
                foreach (var o in VectorReader.Arr(root["layer_frames"]))
                    frames.Add(VectorReader.MeshFrame(VectorReader.Obj(o)["frame"]));
                // A frame with many layers: every layer of every vector frame, renumbered.
                var all = new List<CompletionLayerFrameData>();
                foreach (var f in frames)
                    for (int i = 0; i < f.NumLayers; i++) all.Add(f.Layers[i]);
                var big = frames[0];
                big.Layers = all.ToArray();
                big.NumLayers = all.Count;
                for (int i = 0; i < big.NumLayers; i++) big.Layers[i].LayerIndex = (uint)i;
                frames.Add(big);
                foreach (var f0 in frames)
                {
                    var fa = f0;
                    var fb = f0;
                    var a = one.Decode(ref fa);
                    var b = many.Decode(ref fb);
                    bool same = a.Layers.Count == b.Layers.Count;
                    for (int i = 0; same && i < a.Layers.Count; i++)
                        same &= SameLayer(a.Layers[i], b.Layers[i]);
                    Check(same, path + " path: " + a.Layers.Count + " layers decoded on 3 threads "
                        + "are the one-thread layers, bit for bit");
                }
                // Steady state: nothing allocated on this thread or the helpers.
                for (int r = 0; r < 3; r++)
                    for (int i = 0; i < frames.Count; i++)
                    {
                        var f = frames[i];
                        many.Decode(ref f);
                    }
                long helpers = many.LayerHelperAllocatedBytes;
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int r = 0; r < 5; r++)
                    for (int i = 0; i < frames.Count; i++)
                    {
                        var f = frames[i];
                        many.Decode(ref f);
                    }
                long mine = GC.GetAllocatedBytesForCurrentThread() - before;
                long theirs = many.LayerHelperAllocatedBytes - helpers;
                Check(mine == 0 && theirs == 0, path + " path: " + mine + " bytes on the decoding "
                    + "thread and " + theirs + " on the helpers in warm threaded decodes");
                // A malformed layer among good ones: the same refusal, the last good kept.
                var good = many.Current;
                foreach (var o in VectorReader.Arr(root["malformed_layers"]))
                {
                    var v = VectorReader.Obj(o);
                    var bad = VectorReader.MeshFrame(v["frame"]);
                    var mixed = big;
                    mixed.Layers = (CompletionLayerFrameData[])big.Layers.Clone();
                    mixed.Layers[mixed.NumLayers / 2] = bad.Layers[0];
                    mixed.Layers[mixed.NumLayers / 2].LayerIndex = (uint)(mixed.NumLayers / 2);
                    string name = (string)v["name"];
                    if (name == "layer_order") continue; // needs two bad entries, covered above
                    Throws(() => many.Decode(ref mixed), (string)v["error"], path + " threaded " + name);
                    Check(ReferenceEquals(many.Current, good), path + " threaded " + name
                        + ": last good kept");
                }
                many.Dispose();
            }
        }

        static bool SameLayer(DecodedLayer a, DecodedLayer b)
        {
            string d;
            int n = a.Grid.Width * a.Grid.Height;
            bool same = a.LayerIndex == b.LayerIndex && a.Generation == b.Generation
                && a.NumVertices == b.NumVertices && a.NumFaces == b.NumFaces
                && a.Grid.Width == b.Grid.Width && a.Grid.Height == b.Grid.Height
                && a.Position.X == b.Position.X && a.Rotation.W == b.Rotation.W
                && FloatsEqual(a.Grid.Depth, b.Grid.Depth, n, out d)
                && FloatsEqual(a.Vertices, b.Vertices, 3 * a.NumVertices, out d)
                && IntsEqual(a.Faces, b.Faces, 3 * a.NumFaces, out d)
                && a.CameraMin.Z == b.CameraMin.Z && a.CameraMax.X == b.CameraMax.X;
            for (int i = 0; same && i < 16; i++) same &= a.CameraToWorld[i] == b.CameraToWorld[i];
            return same;
        }

        // -- tiers ---------------------------------------------------------------------------

        static void Tiers()
        {
            Group("tiers");
            Check(QualityTiers.MaxLayers(QualityTierKind.StandaloneLow) == 1, "standalone-low: 1 layer");
            Check(QualityTiers.MaxLayers(QualityTierKind.StandaloneHigh) == 2, "standalone: 2 layers");
            Check(QualityTiers.MaxLayers(QualityTierKind.Desktop) == 0, "desktop: all layers");
            try
            {
                QualityTiers.MaxLayers(QualityTierKind.Auto);
                Check(false, "Auto must be resolved first");
            }
            catch (Ex4dArgumentException) { Check(true, "Auto refused"); }
            Check(QualityTiers.Resolve(QualityTierKind.Auto, false, 4000) == QualityTierKind.Desktop,
                "Auto off Android: desktop");
            Check(QualityTiers.Resolve(QualityTierKind.Auto, true, 5800) == QualityTierKind.StandaloneLow,
                "Auto on a 6 GB headset: standalone-low");
            Check(QualityTiers.Resolve(QualityTierKind.Auto, true, 7800) == QualityTierKind.StandaloneHigh,
                "Auto on an 8 GB headset: standalone");
            Check(QualityTiers.Resolve(QualityTierKind.StandaloneLow, false, 64000)
                == QualityTierKind.StandaloneLow, "explicit tiers pass through");
            Check(QualityTiers.RequestMaxLayers(0) == 0 && QualityTiers.RequestMaxLayers(2) == 2
                && QualityTiers.RequestMaxLayers(-1) == 0, "max_layers on the wire");
            Check(QualityTiers.RequestCompletions(true, 0) && QualityTiers.RequestCompletions(true, 1)
                && !QualityTiers.RequestCompletions(true, -1) && !QualityTiers.RequestCompletions(false, 2),
                "include_completions only when wanted and allowed");
            // The depth rule the layer shader applies (CompletionDepth.Push = Ex4dLayerPush).
            double b = CompletionDepth.DefaultBias;
            Check(!CompletionDepth.LayerWins(4.0, 4.0, b, 0) && !CompletionDepth.LayerWins(4.0, 3.95, b, 0)
                && !CompletionDepth.LayerWins(4.0, 4.0 / 1.02 + 1e-9, b, 0),
                "the source wins ties within 2%");
            Check(CompletionDepth.LayerWins(4.0, 3.88, b, 0) && CompletionDepth.LayerWins(
                double.PositiveInfinity, 50.0, b, 3), "a layer wins where the source is farther "
                + "or has nothing");
            Check(CompletionDepth.Push(b, 0) < CompletionDepth.Push(b, 1)
                && CompletionDepth.Push(b, 5) < 1.0 + 2 * b, "earlier layers win ties with later ones");
            Check(QualityTiers.LayersToDraw(6, 0) == 6 && QualityTiers.LayersToDraw(6, 2) == 2
                && QualityTiers.LayersToDraw(1, 2) == 1 && QualityTiers.LayersToDraw(6, -1) == 0
                && QualityTiers.LayersToDraw(0, 0) == 0, "layers drawn of those decoded");
        }

        // -- recorder ------------------------------------------------------------------------

        static void Recorder(string outDir)
        {
            Group("recorder");
            var cases = new[] { new[] { 0, 2, 1 }, new[] { 0, 0 }, null };
            for (int c = 0; c < cases.Length; c++)
            {
                var rec = new WalkthroughRecorder(WireCoordinateSystem.Unity, "completed-" + c);
                rec.Fps = 30;
                for (int i = 0; i < 4; i++)
                {
                    rec.Add(i / 30.0, new Vec3d(0.1 * i, 0.02 * i, -0.05 * i),
                        new Quatd(0, 0.05 * i, 0, 1));
                    if (cases[c] != null && i < cases[c].Length) rec.NoteLayersDrawn(cases[c][i]);
                }
                rec.Save(Path.Combine(outDir, "completed_" + c + ".json"));
                rec.Save(Path.Combine(outDir, "completed_" + c + ".csv"));
                string json = rec.ToJson();
                if (c == 0)
                    Check(rec.Completed == true && rec.CompletionLayers == 2
                        && json.Contains("\"completed\": true") && json.Contains("\"completion_layers\": 2"),
                        "layers drawn: completed true, 2 layers");
                else if (c == 1)
                    Check(rec.Completed == false && json.Contains("\"completed\": false"),
                        "no layer drawn: completed false");
                else
                    Check(rec.Completed == null && !json.Contains("\"completed\":"),
                        "not noted: no completed key");
            }
            var r = new WalkthroughRecorder(WireCoordinateSystem.Unity, "x");
            try
            {
                r.NoteLayersDrawn(-1);
                Check(false, "negative layer count refused");
            }
            catch (Ex4dArgumentException) { Check(true, "negative layer count refused"); }
            r.NoteLayersDrawn(3);
            r.Clear();
            Check(r.Completed == null && r.CompletionLayers == 0, "Clear forgets the notes");
        }
    }
}
