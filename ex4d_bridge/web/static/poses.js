// Pose conventions of ex4d_bridge.camera.conventions, for the page and its worker.
// Poses are camera-to-world 4x4 matrices, row-major arrays of 16 numbers; quaternions are
// [x, y, z, w], scalar last. Changing systems changes world and camera axes: W c2w W^T.
(function (root) {
  "use strict";
  // Axis matrices (rows: the system's axes in OpenCV terms), as in conventions._AXES.
  const AXES = {
    opencv: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    opengl: [1, 0, 0, 0, -1, 0, 0, 0, -1],
    unity: [1, 0, 0, 0, -1, 0, 0, 0, 1],
    unreal: [0, 0, 1, 1, 0, 0, 0, -1, 0],
  };
  const ALIASES = { cv: "opencv", gl: "opengl", openxr: "opengl", xr: "opengl", ue: "unreal" };
  // ex4d.v1.CoordinateSystem values.
  const WIRE = { opencv: 1, opengl: 2, unity: 3, unreal: 4 };

  function system(name) {
    const n = String(name).toLowerCase();
    const s = ALIASES[n] || n;
    if (!(s in AXES)) throw new Error(`unknown coordinate system ${name}: opencv, opengl, unity, unreal`);
    return s;
  }

  function systemFromWire(value) {
    for (const [k, v] of Object.entries(WIRE)) if (v === value) return k;
    throw new Error(`coordinate system ${value} is unspecified or unknown`);
  }

  function mul4(a, b) {
    const out = new Array(16).fill(0);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += a[i * 4 + k] * b[k * 4 + j];
        out[i * 4 + j] = s;
      }
    return out;
  }

  function axisChange4(src, dst) {
    // AXES[dst] @ AXES[src]^T, embedded in 4x4.
    const s = AXES[system(src)], d = AXES[system(dst)];
    const out = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let v = 0;
        for (let k = 0; k < 3; k++) v += d[i * 3 + k] * s[j * 3 + k];
        out[i * 4 + j] = v;
      }
    return out;
  }

  function transpose4(m) {
    const out = new Array(16);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) out[i * 4 + j] = m[j * 4 + i];
    return out;
  }

  function convertPose(c2w, src, dst) {
    const w = axisChange4(src, dst);
    return mul4(mul4(w, c2w), transpose4(w));
  }

  function quatToMatrix(q) {
    const n = Math.hypot(q[0], q[1], q[2], q[3]);
    if (!(n >= 1e-6)) throw new Error("quaternion has (nearly) zero length");
    const x = q[0] / n, y = q[1] / n, z = q[2] / n, w = q[3] / n;
    return [
      1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
      2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
      2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ];
  }

  function matrixToQuat(r) {
    // The candidate built on the largest diagonal term, as conventions.matrix_to_quaternion.
    const [r00, r01, r02, r10, r11, r12, r20, r21, r22] = r;
    const cands = [
      [1 + r00 - r11 - r22, r01 + r10, r02 + r20, r21 - r12],
      [r01 + r10, 1 - r00 + r11 - r22, r12 + r21, r02 - r20],
      [r02 + r20, r12 + r21, 1 - r00 - r11 + r22, r10 - r01],
      [r21 - r12, r02 - r20, r10 - r01, 1 + r00 + r11 + r22],
    ];
    const diag = [1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22, 1 + r00 + r11 + r22];
    let best = 0;
    for (let i = 1; i < 4; i++) if (diag[i] > diag[best]) best = i;
    const c = cands[best];
    const n = Math.hypot(c[0], c[1], c[2], c[3]);
    const sign = c[3] / n < 0 ? -1 : 1;
    return c.map((v) => (sign * v) / n);
  }

  function poseFromPQ(p, q) {
    const r = quatToMatrix(q);
    return [r[0], r[1], r[2], p[0], r[3], r[4], r[5], p[1], r[6], r[7], r[8], p[2], 0, 0, 0, 1];
  }

  function pqFromPose(m) {
    const r = [m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]];
    return { position: [m[3], m[7], m[11]], rotation: matrixToQuat(r) };
  }

  // Library pose (OpenCV c2w) -> {position, rotation} in `sys`, as conventions.pose_to_wire.
  function poseToWire(c2wCv, sys) {
    return pqFromPose(convertPose(c2wCv, "opencv", sys));
  }

  // {position, rotation} in `sys` -> OpenCV c2w, as conventions.pose_from_wire.
  function poseFromWire(p, q, sys) {
    return convertPose(poseFromPQ(p, q), sys, "opencv");
  }

  // WebGL / WebXR matrices are column-major Float32Arrays.
  function fromColumnMajor(m) {
    return transpose4(Array.from(m));
  }

  function toColumnMajor(m) {
    return new Float32Array(transpose4(m));
  }

  function invertRigid(m) {
    // [R t; 0 1]^-1 = [R^T, -R^T t; 0 1]
    const out = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    for (let i = 0; i < 3; i++) {
      let t = 0;
      for (let j = 0; j < 3; j++) {
        out[i * 4 + j] = m[j * 4 + i];
        t -= m[j * 4 + i] * m[j * 4 + 3];
      }
      out[i * 4 + 3] = t;
    }
    return out;
  }

  // The head pose WebXR reports (XRRigidTransform.matrix: camera-to-reference-space, OpenXR/GL
  // axes, column-major) as a library pose; the reference space is placed on the scene's world.
  function xrToOpenCV(xrMatrix) {
    return convertPose(fromColumnMajor(xrMatrix), "opengl", "opencv");
  }

  // World (OpenCV) -> eye (GL axes) for a library pose: the renderer's view matrix.
  function viewMatrixGL(c2wCv) {
    return mul4(axisChange4("opencv", "opengl"), invertRigid(c2wCv));
  }

  const api = {
    AXES, WIRE, system, systemFromWire, mul4, transpose4, convertPose, quatToMatrix, matrixToQuat,
    poseFromPQ, pqFromPose, poseToWire, poseFromWire, fromColumnMajor, toColumnMajor,
    invertRigid, axisChange4, xrToOpenCV, viewMatrixGL,
  };
  root.Ex4dPoses = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof self !== "undefined" ? self : globalThis);
