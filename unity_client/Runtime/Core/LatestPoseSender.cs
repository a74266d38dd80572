using System;
using System.Threading;
using System.Threading.Tasks;

namespace Ex4d.Bridge.Core
{
    /// <summary>One head pose to send on the View stream.</summary>
    public struct PoseSample
    {
        /// <summary>Set by <see cref="LatestPoseSender.Submit"/>: 1, 2, 3... in submit order.
        /// </summary>
        public ulong Sequence;
        /// <summary>The client clock when the pose was sampled (echoed by the server, so the
        /// client measures the round trip).</summary>
        public double ClientTimeS;
        public PoseData Pose;
        /// <summary>The source frame to show: a time in seconds (played in a loop) when
        /// UseTime, else FrameIndex.</summary>
        public bool UseTime;
        public double TimeS;
        public uint FrameIndex;
    }

    /// <summary>
    /// A one-slot mailbox: the newest pose replaces any pose not yet taken (latest pose wins,
    /// as the server does with its own queue). Thread-safe: any thread offers, one consumer
    /// takes. Counts every pose that was replaced before it could be sent.
    /// </summary>
    public sealed class LatestPoseSlot
    {
        readonly object _gate = new object();
        // Count 1 while a pose waits; only producers release, under the lock, so it never
        // exceeds its maximum of 1.
        readonly SemaphoreSlim _ready = new SemaphoreSlim(0, 1);
        PoseSample _value;
        bool _full;
        long _offered, _overwritten, _taken;

        public long Offered { get { lock (_gate) return _offered; } }
        public long Overwritten { get { lock (_gate) return _overwritten; } }
        public long Taken { get { lock (_gate) return _taken; } }

        /// <summary>Stores <paramref name="sample"/>, replacing (and counting) any pose that
        /// was not taken yet. Never blocks on the consumer.</summary>
        public void Offer(PoseSample sample)
        {
            lock (_gate)
            {
                if (_full) _overwritten++;
                _value = sample;
                _full = true;
                _offered++;
                if (_ready.CurrentCount == 0) _ready.Release();
            }
        }

        public bool TryTake(out PoseSample sample)
        {
            lock (_gate)
            {
                if (!_full)
                {
                    sample = default(PoseSample);
                    return false;
                }
                sample = _value;
                _full = false;
                _taken++;
                return true;
            }
        }

        /// <summary>Waits until a pose is there, then takes it.</summary>
        public async Task<PoseSample> TakeAsync(CancellationToken cancel)
        {
            while (true)
            {
                PoseSample sample;
                if (TryTake(out sample)) return sample;
                await _ready.WaitAsync(cancel).ConfigureAwait(false);
            }
        }

        /// <summary>Blocking form of <see cref="TakeAsync"/>; false on timeout.</summary>
        public bool Take(out PoseSample sample, int timeoutMs, CancellationToken cancel)
        {
            int deadline = Environment.TickCount + timeoutMs;
            while (true)
            {
                if (TryTake(out sample)) return true;
                int left = timeoutMs < 0 ? -1 : deadline - Environment.TickCount;
                if (timeoutMs >= 0 && left <= 0) return false;
                if (!_ready.Wait(left, cancel) && timeoutMs >= 0) return TryTake(out sample);
            }
        }
    }

    /// <summary>
    /// Sends head poses one at a time with the newest pose first in line: the producer (the
    /// render loop, 72-120 Hz) calls <see cref="Submit"/> and never waits; a single send loop
    /// (<see cref="RunAsync"/>) writes to the stream, and poses that arrive while a write is in
    /// flight replace each other, so a slow link sends fresher poses instead of a growing
    /// backlog. gRPC streams allow one write at a time, which the single loop guarantees.
    /// </summary>
    public sealed class LatestPoseSender
    {
        readonly LatestPoseSlot _slot = new LatestPoseSlot();
        long _sequence;
        long _sent;

        /// <summary>Poses submitted, sent, and replaced before they were sent.</summary>
        public long Submitted { get { return _slot.Offered; } }
        public long Sent { get { return Interlocked.Read(ref _sent); } }
        public long Overwritten { get { return _slot.Overwritten; } }
        /// <summary>The sequence number of the newest submitted pose.</summary>
        public ulong LastSequence { get { return (ulong)Interlocked.Read(ref _sequence); } }

        /// <summary>Queues <paramref name="sample"/> (replacing an unsent one), stamping it
        /// with the next sequence number, which it returns. Thread-safe.</summary>
        public ulong Submit(PoseSample sample)
        {
            // Stamp and offer atomically with respect to other producers, so sequence order is
            // the slot's order and the newest-numbered pose is the one that stays.
            lock (_slot)
            {
                sample.Sequence = (ulong)Interlocked.Increment(ref _sequence);
                _slot.Offer(sample);
                return sample.Sequence;
            }
        }

        /// <summary>
        /// The send loop: waits for a pose, awaits <paramref name="send"/>, repeats until
        /// <paramref name="cancel"/> fires (then throws OperationCanceledException) or
        /// <paramref name="send"/> throws (the exception ends the loop; the caller reconnects
        /// and starts a new loop; unsent poses stay in the slot).
        /// </summary>
        public async Task RunAsync(Func<PoseSample, CancellationToken, Task> send,
            CancellationToken cancel)
        {
            if (send == null) throw new ArgumentNullException("send");
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                PoseSample sample = await _slot.TakeAsync(cancel).ConfigureAwait(false);
                await send(sample, cancel).ConfigureAwait(false);
                Interlocked.Increment(ref _sent);
            }
        }
    }
}
