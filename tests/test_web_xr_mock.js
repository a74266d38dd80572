// A mock WebXR runtime for tests/test_web_browser.py (see the comment there).
(() => {
  const colMajor = (m) => { const o = new Float32Array(16);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) o[j * 4 + i] = m[i * 4 + j]; return o; };
  const inv = (m) => { const o = [0,0,0,0, 0,0,0,0, 0,0,0,0, 0,0,0,1];
    for (let i = 0; i < 3; i++) { let t = 0; for (let j = 0; j < 3; j++) {
      o[i * 4 + j] = m[j * 4 + i]; t -= m[j * 4 + i] * m[j * 4 + 3]; } o[i * 4 + 3] = t; } return o; };
  const transform = (m) => ({ matrix: colMajor(m), inverse: { matrix: colMajor(inv(m)) },
    position: { x: m[3], y: m[7], z: m[11], w: 1 } });
  window.__xr = { sessions: 0, frames: 0, config: null };
  class XRWebGLLayer {
    constructor(session, gl) { this.gl = gl; this.framebuffer = null; }
    getViewport(view) { const c = this.gl.canvas, w = c.width / 2;
      return { x: view.eye === 'left' ? 0 : w, y: 0, width: w, height: c.height }; }
  }
  window.XRWebGLLayer = XRWebGLLayer;
  // Part of the WebXR API too: without a device Chromium's own never resolves.
  WebGL2RenderingContext.prototype.makeXRCompatible = async function () {};
  class Session extends EventTarget {
    constructor() { super(); this.ended = false; window.__xr.sessions++; }
    updateRenderState(s) { this.renderState = s; }
    async requestReferenceSpace(type) { if (type !== 'local') throw new Error('mock: local only'); return { type }; }
    requestAnimationFrame(cb) { setTimeout(() => { if (this.ended) return; window.__xr.frames++;
      const c = window.__xr.config; const self = this;
      cb(performance.now(), { session: self, getViewerPose: () => c && {
        transform: transform(c.head),
        views: c.eyes.map((e) => ({ eye: e.eye, projectionMatrix: colMajor(e.proj), transform: transform(e.c2w) })),
      } }); }, 16); return 1; }
    async end() { this.ended = true; this.dispatchEvent(new Event('end')); }
  }
  Object.defineProperty(navigator, 'xr', { value: {
    isSessionSupported: async (mode) => mode === 'immersive-vr',
    requestSession: async (mode) => new Session(),
  } });
})();
