// The console runners' shared bookkeeping (Core, Layers and Review compile this file with
// their own tests): named groups of checks, a failure log capped so a systematic bug does not
// flood the output, and the summary line and exit code the pytest drivers read.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Ex4d.Bridge.Core.Tests
{
    public static class ConsoleChecks
    {
        static int _checks;
        static int _failures;
        static readonly Dictionary<string, int> GroupCounts = new Dictionary<string, int>();
        static string _group = "";

        /// <summary>Counts the following checks under <paramref name="name"/>.</summary>
        public static void Group(string name)
        {
            _group = name;
            GroupCounts[name] = 0;
        }

        public static void Check(bool ok, string what)
        {
            _checks++;
            GroupCounts[_group]++;
            if (ok) return;
            _failures++;
            if (_failures <= 200) Console.WriteLine("FAIL [" + _group + "] " + what);
        }

        /// <summary>A double as it round-trips, for failure messages.</summary>
        public static string R(double v)
        {
            return v.ToString("R", CultureInfo.InvariantCulture);
        }

        /// <summary>
        /// Runs every section (an exception fails it and the run goes on), prints the checks per
        /// group and the summary, and returns the exit code: 0 only when every check passed.
        /// </summary>
        public static int RunSections(IEnumerable<Action> sections)
        {
            foreach (var section in sections)
            {
                try
                {
                    section();
                }
                catch (Exception e)
                {
                    Check(false, "unexpected exception: " + e);
                }
            }
            var summary = new StringBuilder();
            foreach (var kv in GroupCounts) summary.Append(kv.Key).Append('=').Append(kv.Value).Append(' ');
            Console.WriteLine("groups: " + summary.ToString().Trim());
            Console.WriteLine((_failures == 0 ? "OK" : "FAILED") + ": " + _checks + " checks, "
                + _failures + " failed");
            return _failures == 0 ? 0 : 1;
        }
    }
}
