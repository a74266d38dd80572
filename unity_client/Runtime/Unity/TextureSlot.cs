using System;
using Ex4d.Bridge.Core;
using Unity.Collections;
using UnityEngine;

namespace Ex4d.Bridge
{
    /// <summary>
    /// One texture that receives decoded images every frame without garbage: raw bytes are
    /// copied into the texture's own memory (GetPixelData) and uploaded; JPEG/PNG bytes are
    /// decoded by Texture2D.LoadImage into the same texture, whatever format LoadImage gives
    /// it. A raw upload recreates the texture only when size or format changes.
    /// <see cref="TopRowFirst"/> says how rows are stored, for the shaders.
    /// </summary>
    internal sealed class TextureSlot : IDisposable
    {
        readonly string _name;
        readonly bool _linear;
        byte[] _scratch = new byte[0];

        public TextureSlot(string name, bool linear)
        {
            _name = name;
            _linear = linear;
        }

        public Texture2D Texture { get; private set; }
        /// <summary>True when row 0 of the texture is the image's top row (raw uploads).
        /// </summary>
        public bool TopRowFirst { get; private set; }

        Texture2D Ensure(int width, int height, TextureFormat format)
        {
            var t = Texture;
            if (t != null && t.width == width && t.height == height && t.format == format) return t;
            if (t != null) UnityObjects.Destroy(t);
            t = new Texture2D(width, height, format, false, _linear)
            {
                name = _name,
                wrapMode = TextureWrapMode.Clamp,
                filterMode = FilterMode.Bilinear,
            };
            Texture = t;
            return t;
        }

        /// <summary>Width*height*channels bytes, top row first (RGB24 or R8).</summary>
        public void UploadRaw(byte[] data, int width, int height, TextureFormat format)
        {
            var t = Ensure(width, height, format);
            NativeArray<byte> pixels = t.GetPixelData<byte>(0);
            NativeArray<byte>.Copy(data, 0, pixels, 0, pixels.Length);
            t.Apply(false, false);
            TopRowFirst = true;
        }

        /// <summary>JPEG or PNG bytes. Texture2D.LoadImage wants an array holding exactly the
        /// image; a slice of a larger array is copied into a scratch array first (reused while
        /// the size stays the same).</summary>
        public bool UploadEncoded(ByteSlice data)
        {
            // LoadImage resizes and reformats the texture in place: RGB24 for JPEG, ARGB32 for
            // PNG (RGBA64, R8 or R16 for some PNG types). Any existing texture is reused; asking
            // for RGB24 here destroyed and recreated a PNG texture on every frame.
            var t = Texture;
            if (t == null) t = Ensure(2, 2, TextureFormat.RGB24); // Unity's null: also destroyed
            byte[] bytes = data.Array;
            if (data.Offset != 0 || data.Count != data.Array.Length)
            {
                if (_scratch.Length != data.Count) _scratch = new byte[data.Count];
                Buffer.BlockCopy(data.Array, data.Offset, _scratch, 0, data.Count);
                bytes = _scratch;
            }
            bool ok = t.LoadImage(bytes, false);
            TopRowFirst = false;
            return ok;
        }

        public void Dispose()
        {
            if (Texture != null) UnityObjects.Destroy(Texture);
            Texture = null;
        }
    }

    internal static class UnityObjects
    {
        /// <summary>Destroy in play mode, DestroyImmediate in edit mode (where Destroy is not
        /// allowed).</summary>
        public static void Destroy(UnityEngine.Object o)
        {
            if (o == null) return;
            if (Application.isPlaying) UnityEngine.Object.Destroy(o);
            else UnityEngine.Object.DestroyImmediate(o);
        }
    }
}
