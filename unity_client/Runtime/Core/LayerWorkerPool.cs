using System;
using System.Threading;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Decodes a frame's completion layers on several threads: the calling thread and
    /// <c>helpers</c> persistent background threads, thread t taking layers t, t + T, t + 2T...
    /// (a fixed share, so each thread's buffers reach their largest size after the same
    /// frames, whatever the timing, and then stop growing), each with its own decoder and
    /// buffers (layers are independent, so the result is the same as one
    /// thread's, bit for bit). Threads are started once and wait on a monitor between frames;
    /// a frame allocates nothing once every buffer has seen its largest layer. A malformed
    /// layer throws <see cref="Ex4dFormatException"/> for the first bad layer in layer order,
    /// after every thread has finished.
    /// </summary>
    internal sealed class LayerWorkerPool : IDisposable
    {
        readonly CompletionLayerDecoder[] _decoders;
        readonly Thread[] _threads;
        readonly object _gate = new object();
        int _generation;
        int _pending;
        bool _stop;
        // The job: written under _gate before the threads are woken.
        CompletionLayerFrameData[] _layers;
        DecodedLayerSet _set;
        int _count;
        Exception[] _errors = new Exception[0];
        long _helperBytes;

        public LayerWorkerPool(MeshDecodeOptions options, int helpers)
        {
            _decoders = new CompletionLayerDecoder[helpers];
            _threads = new Thread[helpers];
            for (int k = 0; k < helpers; k++)
            {
                _decoders[k] = new CompletionLayerDecoder(Single(options));
                int index = k;
                _threads[k] = new Thread(() => Loop(index))
                {
                    IsBackground = true,
                    Name = "Ex4d layer decode " + (k + 1),
                };
                _threads[k].Start();
            }
        }

        /// <summary>Bytes the helper threads allocated while decoding (their own count; the
        /// calling thread's shows in its GC.GetAllocatedBytesForCurrentThread).</summary>
        public long HelperAllocatedBytes { get { return Interlocked.Read(ref _helperBytes); } }

        static MeshDecodeOptions Single(MeshDecodeOptions o)
        {
            return new MeshDecodeOptions
            {
                BuildVertices = o.BuildVertices,
                UnpackOccluded = o.UnpackOccluded,
                Space = o.Space,
                DecodeLayers = o.DecodeLayers,
                MaxLayers = o.MaxLayers,
                CompactLayers = o.CompactLayers,
                LayerThreads = 1,
            };
        }

        /// <summary>Decodes layers[0 .. count) into set's slots with <paramref name="own"/>
        /// on this thread and the helpers on theirs.</summary>
        public void Run(CompletionLayerDecoder own, CompletionLayerFrameData[] layers, int count,
            DecodedLayerSet set)
        {
            // Slots grow on this thread only; workers just read them.
            if (count > 0) set.Slot(count - 1);
            if (_errors.Length < count) _errors = new Exception[Math.Max(count, 2 * _errors.Length)];
            Array.Clear(_errors, 0, count);
            lock (_gate)
            {
                _layers = layers;
                _set = set;
                _count = count;
                _pending = _threads.Length;
                _generation++;
                Monitor.PulseAll(_gate);
            }
            Work(own, 0);
            // The helpers finish their last layer within a layer's decode time: spin briefly,
            // then yield the core, rather than Monitor.Wait (which can allocate the waiting
            // thread's event on first use under contention) or SpinWait (which sleeps 1 ms
            // at a time once it gives up spinning).
            for (int spins = 0; Volatile.Read(ref _pending) > 0; spins++)
            {
                if (spins < 64) Thread.SpinWait(32);
                else Thread.Yield();
            }
            lock (_gate)
            {
                _layers = null;
                _set = null;
            }
            for (int i = 0; i < count; i++)
            {
                var e = _errors[i];
                if (e == null) continue;
                _errors[i] = null;
                if (e is Ex4dFormatException)
                    throw new Ex4dFormatException("layer " + i + ": " + e.Message, e);
                throw new InvalidOperationException("layer " + i + " decode failed: " + e.Message, e);
            }
        }

        void Work(CompletionLayerDecoder decoder, int thread)
        {
            for (int i = thread; i < _count; i += _threads.Length + 1)
            {
                try
                {
                    decoder.Decode(ref _layers[i], _set.Slot(i));
                }
                catch (Exception e)
                {
                    _errors[i] = e;
                }
            }
        }

        void Loop(int index)
        {
            int seen = 0;
            var decoder = _decoders[index];
            while (true)
            {
                lock (_gate)
                {
                    while (_generation == seen && !_stop) Monitor.Wait(_gate);
                    if (_stop) return;
                    seen = _generation;
                }
                long before = GC.GetAllocatedBytesForCurrentThread();
                Work(decoder, index + 1);
                Interlocked.Add(ref _helperBytes, GC.GetAllocatedBytesForCurrentThread() - before);
                Interlocked.Decrement(ref _pending);
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _stop = true;
                Monitor.PulseAll(_gate);
            }
            foreach (var t in _threads) t.Join(1000);
        }
    }
}
