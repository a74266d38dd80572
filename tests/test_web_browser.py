"""The web viewer in a real browser (headless Chromium, software GL) against a real Bridge
server and gateway on loopback: the first frame, pictures at three known poses against the
library's renderer, the completed mode against the library's compositing, a recorded walk
replayed through ``ex4d-bridge render --trajectory``, and WebXR (a mock ``navigator.xr``:
session start and the per-eye views). Skipped without chromium + chromedriver + selenium."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.camera import Intrinsics, convert_pose, look_at
from ex4d_bridge.camera.pose_path import load_pose_path
from ex4d_bridge.cli import main as cli_main
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.geometry import RenderOptions, render
from ex4d_bridge.scene import Scene, reconstruct
from ex4d_bridge.synthetic import SyntheticScene

pytest.importorskip("selenium")
pytest.importorskip("aiohttp")
from ex4d_bridge.web.command import LocalScene, page_url  # noqa: E402
from ex4d_bridge.web.gateway import GatewayThread, WebConfig  # noqa: E402
from ex4d_bridge.web.headless import Page, find_chromium, image_diff  # noqa: E402

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="needs chromium + chromedriver")

SIZE, FRAMES = 128, 6
# Lossless colour and float32 depth, so the comparison sees the renderers, not JPEG.
EXACT = "color=png&depth=float32"
TOKEN = "web-test-token-0123"
# Page vs library renderer, same mesh and pose: colours differ by the JPEG of the MeshFrame
# (q90) and the uint16 depth; edges move by at most a pixel where the GPU's float32 projection
# rounds differently. Measured on this scene: mean 0.9-1.6, 0.3-1.2 % of pixels over 24 levels.
MAX_MEAN_ABS = 4.0
MAX_BAD_FRACTION = 0.03


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    s = SyntheticScene(SIZE, SIZE, FRAMES)
    scene = reconstruct(
        s.frames(), KnownDepth(s.depths()), intrinsics=s.intrinsics, fps=s.fps, progress=False
    )
    d = tmp_path_factory.mktemp("scene") / "scene"
    scene.save(d)
    return d


@pytest.fixture(scope="module")
def served(scene_dir):
    local = LocalScene(scene_dir, None, TOKEN).start()
    config = WebConfig(target=local.target, port=0, token=TOKEN)
    try:
        with GatewayThread(config) as gw:
            yield {
                "url": page_url(gw.url, local.scene_id, TOKEN, EXACT),
                "local": local,
                "scene": Scene.load(scene_dir),
            }
    finally:
        local.stop()


def library_view(local: LocalScene, c2w: np.ndarray, k: Intrinsics, frame: int = 0) -> np.ndarray:
    mesh = local.server.service.store.mesh(local.scene_id, frame)
    return np.asarray(render(mesh, c2w, k, RenderOptions(mask_style="face")).color)


def save_pair(path, page: np.ndarray, lib: np.ndarray) -> None:
    from PIL import Image

    diff = np.abs(page.astype(np.int16) - lib.astype(np.int16)).max(2).clip(0, 255)
    diff = np.repeat(diff.astype(np.uint8)[..., None], 3, 2)
    Image.fromarray(np.concatenate([page, lib, diff], 1)).save(path)


def known_poses(scene: Scene) -> list[tuple[str, np.ndarray, Intrinsics]]:
    r = scene.min_depth() + 0.15
    pivot = (0.0, 0.0, r)
    k = scene.intrinsics
    wide = Intrinsics(fx=100.0, fy=100.0, cx=80.0, cy=60.0, width=160, height=120)
    return [
        ("source", np.eye(4), k),
        ("right", look_at((0.35 * r, -0.1 * r, 0.1 * r), pivot), k),
        ("left-wide", look_at((-0.3 * r, 0.15 * r, -0.2 * r), pivot), wide),
    ]


def test_page_matches_the_library_renderer_at_three_poses(served, tmp_path):
    with Page() as page:
        first_s = page.open(served["url"], frames=FRAMES)
        assert first_s < 60
        for name, c2w, k in known_poses(served["scene"]):
            page.set_view(c2w, k, frame=2)
            got = page.capture()
            want = library_view(served["local"], c2w, k, frame=2)
            assert got.shape == want.shape
            save_pair(tmp_path / f"pose_{name}.png", got, want)
            d = image_diff(got, want)
            assert d["mean_abs"] < MAX_MEAN_ABS, (name, d, tmp_path)
            assert d["bad_fraction"] < MAX_BAD_FRACTION, (name, d, tmp_path)
        # A wrong pose must fail the comparison (the test can fail).
        _, c2w, k = known_poses(served["scene"])[1]
        page.set_view(c2w, k, frame=2)
        wrong = library_view(served["local"], known_poses(served["scene"])[2][1], k, frame=2)
        assert image_diff(page.capture(), wrong)["bad_fraction"] > 10 * MAX_BAD_FRACTION


def test_a_recorded_walk_replays_through_render_trajectory(served, tmp_path):
    scene = served["scene"]
    poses = known_poses(scene)
    with Page() as page:
        page.open(served["url"], frames=FRAMES)
        # The walk records the lens on screen: the scene's camera here.
        page.set_view(poses[0][1], scene.intrinsics, frame=0)
        page.js("window.ex4d.toggleRecording()")
        shown = []
        for _, c2w, _ in poses:
            page.set_view(c2w, scene.intrinsics, frame=0)
            page.js("window.ex4d.state.playing = true")
            mark = page.js("return window.ex4d.state.recording.poses.length")
            page.wait_for(f"window.ex4d.state.recording.poses.length >= {mark + 5}", "poses", 10)
            shown.append(c2w)
        page.js("window.ex4d.toggleRecording()")
        path = page.js("return window.ex4d.path()")
    assert path["coordinate_system"] == "opengl" and path["fps"] == 30
    assert len(path["poses"]) >= 3 * 5
    file = tmp_path / "walk.poses.json"
    file.write_text(json.dumps(path))
    # The file is the pose-path format: every pose the page showed, converted back exactly.
    traj = load_pose_path(file)
    recorded = traj.poses
    for c2w in shown:
        err = np.abs(recorded - c2w).reshape(len(recorded), -1).max(1)
        assert err.min() < 1e-9
    assert traj.intrinsics == scene.intrinsics
    # ... and the CLI renders it.
    out = tmp_path / "render"
    assert (
        cli_main(
            [
                "--quiet",
                "render",
                str(scene_dir_of(served)),
                "--trajectory",
                str(file),
                "--out",
                str(out),
                "--backend",
                "cpu",
            ]
        )
        == 0
    )
    cams = sorted(out.glob("camera_*.json"))
    videos = sorted(out.glob("color_*.mp4"))
    assert cams and videos
    from ex4d_bridge.video import read_video

    frames = read_video(videos[0]).frames
    assert len(frames) == len(recorded)
    # ... and so does RecordWalkthrough, with the source frames the page showed.
    from ex4d_bridge.client import BridgeClient

    local = served["local"]
    shown_frames = [p["frame"] for p in path["poses"]]
    with BridgeClient(local.target, token=TOKEN, progress=False) as client:
        files = client.record_walkthrough(
            local.scene_id, file, tmp_path / "walk", frame_indices=np.array(shown_frames)
        )
    assert len(read_video(files["walkthrough.mp4"]).frames) == len(recorded)
    back = load_pose_path(files["walkthrough.poses.json"])
    np.testing.assert_allclose(back.poses, recorded, atol=1e-9)


def scene_dir_of(served):
    return served["local"].scene_dir


# A mock WebXR runtime: immersive-vr supported, a 'local' space, two eyes side by side on the
# page's canvas (XRWebGLLayer.framebuffer null = the canvas), head pose and eye offsets given
# by the test, frames at 60 Hz. Enough to run the page's session start and per-eye rendering;
# a real runtime's compositor, timing and tracking are not in it.
XR_MOCK = (Path(__file__).parent / "test_web_xr_mock.js").read_text()


def gl_projection(k: Intrinsics, near: float = 0.01, far: float = 1000.0) -> list[float]:
    return [
        2 * k.fx / k.width,
        0,
        1 - 2 * k.cx / k.width,
        0,
        0,
        2 * k.fy / k.height,
        2 * k.cy / k.height - 1,
        0,
        0,
        0,
        -(far + near) / (far - near),
        -2 * far * near / (far - near),
        0,
        0,
        -1,
        0,
    ]


def test_webxr_session_renders_each_eye_from_the_headset_pose(served, tmp_path):
    scene = served["scene"]
    k = scene.intrinsics
    r = scene.min_depth() + 0.15
    head_cv = look_at((0.2 * r, -0.05 * r, 0.05 * r), (0.0, 0.0, r))
    ipd = 0.064 * r
    eyes_cv = {}
    for eye, dx in (("left", -ipd / 2), ("right", ipd / 2)):
        offset = np.eye(4)
        offset[0, 3] = dx
        eyes_cv[eye] = head_cv @ offset
    to_gl = lambda m: convert_pose(m, "opencv", "opengl")  # noqa: E731
    config = {
        "head": to_gl(head_cv).reshape(-1).tolist(),
        "eyes": [
            {"eye": e, "c2w": to_gl(m).reshape(-1).tolist(), "proj": gl_projection(k)}
            for e, m in eyes_cv.items()
        ],
    }
    with Page(init_script=XR_MOCK) as page:
        page.open(served["url"], frames=FRAMES)
        page.wait_for("!document.getElementById('vr').hidden", "the Enter VR button")
        page.js("window.__xr.config = arguments[0]", config)
        page.js("window.ex4d.state.playing = false; window.ex4d.state.time = 0")
        page.js("window.ex4d.enterVR()")
        page.wait_for("window.__xr.frames >= 1 && window.ex4d.state.xr", "the XR session")
        # In XR the page leaves the canvas alone: size it for two eyes, then let frames come.
        page.js(
            "document.getElementById('view').width = arguments[0] * 2;"
            "document.getElementById('view').height = arguments[1];",
            k.width,
            k.height,
        )
        n = page.js("return window.__xr.frames")
        page.wait_for(f"window.__xr.frames >= {n + 3}", "XR frames")
        views = page.js("return window.ex4d.state.xr.views")
        assert [v["eye"] for v in views] == ["left", "right"]
        got = page.capture()
        for i, v in enumerate(views):
            # The page's pose conversion of each eye is the library's.
            c2w = np.array(v["c2w"]).reshape(4, 4)
            np.testing.assert_allclose(c2w, eyes_cv[v["eye"]], atol=1e-6)
            vp = v["viewport"]
            assert (vp["width"], vp["height"]) == (k.width, k.height)
            half = got[:, i * k.width : (i + 1) * k.width]
            want = library_view(served["local"], eyes_cv[v["eye"]], k, frame=0)
            save_pair(tmp_path / f"xr_{v['eye']}.png", half, want)
            d = image_diff(half, want)
            assert d["mean_abs"] < MAX_MEAN_ABS and d["bad_fraction"] < MAX_BAD_FRACTION, d
        # The eyes see different images (stereo), and recording follows the head.
        assert image_diff(got[:, : k.width], got[:, k.width :])["bad_fraction"] > 0.01
        page.js("window.ex4d.toggleRecording()")
        page.wait_for("window.ex4d.state.recording.poses.length >= 3", "XR poses")
        page.js("window.ex4d.toggleRecording()")
        path = page.js("return window.ex4d.path()")
        p0 = path["poses"][0]
        from ex4d_bridge.camera import pose_from_wire

        np.testing.assert_allclose(
            pose_from_wire(p0["position"], p0["rotation"], "opengl"), head_cv, atol=1e-9
        )
        page.js("window.ex4d.state.xr.session.end()")
        page.wait_for("!window.ex4d.state.xr", "the session to end")


@pytest.fixture(scope="module")
def completed_served(scene_dir, tmp_path_factory):
    import shutil

    from ex4d_bridge.scene.completion import complete_scene

    d = tmp_path_factory.mktemp("completed") / "scene"
    shutil.copytree(scene_dir, d)
    complete_scene(d, ["orbit:40"], progress=False, stride=2)
    local = LocalScene(d, None, TOKEN).start()
    try:
        with GatewayThread(WebConfig(target=local.target, port=0, token=TOKEN)) as gw:
            yield {"url": page_url(gw.url, local.scene_id, TOKEN, EXACT), "dir": d}
    finally:
        local.stop()


def test_completed_mode_composites_like_the_library(completed_served, tmp_path):
    from ex4d_bridge.scene.completion import CompletedScene, load_completions

    d = completed_served["dir"]
    scene = Scene.load(d)
    completed = CompletedScene(scene, load_completions(d))
    r = scene.min_depth() + 0.15
    k = scene.intrinsics
    with Page() as page:
        page.open(completed_served["url"], frames=FRAMES)
        assert page.js("return window.ex4d.state.hasLayers")
        for frame, eye in ((2, (0.3 * r, 0.0, 0.05 * r)), (3, (0.45 * r, -0.1 * r, 0.1 * r))):
            c2w = look_at(eye, (0.0, 0.0, r))
            raw_lib = np.asarray(render(scene.mesh(frame), c2w, k, RenderOptions()).color)
            want = completed.render(frame, c2w, k).color
            page.js("window.ex4d.setCompleted(true)")
            page.set_view(c2w, k, frame=frame)
            got = page.capture()
            save_pair(tmp_path / f"completed_{frame}.png", got, want)
            d = image_diff(got, want)
            assert d["mean_abs"] < MAX_MEAN_ABS and d["bad_fraction"] < MAX_BAD_FRACTION, d
            # The layers matter here: the raw mesh is far from the completed view.
            assert image_diff(raw_lib, want)["bad_fraction"] > 5 * MAX_BAD_FRACTION
            page.js("window.ex4d.setCompleted(false)")
            page.set_view(c2w, k, frame=frame)
            d = image_diff(page.capture(), raw_lib)
            assert d["mean_abs"] < MAX_MEAN_ABS and d["bad_fraction"] < MAX_BAD_FRACTION, d


def test_mouse_and_keys_move_the_camera(served):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    def pose(page) -> np.ndarray:
        return np.array(page.js("return window.ex4d.pose()")).reshape(4, 4)

    with Page() as page:
        page.open(served["url"], frames=1)
        start = pose(page)
        np.testing.assert_allclose(start, np.eye(4), atol=1e-12)  # the source camera
        canvas = page.driver.find_element(By.ID, "view")
        # Orbit: dragging right turns the camera around the pivot, which stays in view.
        ActionChains(page.driver).click_and_hold(canvas).move_by_offset(80, 0).release().perform()
        orbit = pose(page)
        assert orbit[0, 3] > 0.01 and orbit[0, 2] < -0.01  # moved right, looks back left
        pivot = served["scene"].min_depth() + 0.15
        to_pivot = np.array([0.0, 0.0, pivot]) - orbit[:3, 3]
        np.testing.assert_allclose(orbit[:3, 2], to_pivot / np.linalg.norm(to_pivot), atol=1e-9)
        # Fly (F): W moves along the view direction while held.
        page.driver.find_element(By.TAG_NAME, "body").send_keys("f")
        assert page.js("return window.ex4d.state.mode") == "fly"
        before = pose(page)
        ActionChains(page.driver).key_down("w").pause(0.4).key_up("w").perform()
        after = pose(page)
        step = after[:3, 3] - before[:3, 3]
        assert np.linalg.norm(step) > 1e-3
        np.testing.assert_allclose(step / np.linalg.norm(step), before[:3, 2], atol=1e-6)
        # Space pauses; the completed toggle is off without completions.
        page.driver.find_element(By.TAG_NAME, "body").send_keys(" ")
        assert page.js("return window.ex4d.state.playing") is False
        assert page.js("return document.getElementById('completed').disabled") is True
