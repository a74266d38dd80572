#!/usr/bin/env node
// Node.js client of the ex4d-bridge server: streams a scene's geometry with its completion
// layers (StreamGeometry, include_completions) and rebuilds every layer's visible faces in world
// coordinates by the rules in proto/ex4d/v1/geometry.proto (CompletionLayerFrame), with no
// dependency beyond grpc-js.
//
//   npm ci && node layers.js --scene-id ID [--target 127.0.0.1:50051] [--token T]
//                            [--out layers.jsonl] [--max-layers 0]
//
// Asks for FLOAT32 depth and raw colour (exact rebuilds). Writes one JSON line per layer
// (frame, layer index, generation, region, and base64 little-endian buffers: vertices float32
// x,y,z in the scene's OpenCV world, faces int32, colours uint8 RGB) to --out, then prints a
// one-line JSON summary.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const args = { target: '127.0.0.1:50051', token: process.env.EX4D_BRIDGE_TOKEN || '',
    sceneId: '', out: 'layers.jsonl', maxLayers: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in args) || i + 1 >= argv.length) {
      console.error(`unknown or incomplete option ${argv[i]}`);
      process.exit(2);
    }
    args[key] = typeof args[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!args.sceneId) {
    console.error('--scene-id is required');
    process.exit(2);
  }
  return args;
}

const PROTO_ROOT = process.env.EX4D_PROTO_ROOT || path.join(__dirname, '..', '..', 'proto');

function load() {
  const def = protoLoader.loadSync(path.join(PROTO_ROOT, 'ex4d/v1/bridge.proto'), {
    includeDirs: [PROTO_ROOT], keepCase: true, longs: Number, enums: String, defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(def);
}

function payload(data, compression) {
  return compression === 'COMPRESSION_ZLIB' ? zlib.inflateSync(data) : data;
}

// The sanitised depth map: +inf stands for the closure depth.
function decodeDepth(map) {
  if (map.encoding !== 'DEPTH_ENCODING_FLOAT32') {
    throw new Error(`this example decodes FLOAT32 depth only, got ${map.encoding}`);
  }
  const raw = payload(map.data, map.compression);
  const n = map.width * map.height;
  if (raw.length !== 4 * n) throw new Error('depth payload has the wrong size');
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = raw.readFloatLE(4 * i);
    d[i] = v === Infinity ? map.far_code_depth : v;
  }
  return d;
}

function decodeColor(image) {
  if (image.encoding !== 'IMAGE_ENCODING_RAW_RGB') {
    throw new Error(`this example decodes raw colour only, got ${image.encoding}`);
  }
  return payload(image.data, image.compression);
}

function decodeBits(packed) {
  const data = payload(packed.data, packed.compression);
  const bits = new Uint8Array(packed.count);
  for (let i = 0; i < packed.count; i++) bits[i] = (data[i >> 3] >> (7 - (i & 7))) & 1;
  return bits;
}

// Faces of the GRID_FAN_V1 topology: [BL, TL, TR] of every quad, then [BL, TR, BR], then the
// cap fan over the border loop.
function gridFaces(h, w) {
  const q = (h - 1) * (w - 1);
  const loop = [];
  for (let j = 0; j < w; j++) loop.push(j);
  for (let i = 1; i < h; i++) loop.push(i * w + w - 1);
  for (let j = w - 2; j >= 0; j--) loop.push((h - 1) * w + j);
  for (let i = h - 2; i >= 1; i--) loop.push(i * w);
  const faces = new Int32Array(3 * (2 * q + loop.length));
  let f = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < h - 1; i++) {
      for (let j = 0; j < w - 1; j++) {
        const tl = i * w + j;
        const tr = tl + 1;
        const bl = tl + w;
        const br = bl + 1;
        const tri = pass === 0 ? [bl, tl, tr] : [bl, tr, br];
        faces.set(tri, 3 * f++);
      }
    }
  }
  for (let k = 0; k < loop.length; k++) {
    faces.set([h * w, loop[(k + 1) % loop.length], loop[k]], 3 * f++);
  }
  return faces;
}

// Vertices in float32 arithmetic, in the contract's order: (j + 0.5 - cx) / fx, then * d.
function unproject(depth, k, cap) {
  const f = Math.fround;
  const n = k.width * k.height;
  const v = new Float32Array(3 * (n + 1));
  const cx = f(k.cx);
  const cy = f(k.cy);
  const fx = f(k.fx);
  const fy = f(k.fy);
  for (let i = 0; i < k.height; i++) {
    const y = f(f(f(i + 0.5) - cy) / fy);
    for (let j = 0; j < k.width; j++) {
      const x = f(f(f(j + 0.5) - cx) / fx);
      const d = depth[i * k.width + j];
      const o = 3 * (i * k.width + j);
      v[o] = f(d * x);
      v[o + 1] = f(d * y);
      v[o + 2] = d;
    }
  }
  v.set([cap.x, cap.y, cap.z], 3 * n);
  return v;
}

function rotation(q) {
  const s = Math.hypot(q.x, q.y, q.z, q.w);
  const [x, y, z, w] = [q.x / s, q.y / s, q.z / s, q.w / s];
  return [
    [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
  ];
}

function rebuildLayer(layer) {
  if (layer.pose.coordinate_system !== 'COORDINATE_SYSTEM_OPENCV') {
    throw new Error('layer poses are sent in OpenCV axes');
  }
  const mesh = layer.mesh;
  const k = mesh.intrinsics;
  const depth = decodeDepth(mesh.depth);
  const color = decodeColor(mesh.color);
  const cam = unproject(depth, k, mesh.closure.cap_center);
  const faces = gridFaces(k.height, k.width);
  const occluded = decodeBits(mesh.occluded);
  if (occluded.length !== faces.length / 3) throw new Error('occluded bits do not match');
  // Keep the visible faces; number their vertices in increasing order (compacted).
  const used = new Int32Array(k.width * k.height + 1).fill(-1);
  const kept = [];
  for (let fi = 0; fi < occluded.length; fi++) {
    if (occluded[fi]) continue;
    for (let c = 0; c < 3; c++) used[faces[3 * fi + c]] = 0;
    kept.push(fi);
  }
  let count = 0;
  for (let vi = 0; vi < used.length; vi++) if (used[vi] === 0) used[vi] = count++;
  const r = rotation(layer.pose.rotation);
  const t = layer.pose.position;
  const vertices = new Float32Array(3 * count);
  const colors = new Uint8Array(3 * count);
  for (let vi = 0; vi < used.length; vi++) {
    const o = used[vi];
    if (o < 0) continue;
    const p = [cam[3 * vi], cam[3 * vi + 1], cam[3 * vi + 2]];
    for (let a = 0; a < 3; a++) {
      vertices[3 * o + a] = r[a][0] * p[0] + r[a][1] * p[1] + r[a][2] * p[2] + [t.x, t.y, t.z][a];
    }
    if (vi < k.width * k.height) colors.set(color.subarray(3 * vi, 3 * vi + 3), 3 * o);
  }
  const out = new Int32Array(3 * kept.length);
  kept.forEach((fi, n) => {
    for (let c = 0; c < 3; c++) out[3 * n + c] = used[faces[3 * fi + c]];
  });
  return { vertices, faces: out, colors };
}

const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const pkg = load();
  const bridge = new pkg.ex4d.v1.Bridge(args.target, grpc.credentials.createInsecure(),
    { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  const md = new grpc.Metadata();
  if (args.token) md.set('authorization', `Bearer ${args.token}`);
  const out = fs.createWriteStream(args.out);
  let frames = 0;
  let layers = 0;
  let faces = 0;
  const call = bridge.StreamGeometry({
    scene_id: args.sceneId,
    depth_encoding: 'DEPTH_ENCODING_FLOAT32',
    color_encoding: 'IMAGE_ENCODING_RAW_RGB',
    include_completions: true,
    max_layers: args.maxLayers,
  }, md, { deadline: new Date(Date.now() + 120000) });
  await new Promise((resolve, reject) => {
    call.on('data', (frame) => {
      frames++;
      for (const layer of frame.layers) {
        const m = rebuildLayer(layer);
        layers++;
        faces += m.faces.length / 3;
        out.write(`${JSON.stringify({
          frame_index: frame.frame_index,
          layer_index: layer.layer_index,
          generation: layer.generation,
          region: [layer.region.x0, layer.region.y0, layer.region.x1, layer.region.y1],
          vertices: b64(m.vertices),
          faces: b64(m.faces),
          colors: b64(m.colors),
        })}\n`);
      }
    });
    call.on('error', reject);
    call.on('end', resolve);
  });
  await new Promise((r) => out.end(r));
  console.log(JSON.stringify({ frames, layers, faces }));
  bridge.close();
}

main().catch((err) => {
  console.error(`error: ${err.code !== undefined ? `${grpc.status[err.code]}: ` : ''}${err.details || err.message}`);
  process.exit(1);
});
