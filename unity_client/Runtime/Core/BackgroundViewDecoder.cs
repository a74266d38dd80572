using System;
using System.Threading;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Decodes view replies on a worker thread (the counterpart of
    /// <see cref="BackgroundMeshDecoder"/> for the View stream), so inflating a raw RGB view and
    /// its mask never costs the render thread anything. Latest wins: a reply requested while
    /// another waits replaces it. The render thread polls <see cref="TryAcquire"/>, which never
    /// blocks.
    /// </summary>
    public sealed class BackgroundViewDecoder : IDisposable
    {
        readonly ViewReplyDecoder _decoder;
        readonly object _requestGate = new object();
        readonly object _decodeGate = new object();
        readonly AutoResetEvent _wake = new AutoResetEvent(false);
        readonly Thread _thread;
        ViewReplyData _request;
        bool _hasRequest;
        volatile bool _stop;
        // Written by the worker under _decodeGate, read by TryAcquire under it.
        bool _fresh;
        ViewReplyData _decodedFrom;
        bool _acquired;
        long _errors;
        volatile string _lastError;

        public BackgroundViewDecoder(byte maskOn)
        {
            _decoder = new ViewReplyDecoder { MaskOn = maskOn };
            _thread = new Thread(Run) { IsBackground = true, Name = "Ex4d view decode" };
            _thread.Start();
        }

        /// <summary>Malformed replies so far, and the message of the newest.</summary>
        public long ErrorCount { get { return Interlocked.Read(ref _errors); } }
        public string LastError { get { return _lastError; } }

        /// <summary>Queues <paramref name="reply"/> for decoding, replacing a queued one.</summary>
        public void Request(ViewReplyData reply)
        {
            lock (_requestGate)
            {
                _request = reply;
                _hasRequest = true;
            }
            _wake.Set();
        }

        /// <summary>
        /// On the render thread: true with the newly decoded view and the reply it came from when
        /// one is ready and no decode is running; the view stays untouched until
        /// <see cref="Release"/>, which must follow (same thread). False, immediately, otherwise.
        /// </summary>
        public bool TryAcquire(out DecodedView view, out ViewReplyData reply)
        {
            view = null;
            reply = default(ViewReplyData);
            if (_acquired) throw new InvalidOperationException("Release the previous view first");
            if (!Monitor.TryEnter(_decodeGate)) return false;
            if (!_fresh)
            {
                Monitor.Exit(_decodeGate);
                return false;
            }
            _fresh = false;
            _acquired = true;
            view = _decoder.Current;
            reply = _decodedFrom;
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
                ViewReplyData reply;
                lock (_requestGate)
                {
                    if (!_hasRequest) continue;
                    reply = _request;
                    _hasRequest = false;
                    _request = default(ViewReplyData);
                }
                lock (_decodeGate)
                {
                    try
                    {
                        _decoder.Decode(ref reply);
                        _decodedFrom = reply;
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

        public void Dispose()
        {
            _stop = true;
            _wake.Set();
            _thread.Join(1000);
        }
    }
}
