// Review tests of the connection-side fixes: stream tasks that are never left unobserved, TLS
// trust options, the colour encoding a standalone budget asks for, and view replies decoded
// off the render thread.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Ex4d.Bridge.Core.Tests;

namespace Ex4d.Bridge.Core.Review
{
    public static partial class ReviewTests
    {
        static partial void AddSections(List<Action> sections, Dictionary<string, object> root,
            string outDir)
        {
            sections.Add(StreamJoins);
            sections.Add(() => Tls(root));
            sections.Add(ColorChoice);
            sections.Add(() => BackgroundViews(root));
        }

        // -- stream tasks ---------------------------------------------------------------------

        /// <summary>A stream task: runs until its token fires, then fails the way a cancelled
        /// gRPC call does (RpcException with StatusCode.Cancelled: a fault, not a cancellation,
        /// so an unawaited one is reported as unobserved).</summary>
        static async Task StreamUntilCancelled(CancellationToken token)
        {
            var gate = new TaskCompletionSource<bool>();
            using (token.Register(() => gate.TrySetResult(true)))
                await gate.Task.ConfigureAwait(false);
            throw new InvalidOperationException("Status(StatusCode=\"Cancelled\")");
        }

        static async Task FailsSoon(string message)
        {
            await Task.Delay(20).ConfigureAwait(false);
            throw new System.IO.IOException(message);
        }

        static int _unobserved;

        static void OnUnobserved(object sender, UnobservedTaskExceptionEventArgs e)
        {
            Interlocked.Increment(ref _unobserved);
            e.SetObserved();
        }

        /// <summary>Runs <paramref name="scenario"/> with nothing kept alive afterwards, then
        /// collects, so a faulted task nobody awaited reports itself.</summary>
        static int UnobservedAfter(Func<Task> scenario)
        {
            _unobserved = 0;
            RunDetached(scenario);
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Thread.Sleep(20);
            }
            return _unobserved;
        }

        [System.Runtime.CompilerServices.MethodImpl(
            System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static void RunDetached(Func<Task> scenario)
        {
            try
            {
                scenario().Wait(5000);
            }
            catch (AggregateException)
            {
                // The scenario's own outcome is checked inside it.
            }
        }

        static void StreamJoins()
        {
            Group("stream_tasks");
            TaskScheduler.UnobservedTaskException += OnUnobserved;
            try
            {
                // Control: the old join (await the first, cancel, never await the other) leaves
                // the cancelled stream's fault unobserved, and this harness sees it.
                int old = UnobservedAfter(async () =>
                {
                    var cts = new CancellationTokenSource();
                    Task geometry = StreamUntilCancelled(cts.Token);
                    Task views = FailsSoon("views failed");
                    try
                    {
                        Task first = await Task.WhenAny(geometry, views).ConfigureAwait(false);
                        await first.ConfigureAwait(false);
                    }
                    catch (System.IO.IOException)
                    {
                    }
                    finally
                    {
                        cts.Cancel();
                    }
                    await Task.Delay(50).ConfigureAwait(false); // geometry faults meanwhile
                });
                Check(old >= 1, "control: the old join leaves an unobserved exception (" + old + ")");

                Exception seen = null;
                int fixedJoin = UnobservedAfter(async () =>
                {
                    var cts = new CancellationTokenSource();
                    Task geometry = StreamUntilCancelled(cts.Token);
                    Task views = FailsSoon("views failed");
                    try
                    {
                        await StreamTasks.WhenBothOrFirstFailureAsync(geometry, views, cts.Cancel)
                            .ConfigureAwait(false);
                    }
                    catch (Exception e)
                    {
                        seen = e;
                    }
                    Check(geometry.IsCompleted, "the stopped stream has ended when the join returns");
                });
                Check(fixedJoin == 0, "views failing: nothing unobserved (" + fixedJoin + ")");
                Check(seen is System.IO.IOException && seen.Message == "views failed",
                    "the first failure is what the caller sees: " + seen);

                // Geometry completing normally leaves views running until they fail.
                seen = null;
                int normal = UnobservedAfter(async () =>
                {
                    var cts = new CancellationTokenSource();
                    bool stopped = false;
                    Task geometry = Task.FromResult(0);
                    Task views = FailsSoon("server closed");
                    try
                    {
                        await StreamTasks.WhenBothOrFirstFailureAsync(geometry, views,
                            () => { stopped = true; cts.Cancel(); }).ConfigureAwait(false);
                    }
                    catch (Exception e)
                    {
                        seen = e;
                    }
                    Check(!stopped, "a stream that completes does not stop the other");
                });
                Check(normal == 0 && seen is System.IO.IOException, "geometry done, then views fail");

                // FirstToEnd (View call: pose writer + reply reader).
                int view = UnobservedAfter(async () =>
                {
                    var cts = new CancellationTokenSource();
                    Task writer = StreamUntilCancelled(cts.Token);
                    Task reader = FailsSoon("reader failed");
                    Task first = await StreamTasks.FirstToEndAsync(writer, reader, cts.Cancel)
                        .ConfigureAwait(false);
                    Check(first == reader && writer.IsFaulted, "the first to end is returned, the "
                        + "other was stopped and has ended");
                    try
                    {
                        await first.ConfigureAwait(false);
                        Check(false, "awaiting the first rethrows its failure");
                    }
                    catch (System.IO.IOException e)
                    {
                        Check(e.Message == "reader failed", "its own failure");
                    }
                });
                Check(view == 0, "view call: nothing unobserved (" + view + ")");

                // A reader that ends normally (server closed the stream) stops the writer too.
                bool writerStopped = false;
                var cts2 = new CancellationTokenSource();
                Task w2 = StreamUntilCancelled(cts2.Token);
                Task first2 = StreamTasks.FirstToEndAsync(w2, Task.Delay(10),
                    () => { writerStopped = true; cts2.Cancel(); throw new ObjectDisposedException("call"); })
                    .Result;
                Check(writerStopped && w2.IsCompleted && first2.Status == TaskStatus.RanToCompletion,
                    "normal end stops the other; a stop action on a disposed call is tolerated");
            }
            finally
            {
                TaskScheduler.UnobservedTaskException -= OnUnobserved;
            }
        }

        // -- TLS ------------------------------------------------------------------------------

        static void Tls(Dictionary<string, object> root)
        {
            Group("tls");
            var t = VectorReader.Obj(root["tls"]);
            string cert = (string)t["certificate_pem"];
            string bundle = (string)t["bundle_pem"];
            string key = (string)t["key_pem"];
            string expectedBundle = (string)t["bundle_normalized"];

            var plan = TlsTrust.Resolve("http://127.0.0.1:50051", "", false, false);
            Check(plan.Mode == TlsTrustMode.Cleartext && plan.Warning == null, "http: cleartext");
            plan = TlsTrust.Resolve(" HTTPS://example.org:443", null, false, false);
            Check(plan.Mode == TlsTrustMode.PublicRoots, "https without options: public roots");
            plan = TlsTrust.Resolve("https://10.0.0.5:50051", cert, false, false);
            Check(plan.Mode == TlsTrustMode.CustomRoots && plan.CertificateCount == 1
                && plan.RootCertificatesPem == cert.Replace("\r\n", "\n"),
                "self-signed certificate: custom roots, PEM kept");
            plan = TlsTrust.Resolve("https://10.0.0.5:50051", bundle, false, true);
            Check(plan.Mode == TlsTrustMode.CustomRoots && plan.CertificateCount == 2
                && plan.RootCertificatesPem == expectedBundle,
                "CA bundle with comments and CRLF: both certificates, normalised");
            plan = TlsTrust.Resolve("https://10.0.0.5:50051", "", true, true);
            Check(plan.Mode == TlsTrustMode.SkipVerification && plan.Warning.Contains("OFF"),
                "skip verification in a development build, with a warning");

            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1", "", true, false),
                "development builds", "skip refused in a release build");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("http://h:1", cert, false, true),
                "https://", "root certificates with http://");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("http://h:1", "", true, true),
                "https://", "skip with http://");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1", cert, true, true),
                "not both", "roots and skip together");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("h:1", "", false, true),
                "must start with", "no scheme");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1", key, false, true),
                "private key", "a key instead of a certificate");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1", cert + key, false,
                true), "private key", "a certificate followed by its key");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1", "MIIB...", false,
                true), "BEGIN CERTIFICATE", "no PEM block (e.g. DER or a path)");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1",
                cert.Replace("-----END CERTIFICATE-----", ""), false, true), "no END line",
                "unterminated block");
            string corrupt = cert.Substring(0, 40) + "!!!!" + cert.Substring(44);
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1", corrupt, false,
                true), "base64", "corrupt body");
            Throws<Ex4dArgumentException>(() => TlsTrust.Resolve("https://h:1",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", false, true),
                "not a DER certificate", "body that is no certificate");
        }

        // -- colour ---------------------------------------------------------------------------

        static void ColorChoice()
        {
            Group("color_transport");
            foreach (ImageEncoding e in new[] { ImageEncoding.Unspecified, ImageEncoding.Jpeg,
                ImageEncoding.Png, ImageEncoding.RawRgb })
            {
                Check(ColorTransport.ForRequest(e, true) == ImageEncoding.RawRgb,
                    e + ": raw RGB when the main thread may not decode images");
                Check(ColorTransport.ForRequest(e, false) == e, e + ": as requested otherwise");
                Check(ColorTransport.NeedsImageDecoder(e) == (e != ImageEncoding.RawRgb),
                    e + ": needs an engine image decoder");
            }
        }

        // -- view replies decoded off the render thread -----------------------------------------

        static void BackgroundViews(Dictionary<string, object> root)
        {
            Group("background_views");
            var replies = new List<ViewReplyData>();
            var names = new List<string>();
            foreach (var o in VectorReader.Arr(root["view_replies"]))
            {
                var v = VectorReader.Obj(o);
                replies.Add(VectorReader.ViewReply(v["reply"]));
                names.Add((string)v["name"]);
            }
            using (var bg = new BackgroundViewDecoder(255))
            {
                var reference = new ViewReplyDecoder { MaskOn = 255 };
                for (int k = 0; k < replies.Count; k++)
                {
                    var reply = replies[k];
                    var want = reference.Decode(ref reply);
                    bg.Request(reply);
                    DecodedView got = null;
                    ViewReplyData from = default(ViewReplyData);
                    var deadline = DateTime.UtcNow.AddSeconds(10);
                    while (DateTime.UtcNow < deadline && !bg.TryAcquire(out got, out from))
                        Thread.Sleep(1);
                    if (got == null)
                    {
                        Check(false, names[k] + ": decoded within 10 s");
                        continue;
                    }
                    try
                    {
                        int n = want.Width * want.Height;
                        bool same = got.Width == want.Width && got.Height == want.Height
                            && got.HasColorRgb == want.HasColorRgb && got.HasMask == want.HasMask
                            && got.Sequence == want.Sequence && from.Sequence == reply.Sequence;
                        for (int i = 0; same && want.HasColorRgb && i < 3 * n; i++)
                            same = got.ColorRgb[i] == want.ColorRgb[i];
                        for (int i = 0; same && want.HasMask && i < n; i++)
                            same = got.Mask[i] == want.Mask[i];
                        Check(same, names[k] + ": the worker decodes what the decoder decodes");
                    }
                    finally
                    {
                        bg.Release();
                    }
                }
                // A malformed reply is counted, and the next good one still comes through.
                var bad = replies[0];
                bad.Mask.Count = 5;
                bg.Request(bad);
                var until = DateTime.UtcNow.AddSeconds(10);
                while (bg.ErrorCount == 0 && DateTime.UtcNow < until) Thread.Sleep(1);
                Check(bg.ErrorCount == 1 && bg.LastError.Contains("holds"),
                    "malformed reply counted with its message: " + bg.LastError);
                bg.Request(replies[1]);
                DecodedView again = null;
                ViewReplyData src;
                until = DateTime.UtcNow.AddSeconds(10);
                while (DateTime.UtcNow < until && !bg.TryAcquire(out again, out src)) Thread.Sleep(1);
                Check(again != null && again.Width > 0, "decoding goes on after a bad reply");
                if (again != null) bg.Release();
            }
        }
    }
}
