using System.Runtime.CompilerServices;

// GridMesh and TextureSlot are internal; the edit-mode tests exercise the CPU mesh path.
[assembly: InternalsVisibleTo("Ex4d.Bridge.Tests")]
