using System;
using System.Globalization;
using System.IO;
using System.Text;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Records a camera walkthrough and writes it in the pose-path format that
    /// ex4d_bridge.camera.pose_path reads (load_pose_path / `--trajectory file.json`):
    /// JSON with coordinate_system, name, fps, intrinsics, fov_y_deg and poses
    /// [{t, position [x, y, z], rotation [qx, qy, qz, qw]}], or CSV with "# key=value" lines,
    /// the header t,px,py,pz,qx,qy,qz,qw and one line per pose. Numbers are written in the
    /// shortest form that parses back to the same double, so the Python side reads exactly
    /// the recorded values. Poses are camera-to-world in <see cref="System"/>.
    /// <para>What the user saw is noted with two keys the pose-path readers ignore (unknown
    /// keys are allowed): "completed" (true when completion layers were drawn) and
    /// "completion_layers" (the most layers drawn in one frame), so a replay
    /// (RecordWalkthrough, `render --trajectory`) knows to render the completed scene, not the
    /// raw DW-Mesh. Both are left out until <see cref="NoteLayersDrawn"/> was called.</para>
    /// </summary>
    public sealed class WalkthroughRecorder
    {
        Vec3d[] _positions = new Vec3d[256];
        Quatd[] _rotations = new Quatd[256];
        double[] _times = new double[256];
        int _count;
        bool _timed;

        public WalkthroughRecorder(WireCoordinateSystem system, string name)
        {
            Conventions.Name(system); // validates
            System = system;
            Name = name ?? "walkthrough";
        }

        public WireCoordinateSystem System { get; private set; }
        public string Name { get; set; }
        /// <summary>Frames per second of the recording (optional, positive).</summary>
        public double? Fps { get; set; }
        /// <summary>The lens (optional).</summary>
        public IntrinsicsData? Intrinsics { get; set; }
        /// <summary>Vertical field of view in degrees, in (0, 180) (optional).</summary>
        public double? FovYDeg { get; set; }

        public int Count { get { return _count; } }

        /// <summary>Whether the completion layers were drawn (null: not noted).</summary>
        public bool? Completed { get; private set; }
        /// <summary>The most completion layers drawn in one frame while recording.</summary>
        public int CompletionLayers { get; private set; }

        /// <summary>Notes that a frame was shown with <paramref name="layers"/> completion
        /// layers drawn (0: the raw DW-Mesh only). Call once per sample or per shown frame.
        /// </summary>
        public void NoteLayersDrawn(int layers)
        {
            if (layers < 0) throw new Ex4dArgumentException("layer count must be >= 0");
            if (layers > CompletionLayers) CompletionLayers = layers;
            Completed = (Completed ?? false) || layers > 0;
        }

        public void Clear()
        {
            _count = 0;
            Completed = null;
            CompletionLayers = 0;
        }

        /// <summary>Adds a pose with a time stamp in seconds (finite, never decreasing).
        /// Amortised O(1); grows its arrays by doubling, so a long recording allocates only
        /// log(n) times.</summary>
        public void Add(double t, Vec3d position, Quatd rotation)
        {
            if (_count > 0 && !_timed)
                throw new Ex4dArgumentException("this recording has no time stamps; add every "
                    + "pose with a time or none");
            if (double.IsNaN(t) || double.IsInfinity(t))
                throw new Ex4dArgumentException("pose time must be finite, got " + t);
            if (_count > 0 && t < _times[_count - 1])
                throw new Ex4dArgumentException("pose time " + t.ToString("R", Inv)
                    + " is before the previous pose's " + _times[_count - 1].ToString("R", Inv)
                    + "; time stamps must not decrease");
            _timed = true;
            Append(t, position, rotation);
        }

        /// <summary>Adds a pose without a time stamp (then no pose may have one).</summary>
        public void Add(Vec3d position, Quatd rotation)
        {
            if (_count > 0 && _timed)
                throw new Ex4dArgumentException("this recording has time stamps; add every pose "
                    + "with a time or none");
            _timed = false;
            Append(0.0, position, rotation);
        }

        void Append(double t, Vec3d position, Quatd rotation)
        {
            Conventions.CheckFinite(position, "pose position");
            Conventions.Normalize(rotation, "pose rotation"); // validates only: stored as given
            if (_count == _positions.Length)
            {
                Array.Resize(ref _positions, _count * 2);
                Array.Resize(ref _rotations, _count * 2);
                Array.Resize(ref _times, _count * 2);
            }
            _positions[_count] = position;
            _rotations[_count] = rotation;
            _times[_count] = t;
            _count++;
        }

        static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

        /// <summary>Shortest decimal text that parses back to exactly <paramref name="v"/>.
        /// </summary>
        public static string FormatNumber(double v)
        {
            if (double.IsNaN(v) || double.IsInfinity(v))
                throw new Ex4dArgumentException("cannot write a non-finite number");
            for (int digits = 15; digits <= 17; digits++)
            {
                string s = v.ToString("G" + digits, Inv);
                if (double.Parse(s, NumberStyles.Float, Inv) == v) return s;
            }
            return v.ToString("R", Inv);
        }

        void CheckWritable()
        {
            if (_count == 0)
                throw new Ex4dArgumentException("the recording has no poses; a pose path needs "
                    + "at least one");
            if (Fps.HasValue && !(Fps.Value > 0 && !double.IsInfinity(Fps.Value)))
                throw new Ex4dArgumentException("fps must be positive and finite");
            if (FovYDeg.HasValue && !(FovYDeg.Value > 0 && FovYDeg.Value < 180))
                throw new Ex4dArgumentException("fov_y_deg must be in (0, 180) degrees");
        }

        /// <summary>The JSON form (pose_path.pose_path_to_dict's layout).</summary>
        public string ToJson()
        {
            CheckWritable();
            var sb = new StringBuilder(64 + 120 * _count);
            sb.Append("{\n \"coordinate_system\": \"").Append(Conventions.Name(System))
                .Append("\",\n \"name\": ");
            AppendJsonString(sb, Name);
            if (Fps.HasValue) sb.Append(",\n \"fps\": ").Append(FormatNumber(Fps.Value));
            if (Intrinsics.HasValue)
            {
                var k = Intrinsics.Value;
                sb.Append(",\n \"intrinsics\": {\"fx\": ").Append(FormatNumber(k.Fx))
                    .Append(", \"fy\": ").Append(FormatNumber(k.Fy))
                    .Append(", \"cx\": ").Append(FormatNumber(k.Cx))
                    .Append(", \"cy\": ").Append(FormatNumber(k.Cy))
                    .Append(", \"width\": ").Append(k.Width.ToString(Inv))
                    .Append(", \"height\": ").Append(k.Height.ToString(Inv)).Append('}');
            }
            if (FovYDeg.HasValue)
                sb.Append(",\n \"fov_y_deg\": ").Append(FormatNumber(FovYDeg.Value));
            if (Completed.HasValue)
                sb.Append(",\n \"completed\": ").Append(Completed.Value ? "true" : "false")
                    .Append(",\n \"completion_layers\": ")
                    .Append(CompletionLayers.ToString(Inv));
            sb.Append(",\n \"poses\": [");
            for (int i = 0; i < _count; i++)
            {
                sb.Append(i == 0 ? "\n  {" : ",\n  {");
                if (_timed) sb.Append("\"t\": ").Append(FormatNumber(_times[i])).Append(", ");
                var p = _positions[i];
                var q = _rotations[i];
                sb.Append("\"position\": [").Append(FormatNumber(p.X)).Append(", ")
                    .Append(FormatNumber(p.Y)).Append(", ").Append(FormatNumber(p.Z))
                    .Append("], \"rotation\": [").Append(FormatNumber(q.X)).Append(", ")
                    .Append(FormatNumber(q.Y)).Append(", ").Append(FormatNumber(q.Z))
                    .Append(", ").Append(FormatNumber(q.W)).Append("]}");
            }
            sb.Append("\n ]\n}\n");
            return sb.ToString();
        }

        /// <summary>The CSV form (pose_path's "# key=value" metadata, then
        /// t,px,py,pz,qx,qy,qz,qw).</summary>
        public string ToCsv()
        {
            CheckWritable();
            var sb = new StringBuilder(64 + 120 * _count);
            sb.Append("# coordinate_system=").Append(Conventions.Name(System)).Append('\n');
            // One line per key: collapse whitespace (newlines included) as the Python writer does.
            string name = CollapseWhitespace(Name);
            if (name.Length > 0) sb.Append("# name=").Append(name).Append('\n');
            if (Fps.HasValue) sb.Append("# fps=").Append(FormatNumber(Fps.Value)).Append('\n');
            if (FovYDeg.HasValue)
                sb.Append("# fov_y_deg=").Append(FormatNumber(FovYDeg.Value)).Append('\n');
            if (Intrinsics.HasValue)
            {
                var k = Intrinsics.Value;
                sb.Append("# intrinsics=").Append(FormatNumber(k.Fx)).Append(' ')
                    .Append(FormatNumber(k.Fy)).Append(' ').Append(FormatNumber(k.Cx))
                    .Append(' ').Append(FormatNumber(k.Cy)).Append(' ')
                    .Append(k.Width.ToString(Inv)).Append(' ').Append(k.Height.ToString(Inv))
                    .Append('\n');
            }
            if (Completed.HasValue)
                sb.Append("# completed=").Append(Completed.Value ? "true" : "false")
                    .Append("\n# completion_layers=").Append(CompletionLayers.ToString(Inv))
                    .Append('\n');
            sb.Append("t,px,py,pz,qx,qy,qz,qw\n");
            for (int i = 0; i < _count; i++)
            {
                var p = _positions[i];
                var q = _rotations[i];
                if (_timed) sb.Append(FormatNumber(_times[i]));
                sb.Append(',').Append(FormatNumber(p.X)).Append(',').Append(FormatNumber(p.Y))
                    .Append(',').Append(FormatNumber(p.Z)).Append(',').Append(FormatNumber(q.X))
                    .Append(',').Append(FormatNumber(q.Y)).Append(',').Append(FormatNumber(q.Z))
                    .Append(',').Append(FormatNumber(q.W)).Append('\n');
            }
            return sb.ToString();
        }

        /// <summary>Writes CSV when the path ends in ".csv", JSON otherwise, replacing the file
        /// atomically (a temporary file in the same folder, then a rename) so a crash never
        /// leaves half a file.</summary>
        public void Save(string path)
        {
            if (string.IsNullOrEmpty(path)) throw new Ex4dArgumentException("no output path");
            string text = path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)
                ? ToCsv()
                : ToJson();
            string full = Path.GetFullPath(path);
            string dir = Path.GetDirectoryName(full);
            if (!Directory.Exists(dir))
                throw new Ex4dArgumentException("cannot write " + path + ": the folder " + dir
                    + " does not exist");
            string tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "."
                + Guid.NewGuid().ToString("N") + ".tmp");
            try
            {
                File.WriteAllText(tmp, text, new UTF8Encoding(false));
                if (File.Exists(full)) File.Replace(tmp, full, null);
                else File.Move(tmp, full);
            }
            finally
            {
                if (File.Exists(tmp)) File.Delete(tmp);
            }
        }

        static string CollapseWhitespace(string s)
        {
            var sb = new StringBuilder(s.Length);
            bool pending = false;
            foreach (char c in s)
            {
                if (char.IsWhiteSpace(c))
                {
                    pending = sb.Length > 0;
                    continue;
                }
                if (pending) sb.Append(' ');
                pending = false;
                sb.Append(c);
            }
            return sb.ToString();
        }

        static void AppendJsonString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", Inv));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }
    }
}
