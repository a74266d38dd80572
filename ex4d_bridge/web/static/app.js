// The viewer page: playback, camera controls, recording, WebXR. Network and decoding run in
// worker.js; this thread only uploads textures and draws.
/* global Ex4dPoses, Ex4dRenderer */
"use strict";
(function () {
  const P = Ex4dPoses;
  const $ = (id) => document.getElementById(id);
  const canvas = $("view");
  const gl = canvas.getContext("webgl2", {
    antialias: false, preserveDrawingBuffer: true, xrCompatible: true, alpha: false, stencil: true,
  });
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const NEAR = 1e-3;  // the library's RenderOptions.near
  const RECORD_FPS = 30;
  const CV_TO_GL = P.axisChange4("opencv", "opengl");

  const state = {
    base: new URL(".", location.href).href,
    token: hash.get("token") || "",
    info: null, frames: [], decodeMs: [], done: false, error: null,
    playing: !query.has("paused"), time: 0, shown: -1, completed: false, hasLayers: false,
    mode: "orbit", yaw: 0, pitch: 0, pos: [0, 0, 0], dist: 1, pivot: [0, 0, 1],
    override: null, recording: null, lastPath: null, frameTimes: [], drawMs: 0, xr: null,
    firstFrameDrawn: false, drawn: 0, loadedCount: 0, lastKey: null,
  };
  let firstFrame;
  const ready = new Promise((r) => (firstFrame = r));

  function showError(text) {
    state.error = text;
    $("error").hidden = false;
    $("error").textContent = text;
  }
  if (!gl) {
    showError("this browser has no WebGL2: the viewer needs it (any current Chrome, Edge, Firefox, Safari or Quest Browser)");
    return;
  }
  const renderer = new Ex4dRenderer.GridRenderer(gl);

  // -- camera ------------------------------------------------------------------------------
  function rotation(yaw, pitch) {
    // OpenCV axes (y down): yaw about y turns right, pitch about x looks up.
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    const ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
    const rx = [1, 0, 0, 0, cp, -sp, 0, sp, cp];
    const r = new Array(9).fill(0);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) r[i * 3 + j] += ry[i * 3 + k] * rx[k * 3 + j];
    return r;
  }
  function cameraPose() {
    if (state.override) return state.override.c2w;
    const r = rotation(state.yaw, state.pitch);
    let p = state.pos;
    if (state.mode === "orbit") {
      p = [0, 1, 2].map((i) => state.pivot[i] - r[i * 3 + 2] * state.dist);
    }
    return [r[0], r[1], r[2], p[0], r[3], r[4], r[5], p[1], r[6], r[7], r[8], p[2], 0, 0, 0, 1];
  }
  function setMode(mode) {
    const c2w = cameraPose();
    if (mode === "fly") state.pos = [c2w[3], c2w[7], c2w[11]];
    else state.pivot = [0, 1, 2].map((i) => c2w[i * 4 + 3] + c2w[i * 4 + 2] * state.dist);
    state.mode = mode;
    $("mode").value = mode;
  }
  function resetCamera(info) {
    // The source camera, orbiting the library's pivot (0, 0, min_depth + 0.15).
    state.yaw = 0; state.pitch = 0; state.pos = [0, 0, 0];
    state.dist = (info.minDepth || 1) + 0.15;
    state.pivot = [0, 0, state.dist];
  }
  // The lens on screen: the scene camera's vertical field of view, centred, at the canvas size.
  function viewIntrinsics() {
    if (state.override) return state.override.intrinsics;
    const k = state.info.intrinsics;
    const w = canvas.width, h = canvas.height;
    const fy = (k.fy / k.height) * h;
    return { fx: fy, fy, cx: w / 2, cy: h / 2, width: w, height: h };
  }

  let drag = null;
  canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag = { x: e.clientX, y: e.clientY };
    const s = state.mode === "orbit" ? -0.005 : 0.003;
    state.yaw += dx * s;
    state.pitch = Math.max(-1.5, Math.min(1.5, state.pitch - dy * s));
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (state.mode === "orbit") state.dist = Math.max(0.05, state.dist * Math.exp(e.deltaY * 0.001));
    else move([0, 0, -e.deltaY * 0.001 * state.dist]);
  }, { passive: false });
  const keys = new Set();
  addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "checkbox") return;
    const k = e.key.toLowerCase();
    if (k === " ") { togglePlay(); e.preventDefault(); }
    else if (k === "c") toggleCompleted();
    else if (k === "r") toggleRecording();
    else if (k === "f") setMode(state.mode === "orbit" ? "fly" : "orbit");
    else keys.add(k);
  });
  addEventListener("keyup", (e) => keys.delete(e.key.toLowerCase()));
  function move(local) {
    const c2w = cameraPose();
    const d = [0, 1, 2].map((i) => c2w[i * 4] * local[0] + c2w[i * 4 + 1] * local[1] + c2w[i * 4 + 2] * local[2]);
    const target = state.mode === "orbit" ? state.pivot : state.pos;
    for (let i = 0; i < 3; i++) target[i] += d[i];
  }
  function applyKeys(dt) {
    const speed = 0.5 * (state.dist || 1) * dt;
    const v = [0, 0, 0];
    if (keys.has("w")) v[2] += speed;
    if (keys.has("s")) v[2] -= speed;
    if (keys.has("d")) v[0] += speed;
    if (keys.has("a")) v[0] -= speed;
    if (keys.has("q")) v[1] += speed;  // down (OpenCV y)
    if (keys.has("e")) v[1] -= speed;
    if (v[0] || v[1] || v[2]) move(v);
  }

  // -- frames ------------------------------------------------------------------------------
  const worker = new Worker("worker.js");
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === "scene") {
      state.info = m.info;
      resetCamera(m.info);
      state.frames = new Array(m.info.numFrames).fill(null);
      $("time").max = String(Math.max(0, m.info.numFrames - 1));
      state.hasLayers = (m.info.completions || []).length > 0;
      $("completed").disabled = !state.hasLayers;
      $("completed").parentElement.title = state.hasLayers ? "draw the completion layers (C)" : "this scene has no completions (ex4d-bridge complete adds them)";
    } else if (m.type === "frame") {
      const mesh = m.mesh;
      const gpu = renderer.upload(mesh);
      gpu.layers = mesh.layers.map((l) => renderer.upload(l));
      gpu.decodeMs = mesh.decodeMs;
      gpu.bytes = mesh.bytes;
      gpu.farDepth = mesh.farDepth;
      state.frames[mesh.frameIndex] = gpu;
      state.loadedCount++;
      state.decodeMs.push(mesh.decodeMs);
      if (mesh.layers.length) state.hasLayers = true;
    } else if (m.type === "done") {
      state.done = true;
    } else if (m.type === "error") {
      showError(m.code === "UNAUTHENTICATED"
        ? "the server wants a token: open the URL `ex4d-bridge view` printed (it ends in #token=…)"
        : `${m.message}`);
    }
  };
  worker.postMessage({
    type: "open", base: state.base, token: state.token, sceneId: hash.get("scene") || "",
    includeCompletions: true, maxLayers: Number(query.get("max_layers") || 0),
    // ?color=png|raw and ?depth=float32|float16 ask for exact frames (default: JPEG, uint16).
    colorEncoding: { jpeg: 1, raw: 2, png: 3 }[query.get("color")] || 0,
    depthEncoding: { uint16: 1, float16: 2, float32: 3 }[query.get("depth")] || 0,
  });

  function frameIndexAt(time) {
    const n = state.frames.length;
    if (!n) return -1;
    const fps = state.info.fps || 30;
    return Math.floor(time * fps + 1e-6) % n;
  }
  // The frame to show: the one due, or the newest loaded before it while the clip streams in.
  function frameToShow() {
    let i = frameIndexAt(state.time);
    while (i > 0 && !state.frames[i]) i--;
    return state.frames[i] ? i : -1;
  }

  // -- drawing -----------------------------------------------------------------------------
  // The library's compositing (scene.completion.compose): the source where it shows a surface;
  // in its holes (occluded faces, nothing) the frame's layers; a layer also wins where it is
  // more than DEPTH_TOLERANCE nearer than the source; what is still empty is filled from the
  // layers of nearby frames (t-1, t+1, t-2, ...), nearest frame first. Stencil: 0 marks
  // the pixels still empty.
  const DEPTH_TOLERANCE = 0.02;
  // ?window=N: fewer nearby frames, fewer draws (the library's CompositeOptions.window is 8).
  const WINDOW = Math.max(0, Number(query.get("window") ?? 8));
  function nearbyWithLayers(idx) {
    const out = [];
    for (let d = 1; d <= WINDOW; d++) {
      for (const f of [idx - d, idx + d]) {
        const g = state.frames[f];
        if (g && g.layers.length) out.push(g);
      }
    }
    return out;
  }
  function drawFrame(idx) {
    const gpu = state.frames[idx];
    if (!(state.completed && state.hasLayers)) {
      renderer.draw(gpu);
      return;
    }
    gl.enable(gl.STENCIL_TEST);
    gl.stencilFunc(gl.ALWAYS, 0, 0xff);
    gl.stencilOp(gl.KEEP, gl.KEEP, gl.KEEP);
    renderer.draw(gpu, { faces: "occluded" });
    gl.stencilFunc(gl.ALWAYS, 1, 0xff);
    gl.stencilOp(gl.KEEP, gl.KEEP, gl.REPLACE);
    renderer.draw(gpu, { faces: "visible" });
    // Holes are holes whatever hid them: forget the occluded faces' depth there.
    gl.stencilFunc(gl.EQUAL, 0, 0xff);
    gl.stencilOp(gl.KEEP, gl.KEEP, gl.KEEP);
    renderer.farDepth();
    const scale = 1 / (1 - DEPTH_TOLERANCE);
    gl.stencilFunc(gl.ALWAYS, 2, 0xff);
    gl.stencilOp(gl.KEEP, gl.KEEP, gl.REPLACE);
    gl.depthFunc(gl.LESS);
    for (const l of gpu.layers) renderer.draw(l, { faces: "visible", depthScale: scale });
    // Nearby frames: nearest frame first, then depth within a frame (draw where still empty,
    // then mark what it covered so later frames leave it).
    for (const g of nearbyWithLayers(idx)) {
      gl.stencilFunc(gl.EQUAL, 0, 0xff);
      gl.stencilOp(gl.KEEP, gl.KEEP, gl.KEEP);
      gl.depthFunc(gl.LESS);
      for (const l of g.layers) renderer.draw(l, { faces: "visible", depthScale: scale });
      gl.stencilOp(gl.KEEP, gl.KEEP, gl.INCR);
      renderer.markCovered();
    }
    gl.disable(gl.STENCIL_TEST);
    gl.depthFunc(gl.LEQUAL);
  }
  function farFor(gpu, c2w) {
    const d = Math.hypot(c2w[3], c2w[7], c2w[11]);
    return (gpu.farDepth || 100) * 1.01 + 1 + d;
  }
  function render(now) {
    const idx = frameToShow();
    const t0 = performance.now();
    if (!state.override) {
      const dpr = Math.min(devicePixelRatio || 1, 2);
      const w = Math.round(canvas.clientWidth * dpr), h = Math.round(canvas.clientHeight * dpr);
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    }
    const c2w = cameraPose();
    // Nothing changed since the last picture (paused, camera still): keep it, draw nothing.
    const lens = state.info ? viewIntrinsics() : null;
    const key = JSON.stringify([idx, c2w, lens, state.completed, state.loadedCount]);
    if (key === state.lastKey && !state.recording) return;
    state.lastKey = key;
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0, 0, 0, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT | gl.STENCIL_BUFFER_BIT);
    if (idx < 0) return;
    const gpu = state.frames[idx];
    renderer.begin(P.viewMatrixGL(c2w), Ex4dRenderer.projectionFromIntrinsics(viewIntrinsics(), NEAR, farFor(gpu, c2w)));
    drawFrame(idx);
    // The main thread's share (the GPU runs on after it returns; fps is the end-to-end number).
    state.drawMs = performance.now() - t0;
    state.shown = idx;
    state.drawn++;
    sample(now, c2w, idx);
    if (!state.firstFrameDrawn) { state.firstFrameDrawn = true; firstFrame(); }
  }

  // -- recording ---------------------------------------------------------------------------
  function sample(now, c2wCv, frameIndex) {
    const rec = state.recording;
    if (!rec) return;
    const t = (now - rec.start) / 1000;
    if (rec.poses.length && t < rec.poses.length / RECORD_FPS - 1e-9) return;
    // Poses are kept in OpenXR/OpenGL axes: what a headset reports, converted by every reader.
    const { position, rotation } = P.poseToWire(c2wCv, "opengl");
    rec.poses.push({ t: rec.poses.length / RECORD_FPS, position, rotation, frame: frameIndex });
  }
  function toggleRecording() {
    if (state.recording) {
      const rec = state.recording;
      state.recording = null;
      const k = rec.intrinsics;
      state.lastPath = {
        coordinate_system: "opengl", fps: RECORD_FPS, name: "web-walk",
        intrinsics: k, poses: rec.poses,
      };
      $("record").classList.remove("on");
      $("record").textContent = "● record";
      $("save").disabled = !rec.poses.length;
    } else {
      // The walkthrough renders at the scene's height with the view's aspect and lens.
      const v = viewIntrinsics(), s = state.info.height / v.height;
      const width = Math.max(2, 2 * Math.round((v.width * s) / 2));
      const intrinsics = state.override ? v : {
        fx: v.fx * s, fy: v.fy * s, cx: width / 2, cy: state.info.height / 2, width, height: state.info.height,
      };
      state.recording = { start: performance.now(), poses: [], intrinsics };
      $("record").classList.add("on");
      $("record").textContent = "■ stop";
    }
  }
  function savePath() {
    if (!state.lastPath) return;
    const blob = new Blob([JSON.stringify(state.lastPath, null, 1)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "walk.poses.json";
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // -- controls ----------------------------------------------------------------------------
  function togglePlay() {
    state.playing = !state.playing;
    $("play").textContent = state.playing ? "pause" : "play";
  }
  function toggleCompleted() {
    if (!state.hasLayers) return;
    state.completed = !state.completed;
    $("completed").checked = state.completed;
  }
  $("play").onclick = togglePlay;
  $("completed").onchange = () => { state.completed = $("completed").checked && state.hasLayers; };
  $("mode").onchange = () => setMode($("mode").value);
  $("record").onclick = toggleRecording;
  $("save").onclick = savePath;
  $("time").oninput = () => { state.time = (Number($("time").value) + 0.5) / (state.info.fps || 30); };
  if (query.has("paused")) $("play").textContent = "play";

  function overlay(now) {
    state.frameTimes.push(now);
    // The last second, but at least two frames, so that slow rates read right too.
    while (state.frameTimes.length > 2 && now - state.frameTimes[0] > 1000) state.frameTimes.shift();
    if (!state.info) return;
    const n = state.frames.length, loaded = state.frames.filter(Boolean).length;
    const fps = state.frameTimes.length > 1 ? (1000 * (state.frameTimes.length - 1)) / (now - state.frameTimes[0]) : 0;
    const dec = state.decodeMs.length ? state.decodeMs.reduce((a, b) => a + b, 0) / state.decodeMs.length : 0;
    const shown = state.shown >= 0 ? state.frames[state.shown] : null;
    const layers = shown ? shown.layers.length : 0;
    const nearby = shown && state.completed ? nearbyWithLayers(state.shown).length : 0;
    $("stats").textContent =
      `frame ${state.shown + 1}/${n}  loaded ${loaded}/${n}${state.done ? "" : " …"}\n` +
      `${fps.toFixed(0)} fps  main thread ${state.drawMs.toFixed(1)} ms/frame\n` +
      `decode ${dec.toFixed(1)} ms/frame (worker)  layers ${layers}` +
      (state.completed ? ` + ${nearby} nearby frames` : "") +
      (state.recording ? `\nrecording ${state.recording.poses.length} poses` : "") +
      (state.xr ? "\nin VR" : "");
    $("frame").textContent = `${state.shown + 1} / ${n}`;
    if (state.playing && state.shown >= 0) $("time").value = String(state.shown);
  }

  let last = performance.now();
  function tick(now) {
    if (state.xr) return;  // the XR session drives frames at the headset's rate
    requestAnimationFrame(tick);
    const dt = Math.min(0.1, (now - last) / 1000);
    last = now;
    applyKeys(dt);
    if (state.playing) state.time += dt;
    render(now);
    overlay(now);
  }
  requestAnimationFrame(tick);

  // -- WebXR -------------------------------------------------------------------------------
  async function enterVR() {
    const session = await navigator.xr.requestSession("immersive-vr", { optionalFeatures: ["local-floor"] });
    // Created xrCompatible already; asking again can wait for a device switch that never comes.
    if (!gl.getContextAttributes().xrCompatible) await gl.makeXRCompatible();
    const layer = new XRWebGLLayer(session, gl, { antialias: false, stencil: true });
    session.updateRenderState({ baseLayer: layer, depthNear: 0.01, depthFar: 1000 });
    // 'local': the origin is the head where the session starts, placed on the source camera.
    const space = await session.requestReferenceSpace("local");
    state.xr = { session, layer, space, views: [], last: null };
    $("vr").textContent = "Exit VR";
    session.addEventListener("end", () => {
      state.xr = null;
      state.lastKey = null;
      $("vr").textContent = "Enter VR";
      last = performance.now();
      requestAnimationFrame(tick);
    });
    session.requestAnimationFrame(xrFrame);
  }
  function xrFrame(now, frame) {
    const xr = state.xr;
    if (!xr) return;
    frame.session.requestAnimationFrame(xrFrame);
    const pose = frame.getViewerPose(xr.space);
    if (!pose) return;
    const dt = xr.last === null ? 0 : Math.min(0.1, (now - xr.last) / 1000);
    xr.last = now;
    if (state.playing) state.time += dt;
    const idx = frameToShow();
    gl.bindFramebuffer(gl.FRAMEBUFFER, xr.layer.framebuffer);
    gl.clearColor(0, 0, 0, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT | gl.STENCIL_BUFFER_BIT);
    xr.views = [];
    for (const view of pose.views) {
      const vp = xr.layer.getViewport(view);
      gl.viewport(vp.x, vp.y, vp.width, vp.height);
      // The reference space has OpenXR axes on the scene's world: world_gl = CV_TO_GL world_cv.
      const viewMat = P.mul4(P.fromColumnMajor(view.transform.inverse.matrix), CV_TO_GL);
      const eye = P.xrToOpenCV(view.transform.matrix);
      xr.views.push({ eye: view.eye, viewport: { x: vp.x, y: vp.y, width: vp.width, height: vp.height }, c2w: eye });
      if (idx < 0) continue;
      renderer.begin(viewMat, P.fromColumnMajor(view.projectionMatrix));
      drawFrame(idx);
    }
    state.shown = idx;
    state.drawn++;
    if (idx >= 0) sample(now, P.xrToOpenCV(pose.transform.matrix), idx);
    overlay(now);
  }
  if (navigator.xr && navigator.xr.isSessionSupported) {
    navigator.xr.isSessionSupported("immersive-vr").then((ok) => {
      if (!ok) return;
      $("vr").hidden = false;
      $("vr").onclick = () => (state.xr ? state.xr.session.end() : enterVR().catch((e) => showError(`WebXR: ${e.message}`)));
    }).catch(() => {});
  }

  // -- hooks for scripts and tests ----------------------------------------------------------
  window.ex4d = {
    state, ready, enterVR,
    // Show frame `frame` from OpenCV pose `c2w` (row-major 16) with `intrinsics` at their size.
    setView(c2w, intrinsics, frame = 0) {
      state.override = c2w ? { c2w, intrinsics } : null;
      if (intrinsics) { canvas.width = intrinsics.width; canvas.height = intrinsics.height; }
      state.playing = false;
      state.time = (frame + 0.5) / (state.info.fps || 30);
      render(performance.now());
    },
    setCompleted(on) {
      state.completed = !!on && state.hasLayers;
      $("completed").checked = state.completed;
    },
    capture() { return canvas.toDataURL("image/png"); },
    pose: () => cameraPose(),
    toggleRecording, path: () => state.lastPath,
    loaded: () => state.frames.filter(Boolean).length,
    stats: () => ({ decodeMs: state.decodeMs.slice(), drawMs: state.drawMs, frameTimes: state.frameTimes.slice() }),
  };
})();
