// Plain mirrors of the ex4d.v1 messages the client decodes (proto/ex4d/v1/*.proto).
//
// The core never sees generated protobuf classes: the Unity layer's adapter copies the scalar
// fields and hands over the payload bytes as ByteSlice (no copy when the ByteString exposes its
// backing array). Enum values are the wire numbers, so an adapter can cast them.
using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>ex4d.v1.CoordinateSystem (common.proto).</summary>
    public enum WireCoordinateSystem
    {
        Unspecified = 0,
        /// <summary>x right, y down, z forward (right-handed); the server's own frame.</summary>
        OpenCV = 1,
        /// <summary>x right, y up, z backward (right-handed); OpenXR uses these axes.</summary>
        OpenGL = 2,
        /// <summary>x right, y up, z forward (left-handed).</summary>
        Unity = 3,
        /// <summary>x forward, y right, z up (left-handed), scene units.</summary>
        Unreal = 4,
    }

    /// <summary>ex4d.v1.DepthEncoding.</summary>
    public enum DepthEncoding
    {
        /// <summary>Means Uint16Inverse.</summary>
        Unspecified = 0,
        Uint16Inverse = 1,
        Float16 = 2,
        Float32 = 3,
    }

    /// <summary>ex4d.v1.DepthPredictor.</summary>
    public enum DepthPredictor
    {
        None = 0,
        Gradient = 1,
    }

    /// <summary>ex4d.v1.Compression.</summary>
    public enum Compression
    {
        None = 0,
        Zlib = 1,
    }

    /// <summary>ex4d.v1.ImageEncoding.</summary>
    public enum ImageEncoding
    {
        /// <summary>Means Jpeg.</summary>
        Unspecified = 0,
        Jpeg = 1,
        RawRgb = 2,
        Png = 3,
    }

    /// <summary>ex4d.v1.Topology.</summary>
    public enum WireTopology
    {
        /// <summary>Accepted as GridFanV1, the only topology the contract defines.</summary>
        Unspecified = 0,
        GridFanV1 = 1,
    }

    /// <summary>A view of bytes inside a larger array (a protobuf ByteString's backing store,
    /// a network buffer). Never copied by the decoders.</summary>
    public struct ByteSlice
    {
        public byte[] Array;
        public int Offset;
        public int Count;

        public ByteSlice(byte[] array)
        {
            Array = array;
            Offset = 0;
            Count = array == null ? 0 : array.Length;
        }

        public ByteSlice(byte[] array, int offset, int count)
        {
            Array = array;
            Offset = offset;
            Count = count;
        }

        public bool IsEmpty { get { return Array == null || Count == 0; } }

        /// <summary>Throws unless Offset/Count lie inside Array (null means empty).</summary>
        public void Validate(string what)
        {
            if (Array == null)
            {
                if (Count != 0)
                    throw new Ex4dFormatException(what + ": no bytes but a count of " + Count);
                return;
            }
            if (Offset < 0 || Count < 0 || Offset > Array.Length - Count)
                throw new Ex4dFormatException(
                    what + ": slice [" + Offset + ", +" + Count + ") lies outside its "
                    + Array.Length + "-byte buffer");
        }

        /// <summary>A fresh copy (for callers that need an exactly sized array).</summary>
        public byte[] ToArray()
        {
            var copy = new byte[Count];
            if (Count > 0) Buffer.BlockCopy(Array, Offset, copy, 0, Count);
            return copy;
        }
    }

    /// <summary>ex4d.v1.Vec3, or any double 3-vector.</summary>
    public struct Vec3d
    {
        public double X, Y, Z;

        public Vec3d(double x, double y, double z)
        {
            X = x;
            Y = y;
            Z = z;
        }

        public override string ToString()
        {
            return "(" + X.ToString("R") + ", " + Y.ToString("R") + ", " + Z.ToString("R") + ")";
        }
    }

    /// <summary>ex4d.v1.Quaternion: (x, y, z, w), scalar last.</summary>
    public struct Quatd
    {
        public double X, Y, Z, W;

        public Quatd(double x, double y, double z, double w)
        {
            X = x;
            Y = y;
            Z = z;
            W = w;
        }

        public static Quatd Identity { get { return new Quatd(0, 0, 0, 1); } }

        public override string ToString()
        {
            return "(" + X.ToString("R") + ", " + Y.ToString("R") + ", " + Z.ToString("R") + ", "
                + W.ToString("R") + ")";
        }
    }

    /// <summary>ex4d.v1.Pose: a camera-to-world pose in the named coordinate system.</summary>
    public struct PoseData
    {
        public Vec3d Position;
        public Quatd Rotation;
        public WireCoordinateSystem CoordinateSystem;

        public PoseData(Vec3d position, Quatd rotation, WireCoordinateSystem system)
        {
            Position = position;
            Rotation = rotation;
            CoordinateSystem = system;
        }
    }

    /// <summary>ex4d.v1.Intrinsics: pinhole in pixels, top-left pixel centre at (0.5, 0.5).
    /// </summary>
    public struct IntrinsicsData
    {
        public double Fx, Fy, Cx, Cy;
        public uint Width, Height;

        public IntrinsicsData(double fx, double fy, double cx, double cy, uint width, uint height)
        {
            Fx = fx;
            Fy = fy;
            Cx = cx;
            Cy = cy;
            Width = width;
            Height = height;
        }

        /// <summary>Vertical field of view in degrees.</summary>
        public double FovYDegrees
        {
            get { return 2.0 * Math.Atan(Height / (2.0 * Fy)) * 180.0 / Math.PI; }
        }
    }

    /// <summary>ex4d.v1.DepthMap.</summary>
    public struct DepthMapData
    {
        public DepthEncoding Encoding;
        public uint Width, Height;
        /// <summary>UINT16_INVERSE only: the quantisation range.</summary>
        public double Near, Far;
        /// <summary>The depth far codes stand for (0 when the sender left it unset).</summary>
        public double FarCodeDepth;
        public DepthPredictor Predictor;
        public Compression Compression;
        public ByteSlice Data;
    }

    /// <summary>ex4d.v1.Image.</summary>
    public struct ImageData
    {
        public ImageEncoding Encoding;
        public uint Width, Height;
        public ByteSlice Data;
        /// <summary>Only for RAW_RGB.</summary>
        public Compression Compression;
    }

    /// <summary>ex4d.v1.PackedBits: one bit per element, most significant bit first.</summary>
    public struct PackedBitsData
    {
        public ulong Count;
        public ByteSlice Data;
        public Compression Compression;
    }

    /// <summary>ex4d.v1.ServerTimings (milliseconds; server_time_s in Unix seconds).</summary>
    public struct ServerTimingsData
    {
        public double WaitMs, RenderMs, EncodeMs, TotalMs, ServerTimeS;
    }

    /// <summary>ex4d.v1.MeshFrame (geometry.proto), the compact per-frame DW-Mesh.</summary>
    public struct MeshFrameData
    {
        public string SceneId;
        public uint FrameIndex;
        public uint NumFrames;
        public double TimeS;
        public IntrinsicsData Intrinsics;
        /// <summary>MeshClosure.far_depth.</summary>
        public double FarDepth;
        /// <summary>MeshClosure.border_pixels (0 = unset, read as 1).</summary>
        public uint BorderPixels;
        /// <summary>MeshClosure.cap_center; ignored unless HasCapCenter.</summary>
        public Vec3d CapCenter;
        public bool HasCapCenter;
        public WireTopology Topology;
        public ulong NumVertices;
        public ulong NumFaces;
        public DepthMapData Depth;
        public ImageData Color;
        /// <summary>num_faces bits, or empty when the request set skip_occluded.</summary>
        public PackedBitsData Occluded;
        public ServerTimingsData Timings;
        /// <summary>MeshFrame.layers (only when the request set include_completions): entries
        /// [0, NumLayers) are this frame's completion layers in layer order. The array may be
        /// longer (an adapter can reuse it); null means none.</summary>
        public CompletionLayerFrameData[] Layers;
        public int NumLayers;
    }

    /// <summary>ex4d.v1.PixelRegion: the pixel box x0 &lt;= x &lt; x1, y0 &lt;= y &lt; y1.
    /// </summary>
    public struct PixelRegionData
    {
        public uint X0, Y0, X1, Y1;

        public PixelRegionData(uint x0, uint y0, uint x1, uint y1)
        {
            X0 = x0;
            Y0 = y0;
            X1 = x1;
            Y1 = y1;
        }

        public int Width { get { return X1 > X0 ? (int)(X1 - X0) : 0; } }
        public int Height { get { return Y1 > Y0 ? (int)(Y1 - Y0) : 0; } }
    }

    /// <summary>ex4d.v1.CompletionLayerFrame (geometry.proto): one completion layer of a
    /// frame, the padded crop of a generated image as a grid mesh plus the generated camera.
    /// The Has* flags say whether the message fields were present (proto3 sub-messages).
    /// </summary>
    public struct CompletionLayerFrameData
    {
        public uint LayerIndex;
        public string Generation;
        /// <summary>Camera-to-world of the generated camera (OpenCV axes as sent by the
        /// server; any named system is accepted).</summary>
        public PoseData Pose;
        public bool HasPose;
        /// <summary>The whole generated image's camera.</summary>
        public IntrinsicsData Intrinsics;
        public PixelRegionData Region;
        public bool HasRegion;
        /// <summary>The crop padded by one pixel, as a MeshFrame (its Layers are ignored).
        /// </summary>
        public MeshFrameData Mesh;
        public bool HasMesh;
    }

    /// <summary>ex4d.v1.Provenance: where a pixel of a completed View came from.</summary>
    public enum Provenance : byte
    {
        Hole = 0,
        /// <summary>The source DW-Mesh's visible surface.</summary>
        Source = 1,
        /// <summary>A completion layer of the rendered frame.</summary>
        Completion = 2,
        /// <summary>A completion layer of a nearby frame.</summary>
        Nearby = 3,
    }

    /// <summary>ex4d.v1.ProvenanceMap: one Provenance byte per pixel, row-major.</summary>
    public struct ProvenanceMapData
    {
        public uint Width, Height;
        public ByteSlice Data;
        public Compression Compression;
    }

    /// <summary>ex4d.v1.ViewReply (view.proto).</summary>
    public struct ViewReplyData
    {
        public ulong Sequence;
        public PoseData Pose;
        public double ClientTimeS;
        public uint FrameIndex;
        public uint Dropped;
        public ulong DroppedTotal;
        public ImageData Color;
        public PackedBitsData Mask;
        /// <summary>Only when the request asked for depth.</summary>
        public DepthMapData Depth;
        public bool HasDepth;
        /// <summary>The raw generated frame at exactly this pose, when a finished generation
        /// job has one (the colour is the completed render).</summary>
        public ImageData Generated;
        public bool HasGenerated;
        public string GeneratedJobId;
        public IntrinsicsData Intrinsics;
        public ServerTimingsData Timings;
        /// <summary>Only when ViewOptions.include_provenance was set.</summary>
        public ProvenanceMapData Provenance;
        public bool HasProvenance;
        /// <summary>Completion layers of this frame in the scene (0: the colour is the raw
        /// DW-Mesh render).</summary>
        public uint CompletionLayers;
    }
}
