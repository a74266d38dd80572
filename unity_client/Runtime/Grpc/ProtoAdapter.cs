// The only place that knows the generated ex4d.v1 classes (from proto/ex4d/v1 with
// Grpc.Tools; see the package README). It copies scalar fields into the core's structs and
// hands over payload bytes without copying them.
using System;
using System.Runtime.InteropServices;
using Ex4d.Bridge.Core;
using Google.Protobuf;
using Wire = global::Ex4d.V1;

namespace Ex4d.Bridge.Net
{
    public static class ProtoAdapter
    {
        /// <summary>The bytes of a ByteString as a slice of its backing array (no copy when
        /// the ByteString exposes one, which parsed messages do).</summary>
        public static ByteSlice Slice(ByteString bytes)
        {
            if (bytes == null || bytes.Length == 0) return default(ByteSlice);
            ArraySegment<byte> segment;
            if (MemoryMarshal.TryGetArray(bytes.Memory, out segment))
                return new ByteSlice(segment.Array, segment.Offset, segment.Count);
            return new ByteSlice(bytes.ToByteArray());
        }

        public static IntrinsicsData ToCore(Wire.Intrinsics k)
        {
            if (k == null) return default(IntrinsicsData);
            return new IntrinsicsData(k.Fx, k.Fy, k.Cx, k.Cy, k.Width, k.Height);
        }

        public static Wire.Intrinsics ToWire(IntrinsicsData k)
        {
            return new Wire.Intrinsics
            {
                Fx = k.Fx, Fy = k.Fy, Cx = k.Cx, Cy = k.Cy, Width = k.Width, Height = k.Height,
            };
        }

        public static DepthMapData ToCore(Wire.DepthMap m)
        {
            if (m == null) return default(DepthMapData);
            return new DepthMapData
            {
                Encoding = (DepthEncoding)(int)m.Encoding,
                Width = m.Width,
                Height = m.Height,
                Near = m.Near,
                Far = m.Far,
                FarCodeDepth = m.FarCodeDepth,
                Predictor = (DepthPredictor)(int)m.Predictor,
                Compression = (Compression)(int)m.Compression,
                Data = Slice(m.Data),
            };
        }

        public static ImageData ToCore(Wire.Image i)
        {
            if (i == null) return default(ImageData);
            return new ImageData
            {
                Encoding = (ImageEncoding)(int)i.Encoding,
                Width = i.Width,
                Height = i.Height,
                Compression = (Compression)(int)i.Compression,
                Data = Slice(i.Data),
            };
        }

        public static PackedBitsData ToCore(Wire.PackedBits b)
        {
            if (b == null) return default(PackedBitsData);
            return new PackedBitsData
            {
                Count = b.Count,
                Compression = (Compression)(int)b.Compression,
                Data = Slice(b.Data),
            };
        }

        public static ServerTimingsData ToCore(Wire.ServerTimings t)
        {
            if (t == null) return default(ServerTimingsData);
            return new ServerTimingsData
            {
                WaitMs = t.WaitMs,
                RenderMs = t.RenderMs,
                EncodeMs = t.EncodeMs,
                TotalMs = t.TotalMs,
                ServerTimeS = t.ServerTimeS,
            };
        }

        public static PoseData ToCore(Wire.Pose p)
        {
            if (p == null) return default(PoseData);
            var pos = p.Position;
            var rot = p.Rotation;
            return new PoseData(
                pos == null ? default(Vec3d) : new Vec3d(pos.X, pos.Y, pos.Z),
                rot == null ? default(Quatd) : new Quatd(rot.X, rot.Y, rot.Z, rot.W),
                (WireCoordinateSystem)(int)p.CoordinateSystem);
        }

        public static Wire.Pose ToWire(PoseData p)
        {
            return new Wire.Pose
            {
                Position = new Wire.Vec3 { X = p.Position.X, Y = p.Position.Y, Z = p.Position.Z },
                Rotation = new Wire.Quaternion
                {
                    X = p.Rotation.X, Y = p.Rotation.Y, Z = p.Rotation.Z, W = p.Rotation.W,
                },
                CoordinateSystem = (Wire.CoordinateSystem)(int)p.CoordinateSystem,
            };
        }

        public static MeshFrameData ToCore(Wire.MeshFrame m)
        {
            var closure = m.Closure;
            var frame = new MeshFrameData
            {
                SceneId = m.SceneId,
                FrameIndex = m.FrameIndex,
                NumFrames = m.NumFrames,
                TimeS = m.TimeS,
                Intrinsics = ToCore(m.Intrinsics),
                Topology = (WireTopology)(int)m.Topology,
                NumVertices = m.NumVertices,
                NumFaces = m.NumFaces,
                Depth = ToCore(m.Depth),
                Color = ToCore(m.Color),
                Occluded = ToCore(m.Occluded),
                Timings = ToCore(m.Timings),
            };
            if (closure != null)
            {
                frame.FarDepth = closure.FarDepth;
                frame.BorderPixels = closure.BorderPixels;
                if (closure.CapCenter != null)
                {
                    frame.CapCenter = new Vec3d(closure.CapCenter.X, closure.CapCenter.Y,
                        closure.CapCenter.Z);
                    frame.HasCapCenter = true;
                }
            }
            int layers = m.Layers.Count;
            if (layers > 0)
            {
                // Only streams that asked for completions carry layers; the store keeps the
                // array with the frame.
                frame.Layers = new CompletionLayerFrameData[layers];
                frame.NumLayers = layers;
                for (int i = 0; i < layers; i++) frame.Layers[i] = ToCore(m.Layers[i]);
            }
            return frame;
        }

        public static CompletionLayerFrameData ToCore(Wire.CompletionLayerFrame l)
        {
            var layer = new CompletionLayerFrameData
            {
                LayerIndex = l.LayerIndex,
                Generation = l.Generation,
                Intrinsics = ToCore(l.Intrinsics),
            };
            // Sub-messages are null when absent: the core refuses a layer without them.
            if (l.Pose != null)
            {
                layer.Pose = ToCore(l.Pose);
                layer.HasPose = true;
            }
            if (l.Region != null)
            {
                layer.Region = new PixelRegionData(l.Region.X0, l.Region.Y0, l.Region.X1,
                    l.Region.Y1);
                layer.HasRegion = true;
            }
            if (l.Mesh != null)
            {
                layer.Mesh = ToCore(l.Mesh);
                layer.HasMesh = true;
            }
            return layer;
        }

        public static ViewReplyData ToCore(Wire.ViewReply r)
        {
            var reply = new ViewReplyData
            {
                Sequence = r.Sequence,
                Pose = ToCore(r.Pose),
                ClientTimeS = r.ClientTimeS,
                FrameIndex = r.FrameIndex,
                Dropped = r.Dropped,
                DroppedTotal = r.DroppedTotal,
                Color = ToCore(r.Color),
                Mask = ToCore(r.Mask),
                Intrinsics = ToCore(r.Intrinsics),
                Timings = ToCore(r.Timings),
                GeneratedJobId = r.GeneratedJobId,
            };
            if (r.Depth != null)
            {
                reply.Depth = ToCore(r.Depth);
                reply.HasDepth = true;
            }
            if (r.Generated != null)
            {
                reply.Generated = ToCore(r.Generated);
                reply.HasGenerated = true;
            }
            reply.CompletionLayers = r.CompletionLayers;
            if (r.Provenance != null)
            {
                reply.Provenance = new ProvenanceMapData
                {
                    Width = r.Provenance.Width,
                    Height = r.Provenance.Height,
                    Data = Slice(r.Provenance.Data),
                    Compression = (Compression)(int)r.Provenance.Compression,
                };
                reply.HasProvenance = true;
            }
            return reply;
        }

        /// <summary>A ViewRequest for a head pose with the session's view settings, for
        /// <paramref name="sceneId"/> (every request names it, so any can be the first).
        /// </summary>
        public static Wire.ViewRequest ToRequest(PoseSample sample, ViewSettings s, string sceneId)
        {
            var request = new Wire.ViewRequest
            {
                SceneId = sceneId ?? "",
                Sequence = sample.Sequence,
                Pose = ToWire(sample.Pose),
                Width = (uint)s.Width,
                Height = (uint)s.Height,
                ClientTimeS = sample.ClientTimeS,
                Options = new Wire.ViewOptions
                {
                    ColorEncoding = (Wire.ImageEncoding)(int)s.ColorEncoding,
                    JpegQuality = (uint)s.JpegQuality,
                    IncludeDepth = s.IncludeDepth,
                    DepthEncoding = (Wire.DepthEncoding)(int)s.DepthEncoding,
                    MaskStyle = (Wire.MaskStyle)(int)s.MaskStyle,
                    SkipGenerated = !s.IncludeGenerated,
                    Raw = s.Raw,
                    IncludeProvenance = s.IncludeProvenance,
                },
            };
            if (sample.UseTime) request.TimeS = Math.Max(0.0, sample.TimeS);
            else request.FrameIndex = sample.FrameIndex;
            if (s.FovYDegrees > 0) request.FovYDeg = s.FovYDegrees;
            return request;
        }
    }

    /// <summary>What every ViewRequest of a session asks for (immutable; replaced when the
    /// settings change).</summary>
    public sealed class ViewSettings
    {
        public int Width = 512;
        public int Height = 512;
        /// <summary>Vertical field of view (0: the scene's camera scaled to the size).</summary>
        public double FovYDegrees;
        public ImageEncoding ColorEncoding = ImageEncoding.Jpeg;
        public int JpegQuality = 85;
        public bool IncludeDepth;
        public DepthEncoding DepthEncoding = DepthEncoding.Uint16Inverse;
        /// <summary>1 = FACE (exact visibility), 2 = REFERENCE (the generation model's mask).
        /// </summary>
        public int MaskStyle = 1;
        public bool IncludeGenerated = true;
        /// <summary>The raw DW-Mesh raster instead of the completed render.</summary>
        public bool Raw;
        /// <summary>Ask for the per-pixel provenance map (hole / source / completion /
        /// nearby).</summary>
        public bool IncludeProvenance;
    }
}
