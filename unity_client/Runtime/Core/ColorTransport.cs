namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// Which colour encoding a client asks the server for. JPEG and PNG need an image decoder
    /// (Texture2D.LoadImage in Unity, on the main thread: several ms per 512x512 frame on a
    /// standalone headset, out of a 13.9 ms frame at 72 Hz). Raw RGB, zlib-compressed by the
    /// server, is inflated by the core on its decode thread and copied straight into the
    /// texture, so the main thread never decodes an image; it costs more bytes on the link.
    /// </summary>
    public static class ColorTransport
    {
        /// <summary>True for encodings the core cannot decode (JPEG, PNG; Unspecified means
        /// JPEG): the engine must decode them.</summary>
        public static bool NeedsImageDecoder(ImageEncoding encoding)
        {
            return encoding != ImageEncoding.RawRgb;
        }

        /// <summary>The encoding to request: RawRgb when <paramref name="offMainThreadOnly"/>
        /// (the quality budget allows no image decoding on the main thread), else
        /// <paramref name="requested"/>.</summary>
        public static ImageEncoding ForRequest(ImageEncoding requested, bool offMainThreadOnly)
        {
            return offMainThreadOnly && NeedsImageDecoder(requested) ? ImageEncoding.RawRgb : requested;
        }
    }
}
