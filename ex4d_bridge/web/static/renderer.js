// The DW-Mesh on the GPU. A frame is three textures (depth R32F, colour, per-quad occluded
// flags R8UI); the vertex shader rebuilds every triangle from gl_VertexID by the MeshFrame rules
// (vertex = d * ((j + 0.5 - cx) / fx, (i + 0.5 - cy) / fy, 1); faces [BL, TL, TR] and
// [BL, TR, BR] of each pixel quad), so no vertex or index buffer is ever built or uploaded.
(function (root) {
  "use strict";
  const VS = `#version 300 es
precision highp float;
precision highp int;
uniform highp sampler2D uDepth;
uniform highp usampler2D uOcc;
uniform mediump sampler2D uColor;
uniform ivec2 uSize;
uniform vec4 uK;
uniform mat4 uModel;
uniform mat4 uView;
uniform mat4 uProj;
uniform int uFaces;  // 0: all faces, 1: not occluded ones, 2: occluded ones
uniform float uDepthScale;
uniform int uIndexed;
flat out int vOcc;
out vec3 vColor;
void main() {
  int pi, pj;
  bool occ = false;
  if (uIndexed == 1) {
    // An indexed draw of visible faces only: the index is the pixel's vertex number i * W + j.
    pi = gl_VertexID / uSize.x;
    pj = gl_VertexID - pi * uSize.x;
  } else {
    int quad = gl_VertexID / 6;
    int k = gl_VertexID - quad * 6;
    int tri = k / 3;
    int c = k - tri * 3;
    int qw = uSize.x - 1;
    int i = quad / qw;
    int j = quad - i * qw;
    ivec2 off;  // (row, column) offset of the corner: A = [BL, TL, TR], B = [BL, TR, BR]
    if (c == 0) off = ivec2(1, 0);
    else if (tri == 0) off = c == 1 ? ivec2(0, 0) : ivec2(0, 1);
    else off = c == 1 ? ivec2(0, 1) : ivec2(1, 1);
    pi = i + off.x;
    pj = j + off.y;
    uint flags = texelFetch(uOcc, ivec2(j, i), 0).r;
    occ = ((flags >> uint(tri)) & 1u) != 0u;
  }
  vOcc = occ ? 1 : 0;
  vColor = vec3(0.0);
  if ((occ && uFaces == 1) || (!occ && uFaces == 2)) {
    // All three corners of the face land outside the clip volume: the face is dropped.
    gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
    return;
  }
  float d = texelFetch(uDepth, ivec2(pj, pi), 0).r;
  vec3 p = vec3((float(pj) + 0.5 - uK.z) / uK.x * d, (float(pi) + 0.5 - uK.w) / uK.y * d, d);
  vec4 eye = uView * (uModel * vec4(p, 1.0));
  // Scaling about the eye keeps the projection and pushes depth back (completion layers lose
  // ties with the source surface).
  eye.xyz *= uDepthScale;
  gl_Position = uProj * eye;
  vColor = texelFetch(uColor, ivec2(pj, pi), 0).rgb;
}`;
  const FS = `#version 300 es
precision mediump float;
flat in int vOcc;
in vec3 vColor;
out vec4 outColor;
void main() {
  // Occluded faces are drawn black, as the library's renderer draws its holes.
  outColor = vOcc == 1 ? vec4(0.0, 0.0, 0.0, 1.0) : vec4(vColor, 1.0);
}`;

  function compile(gl, type, src) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(s)}`);
    return s;
  }

  // One triangle over the whole viewport at the far plane: resets depth where the stencil says.
  const FAR_VS = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID >> 1) * 4 - 1));
  gl_Position = vec4(p, 1.0, 1.0);
}`;
  const FAR_FS = `#version 300 es
precision mediump float;
out vec4 outColor;
void main() { outColor = vec4(0.0); }`;

  function program(gl, vs, fs) {
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, vs));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, fs));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(`program: ${gl.getProgramInfoLog(prog)}`);
    return prog;
  }

  const IDENTITY = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

  // OpenGL projection (eye in GL axes) of a pinhole camera whose image is the viewport: NDC
  // x = -1 / +1 at the left / right image edge, y = +1 at the top row, pixel (u, v) at
  // u = fx x / z + cx as the library's geometry.rendering.projection.
  function projectionFromIntrinsics(k, near, far) {
    return [
      (2 * k.fx) / k.width, 0, 1 - (2 * k.cx) / k.width, 0,
      0, (2 * k.fy) / k.height, (2 * k.cy) / k.height - 1, 0,
      0, 0, -(far + near) / (far - near), (-2 * far * near) / (far - near),
      0, 0, -1, 0,
    ];
  }

  class GridRenderer {
    constructor(gl) {
      this.gl = gl;
      const prog = program(gl, VS, FS);
      this.prog = prog;
      this.farProg = program(gl, FAR_VS, FAR_FS);
      this.vao = gl.createVertexArray();  // no attributes: everything comes from gl_VertexID
      this.u = {};
      for (const n of ["uDepth", "uOcc", "uColor", "uSize", "uK", "uModel", "uView", "uProj", "uFaces", "uDepthScale", "uIndexed"]) {
        this.u[n] = gl.getUniformLocation(prog, n);
      }
    }

    texture(internal, format, type, w, h, data) {
      const gl = this.gl;
      const t = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, t);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
      gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
      gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
      if (data instanceof ImageBitmap) gl.texImage2D(gl.TEXTURE_2D, 0, internal, format, type, data);
      else gl.texImage2D(gl.TEXTURE_2D, 0, internal, w, h, 0, format, type, data);
      for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      return t;
    }

    // A decoded mesh (decode.js) -> GPU textures; `pose` (OpenCV c2w) places a layer's camera.
    upload(mesh) {
      const gl = this.gl;
      const k = mesh.intrinsics, w = k.width, h = k.height;
      const c = mesh.color;
      const gpu = {
        w, h, k,
        count: 6 * (w - 1) * (h - 1),
        model: new Float32Array(Ex4dPoses.transpose4(mesh.pose || IDENTITY)),
        depth: this.texture(gl.R32F, gl.RED, gl.FLOAT, w, h, mesh.depth),
        occ: this.texture(gl.R8UI, gl.RED_INTEGER, gl.UNSIGNED_BYTE, w - 1, h - 1, mesh.occluded),
        color: c.bitmap
          ? this.texture(gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, w, h, c.bitmap)
          : this.texture(gl.RGB8, gl.RGB, gl.UNSIGNED_BYTE, w, h, c.rgb),
        bytes: w * h * 8 + (w - 1) * (h - 1),
      };
      if (mesh.indices) {
        gpu.vao = gl.createVertexArray();
        gl.bindVertexArray(gpu.vao);
        gpu.indexBuffer = gl.createBuffer();
        gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, gpu.indexBuffer);
        gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, mesh.indices, gl.STATIC_DRAW);
        gl.bindVertexArray(null);
        gpu.count = mesh.indices.length;
        gpu.bytes += mesh.indices.byteLength;
      }
      if (c.bitmap) c.bitmap.close();
      return gpu;
    }

    release(gpu) {
      for (const t of [gpu.depth, gpu.occ, gpu.color]) this.gl.deleteTexture(t);
      if (gpu.vao) {
        this.gl.deleteVertexArray(gpu.vao);
        this.gl.deleteBuffer(gpu.indexBuffer);
      }
    }

    // Depth back to the far plane wherever the current stencil test passes (colour untouched).
    farDepth() {
      const gl = this.gl;
      gl.useProgram(this.farProg);
      gl.colorMask(false, false, false, false);
      gl.depthFunc(gl.ALWAYS);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      gl.colorMask(true, true, true, true);
      gl.depthFunc(gl.LEQUAL);
      gl.useProgram(this.prog);
    }

    // Runs the stencil op on every pixel whose depth is nearer than the far plane (where the
    // stencil test passes): marks what the draws since the last farDepth() covered.
    markCovered() {
      const gl = this.gl;
      gl.useProgram(this.farProg);
      gl.colorMask(false, false, false, false);
      gl.depthMask(false);
      gl.depthFunc(gl.GREATER);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      gl.colorMask(true, true, true, true);
      gl.depthMask(true);
      gl.depthFunc(gl.LEQUAL);
      gl.useProgram(this.prog);
    }

    // view: world (OpenCV) -> eye (GL axes), proj: eye -> clip; both row-major arrays.
    begin(view, proj) {
      const gl = this.gl;
      gl.useProgram(this.prog);
      gl.bindVertexArray(this.vao);
      gl.enable(gl.DEPTH_TEST);
      gl.depthFunc(gl.LEQUAL);
      gl.disable(gl.CULL_FACE);
      gl.disable(gl.BLEND);
      gl.uniformMatrix4fv(this.u.uView, false, new Float32Array(Ex4dPoses.transpose4(view)));
      gl.uniformMatrix4fv(this.u.uProj, false, new Float32Array(Ex4dPoses.transpose4(proj)));
    }

    // faces: "all", "visible" (occluded faces dropped) or "occluded" (only those, drawn black).
    draw(gpu, { faces = "all", depthScale = 1.0 } = {}) {
      const gl = this.gl;
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, gpu.depth);
      gl.uniform1i(this.u.uDepth, 0);
      gl.activeTexture(gl.TEXTURE1);
      gl.bindTexture(gl.TEXTURE_2D, gpu.occ);
      gl.uniform1i(this.u.uOcc, 1);
      gl.activeTexture(gl.TEXTURE2);
      gl.bindTexture(gl.TEXTURE_2D, gpu.color);
      gl.uniform1i(this.u.uColor, 2);
      gl.uniform2i(this.u.uSize, gpu.w, gpu.h);
      gl.uniform4f(this.u.uK, gpu.k.fx, gpu.k.fy, gpu.k.cx, gpu.k.cy);
      gl.uniformMatrix4fv(this.u.uModel, false, gpu.model);
      gl.uniform1i(this.u.uFaces, { all: 0, visible: 1, occluded: 2 }[faces]);
      gl.uniform1f(this.u.uDepthScale, depthScale);
      if (gpu.vao) {
        // Only visible faces are in the index buffer.
        if (faces === "occluded") return;
        gl.uniform1i(this.u.uIndexed, 1);
        gl.bindVertexArray(gpu.vao);
        gl.drawElements(gl.TRIANGLES, gpu.count, gl.UNSIGNED_INT, 0);
        gl.bindVertexArray(this.vao);
      } else {
        gl.uniform1i(this.u.uIndexed, 0);
        gl.drawArrays(gl.TRIANGLES, 0, gpu.count);
      }
    }
  }

  root.Ex4dRenderer = { GridRenderer, projectionFromIntrinsics };
})(typeof self !== "undefined" ? self : globalThis);
