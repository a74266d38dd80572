using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Ex4d.Bridge.Core
{
    /// <summary>A monotonic clock in seconds, safe on any thread (unlike an engine's frame
    /// time). View requests carry it as client_time_s and replies echo it back.</summary>
    public static class Ex4dClock
    {
        static readonly double TickSeconds = 1.0 / Stopwatch.Frequency;

        public static double NowSeconds
        {
            get { return Stopwatch.GetTimestamp() * TickSeconds; }
        }
    }

    /// <summary>
    /// Play time to source frame: frame = round(time * fps) modulo the clip's length when
    /// looping (the View call's rule for time_s, with round-half-to-even as Python's round),
    /// clamped to the last frame otherwise.
    /// </summary>
    public sealed class PlaybackClock
    {
        double _time;

        public PlaybackClock(double fps, int numFrames)
        {
            Configure(fps, numFrames);
        }

        public double Fps { get; private set; }
        public int NumFrames { get; private set; }
        public bool Loop = true;
        public bool Paused;
        /// <summary>Playback rate (1 = real time).</summary>
        public double Speed = 1.0;

        public double TimeSeconds
        {
            get { return _time; }
            set { _time = Math.Max(0.0, value); }
        }

        public void Configure(double fps, int numFrames)
        {
            if (!(fps > 0) || double.IsInfinity(fps))
                throw new Ex4dArgumentException("fps must be positive and finite, got " + fps);
            if (numFrames < 1) throw new Ex4dArgumentException("a clip has at least one frame");
            Fps = fps;
            NumFrames = numFrames;
        }

        /// <summary>Moves play time on by <paramref name="deltaSeconds"/> (unless paused).
        /// </summary>
        public void Advance(double deltaSeconds)
        {
            if (!Paused && deltaSeconds > 0) _time += deltaSeconds * Speed;
        }

        public int FrameIndex
        {
            get { return FrameAt(_time); }
        }

        public int FrameAt(double timeSeconds)
        {
            double f = Math.Round(Math.Max(0.0, timeSeconds) * Fps, MidpointRounding.ToEven);
            if (Loop) return (int)(f % NumFrames);
            return (int)Math.Min(f, NumFrames - 1);
        }
    }

    /// <summary>
    /// The compact MeshFrames of a clip by frame index, as they arrive from StreamGeometry
    /// (a few tens of KiB each with JPEG colour), so playback can loop without asking again.
    /// Thread-safe: the network thread puts, the player reads.
    /// </summary>
    public sealed class MeshFrameStore
    {
        readonly object _gate = new object();
        readonly List<MeshFrameData> _frames = new List<MeshFrameData>();
        readonly List<bool> _present = new List<bool>();
        int _count;

        /// <summary>num_frames of the clip (from the frames received), 0 before any.</summary>
        public int NumFrames { get; private set; }
        /// <summary>Distinct frames held.</summary>
        public int Count { get { lock (_gate) return _count; } }
        /// <summary>The scene the frames belong to; putting a frame of another scene clears
        /// the store.</summary>
        public string SceneId { get; private set; }

        public void Put(MeshFrameData frame)
        {
            lock (_gate)
            {
                if (SceneId != frame.SceneId) ClearLocked();
                SceneId = frame.SceneId;
                int index = (int)Math.Min(frame.FrameIndex, int.MaxValue - 1);
                while (_frames.Count <= index)
                {
                    _frames.Add(default(MeshFrameData));
                    _present.Add(false);
                }
                if (!_present[index]) _count++;
                _frames[index] = frame;
                _present[index] = true;
                NumFrames = Math.Max(NumFrames, (int)Math.Min(frame.NumFrames, int.MaxValue));
                NumFrames = Math.Max(NumFrames, index + 1);
            }
        }

        public bool TryGet(int index, out MeshFrameData frame)
        {
            lock (_gate)
            {
                if (index >= 0 && index < _frames.Count && _present[index])
                {
                    frame = _frames[index];
                    return true;
                }
                frame = default(MeshFrameData);
                return false;
            }
        }

        public void Clear()
        {
            lock (_gate) ClearLocked();
        }

        void ClearLocked()
        {
            _frames.Clear();
            _present.Clear();
            _count = 0;
            NumFrames = 0;
            SceneId = null;
        }
    }

    /// <summary>
    /// Decodes mesh frames on a worker thread and hands them to the render thread without
    /// ever blocking it: <see cref="Request"/> (latest request wins) from any thread,
    /// <see cref="TryAcquire"/>/<see cref="Release"/> on the render thread, which skips a
    /// frame instead of waiting when a decode is in progress. A malformed frame is counted
    /// and reported in <see cref="LastError"/>; the last good frame stays current.
    /// </summary>
    public sealed class BackgroundMeshDecoder : IDisposable
    {
        readonly MeshFrameDecoder _decoder;
        readonly LatestWinsDecodeWorker<MeshFrameData> _worker;

        public BackgroundMeshDecoder(MeshDecodeOptions options)
        {
            _decoder = new MeshFrameDecoder(options);
            _worker = new LatestWinsDecodeWorker<MeshFrameData>(
                (ref MeshFrameData frame) => _decoder.Decode(ref frame),
                "Ex4d mesh decode",
                "frame");
        }

        /// <summary>Malformed frames so far, and the message of the newest.</summary>
        public long ErrorCount { get { return _worker.ErrorCount; } }
        public string LastError { get { return _worker.LastError; } }
        public long DecodedCount { get { lock (_worker.DecodeGate) return _decoder.DecodedCount; } }

        /// <summary>Queues <paramref name="frame"/> for decoding, replacing a queued one.
        /// </summary>
        public void Request(MeshFrameData frame)
        {
            _worker.Request(frame);
        }

        /// <summary>
        /// On the render thread: true with the newly decoded frame when one is ready and no
        /// decode is running; the frame stays untouched until <see cref="Release"/>, which
        /// must follow (same thread). False, immediately, otherwise.
        /// </summary>
        public bool TryAcquire(out DecodedMeshFrame frame)
        {
            frame = null;
            if (!_worker.TryAcquire()) return false;
            frame = _decoder.Current;
            return true;
        }

        public void Release()
        {
            _worker.Release();
        }

        public void Dispose()
        {
            _worker.Stop();
            // Stops the layer helper threads (MeshDecodeOptions.LayerThreads).
            _decoder.Dispose();
        }
    }
}
