// Console test runner for the engine-independent core: checks every value of the shared test
// vectors that tools/unity_vectors.py writes from the Python library, plus behaviour the
// vectors cannot express (threads, allocation, fuzzed input). Exit code 0 only when every
// check passed.
//
//   mcs -langversion:7.2 -out:Ex4dCoreTests.exe Runtime/Core/*.cs Tests/Core/*.cs
//   mono Ex4dCoreTests.exe core_vectors.json OUT_DIR
//
// OUT_DIR receives the walkthrough files the recorder wrote (tests/test_unity_core.py reads
// them back with ex4d_bridge.camera.load_pose_path).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using static Ex4d.Bridge.Core.Tests.ConsoleChecks;

namespace Ex4d.Bridge.Core.Tests
{
    public static class CoreTests
    {
        public static int Main(string[] args)
        {
            if (args.Length < 2)
            {
                Console.Error.WriteLine("usage: Ex4dCoreTests.exe core_vectors.json OUT_DIR");
                return 2;
            }
            var root = VectorReader.Obj(MiniJson.Parse(File.ReadAllText(args[0])));
            Directory.CreateDirectory(args[1]);
            var sections = new Action[]
            {
                () => Axes(root),
                () => Poses(root),
                () => Points(root),
                HalfFloats,
                () => ZlibStreams(root),
                () => Topologies(root),
                () => MeshFrames(root),
                () => MalformedMeshFrames(root),
                () => RenderGrids(root),
                () => ViewReplies(root),
                () => MalformedViewReplies(root),
                () => Fuzz(root),
                () => SteadyStateAllocation(root),
                SenderSingleThread,
                SenderThreaded,
                Backoff,
                Stats,
                Playback,
                () => BackgroundDecoding(root),
                () => Recorder(root, args[1]),
                EdgeCases,
            };
            return RunSections(sections);
        }

        // -- coordinate systems ------------------------------------------------------------

        static WireCoordinateSystem Sys(object name)
        {
            return Conventions.Parse((string)name);
        }

        static bool Close(double a, double b, double tol)
        {
            return Math.Abs(a - b) <= tol * Math.Max(1.0, Math.Abs(b));
        }

        static bool CloseVec(Vec3d a, double[] e, double tol)
        {
            return Close(a.X, e[0], tol) && Close(a.Y, e[1], tol) && Close(a.Z, e[2], tol);
        }

        /// <summary>Quaternions equal within tol; up to sign where the rotation is a half turn
        /// (w ~ 0), where the sign is only a convention.</summary>
        static bool CloseQuat(Quatd q, double[] e, double tol)
        {
            bool same = Close(q.X, e[0], tol) && Close(q.Y, e[1], tol) && Close(q.Z, e[2], tol)
                && Close(q.W, e[3], tol);
            if (same) return true;
            if (Math.Abs(e[3]) > 1e-9) return false;
            return Close(-q.X, e[0], tol) && Close(-q.Y, e[1], tol) && Close(-q.Z, e[2], tol)
                && Close(-q.W, e[3], tol);
        }

        static void Axes(Dictionary<string, object> root)
        {
            Group("axes");
            foreach (var o in VectorReader.Arr(root["axes"]))
            {
                var a = VectorReader.Obj(o);
                var s = Sys(a["system"]);
                string n = (string)a["system"];
                Check((int)s == (int)(double)a["wire_value"], n + " wire value");
                Check(Conventions.Name(s) == n, n + " name");
                var axes = Conventions.AxesFromOpenCV(s);
                var e = VectorReader.Doubles(a["axes_from_opencv"]);
                bool same = true;
                for (int i = 0; i < 9; i++) same &= axes[i] == e[i];
                Check(same, n + " axes_from_opencv");
                Check(CloseVec(Conventions.Forward(s), VectorReader.Doubles(a["forward"]), 0),
                    n + " forward");
                Check(CloseVec(Conventions.Up(s), VectorReader.Doubles(a["up"]), 0), n + " up");
                Check(CloseVec(Conventions.Right(s), VectorReader.Doubles(a["right"]), 0),
                    n + " right");
                Check(Conventions.IsRightHanded(s) == (bool)a["right_handed"], n + " handedness");
            }
            foreach (var kv in VectorReader.Obj(root["aliases"]))
                Check(Conventions.Parse(kv.Key) == Sys(kv.Value), "alias '" + kv.Key + "'");
            foreach (var o in VectorReader.Arr(root["invalid_systems"]))
                Throws<Ex4dArgumentException>(() => Conventions.Parse((string)o), "unknown coordinate system",
                    "invalid name '" + o + "'");
            Throws<Ex4dArgumentException>(
                () => Conventions.AxesFromOpenCV(WireCoordinateSystem.Unspecified), "unspecified",
                "UNSPECIFIED rejected");
        }

        static void Poses(Dictionary<string, object> root)
        {
            Group("poses");
            const double tol = 1e-12;
            int index = 0;
            foreach (var o in VectorReader.Arr(root["poses"]))
            {
                var c = VectorReader.Obj(o);
                var src = Sys(c["system"]);
                var pos = VectorReader.Vec(c["position"]);
                var rot = VectorReader.Quat(c["rotation"]);
                string tag = "pose " + index++ + " from " + c["system"];
                var m = Conventions.PoseMatrix(pos, rot);
                var em = VectorReader.Doubles(c["matrix"]);
                Check(MaxDiff(m, em) <= tol, tag + ": matrix of (position, quaternion)");
                foreach (var eo in VectorReader.Arr(c["expected"]))
                {
                    var e = VectorReader.Obj(eo);
                    var dst = Sys(e["system"]);
                    string t2 = tag + " to " + e["system"];
                    var ep = VectorReader.Doubles(e["position"]);
                    var eq = VectorReader.Doubles(e["rotation"]);
                    var converted = Conventions.ConvertPose(new PoseData(pos, rot, src), dst);
                    Check(converted.CoordinateSystem == dst, t2 + ": system");
                    Check(CloseVec(converted.Position, ep, tol), t2 + ": position "
                        + converted.Position + " vs [" + R(ep[0]) + ", " + R(ep[1]) + ", "
                        + R(ep[2]) + "]");
                    Check(CloseQuat(converted.Rotation, eq, tol), t2 + ": quaternion "
                        + converted.Rotation + " vs [" + R(eq[0]) + ", " + R(eq[1]) + ", "
                        + R(eq[2]) + ", " + R(eq[3]) + "]");
                    Check(converted.Rotation.W >= 0, t2 + ": w >= 0");
                    var outM = new double[16];
                    Conventions.ConvertMatrix(m, src, dst, outM);
                    Check(MaxDiff(outM, VectorReader.Doubles(e["matrix"])) <= tol,
                        t2 + ": converted matrix");
                    Vec3d mp;
                    Quatd mq;
                    Conventions.PoseFromMatrix(VectorReader.Doubles(e["matrix"]), out mp, out mq);
                    Check(CloseVec(mp, ep, tol) && CloseQuat(mq, eq, tol),
                        t2 + ": matrix to (position, quaternion)");
                    // And back: dst -> src recovers the normalised input rotation.
                    var back = Conventions.ConvertPose(converted, src);
                    var unit = Conventions.Canonical(Conventions.Normalize(rot, "input"));
                    Check(CloseVec(back.Position, new[] { pos.X, pos.Y, pos.Z }, tol)
                        && CloseQuat(back.Rotation, new[] { unit.X, unit.Y, unit.Z, unit.W },
                            tol), t2 + ": round trip");
                }
            }
        }

        static double MaxDiff(double[] a, double[] b)
        {
            double m = 0;
            for (int i = 0; i < b.Length; i++)
                m = Math.Max(m, Math.Abs(a[i] - b[i]) / Math.Max(1.0, Math.Abs(b[i])));
            return m;
        }

        static void Points(Dictionary<string, object> root)
        {
            Group("points");
            foreach (var o in VectorReader.Arr(root["points"]))
            {
                var p = VectorReader.Obj(o);
                var r = Conventions.ConvertPoint(VectorReader.Vec(p["input"]), Sys(p["src"]),
                    Sys(p["dst"]));
                Check(CloseVec(r, VectorReader.Doubles(p["expected"]), 0),
                    "point " + p["src"] + " -> " + p["dst"]);
            }
        }

        static void HalfFloats()
        {
            Group("float16");
            // Independent formula: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
            int bad = 0;
            for (int h = 0; h < 65536; h++)
            {
                int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
                double expected;
                if (e == 31) expected = m == 0 ? double.PositiveInfinity : double.NaN;
                else if (e == 0) expected = Math.Pow(2, -14) * (m / 1024.0);
                else expected = Math.Pow(2, e - 15) * (1 + m / 1024.0);
                if (s == 1) expected = -expected;
                float got = HalfFloat.ToSingle((ushort)h);
                bool ok = double.IsNaN(expected) ? float.IsNaN(got) : got == (float)expected;
                if (ok && got == 0f) ok = (1.0 / got > 0) == (s == 0); // signed zero
                if (!ok && bad++ < 5) Check(false, "half 0x" + h.ToString("x4") + " -> " + got);
            }
            Check(bad == 0, "all 65536 half floats convert exactly (" + bad + " wrong)");
        }

        // -- zlib --------------------------------------------------------------------------

        static void ZlibStreams(Dictionary<string, object> root)
        {
            Group("zlib");
            var inflater = new ZlibInflater();
            using (var sha = SHA256.Create())
            {
                foreach (var o in VectorReader.Arr(root["zlib_streams"]))
                {
                    var z = VectorReader.Obj(o);
                    string name = (string)z["name"];
                    var data = VectorReader.Bytes(z["compressed"]);
                    int length = (int)(double)z["length"];
                    var outBuf = new byte[length + 8];
                    inflater.Inflate(new ByteSlice(data), outBuf, 4, length, name);
                    string hex = Hex(sha.ComputeHash(outBuf, 4, length));
                    Check(hex == (string)z["sha256"], name + ": SHA-256 of the inflated bytes");
                    // Independent decoder: System.IO.Compression after the 2-byte header.
                    var reference = DeflateStreamInflate(data);
                    Check(reference.Length == length
                        && Hex(sha.ComputeHash(reference)) == hex, name + ": DeflateStream agrees");
                    Check(ZlibInflater.Adler32(outBuf, 4, length) == ReadBigEndian(data,
                        data.Length - 4), name + ": Adler-32");
                    if (length > 0)
                        Throws<Ex4dFormatException>(
                            () => inflater.Inflate(new ByteSlice(data), outBuf, 0, length - 1, name),
                            "more than", name + ": one byte too few expected");
                    Throws<Ex4dFormatException>(
                        () => inflater.Inflate(new ByteSlice(data), new byte[length + 1], 0,
                            length + 1, name), "expected", name + ": one byte too many expected");
                }
            }
        }

        static uint ReadBigEndian(byte[] b, int at)
        {
            return ((uint)b[at] << 24) | ((uint)b[at + 1] << 16) | ((uint)b[at + 2] << 8) | b[at + 3];
        }

        static byte[] DeflateStreamInflate(byte[] zlibData)
        {
            using (var input = new MemoryStream(zlibData, 2, zlibData.Length - 2))
            using (var inflate = new DeflateStream(input, CompressionMode.Decompress))
            using (var output = new MemoryStream())
            {
                inflate.CopyTo(output);
                return output.ToArray();
            }
        }

        static string Hex(byte[] b)
        {
            var sb = new StringBuilder(b.Length * 2);
            foreach (var x in b) sb.Append(x.ToString("x2"));
            return sb.ToString();
        }

        // -- topology and mesh frames ------------------------------------------------------

        static void Topologies(Dictionary<string, object> root)
        {
            Group("topology");
            foreach (var kv in VectorReader.Obj(root["topologies"]))
            {
                var parts = kv.Key.Split('x');
                int w = int.Parse(parts[0]), h = int.Parse(parts[1]);
                var expected = VectorReader.Ints(kv.Value);
                var t = GridFanTopology.Get(w, h);
                Check(t.Indices.Length == expected.Length, kv.Key + ": index count "
                    + t.Indices.Length + " vs " + expected.Length);
                Check(FirstDiff(t.Indices, expected) < 0, kv.Key + ": indices identical (first "
                    + "difference at " + FirstDiff(t.Indices, expected) + ")");
                Check(t.NumFaces == GridFanTopology.FaceCount(w, h), kv.Key + ": face count");
                Check(ReferenceEquals(t, GridFanTopology.Get(w, h)), kv.Key + ": cached");
                // Watertight: every edge is used once in each direction.
                var edges = new Dictionary<long, int>();
                for (int f = 0; f < t.NumFaces; f++)
                    for (int e = 0; e < 3; e++)
                    {
                        long a = t.Indices[3 * f + e], b = t.Indices[3 * f + (e + 1) % 3];
                        long key = a * 100000000L + b;
                        int c;
                        edges.TryGetValue(key, out c);
                        edges[key] = c + 1;
                    }
                bool closed = true;
                foreach (var edge in edges)
                {
                    long a = edge.Key / 100000000L, b = edge.Key % 100000000L;
                    int reverse;
                    edges.TryGetValue(b * 100000000L + a, out reverse);
                    closed &= edge.Value == 1 && reverse == 1;
                }
                Check(closed, kv.Key + ": closed, consistently wound");
            }
        }

        static int FirstDiff(int[] a, int[] b)
        {
            int n = Math.Min(a.Length, b.Length);
            for (int i = 0; i < n; i++) if (a[i] != b[i]) return i;
            return a.Length == b.Length ? -1 : n;
        }

        static bool FloatsEqual(float[] got, float[] expected, int count, out string detail)
        {
            for (int i = 0; i < count; i++)
            {
                float g = got[i], e = expected[i];
                if (g == e || (float.IsNaN(g) && float.IsNaN(e))) continue;
                detail = "first difference at " + i + ": " + g.ToString("R") + " vs "
                    + e.ToString("R");
                return false;
            }
            detail = "";
            return true;
        }

        static bool BytesEqual(byte[] got, int offset, byte[] expected, out string detail)
        {
            for (int i = 0; i < expected.Length; i++)
            {
                if (got[offset + i] == expected[i]) continue;
                detail = "first difference at " + i + ": " + got[offset + i] + " vs " + expected[i];
                return false;
            }
            detail = "";
            return true;
        }

        static void MeshFrames(Dictionary<string, object> root)
        {
            Group("mesh_frames");
            var cv = new MeshFrameDecoder(new MeshDecodeOptions());
            var unity = new MeshFrameDecoder(new MeshDecodeOptions { Space = VertexSpace.Unity });
            foreach (var o in VectorReader.Arr(root["mesh_frames"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var e = VectorReader.Obj(v["expected"]);
                var frame = VectorReader.MeshFrame(v["frame"]);
                DecodedMeshFrame d = cv.Decode(ref frame);
                int w = (int)(double)e["width"], h = (int)(double)e["height"];
                int n = w * h;
                string detail;
                Check(d.Width == w && d.Height == h, name + ": size");
                Check(ReferenceEquals(cv.Current, d), name + ": becomes Current");

                var depth = VectorReader.Floats(e["depth_decoded"]);
                Check(FloatsEqual(d.Depth, depth, n, out detail),
                    name + ": depth bit-exact with wire.decode_depth; " + detail);

                var rebuilt = VectorReader.Floats(e["vertices_decoded"]);
                Check(FloatsEqual(d.Vertices, rebuilt, 3 * (n + 1), out detail),
                    name + ": vertices bit-exact with the proto's float32 rule; " + detail);

                var lib = VectorReader.Floats(e["library_vertices"]);
                double tol = (double)e["library_vertex_rel_tol"];
                double worst = 0;
                for (int i = 0; i < lib.Length; i++)
                {
                    double diff = Math.Abs(d.Vertices[i] - lib[i]);
                    double rel = diff == 0 ? 0 : diff / Math.Abs(lib[i]);
                    worst = Math.Max(worst, rel);
                }
                Check(worst <= tol, name + ": vertices within " + R(tol)
                    + " (relative) of build_dw_mesh's; worst " + R(worst));
                if (tol == 0)
                    Check(FloatsEqual(d.Vertices, lib, lib.Length, out detail),
                        name + ": lossless depth gives build_dw_mesh's vertices exactly; " + detail);

                var faces = VectorReader.Ints(
                    VectorReader.Obj(root["topologies"])[(string)e["topology"]]);
                Check(FirstDiff(Prefix(d.Topology.Indices, faces.Length), faces) < 0,
                    name + ": faces identical to build_dw_mesh's");

                if (e["occluded"] != null)
                {
                    var occ = VectorReader.Bytes(e["occluded"]);
                    Check(d.HasOccluded && d.NumFaces == occ.Length, name + ": occluded present");
                    Check(BytesEqual(d.Occluded, 0, occ, out detail),
                        name + ": occluded bits identical; " + detail);
                    int packedOk = 0;
                    for (int f = 0; f < occ.Length; f++)
                        if (((d.OccludedPacked[f >> 3] >> (7 - (f & 7))) & 1) == occ[f]) packedOk++;
                    Check(packedOk == occ.Length, name + ": packed bits MSB first");
                }
                else
                {
                    Check(!d.HasOccluded, name + ": no occluded bits when skipped");
                }

                if (e["color_rgb"] != null)
                {
                    Check(d.HasColorRgb, name + ": RGB colour decoded");
                    Check(BytesEqual(d.ColorRgb, 0, VectorReader.Bytes(e["color_rgb"]), out detail),
                        name + ": RGB identical; " + detail);
                }
                if ((bool)e["color_passthrough"])
                {
                    var sent = VectorReader.Bytes(VectorReader.Obj(VectorReader.Obj(v["frame"])
                        ["color"])["data"]);
                    Check(!d.HasColorRgb && d.EncodedColor.Count == sent.Length
                        && BytesEqual(d.EncodedColor.Array, d.EncodedColor.Offset, sent, out detail),
                        name + ": encoded colour passed through untouched");
                }

                // Unity space: y negated, exactly; index buffer unchanged.
                var frame2 = VectorReader.MeshFrame(v["frame"]);
                var u = unity.Decode(ref frame2);
                bool flipped = true;
                for (int i = 0; i < 3 * (n + 1); i++)
                {
                    float want = i % 3 == 1 ? -rebuilt[i] : rebuilt[i];
                    flipped &= u.Vertices[i] == want;
                }
                Check(flipped, name + ": Unity-space vertices are the OpenCV ones with y negated");

                // The GPU path's inputs: depth * ray tables reproduce the vertices.
                var gpuLike = new float[3 * n];
                MeshFrameDecoder.BuildVertices(d.Depth, d.RayX, d.RayY, w, h, 1f, gpuLike);
                Check(FloatsEqual(gpuLike, rebuilt, 3 * n, out detail),
                    name + ": ray tables reproduce the vertices; " + detail);
            }
            Check(cv.DecodedCount == VectorReader.Arr(root["mesh_frames"]).Count && cv.RejectedCount == 0,
                "decoded count");
        }

        static int[] Prefix(int[] a, int n)
        {
            var p = new int[Math.Min(n, a.Length)];
            Array.Copy(a, p, p.Length);
            return p;
        }

        static void Throws<T>(Action action, string contains, string what) where T : Exception
        {
            try
            {
                action();
                Check(false, what + ": no exception (expected " + typeof(T).Name + ")");
            }
            catch (T e)
            {
                Check(e.Message.Contains(contains), what + ": message '" + e.Message
                    + "' lacks '" + contains + "'");
            }
            catch (Exception e)
            {
                Check(false, what + ": " + e.GetType().Name + " instead of " + typeof(T).Name
                    + ": " + e.Message);
            }
        }

        static void MalformedMeshFrames(Dictionary<string, object> root)
        {
            Group("malformed_mesh_frames");
            var decoder = new MeshFrameDecoder();
            var goodVector = VectorReader.Obj(VectorReader.Arr(root["mesh_frames"])[0]);
            var good = VectorReader.MeshFrame(goodVector["frame"]);
            var first = decoder.Decode(ref good);
            var depthCopy = (float[])first.Depth.Clone();
            var vertsCopy = (float[])first.Vertices.Clone();
            foreach (var o in VectorReader.Arr(root["malformed_mesh_frames"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var frame = VectorReader.MeshFrame(v["frame"]);
                Throws<Ex4dFormatException>(() => decoder.Decode(ref frame), (string)v["error"],
                    name);
                string detail;
                Check(ReferenceEquals(decoder.Current, first)
                    && FloatsEqual(decoder.Current.Depth, depthCopy, depthCopy.Length, out detail)
                    && FloatsEqual(decoder.Current.Vertices, vertsCopy, vertsCopy.Length,
                        out detail), name + ": the last good frame is kept unchanged");
            }
            Check(decoder.RejectedCount == VectorReader.Arr(root["malformed_mesh_frames"]).Count,
                "rejected count");
            // And the decoder still works afterwards.
            var again = VectorReader.MeshFrame(goodVector["frame"]);
            string d2;
            Check(FloatsEqual(decoder.Decode(ref again).Depth, depthCopy, depthCopy.Length, out d2),
                "decodes a good frame after the bad ones");
        }

        // -- render grid (the CPU twin of the compute shader) -------------------------------

        static void RenderGrids(Dictionary<string, object> root)
        {
            Group("render_grid");
            Check(RenderGrid.StrideFor(512, 512, 512) == 1, "512 fits 512");
            Check(RenderGrid.StrideFor(512, 512, 256) == 3, "512 in 256: stride 3 (171 per side)");
            Check(new RenderGrid(512, 512, 3).Width == 172 && new RenderGrid(512, 288, 2).Height == 145,
                "coarse sizes cover the last row and column");
            for (int side = 2; side < 300; side += 7)
                for (int max = 2; max < 80; max += 5)
                {
                    var g = new RenderGrid(side, side, RenderGrid.StrideFor(side, side, max));
                    Check(g.Width <= Math.Max(max, 2) && (g.Stride == 1 || new RenderGrid(side, side,
                        g.Stride - 1).Width > max), "stride for " + side + " within " + max
                        + " is the smallest that fits");
                }
            var decoder = new MeshFrameDecoder(new MeshDecodeOptions { Space = VertexSpace.Unity });
            foreach (var o in VectorReader.Arr(root["mesh_frames"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var e = VectorReader.Obj(v["expected"]);
                var frameData = VectorReader.MeshFrame(v["frame"]);
                var frame = decoder.Decode(ref frameData);
                int w = frame.Width, h = frame.Height;
                var vis = new float[w * h];
                RenderGrid.VertexVisibility(frame.Occluded, frame.HasOccluded, w, h, vis);
                if (frame.HasOccluded)
                {
                    var expected = VectorReader.Bytes(e["vertex_visible"]);
                    int wrong = 0;
                    for (int i = 0; i < expected.Length; i++) if (vis[i] != expected[i]) wrong++;
                    Check(wrong == 0, name + ": vertex visibility equals DWMesh.vertex_visible ("
                        + wrong + " differ)");
                }
                var rebuilt = VectorReader.Floats(e["vertices_decoded"]);
                foreach (int stride in new[] { 1, 2, 3, 7 })
                {
                    var grid = new RenderGrid(w, h, stride);
                    var data = new float[RenderGrid.FloatsPerVertex * grid.NumVertices];
                    grid.WriteVertices(frame, vis, data);
                    bool ok = true;
                    for (int r = 0; r < grid.Height; r++)
                        for (int c = 0; c < grid.Width; c++)
                        {
                            int fine = grid.FineRow(r) * w + grid.FineColumn(c);
                            int at = RenderGrid.FloatsPerVertex * (r * grid.Width + c);
                            ok &= data[at] == rebuilt[3 * fine] && data[at + 1] == -rebuilt[3 * fine + 1]
                                && data[at + 2] == rebuilt[3 * fine + 2]
                                && data[at + 3] == (grid.FineColumn(c) + 0.5f) / w
                                && data[at + 4] == (grid.FineRow(r) + 0.5f) / h
                                // A coarse vertex takes its block's minimum (checked
                                // against the library in tests/test_unity_review.py).
                                && (stride == 1 ? data[at + 5] == vis[fine] : data[at + 5] <= vis[fine]);
                        }
                    int cap = RenderGrid.FloatsPerVertex * (grid.NumVertices - 1);
                    ok &= data[cap] == rebuilt[3 * w * h] && data[cap + 1] == -rebuilt[3 * w * h + 1]
                        && data[cap + 5] == 0f;
                    Check(ok, name + " stride " + stride + ": sampled vertices, uv and visibility");
                    bool border = true;
                    for (int c = 0; c < grid.Width; c++)
                        border &= grid.FineRow(grid.Height - 1) == h - 1 && grid.FineColumn(grid.Width - 1) == w - 1;
                    Check(border, name + " stride " + stride + ": last row and column are the border");

                    var indices = new int[grid.Topology.Indices.Length];
                    grid.MaskIndices(frame.Occluded, frame.HasOccluded, data, indices);
                    int hiddenWrong = 0;
                    for (int f = 0; f < grid.Topology.NumFaces; f++)
                    {
                        bool hidden = indices[3 * f] == grid.Topology.CapVertex
                            && indices[3 * f + 1] == grid.Topology.CapVertex
                            && indices[3 * f + 2] == grid.Topology.CapVertex;
                        bool want;
                        if (f >= grid.Topology.NumGridFaces) want = true;
                        else if (!frame.HasOccluded) want = false;
                        else if (stride == 1) want = frame.Occluded[f] != 0;
                        else
                        {
                            want = false;
                            for (int k = 0; k < 3; k++)
                                want |= data[RenderGrid.FloatsPerVertex * grid.Topology.Indices[3 * f + k] + 5] == 0;
                        }
                        bool kept = !hidden && indices[3 * f] == grid.Topology.Indices[3 * f]
                            && indices[3 * f + 1] == grid.Topology.Indices[3 * f + 1]
                            && indices[3 * f + 2] == grid.Topology.Indices[3 * f + 2];
                        if (want != hidden || (!want && !kept)) hiddenWrong++;
                    }
                    Check(hiddenWrong == 0, name + " stride " + stride + ": hidden faces ("
                        + hiddenWrong + " wrong)");
                }
                Vec3d min, max;
                RenderGrid.Bounds(frame, out min, out max);
                bool inside = true;
                var all = new float[RenderGrid.FloatsPerVertex * (w * h + 1)];
                new RenderGrid(w, h, 1).WriteVertices(frame, vis, all);
                for (int i = 0; i < w * h + 1; i++)
                {
                    int a = RenderGrid.FloatsPerVertex * i;
                    double slack = 1e-4 * frame.FarDepth;
                    inside &= all[a] >= min.X - slack && all[a] <= max.X + slack
                        && all[a + 1] >= min.Y - slack && all[a + 1] <= max.Y + slack
                        && all[a + 2] >= min.Z - slack && all[a + 2] <= max.Z + slack;
                }
                Check(inside, name + ": bounds contain every vertex");
            }
        }

        // -- view replies ------------------------------------------------------------------

        static void ViewReplies(Dictionary<string, object> root)
        {
            Group("view_replies");
            var decoder = new ViewReplyDecoder { MaskOn = 1 };
            foreach (var o in VectorReader.Arr(root["view_replies"]))
            {
                var v = VectorReader.Obj(o);
                string name = (string)v["name"];
                var e = VectorReader.Obj(v["expected"]);
                var replyJson = VectorReader.Obj(v["reply"]);
                var reply = VectorReader.ViewReply(v["reply"]);
                var d = decoder.Decode(ref reply);
                string detail;
                int w = (int)(double)e["width"], h = (int)(double)e["height"];
                Check(d.Width == w && d.Height == h, name + ": size");
                Check(d.Sequence == 42 && d.ClientTimeS == 12.5 && d.FrameIndex == 1
                    && d.Dropped == 3 && d.DroppedTotal == 17, name + ": echoed fields");
                Check(d.Pose.CoordinateSystem == WireCoordinateSystem.Unity, name + ": pose system");
                Check(BytesEqual(d.Mask, 0, VectorReader.Bytes(e["mask"]), out detail),
                    name + ": mask identical; " + detail);
                if (VectorReader.Get(e, "color_rgb") != null)
                    Check(d.HasColorRgb && BytesEqual(d.ColorRgb, 0,
                        VectorReader.Bytes(e["color_rgb"]), out detail), name + ": colour; " + detail);
                else
                {
                    var sent = VectorReader.Bytes(VectorReader.Obj(replyJson["color"])["data"]);
                    Check(!d.HasColorRgb && d.EncodedColor.Count == sent.Length
                        && BytesEqual(d.EncodedColor.Array, d.EncodedColor.Offset, sent, out detail),
                        name + ": JPEG passed through");
                }
                if (VectorReader.Get(e, "depth") != null)
                {
                    var depth = VectorReader.Floats(e["depth"]);
                    Check(d.HasDepth && FloatsEqual(d.Depth, depth, w * h, out detail),
                        name + ": depth bit-exact (+inf where empty); " + detail);
                }
                else Check(!d.HasDepth, name + ": no depth");
                if (VectorReader.Get(replyJson, "generated") != null)
                {
                    Check(d.HasGenerated && d.GeneratedJobId == "job-7", name + ": generated");
                    if (VectorReader.Get(e, "generated_rgb") != null)
                        Check(d.HasGeneratedRgb && d.GeneratedWidth == 16 && d.GeneratedHeight == 12
                            && BytesEqual(d.GeneratedRgb, 0, VectorReader.Bytes(e["generated_rgb"]),
                                out detail), name + ": generated RGB; " + detail);
                    else Check(!d.HasGeneratedRgb && d.EncodedGenerated.Count > 0,
                        name + ": generated JPEG passed through");
                }
            }
            // 255 mask values for direct texture upload.
            var d255 = new ViewReplyDecoder();
            var first = VectorReader.ViewReply(VectorReader.Obj(VectorReader.Arr(root["view_replies"])[0])["reply"]);
            var m = d255.Decode(ref first);
            var bits = VectorReader.Bytes(VectorReader.Obj(VectorReader.Obj(
                VectorReader.Arr(root["view_replies"])[0])["expected"])["mask"]);
            bool ok = true;
            for (int i = 0; i < bits.Length; i++) ok &= m.Mask[i] == (bits[i] != 0 ? 255 : 0);
            Check(ok, "MaskOn = 255 by default");
        }

        static void MalformedViewReplies(Dictionary<string, object> root)
        {
            Group("malformed_view_replies");
            var decoder = new ViewReplyDecoder();
            var good = VectorReader.ViewReply(VectorReader.Obj(VectorReader.Arr(root["view_replies"])[0])["reply"]);
            var first = decoder.Decode(ref good);
            foreach (var o in VectorReader.Arr(root["malformed_view_replies"]))
            {
                var v = VectorReader.Obj(o);
                var reply = VectorReader.ViewReply(v["reply"]);
                Throws<Ex4dFormatException>(() => decoder.Decode(ref reply), (string)v["error"],
                    (string)v["name"]);
                Check(ReferenceEquals(decoder.Current, first), v["name"] + ": last good kept");
            }
        }

        // -- robustness ---------------------------------------------------------------------

        static void Fuzz(Dictionary<string, object> root)
        {
            Group("fuzz");
            var vectors = VectorReader.Arr(root["mesh_frames"]);
            var frameJson = VectorReader.Obj(vectors[0])["frame"];
            var baseline = VectorReader.MeshFrame(frameJson);
            var decoder = new MeshFrameDecoder();
            var good = decoder.Decode(ref baseline);
            var goodDepth = (float[])good.Depth.Clone();
            var payload = baseline.Depth.Data.ToArray();
            // Every truncation of the zlib depth payload is rejected as malformed.
            int wrongType = 0, accepted = 0;
            for (int cut = 0; cut < payload.Length; cut++)
            {
                var f = VectorReader.MeshFrame(frameJson);
                f.Depth.Data = new ByteSlice(payload, 0, cut);
                try
                {
                    decoder.Decode(ref f);
                    accepted++;
                }
                catch (Ex4dFormatException) { }
                catch (Exception) { wrongType++; }
            }
            Check(accepted == 0 && wrongType == 0, "every truncated depth payload is rejected with "
                + "Ex4dFormatException (" + accepted + " accepted, " + wrongType + " other exceptions)");

            // Random corruption: either rejected cleanly or (never, with the checksum) accepted
            // with the right values; never another exception type.
            var rng = new Random(1234);
            int silentlyWrong = 0;
            wrongType = 0;
            for (int trial = 0; trial < 1500; trial++)
            {
                var corrupt = (byte[])payload.Clone();
                int flips = 1 + rng.Next(3);
                for (int k = 0; k < flips; k++)
                    corrupt[rng.Next(corrupt.Length)] ^= (byte)(1 << rng.Next(8));
                var f = VectorReader.MeshFrame(frameJson);
                f.Depth.Data = new ByteSlice(corrupt);
                try
                {
                    var r = decoder.Decode(ref f);
                    string detail;
                    if (!FloatsEqual(r.Depth, goodDepth, goodDepth.Length, out detail)) silentlyWrong++;
                }
                catch (Ex4dFormatException) { }
                catch (Exception) { wrongType++; }
            }
            Check(silentlyWrong == 0 && wrongType == 0, "corrupted payloads: " + silentlyWrong
                + " decoded to wrong values, " + wrongType + " other exceptions");

            // Garbage in every payload field of every vector frame.
            wrongType = 0;
            foreach (var o in vectors)
            {
                var fj = VectorReader.Obj(o)["frame"];
                for (int trial = 0; trial < 40; trial++)
                {
                    var f = VectorReader.MeshFrame(fj);
                    var junk = new byte[rng.Next(64)];
                    rng.NextBytes(junk);
                    if (junk.Length > 1 && trial % 2 == 0)
                    {
                        junk[0] = 0x78;
                        junk[1] = 0x01;
                    }
                    switch (trial % 3)
                    {
                        case 0: f.Depth.Data = new ByteSlice(junk); break;
                        case 1: f.Occluded.Data = new ByteSlice(junk); break;
                        default: f.Color.Data = new ByteSlice(junk); break;
                    }
                    try
                    {
                        decoder.Decode(ref f);
                    }
                    catch (Ex4dFormatException) { }
                    catch (Exception) { wrongType++; }
                }
            }
            Check(wrongType == 0, "random payload bytes: " + wrongType + " non-format exceptions");
        }

        static void SteadyStateAllocation(Dictionary<string, object> root)
        {
            Group("allocation");
            foreach (var o in VectorReader.Arr(root["mesh_frames"]))
            {
                var v = VectorReader.Obj(o);
                var frame = VectorReader.MeshFrame(v["frame"]);
                var decoder = new MeshFrameDecoder();
                for (int i = 0; i < 3; i++) decoder.Decode(ref frame); // both buffers warm
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) decoder.Decode(ref frame);
                long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
                Check(bytes == 0, v["name"] + ": " + bytes + " bytes allocated in 10 warm decodes");
            }
            var replies = VectorReader.Arr(root["view_replies"]);
            foreach (var o in replies)
            {
                var reply = VectorReader.ViewReply(VectorReader.Obj(o)["reply"]);
                var decoder = new ViewReplyDecoder();
                for (int i = 0; i < 3; i++) decoder.Decode(ref reply);
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) decoder.Decode(ref reply);
                long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
                Check(bytes == 0, VectorReader.Obj(o)["name"] + ": " + bytes
                    + " bytes allocated in 10 warm view decodes");
            }
        }

        // -- sender, backoff, stats ---------------------------------------------------------

        static PoseSample Sample(double x)
        {
            return new PoseSample
            {
                Pose = new PoseData(new Vec3d(x, 0, 0), Quatd.Identity, WireCoordinateSystem.Unity),
                ClientTimeS = x,
            };
        }

        static void SenderSingleThread()
        {
            Group("sender");
            var slot = new LatestPoseSlot();
            PoseSample s;
            Check(!slot.TryTake(out s), "empty slot gives nothing");
            slot.Offer(Sample(1));
            slot.Offer(Sample(2));
            slot.Offer(Sample(3));
            Check(slot.Overwritten == 2 && slot.Offered == 3, "two poses overwritten");
            Check(slot.TryTake(out s) && s.ClientTimeS == 3, "the newest pose is taken");
            Check(!slot.TryTake(out s), "taken once");
            Check(!slot.Take(out s, 20, CancellationToken.None), "blocking take times out");
            slot.Offer(Sample(4));
            Check(slot.Take(out s, 1000, CancellationToken.None) && s.ClientTimeS == 4,
                "blocking take returns a waiting pose");
            Check(slot.Taken == 2, "taken count");

            var sender = new LatestPoseSender();
            var seq1 = sender.Submit(Sample(1));
            var seq2 = sender.Submit(Sample(2));
            Check(seq1 == 1 && seq2 == 2 && sender.LastSequence == 2, "sequence numbers 1, 2");
            var got = new List<PoseSample>();
            var cts = new CancellationTokenSource();
            var loop = sender.RunAsync((p, ct) =>
            {
                lock (got) got.Add(p);
                return Task.FromResult(0);
            }, cts.Token);
            SpinWait(() => { lock (got) return got.Count == 1; });
            lock (got) Check(got.Count == 1 && got[0].Sequence == 2, "only the newest queued pose is sent");
            sender.Submit(Sample(3));
            SpinWait(() => { lock (got) return got.Count == 2; });
            lock (got) Check(got.Count == 2 && got[1].Sequence == 3, "a later pose is sent");
            cts.Cancel();
            bool cancelled = false;
            try
            {
                loop.Wait(2000);
            }
            catch (AggregateException e)
            {
                cancelled = e.InnerException is OperationCanceledException;
            }
            Check(cancelled, "cancel ends the loop with OperationCanceledException");

            // A failing send ends the loop with that exception (the client then reconnects).
            var failing = new LatestPoseSender();
            failing.Submit(Sample(1));
            var failed = failing.RunAsync((p, ct) => { throw new IOException("stream broken"); },
                CancellationToken.None);
            bool sawIo = false;
            try
            {
                failed.Wait(2000);
            }
            catch (AggregateException e)
            {
                sawIo = e.InnerException is IOException;
            }
            Check(sawIo, "a send error ends the loop with that error");
        }

        static void SpinWait(Func<bool> done)
        {
            var until = DateTime.UtcNow.AddSeconds(5);
            while (!done() && DateTime.UtcNow < until) Thread.Sleep(1);
        }

        static void SenderThreaded()
        {
            Group("sender_threads");
            var sender = new LatestPoseSender();
            var sent = new List<ulong>();
            var cts = new CancellationTokenSource();
            var rng = new Random(7);
            var loop = sender.RunAsync(async (p, ct) =>
            {
                lock (sent) sent.Add(p.Sequence);
                // A slow link: most writes take a while, so poses pile up behind them.
                if (rng.Next(4) == 0) await Task.Delay(1, ct).ConfigureAwait(false);
            }, cts.Token);
            const int producers = 4, perProducer = 20000;
            var threads = new Thread[producers];
            for (int t = 0; t < producers; t++)
            {
                int id = t;
                threads[t] = new Thread(() =>
                {
                    for (int i = 0; i < perProducer; i++)
                    {
                        sender.Submit(Sample(id * perProducer + i));
                        if (i % 1000 == 0) Thread.Sleep(0);
                    }
                });
                threads[t].Start();
            }
            foreach (var t in threads) t.Join();
            ulong last = sender.LastSequence;
            // Until the newest pose's send has completed (not just started).
            SpinWait(() => sender.Sent + sender.Overwritten == sender.Submitted);
            cts.Cancel();
            try { loop.Wait(2000); } catch (AggregateException) { }
            lock (sent)
            {
                bool increasing = true;
                for (int i = 1; i < sent.Count; i++) increasing &= sent[i] > sent[i - 1];
                Check(increasing, "sent sequence numbers strictly increase (no pose twice, "
                    + "never an older one after a newer one)");
                Check(sent.Count > 0 && sent[sent.Count - 1] == last,
                    "the newest pose is always sent");
                Check(sender.Submitted == producers * perProducer, "every submit counted");
                Check(sender.Sent + sender.Overwritten == sender.Submitted,
                    "sent " + sender.Sent + " + overwritten " + sender.Overwritten
                    + " = submitted " + sender.Submitted);
                Check(sender.Overwritten > 0, "poses were overwritten under load ("
                    + sender.Overwritten + ")");
            }
        }

        static void Backoff()
        {
            Group("backoff");
            var b = new ReconnectBackoff(0.5, 30.0, 2.0, 0.0);
            var expected = new[] { 0.5, 1, 2, 4, 8, 16, 30, 30 };
            bool ok = true;
            foreach (var e in expected) ok &= b.NextDelaySeconds() == e;
            Check(ok, "0.5, 1, 2, ... capped at 30");
            Check(b.Attempt == expected.Length, "attempt count");
            b.Reset();
            Check(b.NextDelaySeconds() == 0.5 && b.Attempt == 1, "reset starts over");
            var j = new ReconnectBackoff(1.0, 8.0, 2.0, 0.25, seed: 3);
            double nominal = 1.0;
            bool inRange = true;
            for (int i = 0; i < 50; i++)
            {
                double d = j.NextDelaySeconds();
                inRange &= d >= nominal * 0.75 && d <= nominal * 1.25;
                nominal = Math.Min(8.0, nominal * 2);
            }
            Check(inRange, "jitter stays within +-25%");
            Throws<Ex4dArgumentException>(() => new ReconnectBackoff(0, 1), "backoff",
                "zero initial delay rejected");
        }

        static void Stats()
        {
            Group("stats");
            var s = new RollingStats(4);
            foreach (var v in new[] { 10.0, 20, 30, 40, 50 }) s.Add(v);
            Check(s.Count == 4 && s.Mean == 35 && s.Last == 50, "rolling window of 4: mean 35");
            Check(s.Quantile(0.5) == 30 && s.Quantile(1.0) == 50 && s.Quantile(0) == 20,
                "quantiles");
            s.Add(double.NaN);
            Check(s.Count == 4 && s.Mean == 35, "NaN ignored");
            var r = new RateCounter(1.0, 256);
            for (int i = 0; i < 180; i++) r.Tick(i / 90.0); // 90 Hz for 2 s
            double rate = r.Rate(179 / 90.0);
            Check(Math.Abs(rate - 90) <= 1, "90 Hz measured as " + R(rate));
            Check(r.Rate(10.0) == 0, "no events in the window: 0");
        }

        // -- playback ----------------------------------------------------------------------

        static void Playback()
        {
            Group("playback");
            var clock = new PlaybackClock(16.0, 49);
            Check(clock.FrameIndex == 0, "starts at frame 0");
            clock.Advance(1.0);
            Check(clock.FrameIndex == 16, "1 s at 16 fps is frame 16");
            clock.TimeSeconds = 49 / 16.0;
            Check(clock.FrameIndex == 0, "loops after the last frame");
            clock.TimeSeconds = 2.5 / 16.0;
            Check(clock.FrameIndex == 2, "half frames round to even (2.5 -> 2)");
            clock.TimeSeconds = 3.5 / 16.0;
            Check(clock.FrameIndex == 4, "half frames round to even (3.5 -> 4)");
            clock.Loop = false;
            clock.TimeSeconds = 100;
            Check(clock.FrameIndex == 48, "without looping, clamps to the last frame");
            clock.Paused = true;
            clock.Advance(5);
            Check(clock.TimeSeconds == 100, "paused clock stands still");
            Throws<Ex4dArgumentException>(() => new PlaybackClock(0, 5), "fps", "zero fps");

            var store = new MeshFrameStore();
            store.Put(new MeshFrameData { SceneId = "a", FrameIndex = 3, NumFrames = 10 });
            store.Put(new MeshFrameData { SceneId = "a", FrameIndex = 1, NumFrames = 10 });
            store.Put(new MeshFrameData { SceneId = "a", FrameIndex = 3, NumFrames = 10, TimeS = 7 });
            MeshFrameData f;
            Check(store.Count == 2 && store.NumFrames == 10, "two distinct frames of 10");
            Check(store.TryGet(3, out f) && f.TimeS == 7, "a frame sent again replaces the old");
            Check(!store.TryGet(2, out f) && !store.TryGet(-1, out f) && !store.TryGet(99, out f),
                "missing frames are reported missing");
            store.Put(new MeshFrameData { SceneId = "b", FrameIndex = 0, NumFrames = 4 });
            Check(store.Count == 1 && store.NumFrames == 4 && store.SceneId == "b",
                "another scene clears the store");
        }

        static void BackgroundDecoding(Dictionary<string, object> root)
        {
            Group("background_decoder");
            var vectors = VectorReader.Arr(root["mesh_frames"]);
            var first = VectorReader.Obj(vectors[0]);
            var second = VectorReader.Obj(vectors[1]);
            var bad = VectorReader.Obj(VectorReader.Arr(root["malformed_mesh_frames"])[0]);
            using (var bg = new BackgroundMeshDecoder(new MeshDecodeOptions()))
            {
                DecodedMeshFrame frame;
                Check(!bg.TryAcquire(out frame), "nothing before the first request");
                bg.Request(VectorReader.MeshFrame(first["frame"]));
                SpinWait(() => bg.DecodedCount == 1);
                bool got = bg.TryAcquire(out frame);
                Check(got && frame.FrameIndex == 0, "the decoded frame is handed over");
                var depth = VectorReader.Floats(VectorReader.Obj(first["expected"])["depth_decoded"]);
                string detail;
                Check(got && FloatsEqual(frame.Depth, depth, depth.Length, out detail),
                    "with its decoded depth");
                // While the render thread holds the frame, a new decode waits for it.
                bg.Request(VectorReader.MeshFrame(second["frame"]));
                Thread.Sleep(50);
                Check(got && FloatsEqual(frame.Depth, depth, depth.Length, out detail),
                    "a held frame is not overwritten");
                bg.Release();
                SpinWait(() => bg.DecodedCount == 2);
                DecodedMeshFrame next;
                Check(bg.TryAcquire(out next) && next.FrameIndex == 1, "the next frame follows");
                bg.Release();
                Check(!bg.TryAcquire(out next), "each frame is handed over once");

                bg.Request(VectorReader.MeshFrame(bad["frame"]));
                SpinWait(() => bg.ErrorCount == 1);
                Check(bg.ErrorCount == 1 && bg.LastError.Contains("truncated"),
                    "a malformed frame is reported: " + bg.LastError);
                Check(!bg.TryAcquire(out next), "and nothing new is handed over");

                // Many requests from another thread: the newest one wins, none is lost midway.
                var t = new Thread(() =>
                {
                    for (int i = 0; i < 200; i++)
                        bg.Request(VectorReader.MeshFrame((i % 2 == 0 ? first : second)["frame"]));
                    bg.Request(VectorReader.MeshFrame(first["frame"]));
                });
                t.Start();
                long lastIndex = -1;
                var until = DateTime.UtcNow.AddSeconds(5);
                while (t.IsAlive && DateTime.UtcNow < until)
                {
                    if (bg.TryAcquire(out next))
                    {
                        lastIndex = next.FrameIndex;
                        bg.Release();
                    }
                }
                t.Join();
                // Wait until the worker is idle, then collect what it finished last.
                long seen = -1;
                SpinWait(() =>
                {
                    long now = bg.DecodedCount;
                    bool idle = now == seen;
                    seen = now;
                    Thread.Sleep(20);
                    return idle;
                });
                if (bg.TryAcquire(out next)) lastIndex = next.FrameIndex;
                Check(lastIndex == 0, "the last request is the last frame handed over");
                bg.Release();
            }
        }

        // -- recorder ----------------------------------------------------------------------

        static void Recorder(Dictionary<string, object> root, string outDir)
        {
            Group("recorder");
            int i = 0;
            foreach (var o in VectorReader.Arr(root["recorder"]))
            {
                var v = VectorReader.Obj(o);
                var rec = new WalkthroughRecorder(Sys(v["system"]), (string)v["name"]);
                if (v["fps"] != null) rec.Fps = (double)v["fps"];
                if (v["fov_y_deg"] != null) rec.FovYDeg = (double)v["fov_y_deg"];
                if (v["intrinsics"] != null) rec.Intrinsics = VectorReader.Intrinsics(v["intrinsics"]);
                bool timed = (bool)v["timed"];
                foreach (var po in VectorReader.Arr(v["poses"]))
                {
                    var p = VectorReader.Obj(po);
                    var pos = VectorReader.Vec(p["position"]);
                    var rot = VectorReader.Quat(p["rotation"]);
                    if (timed) rec.Add((double)p["t"], pos, rot);
                    else rec.Add(pos, rot);
                }
                Check(rec.Count == VectorReader.Arr(v["poses"]).Count, "pose count");
                rec.Save(Path.Combine(outDir, "walkthrough_" + i + ".json"));
                rec.Save(Path.Combine(outDir, "walkthrough_" + i + ".csv"));
                // Saving again replaces the file atomically.
                rec.Save(Path.Combine(outDir, "walkthrough_" + i + ".json"));
                i++;
            }
            Check(Directory.GetFiles(outDir, ".*.tmp").Length == 0, "no temporary files left");

            var r = new WalkthroughRecorder(WireCoordinateSystem.Unity, "x");
            Throws<Ex4dArgumentException>(() => r.ToJson(), "no poses", "empty recording refused");
            r.Add(1.0, new Vec3d(0, 0, 0), Quatd.Identity);
            Throws<Ex4dArgumentException>(() => r.Add(0.5, new Vec3d(0, 0, 0), Quatd.Identity),
                "must not decrease", "time going backwards refused");
            Throws<Ex4dArgumentException>(() => r.Add(new Vec3d(0, 0, 0), Quatd.Identity),
                "time", "mixing timed and untimed poses refused");
            Throws<Ex4dArgumentException>(() => r.Add(2.0, new Vec3d(double.NaN, 0, 0),
                Quatd.Identity), "NaN", "NaN position refused");
            Throws<Ex4dArgumentException>(() => r.Add(2.0, new Vec3d(0, 0, 0),
                new Quatd(0, 0, 0, 0)), "zero length", "zero quaternion refused");
            Throws<Ex4dArgumentException>(() => r.Save(Path.Combine(outDir, "missing", "x.json")),
                "does not exist", "missing folder refused");
            foreach (var v in new[] { 0.1, 1.0 / 3, 1e-300, -2.5e17, 123456789.123, 5e-324 })
                Check(double.Parse(WalkthroughRecorder.FormatNumber(v), CultureInfo.InvariantCulture)
                    == v, "number " + R(v) + " round-trips");
            Check(WalkthroughRecorder.FormatNumber(0.1) == "0.1", "shortest form");
        }

        // -- edge cases ----------------------------------------------------------------------

        static void EdgeCases()
        {
            Group("edge_cases");
            var inflater = new ZlibInflater();
            Throws<Ex4dFormatException>(() => inflater.Inflate(new ByteSlice(new byte[10], 8, 5),
                new byte[4], 0, 4, "x"), "outside", "slice outside its array");
            Throws<Ex4dFormatException>(() => inflater.Inflate(new ByteSlice(new byte[3]),
                new byte[4], 0, 4, "x"), "truncated", "3-byte stream");
            // Preset dictionary flag: 0x78 0xBB is a valid header check with FDICT set.
            Throws<Ex4dFormatException>(() => inflater.Inflate(new ByteSlice(
                new byte[] { 0x78, 0xBB, 0, 0, 0, 0, 0, 0 }), new byte[4], 0, 4, "x"),
                "dictionary", "preset dictionary rejected");
            Throws<Ex4dArgumentException>(() => Conventions.Normalize(new Quatd(0, 0, 1e-7, 0), "q"),
                "zero length", "tiny quaternion rejected");
            Throws<Ex4dArgumentException>(() => Conventions.Normalize(
                new Quatd(double.NaN, 0, 0, 1), "q"), "NaN", "NaN quaternion rejected");
            Throws<Ex4dArgumentException>(() => Conventions.MatrixToQuaternion(
                new double[] { -1, 0, 0, 0, 1, 0, 0, 0, 1 }), "proper rotation",
                "mirror matrix rejected");
            Throws<Ex4dArgumentException>(() => Conventions.MatrixToQuaternion(
                new double[] { 2, 0, 0, 0, 1, 0, 0, 0, 1 }), "proper rotation",
                "scaled matrix rejected");
            var depth = new DepthDecoder();
            var map = new DepthMapData
            {
                Encoding = DepthEncoding.Float32, Width = 2, Height = 1,
                Data = new ByteSlice(new byte[8]),
            };
            Throws<ArgumentException>(() => depth.Decode(ref map, new float[1], 1f, "d"),
                "needs 2", "output buffer too small is a caller error");
            var bits = new PackedBitsData { Count = 10, Data = new ByteSlice(new byte[] { 0xA5, 0xC0 }) };
            var unpacked = new byte[10];
            new PayloadDecoder().UnpackBits(ref bits, 10, unpacked, 1, "b");
            Check(string.Join("", Array.ConvertAll(unpacked, x => x.ToString())) == "1010010111",
                "MSB-first bit order with a partial last byte");
            Check(GridFanTopology.FaceCount(512, 512) == 2 * 511 * 511 + 2044, "512x512 face count");
        }
    }
}
