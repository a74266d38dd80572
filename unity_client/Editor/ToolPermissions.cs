using System;
using System.Diagnostics;

namespace Ex4d.Bridge.Editor
{
    /// <summary>
    /// Makes a tool unpacked from a NuGet package runnable on macOS and Linux. A .nupkg is a zip
    /// file, and zip extraction (NuGetForUnity, or unzipping by hand) drops the Unix execute bit,
    /// so protoc and grpc_csharp_plugin fail with "permission denied"; on macOS, files from a
    /// download also carry the com.apple.quarantine attribute, which makes Gatekeeper refuse to
    /// run them. Engine-independent (only System), so it is tested with mono
    /// (tests/test_unity_review.py).
    /// </summary>
    public static class ToolPermissions
    {
        public const string Chmod = "/bin/chmod";
        public const string Xattr = "/usr/bin/xattr";
        public const string QuarantineAttribute = "com.apple.quarantine";

        /// <summary>
        /// chmod +x <paramref name="path"/>, and on macOS removes the quarantine attribute (its
        /// absence is fine: xattr then says "No such xattr"). Nothing to do on Windows. Returns
        /// null when the tool is ready, else what went wrong and what to run by hand.
        /// </summary>
        public static string MakeRunnable(string path, bool windows, bool macOS,
            string chmod = Chmod, string xattr = Xattr)
        {
            if (windows) return null;
            string output;
            int code = Run(chmod, "+x " + Quote(path), out output);
            if (code != 0)
                return "could not make " + path + " executable (" + chmod + " exited " + code
                    + ": " + output.Trim() + "): run chmod +x on it yourself";
            if (!macOS) return null;
            code = Run(xattr, "-d " + QuarantineAttribute + " " + Quote(path), out output);
            if (code == 0 || output.IndexOf("No such xattr", StringComparison.OrdinalIgnoreCase) >= 0)
                return null;
            return "could not remove the quarantine attribute from " + path + " (" + xattr
                + " exited " + code + ": " + output.Trim() + "): run xattr -d "
                + QuarantineAttribute + " on it yourself";
        }

        static string Quote(string path)
        {
            return "\"" + path.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        }

        /// <summary>Exit code and stdout+stderr; -1 when the program cannot be started.</summary>
        static int Run(string program, string args, out string output)
        {
            try
            {
                var info = new ProcessStartInfo(program, args)
                {
                    UseShellExecute = false,
                    RedirectStandardError = true,
                    RedirectStandardOutput = true,
                    CreateNoWindow = true,
                };
                using (var p = Process.Start(info))
                {
                    var stderr = p.StandardError.ReadToEndAsync();
                    string stdout = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    output = stdout + stderr.Result;
                    return p.ExitCode;
                }
            }
            catch (Exception e)
            {
                output = e.Message;
                return -1;
            }
        }
    }
}
