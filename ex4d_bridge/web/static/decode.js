// MeshFrame and CompletionLayerFrame decoding (the rules of geometry.proto), for the worker.
// Returns typed arrays ready for GPU textures; every check of ex4d_bridge.wire's decoders that
// guards a size is repeated here, so a bad frame is an error, not a corrupt picture.
(function (root) {
  "use strict";
  const E = {
    DEPTH_UINT16_INVERSE: 1, DEPTH_FLOAT16: 2, DEPTH_FLOAT32: 3, PRED_NONE: 0, PRED_GRADIENT: 1,
    IMG_UNSPECIFIED: 0, IMG_JPEG: 1, IMG_RAW: 2, IMG_PNG: 3, COMP_NONE: 0, COMP_ZLIB: 1,
    TOPOLOGY_GRID_FAN_V1: 1,
  };
  const UINT16_STEPS = 65534;
  const FAR_CODE = 65535;

  class DecodeError extends Error {}

  function num(v) {
    // uint64 fields arrive as numbers (no Long library is loaded) or as {low, high}.
    if (typeof v === "number") return v;
    if (v && typeof v.toNumber === "function") return v.toNumber();
    if (v && typeof v.low === "number") return v.high * 4294967296 + (v.low >>> 0);
    return Number(v || 0);
  }

  // zlib (RFC 1950) with the browser's DecompressionStream, stopped as soon as the output would
  // exceed `expected` bytes (a hostile stream cannot inflate past it).
  async function inflate(data, compression, expected, what) {
    let out;
    if (!compression) {
      out = data;
    } else if (compression === E.COMP_ZLIB) {
      const ds = new DecompressionStream("deflate");
      const writer = ds.writable.getWriter();
      writer.write(data).catch(() => {});
      writer.close().catch(() => {});
      const reader = ds.readable.getReader();
      out = new Uint8Array(expected);
      let n = 0;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (n + value.length > expected) {
            reader.cancel().catch(() => {});
            throw new DecodeError(`${what}: more than the expected ${expected} bytes`);
          }
          out.set(value, n);
          n += value.length;
        }
      } catch (e) {
        if (e instanceof DecodeError) throw e;
        throw new DecodeError(`${what}: corrupt zlib data (${e.message})`);
      }
      if (n !== expected) throw new DecodeError(`${what}: expected ${expected} bytes, got ${n}`);
      return out;
    } else {
      throw new DecodeError(`${what}: unknown compression ${compression}`);
    }
    if (out.length !== expected) throw new DecodeError(`${what}: expected ${expected} bytes, got ${out.length}`);
    return out;
  }

  function halfToFloat(h) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return s * f * 2 ** -24;
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1 + f / 1024) * 2 ** (e - 15);
  }

  // DepthMap -> Float32Array (row-major H x W); far codes -> far_code_depth. The arithmetic is
  // wire.depth.decode_depth's, in float64 then rounded to float32, so the values are identical.
  async function decodeDepth(msg) {
    const w = msg.width, h = msg.height, n = w * h;
    const farCode = Math.fround(msg.farCodeDepth);
    const out = new Float32Array(n);
    if (msg.encoding === E.DEPTH_UINT16_INVERSE) {
      const raw = await inflate(msg.data, msg.compression, n * 2, "depth");
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const q = new Uint16Array(n);
      for (let i = 0; i < n; i++) q[i] = dv.getUint16(2 * i, true);
      if (msg.predictor === E.PRED_GRADIENT) {
        // 2D prefix sum modulo 2^16: down the columns, then along the rows.
        for (let i = 1; i < h; i++) for (let j = 0; j < w; j++) q[i * w + j] += q[(i - 1) * w + j];
        for (let i = 0; i < h; i++) for (let j = 1; j < w; j++) q[i * w + j] += q[i * w + j - 1];
      } else if (msg.predictor !== E.PRED_NONE) {
        throw new DecodeError(`unknown depth predictor ${msg.predictor}`);
      }
      const near = msg.near, far = msg.far;
      if (!(near > 0 && far >= near)) throw new DecodeError(`depth range near=${near}, far=${far} is invalid`);
      const step = (1.0 / near - 1.0 / far) / UINT16_STEPS;
      for (let i = 0; i < n; i++) out[i] = q[i] === FAR_CODE ? farCode : 1.0 / (1.0 / far + q[i] * step);
      return out;
    }
    if (msg.encoding === E.DEPTH_FLOAT16 || msg.encoding === E.DEPTH_FLOAT32) {
      const half = msg.encoding === E.DEPTH_FLOAT16;
      const raw = await inflate(msg.data, msg.compression, n * (half ? 2 : 4), "depth");
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < n; i++) {
        const v = half ? halfToFloat(dv.getUint16(2 * i, true)) : dv.getFloat32(4 * i, true);
        out[i] = Number.isFinite(v) ? v : farCode;
      }
      return out;
    }
    throw new DecodeError(`unknown depth encoding ${msg.encoding}`);
  }

  // Image -> {rgb: Uint8Array} (raw) or {bitmap: ImageBitmap} (JPEG/PNG, decoded off the main
  // thread by the browser's image decoder).
  async function decodeImage(msg) {
    const w = msg.width, h = msg.height;
    if (msg.encoding === E.IMG_RAW) {
      return { rgb: await inflate(msg.data, msg.compression, w * h * 3, "raw image"), width: w, height: h };
    }
    if (![E.IMG_UNSPECIFIED, E.IMG_JPEG, E.IMG_PNG].includes(msg.encoding)) {
      throw new DecodeError(`unknown image encoding ${msg.encoding}`);
    }
    const type = msg.encoding === E.IMG_PNG ? "image/png" : "image/jpeg";
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([msg.data], { type }), {
        colorSpaceConversion: "none", premultiplyAlpha: "none",
      });
    } catch (e) {
      throw new DecodeError("image data does not decode");
    }
    if (bitmap.width !== w || bitmap.height !== h) throw new DecodeError("image data does not decode to the stated size");
    return { bitmap, width: w, height: h };
  }

  // Occluded-face bits -> one byte per pixel quad: bit 0 its [BL, TL, TR] face, bit 1 its
  // [BL, TR, BR] face (the cap fan is never drawn: its faces are always occluded).
  async function decodeOccluded(msg, h, w, numFaces) {
    const quads = (h - 1) * (w - 1);
    const flags = new Uint8Array(quads);
    const count = msg ? num(msg.count) : 0;
    if (!count) return flags;
    if (count !== numFaces) throw new DecodeError("the occluded bits do not match the topology's face count");
    const bits = await inflate(msg.data, msg.compression, Math.ceil(count / 8), "bit set");
    const bit = (k) => (bits[k >> 3] >> (7 - (k & 7))) & 1;
    for (let q = 0; q < quads; q++) flags[q] = bit(q) | (bit(quads + q) << 1);
    return flags;
  }

  function intrinsicsOf(k) {
    return { fx: k.fx, fy: k.fy, cx: k.cx, cy: k.cy, width: k.width, height: k.height };
  }

  // A MeshFrame message (protobufjs object) -> what the renderer needs, plus the transfer list.
  async function decodeMeshFrame(frame) {
    if (frame.topology !== E.TOPOLOGY_GRID_FAN_V1) throw new DecodeError(`unknown mesh topology ${frame.topology}; update the page`);
    const k = frame.intrinsics;
    if (!k || k.width < 2 || k.height < 2 || k.width > 4096 || k.height > 4096) throw new DecodeError("mesh frame size out of range");
    const h = k.height, w = k.width;
    const numFaces = 2 * (h - 1) * (w - 1) + 2 * (h + w) - 4;
    if (num(frame.numFaces) !== numFaces) throw new DecodeError("the frame's face count does not match its topology");
    if (!frame.depth || frame.depth.width !== w || frame.depth.height !== h) throw new DecodeError("the depth map and the intrinsics disagree on the frame size");
    if (!frame.color || frame.color.width !== w || frame.color.height !== h) throw new DecodeError("the colour image and the depth map disagree on the frame size");
    const [depth, color, occluded] = await Promise.all([
      decodeDepth(frame.depth), decodeImage(frame.color), decodeOccluded(frame.occluded, h, w, numFaces),
    ]);
    const out = {
      frameIndex: frame.frameIndex, numFrames: frame.numFrames, timeS: frame.timeS,
      intrinsics: intrinsicsOf(k), farDepth: frame.closure ? frame.closure.farDepth : 0,
      depth, color, occluded,
    };
    const transfer = [depth.buffer, occluded.buffer, color.bitmap || color.rgb.buffer];
    return { mesh: out, transfer };
  }

  // The faces whose occluded bit is 0, as vertex indices (i * W + j) for an indexed draw, in
  // the face order of the grid: a layer keeps only a small part of its crop box, so drawing
  // just these is what keeps many layers cheap.
  function visibleFaceIndices(flags, h, w) {
    let n = 0;
    for (let q = 0; q < flags.length; q++) n += ((flags[q] & 1) ^ 1) + ((flags[q] >> 1) ^ 1);
    const out = new Uint32Array(3 * n);
    let k = 0;
    for (let t = 0; t < 2; t++) {
      for (let i = 0; i < h - 1; i++) {
        for (let j = 0; j < w - 1; j++) {
          if ((flags[i * (w - 1) + j] >> t) & 1) continue;
          const tl = i * w + j, tr = tl + 1, bl = tl + w, br = bl + 1;
          out[k++] = bl;
          out[k++] = t === 0 ? tl : tr;
          out[k++] = t === 0 ? tr : br;
        }
      }
    }
    return out;
  }

  // CompletionLayerFrame -> its padded-crop mesh (with the indices of its visible faces) and its
  // pose (OpenCV c2w in the scene's world).
  async function decodeLayer(layer, poses) {
    const { mesh, transfer } = await decodeMeshFrame(layer.mesh);
    const k = mesh.intrinsics;
    mesh.indices = visibleFaceIndices(mesh.occluded, k.height, k.width);
    transfer.push(mesh.indices.buffer);
    const p = layer.pose;
    const sys = poses.systemFromWire(p.coordinateSystem);
    const c2w = poses.poseFromWire(
      [p.position.x, p.position.y, p.position.z],
      [p.rotation.x, p.rotation.y, p.rotation.z, p.rotation.w], sys);
    mesh.layerIndex = layer.layerIndex;
    mesh.generation = layer.generation;
    mesh.pose = c2w;
    return { mesh, transfer };
  }

  const api = { E, DecodeError, inflate, decodeDepth, decodeImage, decodeOccluded, decodeMeshFrame, decodeLayer, visibleFaceIndices, num };
  root.Ex4dDecode = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof self !== "undefined" ? self : globalThis);
