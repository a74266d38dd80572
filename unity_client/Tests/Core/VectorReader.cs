// Maps the JSON test vectors (tools/unity_vectors.py) to the core's input structs, field by
// field as the Unity adapter maps the generated Ex4d.V1 classes.
using System;
using System.Collections.Generic;

namespace Ex4d.Bridge.Core.Tests
{
    public static class VectorReader
    {
        public static Dictionary<string, object> Obj(object o)
        {
            return (Dictionary<string, object>)o;
        }

        public static List<object> Arr(object o)
        {
            return (List<object>)o;
        }

        public static object Get(Dictionary<string, object> d, string key)
        {
            object v;
            return d.TryGetValue(key, out v) ? v : null;
        }

        public static double Num(Dictionary<string, object> d, string key)
        {
            object v = Get(d, key);
            return v == null ? 0.0 : (double)v;
        }

        public static uint U32(Dictionary<string, object> d, string key)
        {
            return (uint)Num(d, key);
        }

        public static string Str(Dictionary<string, object> d, string key)
        {
            return (string)Get(d, key);
        }

        public static byte[] Bytes(object b64)
        {
            return b64 == null ? null : Convert.FromBase64String((string)b64);
        }

        public static float[] Floats(object b64)
        {
            var bytes = Bytes(b64);
            var f = new float[bytes.Length / 4];
            Buffer.BlockCopy(bytes, 0, f, 0, f.Length * 4);
            return f;
        }

        public static int[] Ints(object b64)
        {
            var bytes = Bytes(b64);
            var v = new int[bytes.Length / 4];
            Buffer.BlockCopy(bytes, 0, v, 0, v.Length * 4);
            return v;
        }

        public static double[] Doubles(object list)
        {
            var l = Arr(list);
            var d = new double[l.Count];
            for (int i = 0; i < d.Length; i++) d[i] = (double)l[i];
            return d;
        }

        public static Vec3d Vec(object list)
        {
            var d = Doubles(list);
            return new Vec3d(d[0], d[1], d[2]);
        }

        public static Quatd Quat(object list)
        {
            var d = Doubles(list);
            return new Quatd(d[0], d[1], d[2], d[3]);
        }

        public static IntrinsicsData Intrinsics(object o)
        {
            var d = Obj(o);
            return new IntrinsicsData(Num(d, "fx"), Num(d, "fy"), Num(d, "cx"), Num(d, "cy"),
                U32(d, "width"), U32(d, "height"));
        }

        public static DepthMapData Depth(object o)
        {
            var d = Obj(o);
            return new DepthMapData
            {
                Encoding = (DepthEncoding)(int)Num(d, "encoding"),
                Width = U32(d, "width"),
                Height = U32(d, "height"),
                Near = Num(d, "near"),
                Far = Num(d, "far"),
                FarCodeDepth = Num(d, "far_code_depth"),
                Predictor = (DepthPredictor)(int)Num(d, "predictor"),
                Compression = (Compression)(int)Num(d, "compression"),
                Data = new ByteSlice(Bytes(Get(d, "data"))),
            };
        }

        public static ImageData Image(object o)
        {
            var d = Obj(o);
            return new ImageData
            {
                Encoding = (ImageEncoding)(int)Num(d, "encoding"),
                Width = U32(d, "width"),
                Height = U32(d, "height"),
                Compression = (Compression)(int)Num(d, "compression"),
                Data = new ByteSlice(Bytes(Get(d, "data"))),
            };
        }

        public static PackedBitsData Bits(object o)
        {
            var d = Obj(o);
            return new PackedBitsData
            {
                Count = (ulong)Num(d, "count"),
                Compression = (Compression)(int)Num(d, "compression"),
                Data = new ByteSlice(Bytes(Get(d, "data"))),
            };
        }

        /// <summary>A MeshFrame JSON object as the adapter would fill MeshFrameData. Payload
        /// bytes are placed at an offset inside a larger array, as a ByteString's backing store
        /// may be, so offsets are exercised too.</summary>
        public static MeshFrameData MeshFrame(object o)
        {
            var d = Obj(o);
            var closure = Obj(Get(d, "closure"));
            var frame = new MeshFrameData
            {
                SceneId = Str(d, "scene_id"),
                FrameIndex = U32(d, "frame_index"),
                NumFrames = U32(d, "num_frames"),
                TimeS = Num(d, "time_s"),
                Intrinsics = Intrinsics(Get(d, "intrinsics")),
                FarDepth = Num(closure, "far_depth"),
                BorderPixels = U32(closure, "border_pixels"),
                Topology = (WireTopology)(int)Num(d, "topology"),
                NumVertices = (ulong)Num(d, "num_vertices"),
                NumFaces = (ulong)Num(d, "num_faces"),
                Depth = Depth(Get(d, "depth")),
                Color = Image(Get(d, "color")),
                Occluded = Bits(Get(d, "occluded")),
            };
            object cap = Get(closure, "cap_center");
            if (cap != null)
            {
                frame.CapCenter = Vec(cap);
                frame.HasCapCenter = true;
            }
            frame.Depth.Data = Embed(frame.Depth.Data);
            frame.Color.Data = Embed(frame.Color.Data);
            frame.Occluded.Data = Embed(frame.Occluded.Data);
            object layers = Get(d, "layers");
            if (layers != null)
            {
                var list = Arr(layers);
                // One spare entry: NumLayers, not the array's length, counts.
                frame.Layers = new CompletionLayerFrameData[list.Count + 1];
                frame.NumLayers = list.Count;
                for (int i = 0; i < list.Count; i++) frame.Layers[i] = Layer(list[i]);
            }
            return frame;
        }

        public static PoseData Pose(object o)
        {
            var p = Obj(o);
            return new PoseData(Vec(Get(p, "position")), Quat(Get(p, "rotation")),
                (WireCoordinateSystem)(int)Num(p, "coordinate_system"));
        }

        /// <summary>A CompletionLayerFrame JSON object; absent keys are absent fields.</summary>
        public static CompletionLayerFrameData Layer(object o)
        {
            var d = Obj(o);
            var layer = new CompletionLayerFrameData
            {
                LayerIndex = U32(d, "layer_index"),
                Generation = Str(d, "generation") ?? "",
            };
            if (Get(d, "pose") != null)
            {
                layer.Pose = Pose(d["pose"]);
                layer.HasPose = true;
            }
            if (Get(d, "intrinsics") != null) layer.Intrinsics = Intrinsics(d["intrinsics"]);
            if (Get(d, "region") != null)
            {
                var r = Obj(d["region"]);
                layer.Region = new PixelRegionData(U32(r, "x0"), U32(r, "y0"), U32(r, "x1"),
                    U32(r, "y1"));
                layer.HasRegion = true;
            }
            if (Get(d, "mesh") != null)
            {
                layer.Mesh = MeshFrame(d["mesh"]);
                layer.HasMesh = true;
            }
            return layer;
        }

        public static ViewReplyData ViewReply(object o)
        {
            var d = Obj(o);
            var pose = Obj(Get(d, "pose"));
            var r = new ViewReplyData
            {
                Sequence = (ulong)Num(d, "sequence"),
                Pose = new PoseData(Vec(Get(pose, "position")), Quat(Get(pose, "rotation")),
                    (WireCoordinateSystem)(int)Num(pose, "coordinate_system")),
                ClientTimeS = Num(d, "client_time_s"),
                FrameIndex = U32(d, "frame_index"),
                Dropped = U32(d, "dropped"),
                DroppedTotal = (ulong)Num(d, "dropped_total"),
                Color = Image(Get(d, "color")),
                Mask = Bits(Get(d, "mask")),
                Intrinsics = Intrinsics(Get(d, "intrinsics")),
                GeneratedJobId = Str(d, "generated_job_id"),
            };
            if (Get(d, "depth") != null)
            {
                r.Depth = Depth(Get(d, "depth"));
                r.HasDepth = true;
            }
            if (Get(d, "generated") != null)
            {
                r.Generated = Image(Get(d, "generated"));
                r.HasGenerated = true;
            }
            r.CompletionLayers = U32(d, "completion_layers");
            if (Get(d, "provenance") != null)
            {
                var p = Obj(d["provenance"]);
                r.Provenance = new ProvenanceMapData
                {
                    Width = U32(p, "width"),
                    Height = U32(p, "height"),
                    Compression = (Compression)(int)Num(p, "compression"),
                    Data = Embed(new ByteSlice(Bytes(Get(p, "data")))),
                };
                r.HasProvenance = true;
            }
            return r;
        }

        static ByteSlice Embed(ByteSlice s)
        {
            if (s.Array == null || s.Count == 0) return s;
            var big = new byte[s.Count + 37];
            for (int i = 0; i < big.Length; i++) big[i] = 0xCD;
            Buffer.BlockCopy(s.Array, 0, big, 13, s.Count);
            return new ByteSlice(big, 13, s.Count);
        }
    }
}
