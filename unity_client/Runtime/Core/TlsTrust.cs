using System;
using System.Collections.Generic;
using System.Text;

namespace Ex4d.Bridge.Core
{
    /// <summary>How the client checks the server's TLS certificate.</summary>
    public enum TlsTrustMode
    {
        /// <summary>http://: HTTP/2 without TLS (h2c).</summary>
        Cleartext = 0,
        /// <summary>https:// verified against the handler's built-in public roots.</summary>
        PublicRoots = 1,
        /// <summary>https:// verified against the given PEM certificates only (a self-signed
        /// server certificate, or the private CA that issued it).</summary>
        CustomRoots = 2,
        /// <summary>https:// without any verification (development builds only).</summary>
        SkipVerification = 3,
    }

    /// <summary>The checked TLS settings of a connection.</summary>
    public sealed class TlsTrustPlan
    {
        public TlsTrustMode Mode;
        /// <summary>The certificates, normalised (one PEM block after another, \n line ends);
        /// null unless Mode is CustomRoots.</summary>
        public string RootCertificatesPem;
        public int CertificateCount;
        /// <summary>Something to log (null when there is nothing to say).</summary>
        public string Warning;
    }

    /// <summary>
    /// Checks the client's TLS options against the address before any connection is made, so a
    /// mistake gets a message saying what to change instead of an opaque handshake failure: the
    /// root certificates must be PEM certificates (not a key, not DER), they and the skip flag
    /// only make sense with https://, and skipping verification is refused outside development
    /// builds.
    /// </summary>
    public static class TlsTrust
    {
        const string Begin = "-----BEGIN ";
        const string End = "-----END ";
        const string Dashes = "-----";

        public static TlsTrustPlan Resolve(string address, string rootCertificatesPem,
            bool skipVerification, bool developmentBuild)
        {
            string a = (address ?? "").Trim();
            bool https = a.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
            bool http = a.StartsWith("http://", StringComparison.OrdinalIgnoreCase);
            if (!https && !http)
                throw new Ex4dArgumentException("address '" + a + "' must start with http:// "
                    + "(no TLS) or https:// (the server runs with --tls-cert)");
            bool hasRoots = !string.IsNullOrWhiteSpace(rootCertificatesPem);
            if (http)
            {
                if (hasRoots || skipVerification)
                    throw new Ex4dArgumentException("root certificates and skipping certificate "
                        + "verification only apply to TLS: use an https:// address (the server "
                        + "must run with --tls-cert/--tls-key)");
                return new TlsTrustPlan { Mode = TlsTrustMode.Cleartext };
            }
            if (skipVerification)
            {
                if (hasRoots)
                    throw new Ex4dArgumentException("set either root certificates or skip "
                        + "certificate verification, not both (with the server's certificate as "
                        + "root certificate nothing needs skipping)");
                if (!developmentBuild)
                    throw new Ex4dArgumentException("skipping certificate verification is only "
                        + "allowed in the editor and development builds: give the server's "
                        + "certificate (--tls-cert) or its CA as root certificates instead");
                return new TlsTrustPlan
                {
                    Mode = TlsTrustMode.SkipVerification,
                    Warning = "TLS certificate verification is OFF (development only): anyone on "
                        + "the network path can pose as the server and read the token",
                };
            }
            if (!hasRoots) return new TlsTrustPlan { Mode = TlsTrustMode.PublicRoots };
            int count;
            string pem = NormalizeCertificates(rootCertificatesPem, out count);
            return new TlsTrustPlan
            {
                Mode = TlsTrustMode.CustomRoots,
                RootCertificatesPem = pem,
                CertificateCount = count,
            };
        }

        /// <summary>
        /// The PEM CERTIFICATE blocks of <paramref name="text"/> (text around them, such as the
        /// comments of a CA bundle, is dropped), re-emitted with \n line ends. Throws with what to
        /// do when there is none, when a block is something else (a private key) or when a
        /// block's body is not base64 of a DER structure.
        /// </summary>
        public static string NormalizeCertificates(string text, out int count)
        {
            var blocks = new List<string>();
            int at = 0;
            while (true)
            {
                int begin = text.IndexOf(Begin, at, StringComparison.Ordinal);
                if (begin < 0) break;
                int labelEnd = text.IndexOf(Dashes, begin + Begin.Length, StringComparison.Ordinal);
                if (labelEnd < 0) throw Bad("a BEGIN line is not closed with -----");
                string label = text.Substring(begin + Begin.Length, labelEnd - begin - Begin.Length);
                string endMarker = End + label + Dashes;
                int end = text.IndexOf(endMarker, labelEnd, StringComparison.Ordinal);
                if (label.Contains("PRIVATE KEY"))
                    throw Bad("they hold a private key (BEGIN " + label + "): give the "
                        + "certificate (the server's --tls-cert file or its CA's), never a key");
                if (label != "CERTIFICATE")
                    throw Bad("they hold a '" + label + "' block: only CERTIFICATE blocks are "
                        + "root certificates");
                if (end < 0) throw Bad("a CERTIFICATE block has no END line");
                string body = text.Substring(labelEnd + Dashes.Length,
                    end - labelEnd - Dashes.Length);
                var b64 = new StringBuilder(body.Length);
                foreach (char c in body)
                    if (!char.IsWhiteSpace(c)) b64.Append(c);
                byte[] der;
                try
                {
                    der = Convert.FromBase64String(b64.ToString());
                }
                catch (FormatException)
                {
                    throw Bad("certificate " + (blocks.Count + 1) + " is not valid base64");
                }
                // An X.509 certificate is a DER SEQUENCE (tag 0x30) with content.
                if (der.Length < 16 || der[0] != 0x30)
                    throw Bad("certificate " + (blocks.Count + 1) + " is not a DER certificate");
                var sb = new StringBuilder();
                sb.Append("-----BEGIN CERTIFICATE-----\n");
                string s = b64.ToString();
                for (int i = 0; i < s.Length; i += 64)
                    sb.Append(s, i, Math.Min(64, s.Length - i)).Append('\n');
                sb.Append("-----END CERTIFICATE-----\n");
                blocks.Add(sb.ToString());
                at = end + endMarker.Length;
            }
            if (blocks.Count == 0)
                throw Bad("no '-----BEGIN CERTIFICATE-----' block found: give the PEM text of "
                    + "the server's certificate or its CA (a DER .cer file must be converted: "
                    + "openssl x509 -inform der -in ca.cer -out ca.pem)");
            count = blocks.Count;
            return string.Concat(blocks);
        }

        static Ex4dArgumentException Bad(string what)
        {
            return new Ex4dArgumentException("root certificates: " + what);
        }
    }
}
