"""The server with the real EX-4D pipeline (tiny random-weight preset) behind SubmitGeneration:
the generation stage and the bridge meet through the completer interface only, and a job
generates exactly as ``ex4d-bridge generate`` does (one request object, one library call, the
same defaults). ``serve`` takes the model flags of ``generate``."""

from dataclasses import replace

import numpy as np
import pytest

from ex4d_bridge.camera import Trajectory
from ex4d_bridge.camera.trajectory import reference_orbit
from ex4d_bridge.cli import _parser, main
from ex4d_bridge.client import BridgeClient, job_state_name
from ex4d_bridge.errors import Ex4dError
from ex4d_bridge.generation import EX4DPipeline, save_tiny_base
from ex4d_bridge.generation.completer import load_completer
from ex4d_bridge.generation.condition import erode_masks
from ex4d_bridge.generation.presets import PRESETS
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.command import build_config
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import read_video, write_video

SEED = 3


@pytest.fixture(scope="module")
def pipeline():
    pipe = load_completer(preset="tiny")
    assert not pipe.is_fallback
    return pipe


def test_generation_job_through_the_tiny_ex4d_pipeline(pipeline, tmp_path):
    scene = SyntheticScene(64, 64, 5)
    video = write_video(tmp_path / "clip.mp4", scene.frames(), scene.fps)
    config = ServerConfig(port=0, data_dir=tmp_path / "data", completer=pipeline)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as client:
        info = client.upload_scene(video, depth=scene.depths(), intrinsics=scene.intrinsics)
        job = client.submit_generation(info.scene_id, "orbit:45", seed=1)
        events = list(client.watch_job(job.job_id, timeout=300))
        final = events[-1]
        assert job_state_name(final.state) == "SUCCEEDED"
        files = client.download_job_result(job.job_id, tmp_path / "out")
    assert final.completer == pipeline.name and final.num_frames == 5
    frames = read_video(files["generated.mp4"]).frames
    assert frames.shape == (5, 64, 64, 3)
    # The job names the pipeline (not the fallback) as its completer; random weights make no
    # picture, but not a constant one either.
    assert frames.std() > 1.0


class Recording:
    """A completer that keeps every request (and the image the pipeline conditions on)."""

    def __init__(self, inner: EX4DPipeline):
        self.inner, self.name, self.is_fallback = inner, inner.name, inner.is_fallback
        self.requests, self.images = [], []
        encode = inner.encode_source
        inner.encode_source = lambda image, *a: self.images.append(image) or encode(image, *a)

    def generate(self, request, *, progress=None, cancel=None):
        self.requests.append(request)
        return self.inner.generate(request, progress=progress, cancel=cancel)


@pytest.fixture()
def small_tiny(monkeypatch):
    """The tiny preset at the render's size and length with 2 steps (a cheap run where no
    resampling hides what reaches the model); CLI and server both build from it."""
    small = replace(PRESETS["tiny"], num_frames=5, width=64, height=64, num_inference_steps=2)
    monkeypatch.setitem(PRESETS, "tiny", small)
    return small


@pytest.fixture()
def off_source_job(small_tiny, tmp_path):
    """A job along a path that starts 30 degrees away from the source camera."""
    scene = SyntheticScene(64, 64, 5)
    video = write_video(tmp_path / "clip.mp4", scene.frames(), scene.fps)
    orbit = reference_orbit(scene.min_depth(), 60.0, num_frames=9)
    path = Trajectory(orbit.poses[4:])
    recording = Recording(EX4DPipeline.tiny(seed=0))
    config = ServerConfig(port=0, data_dir=tmp_path / "data", completer=recording)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as client:
        info = client.upload_scene(video, depth=scene.depths(), intrinsics=scene.intrinsics)
        job = client.submit_generation(info.scene_id, path, seed=SEED)
        final = list(client.watch_job(job.job_id, timeout=300))[-1]
        assert job_state_name(final.state) == "SUCCEEDED", final.error
    with np.load(tmp_path / "data" / "jobs" / job.job_id / "generated.npz") as z:
        frames = z["frames"]
    return scene, recording, frames


def test_a_job_conditions_on_the_masked_render_frame_0(off_source_job):
    scene, recording, _ = off_source_job
    (request,) = recording.requests
    colors, masks = request.colors, request.masks
    assert request.first_frame is None  # the library's default, not the source video's frame
    assert not masks[0].all()  # the path's first view is not the source view
    assert np.abs(colors[0].astype(int) - scene.frames()[0]).mean() > 5
    (image,) = recording.images
    kept = erode_masks(masks, "reference", SEED)[0]  # the reference erodes before masking
    np.testing.assert_array_equal(image, np.where(kept[..., None], colors[0], 0))


def test_cli_and_server_generate_identical_frames(off_source_job, tmp_path, monkeypatch):
    """The same render, seed and (tiny) model through `generate` and through a job: the same
    program on the same data, so the frames are equal exactly."""
    _, recording, served = off_source_job
    (request,) = recording.requests
    import ex4d_bridge.video as video_module

    class Clip:
        frames, fps = request.colors, 15.0

    written = {}
    monkeypatch.setattr(video_module, "read_video", lambda path: Clip)
    monkeypatch.setattr(video_module, "read_mask_video", lambda path: request.masks)
    monkeypatch.setattr(
        video_module, "write_video", lambda path, frames, fps: written.setdefault(path, frames)
    )
    for name in ("color_path.mp4", "mask_path.mp4"):  # read through the patched readers
        (tmp_path / name).write_bytes(b"")
    argv = ["generate", str(tmp_path), "--preset", "tiny", "--device", "cpu"]
    assert main([*argv, "--seed", str(SEED), "--quiet"]) == 0
    (frames,) = written.values()
    assert frames.shape == served.shape == (5, 64, 64, 3)
    np.testing.assert_array_equal(frames, served)


# ---------------------------------------------------------------- serve's model flags


def serve_config(*args):
    return build_config(_parser().parse_args(["serve", "--port", "0", *args]))


def test_serve_takes_the_model_flags_of_generate(small_tiny, tmp_path, monkeypatch):
    monkeypatch.delenv("EX4D_WAN_BASE", raising=False)
    monkeypatch.delenv("EX4D_ADAPTER", raising=False)
    assert serve_config("--data-dir", str(tmp_path)).completer is None  # the fallback
    config = serve_config("--preset", "tiny", "--memory", "cpu", "--generation-device", "cpu")
    config.validate()
    tiny = config.completer()  # the worker calls the factory when the first job runs
    assert isinstance(tiny, EX4DPipeline) and tiny.preset.name == "tiny"
    base = save_tiny_base(tmp_path / "base")
    adapter = tiny.save_adapter(tmp_path / "adapter.safetensors")
    config = serve_config("--base", str(base), "--adapter", str(adapter), "--memory", "cpu")
    loaded = config.completer()
    assert loaded.load_report.ok and loaded.plan.name == "cpu"
    monkeypatch.setenv("EX4D_WAN_BASE", str(base))  # the environment of `generate` too
    monkeypatch.setenv("EX4D_ADAPTER", str(adapter))
    assert callable(serve_config("--generation-device", "cpu").completer)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--base", "no-such-dir", "--adapter", "x.ckpt"], "does not exist"),
        (["--adapter", "x.ckpt"], "base model (--base) is not set"),
        (["--preset", "tiny", "--completer", "json:loads"], "give one of them"),
    ],
)
def test_serve_refuses_a_half_model_configuration(args, message, monkeypatch):
    monkeypatch.delenv("EX4D_WAN_BASE", raising=False)
    monkeypatch.delenv("EX4D_ADAPTER", raising=False)
    with pytest.raises(Ex4dError) as err:
        serve_config(*args)
    assert message in str(err.value)
