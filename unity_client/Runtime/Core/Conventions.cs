using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Coordinate systems of the wire and conversions between them, the same as
    /// ex4d_bridge.camera.conventions:
    /// <list type="table">
    /// <item>OpenCV: x right, y down, z forward (right-handed); the camera looks along +z</item>
    /// <item>OpenGL (= OpenXR): x right, y up, z backward (right-handed); looks along -z</item>
    /// <item>Unity: x right, y up, z forward (left-handed); looks along +z</item>
    /// <item>Unreal: x forward, y right, z up (left-handed); looks along +x</item>
    /// </list>
    /// A conversion changes world and camera axes together: c2w_dst = W c2w_src W^T with W the
    /// axis change, so rotations stay proper (det +1) even between handednesses. Positions keep
    /// their scene units. Quaternions are (x, y, z, w), normalised, and returned with w >= 0.
    /// </summary>
    public static class Conventions
    {
        /// <summary>Quaternions shorter than this are rejected as zero-length.</summary>
        public const double QuatMinNorm = 1e-6;
        /// <summary>How far a matrix may be from a rotation before it is refused.</summary>
        public const double RotationTolerance = 1e-4;

        // Each system's axes as rows of A (v_system = A v_opencv), a signed permutation:
        // row r has Sign[r] in column Column[r].
        static readonly int[][] Column =
        {
            null,
            new[] { 0, 1, 2 }, // OpenCV
            new[] { 0, 1, 2 }, // OpenGL: diag(1, -1, -1)
            new[] { 0, 1, 2 }, // Unity: diag(1, -1, 1)
            new[] { 2, 0, 1 }, // Unreal: x = z_cv, y = x_cv, z = -y_cv
        };

        static readonly double[][] Sign =
        {
            null,
            new[] { 1.0, 1.0, 1.0 },
            new[] { 1.0, -1.0, -1.0 },
            new[] { 1.0, -1.0, 1.0 },
            new[] { 1.0, 1.0, -1.0 },
        };

        static int Index(WireCoordinateSystem s)
        {
            int i = (int)s;
            if (i < 1 || i > 4)
            {
                if (s == WireCoordinateSystem.Unspecified)
                    throw new Ex4dArgumentException("coordinate system is unspecified: a pose "
                        + "must say which axes it uses (OpenCV, OpenGL/OpenXR, Unity, Unreal)");
                throw new Ex4dArgumentException("unknown coordinate system " + i);
            }
            return i;
        }

        /// <summary>3x3 row-major A with v_system = A v_opencv (a new array).</summary>
        public static double[] AxesFromOpenCV(WireCoordinateSystem system)
        {
            int s = Index(system);
            var a = new double[9];
            for (int r = 0; r < 3; r++) a[3 * r + Column[s][r]] = Sign[s][r];
            return a;
        }

        /// <summary>3x3 row-major W = A_dst A_src^T (v_dst = W v_src) into m (9 doubles).
        /// </summary>
        public static void AxisChange(WireCoordinateSystem src, WireCoordinateSystem dst,
            double[] m)
        {
            int s = Index(src), d = Index(dst);
            Array.Clear(m, 0, 9);
            // (A_dst A_src^T)[r, c] = sum_k A_dst[r, k] A_src[c, k]: non-zero where both rows
            // pick the same OpenCV axis.
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 3; c++)
                    if (Column[d][r] == Column[s][c]) m[3 * r + c] = Sign[d][r] * Sign[s][c];
        }

        public static bool IsRightHanded(WireCoordinateSystem system)
        {
            return Det3(AxesFromOpenCV(system)) > 0;
        }

        /// <summary>Unit vector along which an unrotated camera looks, in this system.</summary>
        public static Vec3d Forward(WireCoordinateSystem system)
        {
            return ConvertPoint(new Vec3d(0, 0, 1), WireCoordinateSystem.OpenCV, system);
        }

        public static Vec3d Up(WireCoordinateSystem system)
        {
            return ConvertPoint(new Vec3d(0, -1, 0), WireCoordinateSystem.OpenCV, system);
        }

        public static Vec3d Right(WireCoordinateSystem system)
        {
            return ConvertPoint(new Vec3d(1, 0, 0), WireCoordinateSystem.OpenCV, system);
        }

        /// <summary>A world point or direction from <paramref name="src"/> axes to
        /// <paramref name="dst"/> axes.</summary>
        public static Vec3d ConvertPoint(Vec3d p, WireCoordinateSystem src,
            WireCoordinateSystem dst)
        {
            var m = new double[9];
            AxisChange(src, dst, m);
            return Mul(m, p);
        }

        /// <summary>A camera-to-world rotation from <paramref name="src"/> to
        /// <paramref name="dst"/>: normalised, w >= 0. Since W is a signed permutation,
        /// W R W^T is the rotation R re-expressed by the proper rotation M = det(W) W, whose
        /// quaternion action maps (v, w) to (M v, w).</summary>
        public static Quatd ConvertRotation(Quatd q, WireCoordinateSystem src,
            WireCoordinateSystem dst)
        {
            q = Normalize(q, "rotation");
            var m = new double[9];
            AxisChange(src, dst, m);
            double det = Det3(m);
            var v = Mul(m, new Vec3d(q.X, q.Y, q.Z));
            return Canonical(new Quatd(det * v.X, det * v.Y, det * v.Z, q.W));
        }

        /// <summary>A pose re-expressed in <paramref name="dst"/> (position and rotation).
        /// </summary>
        public static PoseData ConvertPose(PoseData pose, WireCoordinateSystem dst)
        {
            CheckFinite(pose.Position, "position");
            return new PoseData(
                ConvertPoint(pose.Position, pose.CoordinateSystem, dst),
                ConvertRotation(pose.Rotation, pose.CoordinateSystem, dst),
                dst);
        }

        /// <summary>4x4 row-major camera-to-world matrix from <paramref name="src"/> to
        /// <paramref name="dst"/>: W c2w W^T (result may alias the input).</summary>
        public static void ConvertMatrix(double[] c2w, WireCoordinateSystem src,
            WireCoordinateSystem dst, double[] result)
        {
            if (c2w == null || c2w.Length < 16 || result == null || result.Length < 16)
                throw new ArgumentException("poses are 16 doubles, row-major");
            var w = new double[9];
            AxisChange(src, dst, w);
            var tmp = new double[16];
            // W4 = [[W, 0], [0, 1]]: tmp = W4 c2w, then result = tmp W4^T.
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                {
                    double acc = 0;
                    for (int k = 0; k < 4; k++) acc += W4(w, r, k) * c2w[4 * k + c];
                    tmp[4 * r + c] = acc;
                }
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                {
                    double acc = 0;
                    for (int k = 0; k < 4; k++) acc += tmp[4 * r + k] * W4(w, c, k);
                    result[4 * r + c] = acc;
                }
        }

        static double W4(double[] w, int r, int c)
        {
            if (r == 3 || c == 3) return r == c ? 1.0 : 0.0;
            return w[3 * r + c];
        }

        /// <summary>4x4 row-major camera-to-world matrix of a position and quaternion (no axis
        /// change).</summary>
        public static double[] PoseMatrix(Vec3d position, Quatd rotation)
        {
            var m = new double[16];
            var r = QuaternionToMatrix(rotation);
            for (int i = 0; i < 3; i++)
            {
                m[4 * i] = r[3 * i];
                m[4 * i + 1] = r[3 * i + 1];
                m[4 * i + 2] = r[3 * i + 2];
            }
            m[3] = position.X;
            m[7] = position.Y;
            m[11] = position.Z;
            m[15] = 1.0;
            return m;
        }

        /// <summary>Position and unit quaternion (w >= 0) of a 4x4 row-major pose.</summary>
        public static void PoseFromMatrix(double[] m, out Vec3d position, out Quatd rotation)
        {
            position = new Vec3d(m[3], m[7], m[11]);
            CheckFinite(position, "position");
            var r = new[] { m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10] };
            rotation = MatrixToQuaternion(r);
        }

        /// <summary>3x3 row-major rotation matrix of a quaternion (normalised first).</summary>
        public static double[] QuaternionToMatrix(Quatd q)
        {
            q = Normalize(q, "rotation");
            double x = q.X, y = q.Y, z = q.Z, w = q.W;
            return new[]
            {
                1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w),
                2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w),
                2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y),
            };
        }

        /// <summary>Unit quaternion (w >= 0) of a 3x3 row-major rotation; throws unless the
        /// matrix is orthonormal with determinant +1 (within RotationTolerance).</summary>
        public static Quatd MatrixToQuaternion(double[] r)
        {
            for (int i = 0; i < 9; i++)
                if (double.IsNaN(r[i]) || double.IsInfinity(r[i]))
                    throw new Ex4dArgumentException("rotation contains NaN or infinite values");
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                {
                    double dot = r[a] * r[b] + r[3 + a] * r[3 + b] + r[6 + a] * r[6 + b];
                    if (Math.Abs(dot - (a == b ? 1.0 : 0.0)) > RotationTolerance)
                        throw NotRotation();
                }
            if (Det3(r) <= 0) throw NotRotation();

            double r00 = r[0], r01 = r[1], r02 = r[2];
            double r10 = r[3], r11 = r[4], r12 = r[5];
            double r20 = r[6], r21 = r[7], r22 = r[8];
            // Each candidate is 4 q_k times the quaternion; build on the largest 4 q_k^2 term
            // (the trace-like diagonal combination), which divides by the largest number.
            double dx = 1 + r00 - r11 - r22, dy = 1 - r00 + r11 - r22;
            double dz = 1 - r00 - r11 + r22, dw = 1 + r00 + r11 + r22;
            Quatd q;
            if (dx >= dy && dx >= dz && dx >= dw)
                q = new Quatd(dx, r01 + r10, r02 + r20, r21 - r12);
            else if (dy >= dz && dy >= dw)
                q = new Quatd(r01 + r10, dy, r12 + r21, r02 - r20);
            else if (dz >= dw)
                q = new Quatd(r02 + r20, r12 + r21, dz, r10 - r01);
            else
                q = new Quatd(r21 - r12, r02 - r20, r10 - r01, dw);
            return Canonical(Normalize(q, "rotation"));
        }

        static Ex4dArgumentException NotRotation()
        {
            return new Ex4dArgumentException("pose rotation is not a proper rotation "
                + "(orthonormal with determinant +1); scale or mirroring cannot be sent as a "
                + "quaternion");
        }

        /// <summary>q divided by its norm; throws for NaN/inf or (nearly) zero length.</summary>
        public static Quatd Normalize(Quatd q, string what)
        {
            if (!IsFinite(q.X) || !IsFinite(q.Y) || !IsFinite(q.Z) || !IsFinite(q.W))
                throw new Ex4dArgumentException(what + " quaternion contains NaN or infinite "
                    + "values");
            double norm = Math.Sqrt(q.X * q.X + q.Y * q.Y + q.Z * q.Z + q.W * q.W);
            if (norm < QuatMinNorm)
                throw new Ex4dArgumentException(what + " quaternion has (nearly) zero length; "
                    + "give a unit rotation quaternion [qx, qy, qz, qw]");
            return new Quatd(q.X / norm, q.Y / norm, q.Z / norm, q.W / norm);
        }

        /// <summary>The same rotation with w >= 0.</summary>
        public static Quatd Canonical(Quatd q)
        {
            return q.W < 0 ? new Quatd(-q.X, -q.Y, -q.Z, -q.W) : q;
        }

        public static void CheckFinite(Vec3d p, string what)
        {
            if (!IsFinite(p.X) || !IsFinite(p.Y) || !IsFinite(p.Z))
                throw new Ex4dArgumentException(what + " contains NaN or infinite values");
        }

        static bool IsFinite(double v)
        {
            return !double.IsNaN(v) && !double.IsInfinity(v);
        }

        static Vec3d Mul(double[] m, Vec3d p)
        {
            return new Vec3d(
                m[0] * p.X + m[1] * p.Y + m[2] * p.Z,
                m[3] * p.X + m[4] * p.Y + m[5] * p.Z,
                m[6] * p.X + m[7] * p.Y + m[8] * p.Z);
        }

        static double Det3(double[] m)
        {
            return m[0] * (m[4] * m[8] - m[5] * m[7])
                - m[1] * (m[3] * m[8] - m[5] * m[6])
                + m[2] * (m[3] * m[7] - m[4] * m[6]);
        }

        /// <summary>A system from its name or alias, case-insensitive: opencv/cv,
        /// opengl/gl/openxr/xr, unity, unreal/ue/ue4/ue5 (as the Python side accepts).</summary>
        public static WireCoordinateSystem Parse(string name)
        {
            string key = name == null ? "" : name.Trim().ToLowerInvariant();
            switch (key)
            {
                case "opencv":
                case "cv":
                    return WireCoordinateSystem.OpenCV;
                case "opengl":
                case "gl":
                case "openxr":
                case "xr":
                    return WireCoordinateSystem.OpenGL;
                case "unity":
                    return WireCoordinateSystem.Unity;
                case "unreal":
                case "ue":
                case "ue4":
                case "ue5":
                    return WireCoordinateSystem.Unreal;
                default:
                    throw new Ex4dArgumentException("unknown coordinate system '" + name
                        + "': use one of opencv (alias cv), opengl (aliases gl, openxr, xr), "
                        + "unity, unreal (aliases ue, ue4, ue5)");
            }
        }

        /// <summary>The name the pose-path format uses ("opencv", "opengl", "unity",
        /// "unreal").</summary>
        public static string Name(WireCoordinateSystem system)
        {
            switch (Index(system))
            {
                case 1: return "opencv";
                case 2: return "opengl";
                case 3: return "unity";
                default: return "unreal";
            }
        }
    }
}
