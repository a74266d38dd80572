using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using UnityEditor;
using UnityEditor.Build;
using UnityEngine;
using Debug = UnityEngine.Debug;

namespace Ex4d.Bridge.Editor
{
    /// <summary>
    /// Tools > Ex4d Bridge > Generate gRPC C# code: runs protoc with grpc_csharp_plugin (both
    /// from the Grpc.Tools NuGet package) on the repository's proto/ex4d/v1/*.proto, writes the
    /// client code into Assets/Ex4dGenerated with an Ex4d.V1 assembly definition, and adds
    /// the EX4D_BRIDGE_GRPC scripting define that enables the package's gRPC layer
    /// (Ex4d.Bridge.Grpc). The same command line is printed, for running it by hand.
    /// </summary>
    public static class Ex4dProtoCodegen
    {
        public const string Define = "EX4D_BRIDGE_GRPC";
        const string OutputFolder = "Assets/Ex4dGenerated";
        const string PrefProtoc = "Ex4d.Bridge.ProtocPath";
        const string PrefPlugin = "Ex4d.Bridge.GrpcPluginPath";
        const string PrefProtoRoot = "Ex4d.Bridge.ProtoRoot";

        [MenuItem("Tools/Ex4d Bridge/Generate gRPC C# code...")]
        public static void Generate()
        {
            string protoRoot = FindProtoRoot();
            if (protoRoot == null) return;
            string protoc = FindTool("protoc", PrefProtoc);
            if (protoc == null) return;
            string plugin = FindTool("grpc_csharp_plugin", PrefPlugin);
            if (plugin == null) return;
            // Unzipped from the .nupkg without the execute bit (and quarantined on macOS).
            bool windows = Application.platform == RuntimePlatform.WindowsEditor;
            bool macOS = Application.platform == RuntimePlatform.OSXEditor;
            foreach (var tool in new[] { protoc, plugin })
            {
                string problem = ToolPermissions.MakeRunnable(tool, windows, macOS);
                if (problem != null)
                {
                    Debug.LogError("[Ex4d] " + problem);
                    return;
                }
            }

            string output = Path.GetFullPath(OutputFolder);
            Directory.CreateDirectory(output);
            var protos = Directory.GetFiles(Path.Combine(protoRoot, "ex4d", "v1"), "*.proto")
                .Select(p => "ex4d/v1/" + Path.GetFileName(p)).OrderBy(p => p).ToArray();
            if (protos.Length == 0)
            {
                Debug.LogError("[Ex4d] no .proto files under " + protoRoot + "/ex4d/v1");
                return;
            }
            var args = new StringBuilder();
            args.Append("-I").Append(Quote(protoRoot))
                .Append(" --csharp_out=").Append(Quote(output))
                .Append(" --grpc_out=").Append(Quote(output))
                .Append(" --grpc_opt=no_server")
                .Append(" --plugin=protoc-gen-grpc=").Append(Quote(plugin));
            foreach (var p in protos) args.Append(' ').Append(p);
            Debug.Log("[Ex4d] " + Quote(protoc) + " " + args);

            var info = new ProcessStartInfo(protoc, args.ToString())
            {
                UseShellExecute = false,
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                CreateNoWindow = true,
                WorkingDirectory = protoRoot,
            };
            using (var process = Process.Start(info))
            {
                string stderr = process.StandardError.ReadToEnd();
                process.WaitForExit();
                if (process.ExitCode != 0)
                {
                    Debug.LogError("[Ex4d] protoc failed (" + process.ExitCode + "): " + stderr);
                    return;
                }
            }
            File.WriteAllText(Path.Combine(output, "Ex4d.V1.asmdef"), AsmdefJson);
            AddDefine();
            AssetDatabase.Refresh();
            Debug.Log("[Ex4d] generated the ex4d.v1 client into " + OutputFolder + " and defined "
                + Define + "; the gRPC layer compiles next.");
        }

        [MenuItem("Tools/Ex4d Bridge/Remove the gRPC define")]
        public static void RemoveDefine()
        {
            foreach (var target in Targets())
            {
                var defines = Defines(target);
                if (defines.Remove(Define))
                    PlayerSettings.SetScriptingDefineSymbols(target, string.Join(";", defines));
            }
        }

        const string AsmdefJson = @"{
    ""name"": ""Ex4d.V1"",
    ""rootNamespace"": ""Ex4d.V1"",
    ""references"": [],
    ""includePlatforms"": [],
    ""excludePlatforms"": [],
    ""allowUnsafeCode"": false,
    ""overrideReferences"": false,
    ""precompiledReferences"": [],
    ""autoReferenced"": true,
    ""defineConstraints"": [],
    ""versionDefines"": [],
    ""noEngineReferences"": true
}
";

        static IEnumerable<NamedBuildTarget> Targets()
        {
            yield return NamedBuildTarget.Standalone;
            yield return NamedBuildTarget.Android;
            yield return NamedBuildTarget.iOS;
        }

        static List<string> Defines(NamedBuildTarget target)
        {
            return PlayerSettings.GetScriptingDefineSymbols(target)
                .Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries).ToList();
        }

        static void AddDefine()
        {
            foreach (var target in Targets())
            {
                var defines = Defines(target);
                if (defines.Contains(Define)) continue;
                defines.Add(Define);
                PlayerSettings.SetScriptingDefineSymbols(target, string.Join(";", defines));
            }
        }

        static string Quote(string path)
        {
            return path.Contains(" ") ? "\"" + path + "\"" : path;
        }

        /// <summary>proto/ next to the package when it was added from a checkout of the
        /// repository (Packages/manifest.json: "file:../../ex4d-bridge/unity_client"), else the
        /// folder remembered from last time, else ask.</summary>
        static string FindProtoRoot()
        {
            var candidates = new List<string>();
            var package = UnityEditor.PackageManager.PackageInfo.FindForAssembly(
                typeof(Ex4dProtoCodegen).Assembly);
            if (package != null && !string.IsNullOrEmpty(package.resolvedPath))
                candidates.Add(Path.Combine(Path.GetDirectoryName(package.resolvedPath), "proto"));
            candidates.Add(EditorPrefs.GetString(PrefProtoRoot, ""));
            foreach (var c in candidates)
                if (!string.IsNullOrEmpty(c) && Directory.Exists(Path.Combine(c, "ex4d", "v1")))
                    return c;
            string chosen = EditorUtility.OpenFolderPanel(
                "The ex4d-bridge repository's proto folder (holds ex4d/v1/*.proto)", "", "proto");
            if (string.IsNullOrEmpty(chosen)) return null;
            if (!Directory.Exists(Path.Combine(chosen, "ex4d", "v1")))
            {
                Debug.LogError("[Ex4d] " + chosen + " has no ex4d/v1 folder; pick the repository's "
                    + "proto folder");
                return null;
            }
            EditorPrefs.SetString(PrefProtoRoot, chosen);
            return chosen;
        }

        /// <summary>The Grpc.Tools binary for this editor's platform: the remembered path,
        /// else a search of the NuGet packages in the project (NuGetForUnity keeps them under
        /// Assets/Packages), else ask.</summary>
        static string FindTool(string name, string pref)
        {
            string remembered = EditorPrefs.GetString(pref, "");
            if (File.Exists(remembered)) return remembered;
            string exe = Application.platform == RuntimePlatform.WindowsEditor ? name + ".exe" : name;
            string[] platformDirs;
            switch (Application.platform)
            {
                case RuntimePlatform.WindowsEditor:
                    platformDirs = new[] { "windows_x64", "windows_x86" };
                    break;
                case RuntimePlatform.OSXEditor:
                    platformDirs = new[] { "macosx_arm64", "macosx_x64" };
                    break;
                default:
                    platformDirs = new[] { "linux_x64", "linux_arm64" };
                    break;
            }
            foreach (var root in new[] { "Assets/Packages", "Packages" })
            {
                if (!Directory.Exists(root)) continue;
                foreach (var dir in Directory.GetDirectories(root, "Grpc.Tools*"))
                    foreach (var platform in platformDirs)
                    {
                        string path = Path.GetFullPath(Path.Combine(dir, "tools", platform, exe));
                        if (File.Exists(path)) return Remember(pref, path);
                    }
            }
            string chosen = EditorUtility.OpenFilePanel("Grpc.Tools " + exe
                + " (from the Grpc.Tools NuGet package: tools/<platform>/)", "", "");
            if (string.IsNullOrEmpty(chosen)) return null;
            return Remember(pref, chosen);
        }

        static string Remember(string pref, string path)
        {
            EditorPrefs.SetString(pref, path);
            return path;
        }
    }
}
