using System;

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
        readonly LatestWinsDecodeWorker<ViewReplyData> _worker;
        // Written by the worker under its decode gate, read by TryAcquire under it.
        ViewReplyData _decodedFrom;

        public BackgroundViewDecoder(byte maskOn)
        {
            _decoder = new ViewReplyDecoder { MaskOn = maskOn };
            _worker = new LatestWinsDecodeWorker<ViewReplyData>(Decode, "Ex4d view decode", "view");
        }

        /// <summary>Malformed replies so far, and the message of the newest.</summary>
        public long ErrorCount { get { return _worker.ErrorCount; } }
        public string LastError { get { return _worker.LastError; } }

        /// <summary>Queues <paramref name="reply"/> for decoding, replacing a queued one.</summary>
        public void Request(ViewReplyData reply)
        {
            _worker.Request(reply);
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
            if (!_worker.TryAcquire()) return false;
            view = _decoder.Current;
            reply = _decodedFrom;
            return true;
        }

        public void Release()
        {
            _worker.Release();
        }

        void Decode(ref ViewReplyData reply)
        {
            _decoder.Decode(ref reply);
            _decodedFrom = reply;
        }

        public void Dispose()
        {
            _worker.Stop();
        }
    }
}
