using System;
using System.IO;
using Ex4d.Bridge.Core;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>
    /// Records the head's path through the scene (relative to the scene root, scene units) and
    /// saves it in the pose-path format the Python side reads: `ex4d-bridge ... --trajectory
    /// file.json`, ex4d_bridge.camera.load_pose_path, or a PosePath for RecordWalkthrough /
    /// SubmitGeneration. JSON, plus CSV when asked.
    /// <para>The file also notes what the user saw: "completed" (whether the player drew
    /// completion layers) and "completion_layers" (the most it drew in one frame), so a
    /// replay renders the completed scene when the walkthrough showed it. The pose-path
    /// readers ignore both keys.</para>
    /// </summary>
    public sealed class Ex4dWalkthroughRecorder : MonoBehaviour
    {
        public Ex4dHeadPoseSource head;
        [Tooltip("Scene root (its transform is the scene's frame).")]
        public Ex4dScenePlayer player;
        [Tooltip("Axes the file is written in (the Python side reads any).")]
        public WireCoordinateSystem coordinateSystem = WireCoordinateSystem.Unity;
        [Tooltip("Poses per second (0: one per rendered frame).")]
        public float sampleRate = 30f;
        public string fileName = "walkthrough";
        public bool alsoWriteCsv = true;
        [Tooltip("Folder for the files; empty: <persistentDataPath>/ex4d_walkthroughs.")]
        public string folder = "";

        WalkthroughRecorder _recorder;
        double _start;
        double _lastSample = double.NegativeInfinity;

        public bool IsRecording { get; private set; }
        public int PoseCount { get { return _recorder == null ? 0 : _recorder.Count; } }
        /// <summary>The JSON file written by the last <see cref="StopAndSave"/>.</summary>
        public string LastSavedPath { get; private set; }

        void OnEnable()
        {
            if (head == null) head = GetComponent<Ex4dHeadPoseSource>();
            if (player == null) player = FindFirstObjectByType<Ex4dScenePlayer>();
        }

        public void StartRecording()
        {
            _recorder = new WalkthroughRecorder(coordinateSystem, fileName);
            if (sampleRate > 0) _recorder.Fps = sampleRate;
            var cam = head != null ? head.ViewCamera : null;
            if (cam != null && cam.fieldOfView > 0 && cam.fieldOfView < 180)
                _recorder.FovYDeg = cam.fieldOfView;
            _start = Ex4dClock.NowSeconds;
            _lastSample = double.NegativeInfinity;
            IsRecording = true;
        }

        /// <summary>Ends the recording and writes the file(s); returns the JSON path, or null
        /// when nothing was recorded.</summary>
        public string StopAndSave()
        {
            IsRecording = false;
            if (_recorder == null || _recorder.Count == 0) return null;
            string dir = string.IsNullOrEmpty(folder)
                ? Path.Combine(Application.persistentDataPath, "ex4d_walkthroughs")
                : folder;
            Directory.CreateDirectory(dir);
            string stem = Path.Combine(dir, fileName + "_" + DateTime.Now.ToString("yyyyMMdd_HHmmss"));
            _recorder.Save(stem + ".json");
            if (alsoWriteCsv) _recorder.Save(stem + ".csv");
            LastSavedPath = stem + ".json";
            Debug.Log("[Ex4d] walkthrough of " + _recorder.Count + " poses ("
                + (_recorder.Completed == true
                    ? "completed, up to " + _recorder.CompletionLayers + " layers"
                    : "raw DW-Mesh") + ") saved to " + LastSavedPath);
            return LastSavedPath;
        }

        public void Toggle()
        {
            if (IsRecording) StopAndSave();
            else StartRecording();
        }

        void LateUpdate()
        {
            if (!IsRecording || head == null || player == null) return;
            double now = Ex4dClock.NowSeconds;
            if (sampleRate > 0 && now - _lastSample < 1.0 / sampleRate - 1e-4) return;
            Vector3 position;
            Quaternion rotation;
            if (!head.TryGetPose(out position, out rotation)) return;
            PoseData pose = UnityConventions.ScenePose(player.transform, position, rotation);
            if (coordinateSystem != WireCoordinateSystem.Unity)
                pose = Conventions.ConvertPose(pose, coordinateSystem);
            _recorder.Add(now - _start, pose.Position, pose.Rotation);
            _recorder.NoteLayersDrawn(player.DrawnLayers);
            _lastSample = now;
        }
    }
}
