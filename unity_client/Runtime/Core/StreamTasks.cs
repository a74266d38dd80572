using System;
using System.Threading.Tasks;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Joins the tasks of streams that live and die together (geometry + views; a View call's
    /// pose writer + reply reader) so that no task is left behind unobserved: when one ends,
    /// the others are stopped and awaited before the caller sees the outcome. A faulted task
    /// nobody awaits raises TaskScheduler.UnobservedTaskException when it is collected (Unity
    /// logs it as an error), and its failure is lost.
    /// </summary>
    public static class StreamTasks
    {
        /// <summary>
        /// Waits until <paramref name="a"/> or <paramref name="b"/> ends (in any way), calls
        /// <paramref name="stop"/> and waits for the other to end too; its exception (usually
        /// the cancellation <paramref name="stop"/> caused) is observed and dropped. Returns the
        /// task that ended first, completed: await it to rethrow its exception.
        /// </summary>
        public static async Task<Task> FirstToEndAsync(Task a, Task b, Action stop)
        {
            if (a == null || b == null) throw new ArgumentNullException(a == null ? "a" : "b");
            Task first = await Task.WhenAny(a, b).ConfigureAwait(false);
            Stop(stop);
            await Drain(first == a ? b : a).ConfigureAwait(false);
            return first;
        }

        /// <summary>
        /// Waits for both tasks. A task that completes successfully leaves the other running;
        /// the first to fail or be cancelled calls <paramref name="stop"/>, the other is awaited
        /// (its exception observed and dropped: it is most likely the stop), and the first
        /// failure is rethrown.
        /// </summary>
        public static async Task WhenBothOrFirstFailureAsync(Task a, Task b, Action stop)
        {
            if (a == null || b == null) throw new ArgumentNullException(a == null ? "a" : "b");
            Task first = await Task.WhenAny(a, b).ConfigureAwait(false);
            Task other = first == a ? b : a;
            if (first.Status == TaskStatus.RanToCompletion)
            {
                await other.ConfigureAwait(false);
                return;
            }
            Stop(stop);
            await Drain(other).ConfigureAwait(false);
            await first.ConfigureAwait(false);
        }

        static void Stop(Action stop)
        {
            if (stop == null) return;
            try
            {
                stop();
            }
            catch (ObjectDisposedException)
            {
                // Already torn down: the other task is ending anyway.
            }
        }

        static async Task Drain(Task t)
        {
            try
            {
                await t.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Observed on purpose: the caller reports the first task's outcome.
            }
        }
    }
}
