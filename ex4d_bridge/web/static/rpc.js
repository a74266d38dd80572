// A gRPC-Web client over fetch (binary mode): unary and server-streaming calls of ex4d.v1.Bridge.
(function (root) {
  "use strict";
  const CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

  class RpcError extends Error {
    constructor(code, message) {
      super(`${CODES[code] || code}: ${message}`);
      this.code = code;
      this.codeName = CODES[code] || String(code);
      this.details = message;
    }
  }

  function parseTrailers(bytes) {
    const out = {};
    for (const line of new TextDecoder().decode(bytes).split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return out;
  }

  // Yields each reply message (Uint8Array); throws RpcError for a non-OK status.
  async function* call(base, method, requestBytes, token, signal) {
    const body = new Uint8Array(5 + requestBytes.length);
    new DataView(body.buffer).setUint32(1, requestBytes.length, false);
    body.set(requestBytes, 5);
    const headers = { "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const resp = await fetch(`${base}ex4d.v1.Bridge/${method}`, { method: "POST", headers, body, signal });
    if (!resp.ok) throw new RpcError(14, `HTTP ${resp.status}: ${await resp.text()}`);
    const reader = resp.body.getReader();
    let buf = new Uint8Array(0);
    let trailers = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (value) {
        const next = new Uint8Array(buf.length + value.length);
        next.set(buf);
        next.set(value, buf.length);
        buf = next;
        let pos = 0;
        while (buf.length - pos >= 5) {
          const flag = buf[pos];
          const len = new DataView(buf.buffer, buf.byteOffset + pos + 1, 4).getUint32(0, false);
          if (buf.length - pos - 5 < len) break;
          const payload = buf.slice(pos + 5, pos + 5 + len);
          pos += 5 + len;
          if (flag & 0x80) trailers = parseTrailers(payload);
          else yield payload;
        }
        buf = buf.slice(pos);
      }
      if (done) break;
    }
    const status = trailers ? Number(trailers["grpc-status"]) : 13;
    if (status !== 0) {
      const message = trailers ? decodeURIComponent(trailers["grpc-message"] || "") : "the reply ended without a status";
      throw new RpcError(status, message);
    }
  }

  async function unary(base, method, requestBytes, token, signal) {
    let reply = null;
    for await (const m of call(base, method, requestBytes, token, signal)) reply = m;
    if (reply === null) throw new RpcError(13, `${method} returned no message`);
    return reply;
  }

  const api = { RpcError, CODES, call, unary };
  root.Ex4dRpc = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof self !== "undefined" ? self : globalThis);
