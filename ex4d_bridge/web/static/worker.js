// The page's network and decode thread: gRPC-Web calls, protobuf decoding, depth and bit
// decoding, JPEG decoding (ImageBitmap). Frames go to the page with their buffers transferred.
/* global importScripts, protobuf, Ex4dRpc, Ex4dDecode, Ex4dPoses */
"use strict";
importScripts("vendor/protobuf.min.js", "poses.js", "decode.js", "rpc.js");

let types = null;
let controller = null;

async function loadTypes(base) {
  if (types) return types;
  const json = await (await fetch(`${base}contract.json`)).json();
  const root = protobuf.Root.fromJSON(json);
  const t = (n) => root.lookupType(`ex4d.v1.${n}`);
  types = {
    ListScenesRequest: t("ListScenesRequest"), ListScenesResponse: t("ListScenesResponse"),
    GetSceneRequest: t("GetSceneRequest"), SceneInfo: t("SceneInfo"),
    StreamGeometryRequest: t("StreamGeometryRequest"), MeshFrame: t("MeshFrame"),
  };
  return types;
}

function plain(type, msg) {
  return type.toObject(msg, { longs: Number, enums: Number, defaults: true, arrays: true });
}

async function open({ base, token, sceneId, includeCompletions, maxLayers, colorEncoding, depthEncoding }) {
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  const T = await loadTypes(base);
  if (!sceneId) {
    const reply = await Ex4dRpc.unary(base, "ListScenes", T.ListScenesRequest.encode({}).finish(), token, signal);
    const scenes = T.ListScenesResponse.decode(reply).scenes;
    if (!scenes.length) throw new Error("the server holds no scenes: upload one (ex4d-bridge view SCENE_DIR does)");
    sceneId = scenes[scenes.length - 1].sceneId;
  }
  const infoBytes = await Ex4dRpc.unary(base, "GetScene", T.GetSceneRequest.encode({ sceneId }).finish(), token, signal);
  const info = plain(T.SceneInfo, T.SceneInfo.decode(infoBytes));
  postMessage({ type: "scene", info });
  const req = T.StreamGeometryRequest.encode({
    sceneId, includeCompletions: !!includeCompletions, maxLayers: maxLayers || 0,
    colorEncoding: colorEncoding || 0, depthEncoding: depthEncoding || 0,
  }).finish();
  for await (const bytes of Ex4dRpc.call(base, "StreamGeometry", req, token, signal)) {
    const t0 = performance.now();
    const frame = T.MeshFrame.decode(bytes);
    const { mesh, transfer } = await Ex4dDecode.decodeMeshFrame(frame);
    mesh.layers = [];
    for (const layer of frame.layers || []) {
      const d = await Ex4dDecode.decodeLayer(layer, Ex4dPoses);
      mesh.layers.push(d.mesh);
      transfer.push(...d.transfer);
    }
    mesh.decodeMs = performance.now() - t0;
    mesh.bytes = bytes.length;
    mesh.serverMs = frame.timings ? frame.timings.totalMs : 0;
    postMessage({ type: "frame", mesh }, transfer);
  }
  postMessage({ type: "done" });
}

onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === "open") {
    open(msg).catch((e) => {
      if (e.name === "AbortError") return;
      postMessage({ type: "error", message: e.message, code: e.codeName || "" });
    });
  } else if (msg.type === "close" && controller) {
    controller.abort();
  }
};
