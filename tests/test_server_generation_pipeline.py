"""The server with the real EX-4D pipeline (tiny random-weight preset) behind SubmitGeneration:
the generation stage and the bridge meet through the completer interface only."""

import pytest

from ex4d_bridge.client import BridgeClient, job_state_name
from ex4d_bridge.generation.completer import load_completer
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import read_video, write_video


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
