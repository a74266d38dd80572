using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Exponential reconnect delays: Initial, Initial*Multiplier, ... capped at Max, each
    /// spread by +-Jitter (a fraction) so many clients do not reconnect in lock step.
    /// <see cref="Reset"/> after a connection has worked. Not thread-safe.
    /// </summary>
    public sealed class ReconnectBackoff
    {
        readonly Random _random;
        double _next;

        public ReconnectBackoff(double initialSeconds = 0.5, double maxSeconds = 30.0,
            double multiplier = 2.0, double jitter = 0.2, int seed = 0)
        {
            if (!(initialSeconds > 0) || !(maxSeconds >= initialSeconds) || !(multiplier >= 1)
                || !(jitter >= 0 && jitter < 1))
                throw new Ex4dArgumentException("backoff needs 0 < initial <= max, "
                    + "multiplier >= 1 and 0 <= jitter < 1");
            InitialSeconds = initialSeconds;
            MaxSeconds = maxSeconds;
            Multiplier = multiplier;
            Jitter = jitter;
            _random = seed == 0 ? new Random() : new Random(seed);
            Reset();
        }

        public double InitialSeconds { get; private set; }
        public double MaxSeconds { get; private set; }
        public double Multiplier { get; private set; }
        public double Jitter { get; private set; }

        /// <summary>Failed attempts since the last <see cref="Reset"/>.</summary>
        public int Attempt { get; private set; }

        /// <summary>The delay before the next attempt, in seconds; advances the schedule.
        /// </summary>
        public double NextDelaySeconds()
        {
            double nominal = _next;
            _next = Math.Min(MaxSeconds, _next * Multiplier);
            Attempt++;
            if (Jitter == 0) return nominal;
            double spread = (2.0 * _random.NextDouble() - 1.0) * Jitter;
            return nominal * (1.0 + spread);
        }

        public void Reset()
        {
            _next = InitialSeconds;
            Attempt = 0;
        }
    }

    /// <summary>
    /// Rolling statistics over the last N samples (latency in ms, frame intervals in s)
    /// without allocating: a ring buffer plus a running sum.
    /// </summary>
    public sealed class RollingStats
    {
        readonly double[] _ring;
        readonly double[] _sorted;
        int _count, _head;
        double _sum;

        public RollingStats(int capacity = 120)
        {
            if (capacity < 1) throw new Ex4dArgumentException("capacity must be positive");
            _ring = new double[capacity];
            _sorted = new double[capacity];
        }

        public int Count { get { return _count; } }
        public double Last { get; private set; }

        public void Add(double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value)) return;
            if (_count == _ring.Length) _sum -= _ring[_head];
            else _count++;
            _ring[_head] = value;
            _sum += value;
            _head = (_head + 1) % _ring.Length;
            Last = value;
        }

        public double Mean { get { return _count == 0 ? 0.0 : _sum / _count; } }

        /// <summary>The p-quantile (0..1) of the window, nearest rank; 0 when empty.</summary>
        public double Quantile(double p)
        {
            if (_count == 0) return 0.0;
            Array.Copy(_ring, _sorted, _count);
            Array.Sort(_sorted, 0, _count);
            int rank = (int)Math.Ceiling(p * _count) - 1;
            return _sorted[Math.Max(0, Math.Min(_count - 1, rank))];
        }

        public void Clear()
        {
            _count = 0;
            _head = 0;
            _sum = 0;
            Last = 0;
        }
    }

    /// <summary>Events per second over a sliding time window (frames shown, replies
    /// received), from time stamps in seconds. Allocation-free.</summary>
    public sealed class RateCounter
    {
        readonly double[] _times;
        readonly double _window;
        int _head, _count;

        public RateCounter(double windowSeconds = 1.0, int capacity = 512)
        {
            if (!(windowSeconds > 0) || capacity < 2)
                throw new Ex4dArgumentException("window must be positive, capacity >= 2");
            _window = windowSeconds;
            _times = new double[capacity];
        }

        public void Tick(double nowSeconds)
        {
            _times[_head] = nowSeconds;
            _head = (_head + 1) % _times.Length;
            if (_count < _times.Length) _count++;
        }

        /// <summary>Events in (now - window, now], divided by the window.</summary>
        public double Rate(double nowSeconds)
        {
            int n = 0;
            for (int k = 0; k < _count; k++)
            {
                int i = (_head - 1 - k + _times.Length) % _times.Length;
                if (nowSeconds - _times[i] >= _window) break;
                n++;
            }
            return n / _window;
        }
    }
}
