"""Web viewer benchmark in headless Chromium on the CPU (SwiftShader, the software GL): frames
per second, MeshFrame decode time in the page's worker (JPEG + uint16 depth, the default, and
PNG + float32), frame intervals while frames stream in (the decode must not stall drawing), and
the page's pictures at three poses against the library's renderer. Prints JSON; ``--out FILE``
also writes it, ``--pictures DIR`` saves page | library | difference images and a screenshot.

    python -m bench.web [--size 512] [--frames 49] [--seconds 5] [--complete orbit:40]
                        [--out bench/results/web_cpu.json] [--pictures bench/results/web]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import emit, environment
from ex4d_bridge.camera import look_at
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.geometry import RenderOptions, render
from ex4d_bridge.scene import Scene, reconstruct
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.web.command import LocalScene, page_url
from ex4d_bridge.web.gateway import GatewayThread, WebConfig
from ex4d_bridge.web.headless import Page, image_diff

TOKEN = "bench-web-token-0123"
EXACT = "color=png&depth=float32"


def stats(xs: list[float]) -> dict:
    if not xs:
        return {}
    s = sorted(xs)
    return {
        "n": len(xs),
        "mean": round(statistics.fmean(xs), 2),
        "p50": round(s[len(s) // 2], 2),
        "p95": round(s[min(len(s) - 1, int(0.95 * len(s)))], 2),
        "max": round(s[-1], 2),
    }


def intervals(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def measure_fps(page: Page, seconds: float, completed: bool) -> dict:
    page.js("window.ex4d.setView(null, null, 0); window.ex4d.state.playing = true")
    page.js(f"window.ex4d.setCompleted({str(completed).lower()})")
    time.sleep(1.0)
    n0, t0 = page.js("return [window.ex4d.state.drawn, performance.now()]")
    time.sleep(seconds)
    n1, t1 = page.js("return [window.ex4d.state.drawn, performance.now()]")
    size = page.js("const c = document.getElementById('view'); return [c.width, c.height]")
    return {
        "canvas": size,
        "fps": round((n1 - n0) / ((t1 - t0) / 1000), 2),
        "frames": n1 - n0,
        "window_s": round((t1 - t0) / 1000, 2),
    }


RECORD_INTERVALS = (
    "window.__iv = []; let last = performance.now();"
    "(function f(now) { window.__iv.push(now - last); last = now;"
    " if (!window.__stop) requestAnimationFrame(f); })(performance.now());"
)


def stream_run(url: str, seconds: float, frames: int) -> dict:
    """Open the page, record frame intervals while frames arrive, then measure fps."""
    with Page() as page:
        t0 = time.monotonic()
        page.driver.get(url)
        page.wait_for("window.ex4d && window.ex4d.state.firstFrameDrawn", "the first frame")
        first = time.monotonic() - t0
        page.js(RECORD_INTERVALS)
        page.wait_for(f"window.ex4d.loaded() >= {frames}", "all frames", 600)
        load_s = time.monotonic() - t0
        during = page.js("window.__stop = true; return window.__iv.slice(1)")
        # The same measure once every frame is in: what streaming and decoding add.
        page.js("window.__stop = false;" + RECORD_INTERVALS)
        time.sleep(max(2.0, load_s - first))
        after = page.js("window.__stop = true; return window.__iv.slice(1)")
        decode = page.js("return window.ex4d.stats().decodeMs")
        out = {
            "first_frame_s": round(first, 2),
            "all_frames_s": round(load_s, 2),
            "decode_ms_in_worker": stats(decode),
            "frame_interval_ms_while_streaming": stats(during),
            "frame_interval_ms_after_streaming": stats(after),
        }
        out["raw"] = measure_fps(page, seconds, completed=False)
        if page.js("return window.ex4d.state.hasLayers"):
            out["completed"] = measure_fps(page, seconds, completed=True)
        return out


def picture_run(url: str, local: LocalScene, scene: Scene, pictures: Path | None, tag: str):
    from PIL import Image

    r = scene.min_depth() + 0.15
    k = scene.intrinsics
    poses = {
        "source": np.eye(4),
        "right": look_at((0.35 * r, -0.1 * r, 0.1 * r), (0.0, 0.0, r)),
        "left-up": look_at((-0.3 * r, 0.15 * r, -0.2 * r), (0.0, 0.0, r)),
    }
    out = {}
    with Page() as page:
        page.open(url, frames=scene.num_frames)
        for name, c2w in poses.items():
            page.set_view(c2w, k, frame=0)
            got = page.capture()
            mesh = local.server.service.store.mesh(local.scene_id, 0)
            want = np.asarray(render(mesh, c2w, k, RenderOptions(mask_style="face")).color)
            out[name] = {key: round(v, 4) for key, v in image_diff(got, want).items()}
            if pictures is not None:
                diff = np.abs(got.astype(np.int16) - want.astype(np.int16)).max(2)
                diff = np.repeat(np.clip(diff * 4, 0, 255).astype(np.uint8)[..., None], 3, 2)
                row = np.concatenate([got, want, diff], 1)
                Image.fromarray(row).save(pictures / f"pose_{name}_{tag}.png")
    return out


def screenshot(url: str, scene: Scene, pictures: Path) -> None:
    """The page as a user sees it (controls and overlay), completed, from off the source pose."""
    r = scene.min_depth() + 0.15
    with Page() as page:
        page.driver.set_window_size(1000, 640)
        page.open(url, frames=scene.num_frames)
        page.js(
            "window.ex4d.setCompleted(true); document.getElementById('completed').checked = true"
        )
        page.js("const s = window.ex4d.state; s.yaw = -0.3; s.pitch = 0.08; s.time = 0.3")
        page.js("window.ex4d.state.dist = arguments[0]", 1.1 * r)
        time.sleep(1.5)
        page.driver.save_screenshot(str(pictures / "viewer.png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--complete", default="orbit:40", help="coverage path ('' to skip)")
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--out", default=None)
    ap.add_argument("--pictures", default=None)
    args = ap.parse_args()
    result = environment("web", "selenium", "aiohttp")
    result.update(size=args.size, frames=args.frames)
    pictures = Path(args.pictures) if args.pictures else None
    if pictures:
        pictures.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        s = SyntheticScene(args.size, args.size, args.frames)
        scene = reconstruct(
            s.frames(),
            KnownDepth(s.depths()),
            intrinsics=s.intrinsics,
            fps=s.fps,
            progress=False,
        )
        d = Path(tmp) / "scene"
        scene.save(d)
        if args.complete:
            from ex4d_bridge.scene.completion import complete_scene

            t0 = time.perf_counter()
            complete_scene(d, [args.complete], progress=False, stride=args.stride)
            result["complete_s"] = round(time.perf_counter() - t0, 1)
            result["complete"] = f"{args.complete} stride {args.stride} (classical fallback)"
        local = LocalScene(d, None, TOKEN).start()
        try:
            with GatewayThread(WebConfig(target=local.target, port=0, token=TOKEN)) as gw:
                default = page_url(gw.url, local.scene_id, TOKEN)
                exact = page_url(gw.url, local.scene_id, TOKEN, EXACT)
                result["stream_default"] = stream_run(default, args.seconds, args.frames)
                result["stream_exact"] = stream_run(exact, args.seconds, args.frames)
                result["vs_library_exact"] = picture_run(exact, local, scene, pictures, "exact")
                result["vs_library_default"] = picture_run(default, local, scene, pictures, "jpeg")
                if pictures is not None and args.complete:
                    screenshot(default, scene, pictures)
        finally:
            local.stop()
    result["diff_note"] = (
        "mean_abs: mean over pixels of the largest channel difference (0..255); bad_fraction: "
        "pixels differing by more than 24 levels"
    )
    emit(result, args.out)


if __name__ == "__main__":
    main()
