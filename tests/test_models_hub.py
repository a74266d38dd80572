"""Model references resolve to local paths or hub-cache snapshots, fully offline (issue 15)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_models import save_tiny_depth_anything

from ex4d_bridge.errors import InputError
from ex4d_bridge.models import parse_hub_ref, resolve_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def _cache_repo(cache: Path, repo_id: str, files: dict[str, str], commit=COMMIT, ref="main"):
    """A repository laid out as huggingface_hub lays out its cache."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    for name, text in files.items():
        (snap / name).parent.mkdir(parents=True, exist_ok=True)
        (snap / name).write_text(text)
    if ref is not None:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return cache


def test_parse_hub_ref():
    assert parse_hub_ref("org/name") == ("org/name", None, None)
    assert parse_hub_ref("org/name@v1") == ("org/name", "v1", None)
    assert parse_hub_ref("org/name::ex4d.ckpt") == ("org/name", None, "ex4d.ckpt")
    assert parse_hub_ref("org/name@abc::sub/x.bin") == ("org/name", "abc", "sub/x.bin")
    for not_hub in ("name", "a/b/c", "org/", "org/name::", "org/name::../x", "org/na me"):
        assert parse_hub_ref(not_hub) is None


def test_id_resolves_to_the_cached_snapshot(hub_cache):
    snap = _cache_repo(hub_cache, "org/model", {"config.json": "{}"})
    assert resolve_model("org/model") == snap


def test_revision_resolves_to_its_snapshot(hub_cache):
    _cache_repo(hub_cache, "org/model", {"config.json": "{}"})
    old = _cache_repo(hub_cache, "org/model", {"config.json": "{}"}, commit=OTHER, ref="v1")
    assert resolve_model("org/model@v1") == old
    assert resolve_model("org/model", revision="v1") == old
    assert resolve_model(f"org/model@{OTHER}") == old


def test_single_file_resolves_to_its_cached_path(hub_cache):
    snap = _cache_repo(hub_cache, "yihouxiang/EX-4D", {"ex4d.ckpt": "weights"})
    path = resolve_model("yihouxiang/EX-4D::ex4d.ckpt", kind="adapter")
    assert path == snap / "ex4d.ckpt" and path.read_text() == "weights"


def test_missing_id_offline_is_one_line_with_the_download_command(hub_cache):
    with pytest.raises(InputError) as info:
        resolve_model("depth-anything/Depth-Anything-V2-Small-hf")
    msg = str(info.value)
    assert "\n" not in msg
    assert "depth-anything/Depth-Anything-V2-Small-hf" in msg
    assert "not in the hub cache" in msg and str(hub_cache) in msg
    assert "`hf download depth-anything/Depth-Anything-V2-Small-hf`" in msg

    with pytest.raises(InputError, match=r"`hf download org/x ex4d.ckpt --revision v2`"):
        resolve_model("org/x@v2::ex4d.ckpt", kind="adapter")


def test_allow_download_false_only_reads_the_cache(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(InputError, match="not in the hub cache"):
        resolve_model("org/absent", allow_download=False)


def test_hf_home_is_the_cache_when_hf_hub_cache_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = _cache_repo(tmp_path / "home" / "hub", "org/model", {"config.json": "{}"})
    assert resolve_model("org/model") == snap


def test_local_directory_wins_over_a_cached_id(hub_cache):
    _cache_repo(hub_cache, "org/model", {"config.json": "{}"})
    local = Path("org/model")  # relative to the working directory (the fixture's tmp dir)
    local.mkdir(parents=True)
    assert resolve_model("org/model") == local
    missing = hub_cache.parent / "nowhere" / "model"
    assert resolve_model(missing) == missing  # not an id: left for the caller to report
    assert resolve_model("./org/absent") == Path("org/absent")


def test_reconstruct_with_a_hub_id_from_the_cache(hub_cache):
    from ex4d_bridge.scene import DepthSpec, reconstruct

    tmp = save_tiny_depth_anything(hub_cache.parent / "tiny")
    snap = hub_cache / "models--org--tiny-depth" / "snapshots" / COMMIT
    shutil.copytree(tmp, snap)
    (hub_cache / "models--org--tiny-depth" / "refs").mkdir()
    (hub_cache / "models--org--tiny-depth" / "refs" / "main").write_text(COMMIT)
    shutil.rmtree(tmp)

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (2, 32, 48, 3), dtype=np.uint8)
    spec = DepthSpec(model="org/tiny-depth", device="cpu", batch_size=2)
    scene = reconstruct(frames, spec, progress=False)
    assert scene.depth.shape == (2, 32, 48)
    assert np.isfinite(scene.depth).any()

    with pytest.raises(InputError, match="hf download org/absent-depth"):
        DepthSpec(model="org/absent-depth", device="cpu").estimator()


def test_generation_weights_take_hub_ids(hub_cache, monkeypatch):
    from ex4d_bridge.generation.completer import ADAPTER_ENV, BASE_ENV, configured_weights

    snap = _cache_repo(hub_cache, "yihouxiang/EX-4D", {"ex4d.ckpt": "weights"})
    base_snap = _cache_repo(hub_cache, "org/wan", {"model_index.json": "{}"})
    assert configured_weights("org/wan", "yihouxiang/EX-4D::ex4d.ckpt") == (
        base_snap,
        snap / "ex4d.ckpt",
    )
    monkeypatch.setenv(BASE_ENV, "org/wan")
    monkeypatch.setenv(ADAPTER_ENV, "yihouxiang/EX-4D::ex4d.ckpt")
    assert configured_weights() == (base_snap, snap / "ex4d.ckpt")
    monkeypatch.setenv(BASE_ENV, "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers")
    with pytest.raises(InputError) as info:
        configured_weights()
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("base model Wan-AI/Wan2.1-I2V-14B-480P-Diffusers")
    assert "`hf download Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`" in msg


def test_generate_cli_reports_an_uncached_adapter_in_one_line(hub_cache, capsys):
    from ex4d_bridge.cli import main

    render = hub_cache.parent / "render"
    render.mkdir()
    (render / "color_90.mp4").write_bytes(b"")
    (render / "mask_90.mp4").write_bytes(b"")
    code = main(["generate", str(render), "--preset", "tiny", "--adapter", "org/x::ex4d.ckpt"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith("error: adapter org/x::ex4d.ckpt is not in the hub cache")
    assert "`hf download org/x ex4d.ckpt`" in err


def _image_folder(path: Path, count=2, size=(48, 32)) -> Path:
    from PIL import Image

    path.mkdir()
    rng = np.random.default_rng(1)
    for i in range(count):
        pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path / f"{i:04d}.png")
    return path


def test_reconstruct_and_make_dataset_cli_take_depth_model_ids(hub_cache, capsys):
    from ex4d_bridge.cli import main

    frames = _image_folder(hub_cache.parent / "frames")
    for argv in (
        ["reconstruct", str(frames), "--out", "s", "--depth-model", "org/absent-depth"],
        ["make-dataset", str(frames), "--out", "d", "--depth-model", "org/absent-depth"],
    ):
        code = main([*argv, "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0, err
        assert err.startswith("error: depth model org/absent-depth is not in the hub cache")
        assert "`hf download org/absent-depth`" in err

    tmp = save_tiny_depth_anything(hub_cache.parent / "tiny")
    shutil.copytree(tmp, hub_cache / "models--org--tiny-depth" / "snapshots" / COMMIT)
    (hub_cache / "models--org--tiny-depth" / "refs").mkdir()
    (hub_cache / "models--org--tiny-depth" / "refs" / "main").write_text(COMMIT)
    argv = ["reconstruct", str(frames), "--out", "s", "--depth-model", "org/tiny-depth@main"]
    assert main([*argv, "--device", "cpu", "--quiet"]) == 0
    assert (hub_cache.parent / "s" / "scene.json").is_file()


def test_docs_download_commands_exist_in_the_installed_huggingface_hub():
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    texts = {p.name: p.read_text() for p in (root / "README.md", root / "docs" / "generation.md")}
    commands = []
    for name, text in texts.items():
        assert "huggingface-cli" not in text, name  # not installed with huggingface_hub >= 1
        commands += re.findall(r"hf download [^`\n]+", text)
    assert "depth-anything/Depth-Anything-V2-Small-hf" in texts["README.md"]
    assert commands
    code = "from huggingface_hub.cli.hf import main; main()"
    usage = subprocess.run(
        [sys.executable, "-c", code, "download", "--help"], capture_output=True, text=True
    ).stdout
    assert "REPO_ID [FILENAMES]" in usage and "--local-dir" in usage
    for command in commands:
        words = command.split()
        assert parse_hub_ref(words[2]) is not None, command
        assert all(w in usage for w in words[3:] if w.startswith("--")), command


def test_online_downloads_into_the_configured_cache(hub_cache, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, **kw):
        calls.append((repo_id, kw))
        return str(hub_cache / "got")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    assert resolve_model("org/model@v3") == hub_cache / "got"
    assert calls == [
        ("org/model", {"revision": "v3", "cache_dir": hub_cache, "local_files_only": False})
    ]

    def missing(repo_id, **kw):
        raise RuntimeError("404 Client Error: Repository Not Found for url\nmore detail")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    with pytest.raises(InputError) as info:
        resolve_model("org/typo", kind="base")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("base model org/typo: no local path org/typo")
    assert "Repository Not Found" in msg
