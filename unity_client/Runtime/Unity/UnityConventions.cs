// Unity layer of the ex4d-bridge client. Written against Unity 2022.3 LTS / Unity 6 APIs.
using Ex4d.Bridge.Core;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>
    /// Unity math types to and from the core's wire types. Unity's axes are the wire's
    /// COORDINATE_SYSTEM_UNITY (x right, y up, z forward, left-handed), so a Unity position and
    /// rotation go on the wire unchanged; the scene's own frame (the source camera of frame 0,
    /// OpenCV axes) is reached by the server, or by <see cref="Conventions"/> here.
    /// </summary>
    public static class UnityConventions
    {
        public static Vec3d ToVec3d(Vector3 v)
        {
            return new Vec3d(v.x, v.y, v.z);
        }

        public static Quatd ToQuatd(Quaternion q)
        {
            return new Quatd(q.x, q.y, q.z, q.w);
        }

        public static Vector3 ToVector3(Vec3d v)
        {
            return new Vector3((float)v.X, (float)v.Y, (float)v.Z);
        }

        public static Quaternion ToQuaternion(Quatd q)
        {
            return new Quaternion((float)q.X, (float)q.Y, (float)q.Z, (float)q.W);
        }

        /// <summary>
        /// The camera-to-world pose of a world-space camera relative to the scene root, in scene
        /// units and Unity axes: the pose to send with COORDINATE_SYSTEM_UNITY. The scene root is
        /// where the player draws the mesh (the source camera of frame 0 sits at its origin,
        /// looking along its +z); its uniform scale is metres per scene unit.
        /// </summary>
        public static PoseData ScenePose(Transform sceneRoot, Vector3 worldPosition,
            Quaternion worldRotation)
        {
            Vector3 local = sceneRoot.InverseTransformPoint(worldPosition);
            Quaternion rot = Quaternion.Inverse(sceneRoot.rotation) * worldRotation;
            return new PoseData(ToVec3d(local), ToQuatd(rot), WireCoordinateSystem.Unity);
        }

        /// <summary>A wire pose in any system as a Unity-axes position and rotation (scene
        /// units, relative to the scene root).</summary>
        public static void FromWire(PoseData pose, out Vector3 position, out Quaternion rotation)
        {
            var unity = Conventions.ConvertPose(pose, WireCoordinateSystem.Unity);
            position = ToVector3(unity.Position);
            rotation = ToQuaternion(unity.Rotation);
        }

        /// <summary>A Unity camera-to-world matrix as a row-major double[16] in another
        /// system (e.g. OpenCV for tools that speak the library's convention).</summary>
        public static double[] MatrixTo(Matrix4x4 unityCameraToWorld, WireCoordinateSystem dst)
        {
            var m = new double[16];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                    m[4 * r + c] = unityCameraToWorld[r, c];
            var result = new double[16];
            Conventions.ConvertMatrix(m, WireCoordinateSystem.Unity, dst, result);
            return result;
        }

        /// <summary>Vertical field of view (degrees) and pixel size to wire intrinsics, square
        /// pixels, principal point at the image centre.</summary>
        public static IntrinsicsData IntrinsicsFromFov(float fovYDegrees, int width, int height)
        {
            double fy = height / (2.0 * Mathf.Tan(fovYDegrees * 0.5f * Mathf.Deg2Rad));
            return new IntrinsicsData(fy, fy, width / 2.0, height / 2.0, (uint)width, (uint)height);
        }
    }
}
