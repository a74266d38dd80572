// A small JSON reader for the test vectors (no JSON library ships with mono's base install
// or with every Unity profile). Objects become Dictionary<string, object>, arrays
// List<object>, numbers double, plus string, bool and null.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Ex4d.Bridge.Core.Tests
{
    public static class MiniJson
    {
        public static object Parse(string text)
        {
            int pos = 0;
            object value = ParseValue(text, ref pos);
            SkipSpace(text, ref pos);
            if (pos != text.Length) throw Error(text, pos, "trailing characters");
            return value;
        }

        static FormatException Error(string text, int pos, string why)
        {
            return new FormatException("JSON: " + why + " at offset " + pos);
        }

        static void SkipSpace(string s, ref int pos)
        {
            while (pos < s.Length && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r'
                || s[pos] == '\t'))
                pos++;
        }

        static object ParseValue(string s, ref int pos)
        {
            SkipSpace(s, ref pos);
            if (pos >= s.Length) throw Error(s, pos, "unexpected end");
            char c = s[pos];
            if (c == '{') return ParseObject(s, ref pos);
            if (c == '[') return ParseArray(s, ref pos);
            if (c == '"') return ParseString(s, ref pos);
            if (Match(s, ref pos, "true")) return true;
            if (Match(s, ref pos, "false")) return false;
            if (Match(s, ref pos, "null")) return null;
            if (Match(s, ref pos, "NaN")) return double.NaN;
            if (Match(s, ref pos, "Infinity")) return double.PositiveInfinity;
            if (Match(s, ref pos, "-Infinity")) return double.NegativeInfinity;
            return ParseNumber(s, ref pos);
        }

        static bool Match(string s, ref int pos, string word)
        {
            if (string.CompareOrdinal(s, pos, word, 0, word.Length) != 0) return false;
            pos += word.Length;
            return true;
        }

        static Dictionary<string, object> ParseObject(string s, ref int pos)
        {
            var d = new Dictionary<string, object>();
            pos++;
            SkipSpace(s, ref pos);
            if (pos < s.Length && s[pos] == '}')
            {
                pos++;
                return d;
            }
            while (true)
            {
                SkipSpace(s, ref pos);
                if (pos >= s.Length || s[pos] != '"') throw Error(s, pos, "expected a key");
                string key = ParseString(s, ref pos);
                SkipSpace(s, ref pos);
                if (pos >= s.Length || s[pos] != ':') throw Error(s, pos, "expected ':'");
                pos++;
                d[key] = ParseValue(s, ref pos);
                SkipSpace(s, ref pos);
                if (pos < s.Length && s[pos] == ',')
                {
                    pos++;
                    continue;
                }
                if (pos < s.Length && s[pos] == '}')
                {
                    pos++;
                    return d;
                }
                throw Error(s, pos, "expected ',' or '}'");
            }
        }

        static List<object> ParseArray(string s, ref int pos)
        {
            var list = new List<object>();
            pos++;
            SkipSpace(s, ref pos);
            if (pos < s.Length && s[pos] == ']')
            {
                pos++;
                return list;
            }
            while (true)
            {
                list.Add(ParseValue(s, ref pos));
                SkipSpace(s, ref pos);
                if (pos < s.Length && s[pos] == ',')
                {
                    pos++;
                    continue;
                }
                if (pos < s.Length && s[pos] == ']')
                {
                    pos++;
                    return list;
                }
                throw Error(s, pos, "expected ',' or ']'");
            }
        }

        static string ParseString(string s, ref int pos)
        {
            var sb = new StringBuilder();
            pos++;
            while (pos < s.Length)
            {
                char c = s[pos++];
                if (c == '"') return sb.ToString();
                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }
                if (pos >= s.Length) break;
                char e = s[pos++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (pos + 4 > s.Length) throw Error(s, pos, "bad \\u escape");
                        sb.Append((char)int.Parse(s.Substring(pos, 4), NumberStyles.HexNumber,
                            CultureInfo.InvariantCulture));
                        pos += 4;
                        break;
                    default: throw Error(s, pos, "bad escape");
                }
            }
            throw Error(s, pos, "unterminated string");
        }

        static double ParseNumber(string s, ref int pos)
        {
            int start = pos;
            while (pos < s.Length && "+-0123456789.eE".IndexOf(s[pos]) >= 0) pos++;
            if (pos == start) throw Error(s, pos, "unexpected character '" + s[pos] + "'");
            return double.Parse(s.Substring(start, pos - start), NumberStyles.Float,
                CultureInfo.InvariantCulture);
        }
    }
}
