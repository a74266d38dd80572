using System;
using System.Threading;

namespace Ex4d.Bridge.Core
{
    /// <summary>Decodes <paramref name="request"/> into the owner's current result; runs on the
    /// worker thread while it holds the decode gate.</summary>
    public delegate void DecodeInPlace<T>(ref T request);

    /// <summary>
    /// The worker thread behind <see cref="BackgroundMeshDecoder"/> and
    /// <see cref="BackgroundViewDecoder"/>: latest request wins, the decode runs under a gate
    /// that the render thread only ever tries (never waits on), and a failed decode is counted
    /// and reported instead of killing the thread. The owner keeps the decoder and its result;
    /// this class only says when that result may be read.
    /// </summary>
    public sealed class LatestWinsDecodeWorker<T>
    {
        readonly DecodeInPlace<T> _decode;
        readonly string _releaseFirst;
        readonly object _requestGate = new object();
        readonly object _decodeGate = new object();
        readonly AutoResetEvent _wake = new AutoResetEvent(false);
        readonly Thread _thread;
        T _request;
        bool _hasRequest;
        volatile bool _stop;
        // Set by the worker when a new result is current, cleared by TryAcquire.
        bool _fresh;
        bool _acquired;
        long _errors;
        volatile string _lastError;

        /// <param name="decode">Called on the worker thread with the decode gate held.</param>
        /// <param name="threadName">The worker thread's name (shows in debuggers and profilers).</param>
        /// <param name="what">The owner's word for a result, for the misuse message.</param>
        public LatestWinsDecodeWorker(DecodeInPlace<T> decode, string threadName, string what)
        {
            _decode = decode;
            _releaseFirst = "Release the previous " + what + " first";
            _thread = new Thread(Run) { IsBackground = true, Name = threadName };
            _thread.Start();
        }

        /// <summary>Failed decodes so far, and the message of the newest.</summary>
        public long ErrorCount { get { return Interlocked.Read(ref _errors); } }
        public string LastError { get { return _lastError; } }

        /// <summary>Held while a decode runs: lock it to read the decoder's state safely.</summary>
        public object DecodeGate { get { return _decodeGate; } }

        /// <summary>Queues <paramref name="request"/> for decoding, replacing a queued one.</summary>
        public void Request(T request)
        {
            lock (_requestGate)
            {
                _request = request;
                _hasRequest = true;
            }
            _wake.Set();
        }

        /// <summary>
        /// On the render thread: true when a new result is ready and no decode is running; the
        /// result stays untouched until <see cref="Release"/>, which must follow (same thread).
        /// False, immediately, otherwise.
        /// </summary>
        public bool TryAcquire()
        {
            if (_acquired) throw new InvalidOperationException(_releaseFirst);
            if (!Monitor.TryEnter(_decodeGate)) return false;
            if (!_fresh)
            {
                Monitor.Exit(_decodeGate);
                return false;
            }
            _fresh = false;
            _acquired = true;
            return true;
        }

        public void Release()
        {
            if (!_acquired) return;
            _acquired = false;
            Monitor.Exit(_decodeGate);
        }

        void Run()
        {
            while (true)
            {
                _wake.WaitOne();
                if (_stop) return;
                T request;
                lock (_requestGate)
                {
                    if (!_hasRequest) continue;
                    request = _request;
                    _hasRequest = false;
                    _request = default(T);
                }
                lock (_decodeGate)
                {
                    try
                    {
                        _decode(ref request);
                        _fresh = true;
                    }
                    catch (Exception e)
                    {
                        // Format errors are expected from a bad server; anything else is a bug,
                        // but the worker must survive it either way.
                        Interlocked.Increment(ref _errors);
                        _lastError = e is Ex4dFormatException ? e.Message : e.ToString();
                    }
                }
            }
        }

        /// <summary>Stops the worker thread (waits up to a second for a running decode).</summary>
        public void Stop()
        {
            _stop = true;
            _wake.Set();
            _thread.Join(1000);
        }
    }
}
