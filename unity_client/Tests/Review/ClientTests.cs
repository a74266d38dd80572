// Review tests of the connection-side fixes: stream tasks that are never left unobserved, TLS
// trust options, the colour encoding a standalone budget asks for, and view replies decoded
// off the render thread.
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using Ex4d.Bridge.Core.Tests;
using static Ex4d.Bridge.Core.Tests.ConsoleChecks;

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

        /// <summary>
        /// Whether a faulted task's exception was observed (awaited, Wait()ed or its Exception
        /// read). A faulted task nobody observed raises TaskScheduler.UnobservedTaskException
        /// when it is finalized; that event depends on the garbage collector's timing, so the
        /// tests read the flag it is decided by (TaskExceptionHolder.m_isHandled, the same field
        /// in mono and the .NET reference source Unity's runtime shares) directly.
        /// </summary>
        static bool IsObserved(Task t)
        {
            const BindingFlags F = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
            object cp = typeof(Task).GetField("m_contingentProperties", F).GetValue(t);
            if (cp == null) throw new InvalidOperationException("task " + t.Status + " holds no exception");
            object holder = cp.GetType().GetField("m_exceptionsHolder", F).GetValue(cp);
            if (holder == null) throw new InvalidOperationException("task holds no exception");
            return (bool)holder.GetType().GetField("m_isHandled", F).GetValue(holder);
        }

        static void WaitEnded(Task t)
        {
            try
            {
                ((IAsyncResult)t).AsyncWaitHandle.WaitOne(5000);
            }
            catch (Exception)
            {
            }
        }

        static void StreamJoins()
        {
            Group("stream_tasks");
            // Control: the old join (await the first, cancel, never await the other) leaves the
            // cancelled stream's fault unobserved, and IsObserved sees that.
            {
                var cts = new CancellationTokenSource();
                Task geometry = StreamUntilCancelled(cts.Token);
                Task views = FailsSoon("views failed");
                Func<Task> oldJoin = async () =>
                {
                    try
                    {
                        Task first = await Task.WhenAny(geometry, views).ConfigureAwait(false);
                        await first.ConfigureAwait(false);
                    }
                    finally
                    {
                        cts.Cancel();
                    }
                };
                try
                {
                    oldJoin().Wait(5000);
                }
                catch (AggregateException)
                {
                }
                WaitEnded(geometry);
                Check(geometry.IsFaulted && !IsObserved(geometry),
                    "control: the old join leaves the stopped stream's exception unobserved");
            }

            // WhenBothOrFirstFailure: views fail, geometry is stopped and observed.
            {
                var cts = new CancellationTokenSource();
                Task geometry = StreamUntilCancelled(cts.Token);
                Task views = FailsSoon("views failed");
                Exception seen = null;
                try
                {
                    StreamTasks.WhenBothOrFirstFailureAsync(geometry, views, cts.Cancel).Wait(5000);
                }
                catch (AggregateException e)
                {
                    seen = e.InnerException;
                }
                Check(geometry.IsFaulted && IsObserved(geometry),
                    "views failing: the stopped geometry stream ended and was observed");
                Check(seen is System.IO.IOException && seen.Message == "views failed",
                    "the first failure is what the caller sees: " + seen);
            }

            // Geometry failing first stops views; views' own failure is observed too.
            {
                var cts = new CancellationTokenSource();
                Task views = StreamUntilCancelled(cts.Token);
                Task geometry = FailsSoon("geometry failed");
                Exception seen = null;
                try
                {
                    StreamTasks.WhenBothOrFirstFailureAsync(geometry, views, cts.Cancel).Wait(5000);
                }
                catch (AggregateException e)
                {
                    seen = e.InnerException;
                }
                Check(views.IsFaulted && IsObserved(views) && seen != null
                    && seen.Message == "geometry failed", "geometry failing: views stopped and observed");
            }

            // Geometry completing normally leaves views running until they fail.
            {
                bool stopped = false;
                Task views = FailsSoon("server closed");
                Exception seen = null;
                try
                {
                    StreamTasks.WhenBothOrFirstFailureAsync(Task.FromResult(0), views,
                        () => stopped = true).Wait(5000);
                }
                catch (AggregateException e)
                {
                    seen = e.InnerException;
                }
                Check(!stopped && seen is System.IO.IOException && IsObserved(views),
                    "geometry done: views run on; their failure reaches the caller");
            }

            // FirstToEnd (View call: pose writer + reply reader).
            {
                var cts = new CancellationTokenSource();
                Task writer = StreamUntilCancelled(cts.Token);
                Task reader = FailsSoon("reader failed");
                Task first = StreamTasks.FirstToEndAsync(writer, reader, cts.Cancel).Result;
                Check(first == reader && writer.IsFaulted && IsObserved(writer),
                    "view call: the first to end is returned, the other was stopped and observed");
                try
                {
                    first.Wait();
                    Check(false, "awaiting the first rethrows its failure");
                }
                catch (AggregateException e)
                {
                    Check(e.InnerException.Message == "reader failed", "its own failure");
                }
            }

            // A reader that ends normally (server closed the stream) stops the writer too; a stop
            // action that meets a disposed call is tolerated.
            {
                bool writerStopped = false;
                var cts = new CancellationTokenSource();
                Task writer = StreamUntilCancelled(cts.Token);
                Task first = StreamTasks.FirstToEndAsync(writer, Task.Delay(10), () =>
                {
                    writerStopped = true;
                    cts.Cancel();
                    throw new ObjectDisposedException("call");
                }).Result;
                Check(writerStopped && writer.IsFaulted && IsObserved(writer)
                    && first.Status == TaskStatus.RanToCompletion,
                    "normal end stops the other and observes it");
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
