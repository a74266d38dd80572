// Engine-independent core of the ex4d-bridge Unity client (no UnityEngine, C# 7.2).
using System;

namespace Ex4d.Bridge.Core
{
    /// <summary>
    /// A wire payload that cannot be decoded: truncated or corrupt data, sizes that disagree,
    /// or values the contract does not define. The message names the field and what was wrong,
    /// so a player can log it and keep showing its last good frame.
    /// </summary>
    public class Ex4dFormatException : FormatException
    {
        public Ex4dFormatException(string message) : base(message) { }

        public Ex4dFormatException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>Bad input from the calling code (a NaN pose, a zero quaternion, time going
    /// backwards in a recording). Distinct from <see cref="Ex4dFormatException"/>, which is
    /// about bytes that came over the wire.</summary>
    public class Ex4dArgumentException : ArgumentException
    {
        public Ex4dArgumentException(string message) : base(message) { }
    }
}
