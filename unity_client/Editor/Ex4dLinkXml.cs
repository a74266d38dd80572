using System.IO;
using UnityEditor.Build;
using UnityEditor.Build.Reporting;
using UnityEditor.UnityLinker;
using UnityEngine;

namespace Ex4d.Bridge.Editor
{
    /// <summary>
    /// Gives the package's link.xml (Google.Protobuf, Grpc.*, the generated Ex4d.V1 client) to
    /// UnityLinker. Unity only picks up link.xml files under Assets/, so a package's own file has
    /// to be handed over this way, or IL2CPP's stripping may remove code the gRPC client only
    /// reaches by reflection. Only while the gRPC layer is compiled (EX4D_BRIDGE_GRPC): without
    /// it those assemblies are not in the build and naming them would fail the link.
    /// </summary>
    internal sealed class Ex4dLinkXml : IUnityLinkerProcessor
    {
        public int callbackOrder { get { return 0; } }

        public string GenerateAdditionalLinkXmlFile(BuildReport report,
            UnityLinkerBuildPipelineData data)
        {
#if EX4D_BRIDGE_GRPC
            var package = UnityEditor.PackageManager.PackageInfo.FindForAssembly(
                typeof(Ex4dLinkXml).Assembly);
            string path = package != null
                ? Path.Combine(package.resolvedPath, "link.xml")
                : Path.GetFullPath("Packages/com.ex4d.bridge/link.xml");
            if (File.Exists(path)) return path;
            Debug.LogWarning("[Ex4d] link.xml not found at " + path + ": IL2CPP may strip "
                + "Google.Protobuf/Grpc code; copy the package's link.xml into Assets/");
#endif
            return null;
        }

#if !UNITY_2021_2_OR_NEWER
        public void OnBeforeRun(BuildReport report, UnityLinkerBuildPipelineData data) { }

        public void OnAfterRun(BuildReport report, UnityLinkerBuildPipelineData data) { }
#endif
    }
}
