// The gRPC connection to `ex4d-bridge serve`: grpc-dotnet (Grpc.Net.Client) over
// YetAnotherHttpHandler with Http2Only (HTTP/2 also over cleartext, which Unity's own HTTP
// stack cannot do). Compiled only when EX4D_BRIDGE_GRPC is defined and the generated
// Ex4d.V1 assembly exists (see the package README).
using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Cysharp.Net.Http;
using Ex4d.Bridge.Core;
using Grpc.Core;
using Grpc.Net.Client;
using UnityEngine;
using BridgeClient = global::Ex4d.V1.Bridge.BridgeClient;
using Wire = global::Ex4d.V1;

namespace Ex4d.Bridge.Net
{
    /// <summary>
    /// Connects to the server while enabled: the channel is made in OnEnable (on a worker
    /// task) and closed in OnDisable and OnApplicationQuit. It streams the scene's compact
    /// mesh frames (StreamGeometry) into <see cref="Frames"/> and runs the View stream: head
    /// poses out (latest pose wins), rendered and generated views in. A lost connection is
    /// retried with exponential backoff; the state, the countdown and the last error are in
    /// <see cref="Status"/> (shown by Ex4dStatsOverlay). Network work runs on thread-pool
    /// threads and never touches Unity objects; the main thread only reads snapshots.
    /// </summary>
    public sealed class Ex4dBridgeClient : Ex4dBridgeSource
    {
        public enum MaskStyle
        {
            /// <summary>Exact visibility of non-occluded faces.</summary>
            Face = 1,
            /// <summary>The EX-4D reference's mask (what the generation model expects).</summary>
            Reference = 2,
        }

        [Header("Server")]
        [Tooltip("http://host:port for cleartext HTTP/2 (h2c), https://host:port with TLS.")]
        public string address = "http://127.0.0.1:50051";
        [Tooltip("The server's token (ex4d-bridge serve --token); empty when it has none.")]
        public string token = "";
        [Tooltip("Scene to show; empty: the newest scene on the server.")]
        public string sceneId = "";

        [Header("TLS (https:// addresses)")]
        [Tooltip("PEM certificate(s) to trust instead of the public roots: the server's own "
            + "self-signed certificate (its --tls-cert file) or the private CA that issued it.")]
        public TextAsset rootCertificates;
        [Tooltip("The same as PEM text (e.g. set from code); used when rootCertificates is empty.")]
        [TextArea(2, 6)]
        public string rootCertificatesPem = "";
        [Tooltip("DEVELOPMENT ONLY: accept any server certificate. Refused in release builds; "
            + "anyone on the network path can pose as the server and read the token.")]
        public bool skipCertificateVerificationInDevelopment;

        [Header("Geometry (StreamGeometry)")]
        public bool streamGeometry = true;
        public DepthEncoding depthEncoding = DepthEncoding.Uint16Inverse;
        public ImageEncoding meshColorEncoding = ImageEncoding.Jpeg;
        [Range(1, 100)] public int meshJpegQuality = 90;
        [Tooltip("Ask for each frame's completion layers (StreamGeometryRequest."
            + "include_completions), as many as the player's quality budget draws (max_layers). "
            + "Read when the geometry stream opens.")]
        public bool includeCompletions = true;

        [Header("Views (View stream)")]
        public bool streamViews = true;
        [Tooltip("Requested view size; capped by the player's quality budget.")]
        public int viewWidth = 1024;
        public int viewHeight = 1024;
        [Tooltip("Vertical field of view of the views; 0: the view camera's.")]
        public float viewFovYDegrees;
        public Camera viewCamera;
        [Tooltip("Its quality budget caps the view size (found in the scene when empty).")]
        public Ex4dScenePlayer player;
        public ImageEncoding viewColorEncoding = ImageEncoding.Jpeg;
        [Range(1, 100)] public int viewJpegQuality = 85;
        public MaskStyle maskStyle = MaskStyle.Face;
        public bool includeGeneratedViews = true;
        [Tooltip("The raw DW-Mesh raster instead of the completed render (ViewOptions.raw).")]
        public bool rawViews;
        [Tooltip("Ask for the provenance of every view pixel (hole, source, completion, "
            + "nearby completion).")]
        public bool includeProvenance;

        [Header("Connection")]
        public float initialRetrySeconds = 0.5f;
        public float maxRetrySeconds = 15f;
        public int maxReceiveMegabytes = 64;
        public float connectTimeoutSeconds = 10f;

        readonly MeshFrameStore _frames = new MeshFrameStore();
        readonly LatestPoseSender _poses = new LatestPoseSender();
        readonly object _gate = new object();
        readonly RollingStats _latencyMs = new RollingStats(120);
        readonly RateCounter _viewRate = new RateCounter(1.0, 512);
        readonly RateCounter _meshRate = new RateCounter(1.0, 512);

        CancellationTokenSource _cts;
        Task _loop;
        volatile ViewSettings _viewSettings;
        // Mesh colour to request (the budget may turn JPEG/PNG into raw RGB), set on the main
        // thread, read by the network thread.
        volatile int _meshColorEncoding = (int)ImageEncoding.Jpeg;
        // Completion layers to ask for (-1: none, 0: all), from the player's budget.
        volatile int _maxLayers = -1;
        TlsTrustPlan _tls;

        // Guarded by _gate (written by the network tasks, read by the main thread).
        double _sceneFps;
        string _activeScene;
        Ex4dConnectionState _state;
        string _lastError;
        double _retryAt;
        int _attempt;
        ViewReplyData _view;
        bool _hasView;
        ulong _droppedTotal;
        double _serverRenderMs;

        public override MeshFrameStore Frames { get { return _frames; } }

        public override double SceneFps { get { lock (_gate) return _sceneFps; } }

        /// <summary>The scene being shown (resolved when sceneId is empty).</summary>
        public string ActiveSceneId { get { lock (_gate) return _activeScene; } }

        public override void SubmitPose(PoseSample sample)
        {
            if (streamViews) _poses.Submit(sample);
        }

        public override bool TryTakeView(out ViewReplyData reply)
        {
            lock (_gate)
            {
                reply = _view;
                if (!_hasView) return false;
                _hasView = false;
                _view = default(ViewReplyData);
                return true;
            }
        }

        public override void ReportViewShown(ViewReplyData reply)
        {
            double latency = (Ex4dClock.NowSeconds - reply.ClientTimeS) * 1000.0;
            lock (_gate)
            {
                if (latency >= 0 && latency < 60000) _latencyMs.Add(latency);
                _serverRenderMs = reply.Timings.RenderMs;
            }
        }

        public override Ex4dConnectionStatus Status
        {
            get
            {
                double now = Ex4dClock.NowSeconds;
                lock (_gate)
                {
                    return new Ex4dConnectionStatus
                    {
                        State = _state,
                        Address = address,
                        LastError = _lastError,
                        RetryInSeconds = Math.Max(0, _retryAt - now),
                        Attempt = _attempt,
                        LatencyMeanMs = _latencyMs.Mean,
                        LatencyP95Ms = _latencyMs.Quantile(0.95),
                        ServerRenderMs = _serverRenderMs,
                        ViewRepliesPerSecond = _viewRate.Rate(now),
                        MeshFramesPerSecond = _meshRate.Rate(now),
                        PosesSent = _poses.Sent,
                        PosesOverwritten = _poses.Overwritten,
                        DroppedByServer = _droppedTotal,
                    };
                }
            }
        }

        // -- lifecycle -------------------------------------------------------------------

        void OnEnable()
        {
            if (player == null) player = FindFirstObjectByType<Ex4dScenePlayer>();
            UpdateViewSettings();
            // Checked here, on the main thread (TextAsset and build flags are main-thread
            // APIs): a TLS mistake is reported once instead of failing every reconnect.
            try
            {
                string pem = rootCertificates != null ? rootCertificates.text : rootCertificatesPem;
                _tls = TlsTrust.Resolve(address, pem, skipCertificateVerificationInDevelopment,
                    Application.isEditor || Debug.isDebugBuild);
            }
            catch (Ex4dArgumentException e)
            {
                Debug.LogError("[Ex4d] " + e.Message, this);
                lock (_gate)
                {
                    _state = Ex4dConnectionState.Disabled;
                    _lastError = e.Message;
                }
                return;
            }
            if (_tls.Warning != null) Debug.LogWarning("[Ex4d] " + _tls.Warning, this);
            _cts = new CancellationTokenSource();
            var cancel = _cts.Token;
            // Off the main thread from the start: nothing here may need Unity's context.
            _loop = Task.Run(() => RunAsync(cancel));
        }

        void OnDisable()
        {
            Shutdown(1.0);
        }

        void OnApplicationQuit()
        {
            Shutdown(2.0);
        }

        /// <summary>Cancels the streams and waits (briefly) for the channel to close, so no
        /// native HTTP/2 handler outlives the play session or a domain reload.</summary>
        void Shutdown(double waitSeconds)
        {
            if (_cts == null) return;
            _cts.Cancel();
            try
            {
                if (_loop != null) _loop.Wait(TimeSpan.FromSeconds(waitSeconds));
            }
            catch (AggregateException)
            {
                // Cancelled: expected.
            }
            _cts.Dispose();
            _cts = null;
            _loop = null;
            lock (_gate) _state = Ex4dConnectionState.Disabled;
        }

        void Update()
        {
            UpdateViewSettings();
        }

        /// <summary>Snapshots the inspector's view settings for the network thread (a new
        /// object only when something changed).</summary>
        void UpdateViewSettings()
        {
            int w = Math.Max(1, viewWidth), h = Math.Max(1, viewHeight);
            bool budgeted = player != null && player.isActiveAndEnabled;
            // From the player's settings, not player.Budget: that is only set in the player's
            // OnEnable, which may run after ours, and the geometry request goes out once.
            var budget = budgeted
                ? (player.useCustomBudget ? player.customBudget : Ex4dQualityBudget.For(player.qualityTier))
                : default(Ex4dQualityBudget);
            int maxSide = budgeted ? budget.maxViewSide : 0;
            // Standalone tiers: no image decoding on the main thread, so raw RGB (zlib).
            bool rawColor = budgeted && budget.rawColor;
            _meshColorEncoding = (int)ColorTransport.ForRequest(meshColorEncoding, rawColor);
            // Without a player nothing draws layers, so none are asked for.
            _maxLayers = includeCompletions && budgeted && player.WantsCompletions
                ? player.MaxCompletionLayers
                : -1;
            var viewColor = ColorTransport.ForRequest(viewColorEncoding, rawColor);
            if (maxSide > 0 && Math.Max(w, h) > maxSide)
            {
                double scale = (double)maxSide / Math.Max(w, h);
                w = Math.Max(1, (int)Math.Round(w * scale));
                h = Math.Max(1, (int)Math.Round(h * scale));
            }
            var cam = viewCamera != null ? viewCamera : Camera.main;
            double fov = viewFovYDegrees > 0 ? viewFovYDegrees : (cam != null ? cam.fieldOfView : 0);
            var current = _viewSettings;
            if (current != null && current.Width == w
                && current.Height == h && current.FovYDegrees == fov
                && current.ColorEncoding == viewColor
                && current.JpegQuality == viewJpegQuality
                && current.MaskStyle == (int)maskStyle
                && current.IncludeGenerated == includeGeneratedViews
                && current.Raw == rawViews
                && current.IncludeProvenance == includeProvenance)
                return; // unchanged: no allocation
            _viewSettings = new ViewSettings
            {
                Width = w,
                Height = h,
                FovYDegrees = fov,
                ColorEncoding = viewColor,
                JpegQuality = viewJpegQuality,
                MaskStyle = (int)maskStyle,
                IncludeGenerated = includeGeneratedViews,
                Raw = rawViews,
                IncludeProvenance = includeProvenance,
            };
        }

        // -- connection loop -------------------------------------------------------------

        async Task RunAsync(CancellationToken cancel)
        {
            var backoff = new ReconnectBackoff(initialRetrySeconds, Math.Max(initialRetrySeconds,
                maxRetrySeconds));
            while (!cancel.IsCancellationRequested)
            {
                SetState(Ex4dConnectionState.Connecting, null, 0);
                GrpcChannel channel = null;
                string error = null;
                try
                {
                    channel = CreateChannel();
                    var client = new BridgeClient(channel);
                    var headers = new Metadata();
                    if (!string.IsNullOrEmpty(token)) headers.Add("authorization", "Bearer " + token);

                    await ResolveSceneAsync(client, headers, cancel).ConfigureAwait(false);
                    SetState(Ex4dConnectionState.Connected, null, 0);
                    backoff.Reset();
                    await RunStreamsAsync(client, headers, cancel).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    break;
                }
                catch (RpcException e) when (cancel.IsCancellationRequested
                    && e.StatusCode == StatusCode.Cancelled)
                {
                    break;
                }
                catch (Exception e)
                {
                    error = Describe(e);
                }
                finally
                {
                    if (channel != null)
                    {
                        try
                        {
                            channel.Dispose();
                        }
                        catch (Exception)
                        {
                            // Closing a broken connection may throw; it is closed either way.
                        }
                    }
                }
                if (cancel.IsCancellationRequested) break;
                double delay = backoff.NextDelaySeconds();
                lock (_gate) _attempt = backoff.Attempt;
                SetState(Ex4dConnectionState.Reconnecting, error ?? "the server ended the streams",
                    delay);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(delay), cancel).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            SetState(Ex4dConnectionState.Disabled, null, 0);
        }

        GrpcChannel CreateChannel()
        {
            var handler = new YetAnotherHttpHandler { Http2Only = true };
            var tls = _tls;
            if (tls.Mode == TlsTrustMode.CustomRoots)
                handler.RootCertificates = tls.RootCertificatesPem; // replaces the public roots
            else if (tls.Mode == TlsTrustMode.SkipVerification)
                handler.SkipCertificateVerification = true;
            return GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                HttpHandler = handler,
                DisposeHttpClient = true,
                MaxReceiveMessageSize = maxReceiveMegabytes * 1024 * 1024,
                MaxSendMessageSize = 4 * 1024 * 1024,
            });
        }

        async Task ResolveSceneAsync(BridgeClient client, Metadata headers,
            CancellationToken cancel)
        {
            DateTime deadline = DateTime.UtcNow.AddSeconds(connectTimeoutSeconds);
            Wire.SceneInfo info;
            if (!string.IsNullOrEmpty(sceneId))
            {
                info = await client.GetSceneAsync(new Wire.GetSceneRequest { SceneId = sceneId },
                    headers, deadline, cancel).ResponseAsync.ConfigureAwait(false);
            }
            else
            {
                var list = await client.ListScenesAsync(new Wire.ListScenesRequest(), headers,
                    deadline, cancel).ResponseAsync.ConfigureAwait(false);
                info = null;
                foreach (var s in list.Scenes)
                    if (info == null || s.CreatedUnixS > info.CreatedUnixS) info = s;
                if (info == null)
                    throw new InvalidOperationException("the server has no scenes yet: upload a "
                        + "video first (UploadScene; e.g. examples/python_orbit.py uploads the "
                        + "demo scene)");
            }
            lock (_gate)
            {
                _activeScene = info.SceneId;
                _sceneFps = info.Fps;
            }
        }

        /// <summary>Runs geometry and views together; returns or throws when the connection
        /// is lost (either stream failing ends both).</summary>
        async Task RunStreamsAsync(BridgeClient client, Metadata headers, CancellationToken cancel)
        {
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel))
            {
                Task geometry = streamGeometry
                    ? GeometryAsync(client, headers, linked.Token)
                    : Task.FromResult(0);
                Task views = streamViews
                    ? ViewAsync(client, headers, linked.Token)
                    : Task.Delay(Timeout.Infinite, linked.Token);
                try
                {
                    // Geometry ends normally once every frame arrived; views run until the
                    // connection ends. The first failure cancels the other stream, which is
                    // awaited too, so its (cancellation) exception never goes unobserved.
                    await StreamTasks.WhenBothOrFirstFailureAsync(geometry, views, linked.Cancel)
                        .ConfigureAwait(false);
                }
                finally
                {
                    linked.Cancel();
                }
            }
        }

        async Task GeometryAsync(BridgeClient client, Metadata headers, CancellationToken cancel)
        {
            string scene;
            lock (_gate) scene = _activeScene;
            if (_frames.SceneId == scene && _frames.NumFrames > 0
                && _frames.Count == _frames.NumFrames)
                return; // already complete (a reconnect)
            var request = new Wire.StreamGeometryRequest
            {
                SceneId = scene,
                DepthEncoding = (Wire.DepthEncoding)(int)depthEncoding,
                ColorEncoding = (Wire.ImageEncoding)_meshColorEncoding,
                JpegQuality = (uint)meshJpegQuality,
            };
            int maxLayers = _maxLayers;
            if (QualityTiers.RequestCompletions(true, maxLayers))
            {
                request.IncludeCompletions = true;
                request.MaxLayers = QualityTiers.RequestMaxLayers(maxLayers);
            }
            using (var call = client.StreamGeometry(request, headers, null, cancel))
            {
                var stream = call.ResponseStream;
                while (await stream.MoveNext(cancel).ConfigureAwait(false))
                {
                    // The store keeps the payload arrays, not the message.
                    _frames.Put(ProtoAdapter.ToCore(stream.Current));
                    lock (_gate) _meshRate.Tick(Ex4dClock.NowSeconds);
                }
            }
        }

        async Task ViewAsync(BridgeClient client, Metadata headers, CancellationToken cancel)
        {
            string scene;
            lock (_gate) scene = _activeScene;
            using (var call = client.View(headers, null, cancel))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel))
            {
                var requests = call.RequestStream;
                Task writer = _poses.RunAsync(
                    (pose, ct) => requests.WriteAsync(
                        ProtoAdapter.ToRequest(pose, _viewSettings, scene)),
                    linked.Token);
                Task reader = ReadViewsAsync(call.ResponseStream, linked.Token);
                // Whichever ends first ends the call; the other is stopped (its token, and
                // disposing the call cancels a pending write) and awaited before we go on.
                Task first = await StreamTasks.FirstToEndAsync(writer, reader, () =>
                {
                    linked.Cancel();
                    call.Dispose();
                }).ConfigureAwait(false);
                await first.ConfigureAwait(false);
                throw new IOException("the server closed the View stream");
            }
        }

        async Task ReadViewsAsync(IAsyncStreamReader<Wire.ViewReply> stream,
            CancellationToken cancel)
        {
            while (await stream.MoveNext(cancel).ConfigureAwait(false))
            {
                var reply = ProtoAdapter.ToCore(stream.Current);
                lock (_gate)
                {
                    // Latest wins here too: the presenter shows the newest reply.
                    _view = reply;
                    _hasView = true;
                    _droppedTotal = reply.DroppedTotal;
                    _viewRate.Tick(Ex4dClock.NowSeconds);
                }
            }
        }

        void SetState(Ex4dConnectionState state, string error, double retryInSeconds)
        {
            lock (_gate)
            {
                _state = state;
                if (error != null || state == Ex4dConnectionState.Connected) _lastError = error;
                _retryAt = Ex4dClock.NowSeconds + retryInSeconds;
                if (state == Ex4dConnectionState.Connected) _attempt = 0;
            }
        }

        static string Describe(Exception e)
        {
            var rpc = e as RpcException;
            if (rpc != null)
            {
                switch (rpc.StatusCode)
                {
                    case StatusCode.Unauthenticated:
                        return "UNAUTHENTICATED: set the server's token on the client";
                    case StatusCode.NotFound:
                        return "NOT_FOUND: " + rpc.Status.Detail + " (check sceneId)";
                    case StatusCode.Unavailable:
                        return "UNAVAILABLE: cannot reach the server (" + rpc.Status.Detail + ")";
                    default:
                        return rpc.StatusCode + ": " + rpc.Status.Detail;
                }
            }
            return e.GetType().Name + ": " + e.Message;
        }
    }
}
