// Edit-mode tests of the Unity layer (Unity Test Framework). The engine-independent core has
// its own, much larger suite that runs with mono against the Python library's vectors
// (Tests/Core, tests/test_unity_core.py); these check the Unity-specific glue.
using Ex4d.Bridge.Core;
using NUnit.Framework;
using UnityEngine;

namespace Ex4d.Bridge.Tests
{
    public class UnityLayerTests
    {
        static void AssertClose(Vector3 a, Vector3 b, float tol = 1e-5f)
        {
            Assert.Less((a - b).magnitude, tol, a + " vs " + b);
        }

        [Test]
        public void UnityPoseGoesOnTheWireUnchanged()
        {
            var root = new GameObject("root").transform;
            try
            {
                var rot = Quaternion.Euler(10, 35, -5);
                var pose = UnityConventions.ScenePose(root, new Vector3(1, 2, 3), rot);
                Assert.AreEqual(WireCoordinateSystem.Unity, pose.CoordinateSystem);
                AssertClose(new Vector3(1, 2, 3), UnityConventions.ToVector3(pose.Position));
                Assert.Less(Quaternion.Angle(rot, UnityConventions.ToQuaternion(pose.Rotation)), 1e-3f);
            }
            finally
            {
                Object.DestroyImmediate(root.gameObject);
            }
        }

        [Test]
        public void ScenePoseIsRelativeToTheRootAndInSceneUnits()
        {
            var root = new GameObject("root").transform;
            try
            {
                root.SetPositionAndRotation(new Vector3(5, 0, -2), Quaternion.Euler(0, 90, 0));
                root.localScale = Vector3.one * 2f; // 2 m per scene unit
                var world = root.TransformPoint(new Vector3(0.5f, 0.25f, 1f));
                var pose = UnityConventions.ScenePose(root, world, root.rotation);
                AssertClose(new Vector3(0.5f, 0.25f, 1f), UnityConventions.ToVector3(pose.Position));
                Assert.Less(Quaternion.Angle(Quaternion.identity,
                    UnityConventions.ToQuaternion(pose.Rotation)), 1e-3f);
            }
            finally
            {
                Object.DestroyImmediate(root.gameObject);
            }
        }

        [Test]
        public void CoreConversionMatchesUnityMatrices()
        {
            // OpenCV = S * Unity * S with S = diag(1, -1, 1): check the core's quaternion
            // formula against Unity's own rotation matrices.
            var rot = Quaternion.Euler(-20, 40, 15);
            var pos = new Vector3(0.3f, -1.2f, 2f);
            var opencv = Conventions.ConvertPose(new PoseData(UnityConventions.ToVec3d(pos),
                UnityConventions.ToQuatd(rot), WireCoordinateSystem.Unity), WireCoordinateSystem.OpenCV);
            var s = Matrix4x4.Scale(new Vector3(1, -1, 1));
            var expected = s * Matrix4x4.TRS(pos, rot, Vector3.one) * s;
            var got = Matrix4x4.TRS(UnityConventions.ToVector3(opencv.Position),
                UnityConventions.ToQuaternion(opencv.Rotation), Vector3.one);
            for (int i = 0; i < 16; i++) Assert.AreEqual(expected[i], got[i], 1e-5f, "element " + i);
            var m = UnityConventions.MatrixTo(Matrix4x4.TRS(pos, rot, Vector3.one),
                WireCoordinateSystem.OpenCV);
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                    Assert.AreEqual(expected[r, c], (float)m[4 * r + c], 1e-5f);
        }

        [Test]
        public void IntrinsicsFromFovMatchTheCameraProjection()
        {
            var k = UnityConventions.IntrinsicsFromFov(60f, 640, 480);
            Assert.AreEqual(60.0, k.FovYDegrees, 1e-4);
            Assert.AreEqual(320.0, k.Cx);
            Assert.AreEqual(240.0, k.Cy);
        }

        [Test]
        public void CpuGridMeshMatchesTheCoreRenderGrid()
        {
            const int w = 6, h = 4;
            var frame = new DecodedMeshFrame
            {
                Width = w,
                Height = h,
                Depth = new float[w * h],
                RayX = new float[w],
                RayY = new float[h],
                Occluded = new byte[GridFanTopology.Get(w, h).NumFaces],
                HasOccluded = true,
                FarDepth = 10f,
                CapZ = 10f,
                Space = VertexSpace.Unity,
            };
            for (int i = 0; i < w * h; i++) frame.Depth[i] = 1f + 0.1f * i;
            for (int j = 0; j < w; j++) frame.RayX[j] = (j + 0.5f - 3f) / 5f;
            for (int i = 0; i < h; i++) frame.RayY[i] = (i + 0.5f - 2f) / 5f;
            frame.Occluded[3] = 1;

            var grid = new GridMesh(null); // no compute shader: the CPU path
            try
            {
                grid.Configure(w, h, 1, gpu: false);
                grid.Upload(frame, Ex4dOccludedFaces.Hide);
                var vertices = grid.Mesh.vertices;
                var expected = new float[RenderGrid.FloatsPerVertex * grid.Grid.NumVertices];
                var vis = new float[w * h];
                RenderGrid.VertexVisibility(frame.Occluded, true, w, h, vis);
                grid.Grid.WriteVertices(frame, vis, expected);
                Assert.AreEqual(grid.Grid.NumVertices, vertices.Length);
                for (int v = 0; v < vertices.Length; v++)
                    AssertClose(new Vector3(expected[6 * v], expected[6 * v + 1], expected[6 * v + 2]),
                        vertices[v], 1e-6f);
                var triangles = grid.Mesh.triangles;
                int cap = grid.Grid.Topology.CapVertex;
                Assert.AreEqual(cap, triangles[9]);
                Assert.AreEqual(cap, triangles[10]);
                Assert.AreEqual(cap, triangles[11]);
                Assert.AreEqual(grid.Grid.Topology.Indices[0], triangles[0]);
            }
            finally
            {
                grid.Dispose();
            }
        }
    }
}
