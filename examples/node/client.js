#!/usr/bin/env node
// Node.js client of the ex4d-bridge server: checks health, lists scenes and runs a View
// session, sending head poses in OpenXR axes at 90 Hz and decoding the replies.
//
//   npm ci && node client.js [--target 127.0.0.1:50051] [--token T] [--tls-root ca.pem]
//                           [--scene-id ID] [--poses 90] [--size 256] [--rate 90]
//
// Prints one JSON line; exits 0 when the session ended with the last pose answered.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const args = { target: '127.0.0.1:50051', token: process.env.EX4D_BRIDGE_TOKEN || '',
    tlsRoot: '', sceneId: '', poses: 90, size: 256, rate: 90 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in args) || i + 1 >= argv.length) {
      console.error(`unknown or incomplete option ${argv[i]}`);
      process.exit(2);
    }
    args[key] = typeof args[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return args;
}

const PROTO_ROOT = process.env.EX4D_PROTO_ROOT || path.join(__dirname, '..', '..', 'proto');

function load() {
  const def = protoLoader.loadSync(
    [path.join(PROTO_ROOT, 'ex4d/v1/bridge.proto'), path.join(__dirname, 'health.proto')],
    { includeDirs: [PROTO_ROOT, __dirname], keepCase: true, longs: Number, enums: String,
      defaults: true, oneofs: true },
  );
  return grpc.loadPackageDefinition(def);
}

// Bits are row-major, most significant bit first, zlib-compressed when compression says so.
function unpackBits(packed) {
  let data = packed.data;
  if (packed.compression === 'COMPRESSION_ZLIB') data = zlib.inflateSync(data);
  let ones = 0;
  for (let i = 0; i < packed.count; i++) {
    if ((data[i >> 3] >> (7 - (i & 7))) & 1) ones++;
  }
  return { count: packed.count, ones };
}

// A head pose in OpenXR axes (x right, y up, z backward): a small circle, looking around.
function headPose(i) {
  const a = (i / 90) * 2 * Math.PI * 0.25;
  const yaw = 0.3 * Math.sin(a);
  return {
    position: { x: 0.05 * Math.sin(a), y: 0.02 * Math.cos(a), z: 0 },
    rotation: { x: 0, y: Math.sin(yaw / 2), z: 0, w: Math.cos(yaw / 2) },
    coordinate_system: 'COORDINATE_SYSTEM_OPENGL',
  };
}

function percentile(values, q) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const pkg = load();
  const creds = args.tlsRoot
    ? grpc.credentials.createSsl(fs.readFileSync(args.tlsRoot))
    : grpc.credentials.createInsecure();
  const options = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
  const bridge = new pkg.ex4d.v1.Bridge(args.target, creds, options);
  const health = new pkg.grpc.health.v1.Health(args.target, creds, options);
  const md = new grpc.Metadata();
  if (args.token) md.set('authorization', `Bearer ${args.token}`);
  const deadline = () => new Date(Date.now() + 30000);

  const status = await new Promise((resolve, reject) => health.Check(
    { service: 'ex4d.v1.Bridge' }, md, { deadline: deadline() },
    (err, res) => (err ? reject(err) : resolve(res.status))));
  if (status !== 'SERVING') throw new Error(`server health is ${status}`);

  const scenes = await new Promise((resolve, reject) => bridge.ListScenes(
    {}, md, { deadline: deadline() }, (err, res) => (err ? reject(err) : resolve(res.scenes))));
  const sceneId = args.sceneId || (scenes[0] && scenes[0].scene_id);
  if (!sceneId) {
    console.error('no scene on the server: upload one first (examples/python_orbit.py)');
    process.exit(3);
  }

  const sent = new Map();
  const rtts = [];
  let replies = 0;
  let lastSequence = -1;
  let droppedTotal = 0;
  let maxReplyBytes = 0;
  let maskOnes = 0;
  let maskCount = 0;
  const call = bridge.View(md, { deadline: new Date(Date.now() + 120000) });
  const done = new Promise((resolve, reject) => {
    call.on('data', (reply) => {
      replies++;
      lastSequence = reply.sequence;
      droppedTotal = reply.dropped_total;
      const bits = unpackBits(reply.mask);
      maskOnes += bits.ones;
      maskCount += bits.count;
      const bytes = reply.color.data.length + reply.mask.data.length;
      maxReplyBytes = Math.max(maxReplyBytes, bytes);
      if (sent.has(reply.sequence)) rtts.push(Date.now() - sent.get(reply.sequence));
    });
    call.on('error', reject);
    call.on('end', resolve);
  });
  for (let i = 1; i <= args.poses; i++) {
    sent.set(i, Date.now());
    call.write({
      scene_id: i === 1 ? sceneId : '',
      sequence: i,
      pose: headPose(i),
      time_s: i / args.rate,
      width: args.size,
      height: args.size,
      fov_y_deg: 90,
      options: { color_encoding: 'IMAGE_ENCODING_JPEG', mask_style: 'MASK_STYLE_FACE' },
    });
    await new Promise((r) => setTimeout(r, 1000 / args.rate));
  }
  call.end();
  await done;
  const summary = {
    health: status,
    scenes: scenes.length,
    scene_id: sceneId,
    poses_sent: args.poses,
    replies,
    dropped_total: droppedTotal,
    last_sequence: lastSequence,
    max_reply_payload_bytes: maxReplyBytes,
    mask_fraction: maskCount ? maskOnes / maskCount : 0,
    round_trip_ms_p50: percentile(rtts, 0.5),
    round_trip_ms_p99: percentile(rtts, 0.99),
  };
  console.log(JSON.stringify(summary));
  bridge.close();
  health.close();
  process.exit(replies > 0 && lastSequence === args.poses ? 0 : 1);
}

main().catch((err) => {
  console.error(`error: ${err.code !== undefined ? `${grpc.status[err.code]}: ` : ''}${err.details || err.message}`);
  process.exit(1);
});
