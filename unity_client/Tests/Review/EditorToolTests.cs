// Review tests of the editor's code generator fix: protoc and grpc_csharp_plugin unzipped from
// the Grpc.Tools .nupkg lack the execute bit (and are quarantined on macOS).
using System;
using System.Diagnostics;
using System.IO;
using Ex4d.Bridge.Editor;
using static Ex4d.Bridge.Core.Tests.ConsoleChecks;

namespace Ex4d.Bridge.Core.Review
{
    public static partial class ReviewTests
    {
        static string RunTool(string path)
        {
            try
            {
                var info = new ProcessStartInfo(path, "")
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                };
                using (var p = Process.Start(info))
                {
                    string output = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    return p.ExitCode == 0 ? output.Trim() : "exit " + p.ExitCode;
                }
            }
            catch (Exception e)
            {
                return "cannot start: " + e.Message;
            }
        }

        static string Script(string dir, string name, string body)
        {
            string path = Path.Combine(dir, name);
            File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
            return path;
        }

        static void ToolPermissionsSection(string outDir)
        {
            Group("tool_permissions");
            if (Environment.OSVersion.Platform != PlatformID.Unix)
            {
                Check(false, "these checks need a Unix system");
                return;
            }
            string dir = Path.Combine(outDir, "tools dir");
            Directory.CreateDirectory(dir);
            // As a zip extraction leaves it: readable, not executable.
            string protoc = Script(dir, "protoc", "echo protoc ran");
            Check(RunTool(protoc).StartsWith("cannot start"),
                "control: the unpacked tool cannot run (" + RunTool(protoc) + ")");
            Check(ToolPermissions.MakeRunnable(protoc, false, false) == null, "Linux: chmod +x");
            Check(RunTool(protoc) == "protoc ran", "Linux: the tool runs afterwards");

            string log = Path.Combine(dir, "xattr.log");
            string absent = Script(dir, "xattr_absent",
                "echo \"$@\" > '" + log + "'; echo \"xattr: $3: No such xattr: com.apple.quarantine\" >&2; exit 1");
            string present = Script(dir, "xattr_present", "exit 0");
            string denied = Script(dir, "xattr_denied", "echo 'xattr: [Errno 1] Operation not permitted' >&2; exit 1");
            foreach (var s in new[] { absent, present, denied })
                ToolPermissions.MakeRunnable(s, false, false);

            string plugin = Script(dir, "grpc_csharp_plugin", "echo plugin ran");
            Check(ToolPermissions.MakeRunnable(plugin, false, true, ToolPermissions.Chmod, absent) == null,
                "macOS without the quarantine attribute: fine");
            Check(File.Exists(log) && File.ReadAllText(log).Trim() == "-d com.apple.quarantine " + plugin,
                "xattr -d com.apple.quarantine is called on the tool: " + (File.Exists(log) ? File.ReadAllText(log) : "not called"));
            Check(RunTool(plugin) == "plugin ran", "macOS path: chmod +x happened too");
            Check(ToolPermissions.MakeRunnable(plugin, false, true, ToolPermissions.Chmod, present) == null,
                "macOS with the attribute removed: fine");
            string problem = ToolPermissions.MakeRunnable(plugin, false, true, ToolPermissions.Chmod, denied);
            Check(problem != null && problem.Contains("xattr -d com.apple.quarantine")
                && problem.Contains("Operation not permitted"), "other xattr failures are reported: " + problem);
            problem = ToolPermissions.MakeRunnable(plugin, false, false, "/nonexistent/chmod");
            Check(problem != null && problem.Contains("chmod +x"), "chmod failure reported: " + problem);
            Check(ToolPermissions.MakeRunnable(plugin, true, false, "/nonexistent/chmod", "/nonexistent") == null,
                "Windows: nothing to do");
        }
    }
}
