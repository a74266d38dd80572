"""Depth backends: alignment maths, a tiny random-weight Depth Anything model, provided depth."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from tiny_models import save_tiny_depth_anything

from ex4d_bridge.depth import (
    REFERENCE_NEAR,
    KnownDepth,
    ProvidedDepth,
    TransformersDepth,
    align_disparity,
    alignment_coefficients,
    disparity_to_depth,
    load_depth_backend,
)
from ex4d_bridge.depth.align import fit_scale_shift
from ex4d_bridge.depth.preprocess import Preprocess
from ex4d_bridge.errors import InputError

# ---------------------------------------------------------------- helpers and fixtures


def reference_disparity(h: int = 40, w: int = 50) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return 1.0 + 0.5 * np.sin(x / 7.0) + y / 20.0


def smooth_frames(t: int = 4, h: int = 56, w: int = 70) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = [
        np.stack(
            [
                (np.sin(x / 9 + k) * 0.5 + 0.5) * 255,
                (np.cos(y / 7) * 0.5 + 0.5) * 255,
                (x + y) / (h + w) * 255,
            ],
            axis=-1,
        )
        for k in range(t)
    ]
    return np.stack(frames).round().astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_depth_anything(tmp_path_factory):
    """A random-weight Depth Anything (DINOv2 backbone, 2 layers, width 32) saved offline."""
    return save_tiny_depth_anything(tmp_path_factory.mktemp("tiny_depth_anything"))


@pytest.fixture(scope="session")
def tiny_backend(tiny_depth_anything):
    return TransformersDepth(tiny_depth_anything, device="cpu", batch_size=3)


# ---------------------------------------------------------------- alignment


@pytest.mark.parametrize("mode", ["reference", "chain"])
def test_align_restores_scaled_and_shifted_copies(mode):
    ref = reference_disparity()
    scales = np.array([1.0, 2.0, 0.5, 3.0, 0.8])
    shifts = np.array([0.0, 1.0, -0.3, 2.0, 0.1])
    # Frame t is (ref - shift) / scale, so scale * d_t + shift is the reference again.
    disp = np.stack([(ref - b) / a for a, b in zip(scales, shifts, strict=True)]).astype(np.float32)
    aligned = align_disparity(disp, mode=mode)
    assert aligned.dtype == np.float32 and aligned.shape == disp.shape
    np.testing.assert_allclose(aligned, np.broadcast_to(ref, disp.shape), atol=1e-3)
    a, b = alignment_coefficients(disp, mode=mode)
    np.testing.assert_allclose(a, scales, rtol=1e-5)
    np.testing.assert_allclose(b, shifts, atol=1e-5)


def test_align_to_another_reference_frame():
    ref = reference_disparity()
    disp = np.stack([ref, 2 * ref + 1, 0.5 * ref]).astype(np.float32)
    aligned = align_disparity(disp, reference=1)
    np.testing.assert_allclose(aligned, np.broadcast_to(2 * ref + 1, disp.shape), atol=1e-3)


def test_align_ignores_a_minority_of_outliers_and_non_finite_pixels():
    ref = reference_disparity()
    moved = (ref - 2.0) / 3.0
    moved[:10, :10] = 50.0  # 5% of the frame disagrees completely (a moving object)
    moved[20, :] = np.nan  # and a row with no prediction
    disp = np.stack([ref, moved]).astype(np.float32)
    a, b = alignment_coefficients(disp)
    assert a[1] == pytest.approx(3.0, rel=1e-5) and b[1] == pytest.approx(2.0, abs=1e-4)
    aligned = align_disparity(disp)
    assert np.isnan(aligned[1, 20]).all()
    good = np.isfinite(aligned[1])
    good[:10, :10] = False
    np.testing.assert_allclose(aligned[1][good], ref[good], atol=1e-3)


def test_plain_least_squares_is_trim_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 500))
    y = 2.5 * x - 0.7 + rng.normal(scale=0.01, size=x.shape)
    a, b = fit_scale_shift(x, y, trim=0.0)
    expected = np.polyfit(x[0], y[0], 1)
    np.testing.assert_allclose([a[0], b[0]], expected, rtol=1e-10)


def test_alignment_rejects_bad_arguments():
    disp = np.ones((2, 4, 4), np.float32)
    with pytest.raises(InputError, match="mode"):
        align_disparity(disp, mode="wobble")
    with pytest.raises(InputError, match="reference frame"):
        align_disparity(disp, reference=5)
    with pytest.raises(InputError, match=r"\[T, H, W\]"):
        align_disparity(np.ones((4, 4), np.float32))


def test_disparity_to_depth_percentile_rule():
    # 10001 evenly spread values in [0, 1]: the 2nd/98th percentiles are exactly 0.02/0.98.
    disp = np.linspace(0.0, 1.0, 10001).reshape(1, 1, -1)
    near, far = 2.0, 50.0
    depth = disparity_to_depth(disp, near=near, far=far)
    assert depth.dtype == np.float32
    values = disp[0, 0]
    alpha = (1 / near - 1 / far) / (0.98 - 0.02)
    expected = 1.0 / (1 / near + alpha * (values - 0.98))
    expected = np.minimum(expected, far)
    np.testing.assert_allclose(depth[0, 0], expected, rtol=1e-5)
    assert depth[0, 0, 9800] == pytest.approx(near, rel=1e-5)
    assert depth[0, 0, 200] == pytest.approx(far, rel=1e-5)
    assert depth[0, 0, 0] == pytest.approx(far)  # beyond the low percentile: on the far plane
    assert np.all(np.diff(depth[0, 0]) <= 0)  # more disparity, nearer


def test_disparity_to_depth_special_values():
    disp = np.linspace(0.0, 1.0, 10001).reshape(1, 1, -1).astype(np.float32)
    disp[0, 0, 5000] = np.nan
    disp[0, 0, 5001] = np.inf
    depth = disparity_to_depth(disp, near=1.0, far=np.inf)
    assert np.isinf(depth[0, 0, 5000]) and np.isinf(depth[0, 0, 5001])
    assert np.isinf(depth[0, 0, :199]).all()  # below the low percentile (~0.02): no surface
    assert np.isfinite(depth[0, 0, 202:5000]).all() and (depth[0, 0, 202:5000] > 0).all()
    flat = disparity_to_depth(np.full((2, 3, 3), 0.7), near=3.0, far=10.0)
    np.testing.assert_allclose(flat, 3.0)
    with pytest.raises(InputError, match="far"):
        disparity_to_depth(disp, near=5.0, far=2.0)
    with pytest.raises(InputError, match="near"):
        disparity_to_depth(disp, near=0.0)


def test_aligned_clip_converts_to_the_same_depth_per_frame():
    ref = reference_disparity()
    disp = np.stack([ref, 4 * ref - 1, 0.25 * ref + 3]).astype(np.float32)
    depth = disparity_to_depth(align_disparity(disp))
    np.testing.assert_allclose(depth[1], depth[0], rtol=1e-4)
    np.testing.assert_allclose(depth[2], depth[0], rtol=1e-4)
    assert np.nanmin(depth) == pytest.approx(REFERENCE_NEAR, rel=0.2)


# ---------------------------------------------------------------- transformers backend


def test_transformers_depth_output_contract(tiny_backend):
    frames = smooth_frames(4, 56, 70)
    depth = tiny_backend.estimate(frames, progress=False)
    assert depth.shape == (4, 56, 70) and depth.dtype == np.float32
    assert np.all((np.isfinite(depth) & (depth > 0)) | (depth == np.inf))
    assert np.isfinite(depth).mean() > 0.9
    np.testing.assert_array_equal(depth, tiny_backend.estimate(frames, progress=False))
    assert tiny_backend.name == f"transformers:depth_anything:{tiny_backend.model_dir.name}"
    assert not tiny_backend.metric


def test_transformers_depth_is_batch_size_independent(tiny_depth_anything, tiny_backend):
    frames = smooth_frames(4, 56, 70)
    single = TransformersDepth(tiny_depth_anything, device="cpu", batch_size=1)
    np.testing.assert_allclose(
        single.predict_raw(frames, progress=False),
        tiny_backend.predict_raw(frames, progress=False),
        atol=1e-5,
    )
    # Compared as inverse depth: depth near `far` amplifies float32 noise by 1 / disparity.
    np.testing.assert_allclose(
        1.0 / single.estimate(frames, progress=False),
        1.0 / tiny_backend.estimate(frames, progress=False),
        atol=1e-5,
    )


def test_raw_prediction_matches_transformers_processor_pipeline(tiny_depth_anything, tiny_backend):
    """Our torch preprocessing must feed the model what the checkpoint's processor would."""
    try:  # transformers 5 names the PIL implementation explicitly
        from transformers import DPTImageProcessorPil
    except ImportError:
        from transformers import DPTImageProcessor as DPTImageProcessorPil

    frames = smooth_frames(2, 56, 70)  # already a valid input size: no resampling differences
    processor = DPTImageProcessorPil.from_pretrained(tiny_depth_anything, local_files_only=True)
    pixels = processor(images=list(frames), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = tiny_backend.model(pixel_values=pixels).predicted_depth.numpy()
    raw = tiny_backend.predict_raw(frames, progress=False)
    np.testing.assert_allclose(raw, expected, atol=1e-5)


def test_transformers_depth_resizes_to_model_input_and_back(tiny_backend):
    frames = smooth_frames(2, 90, 131)  # 90x131 -> model input 56x84 -> back to 90x131
    assert tiny_backend.preprocess.input_size(90, 131) == (56, 84)
    depth = tiny_backend.estimate(frames, progress=False)
    assert depth.shape == (2, 90, 131)
    assert np.all((np.isfinite(depth) & (depth > 0)) | (depth == np.inf))


def test_metric_output_is_the_raw_prediction(tiny_depth_anything):
    metric = TransformersDepth(tiny_depth_anything, device="cpu", output="depth")
    assert metric.metric
    frames = smooth_frames(2, 56, 70)
    raw = metric.predict_raw(frames, progress=False)
    expected = np.where(raw > 0, raw, np.inf).astype(np.float32)
    np.testing.assert_array_equal(metric.estimate(frames, progress=False), expected)


@pytest.mark.parametrize(
    ("src", "expected"),
    [((1080, 1920), (518, 924)), ((518, 518), (518, 518)), ((480, 640), (518, 686))],
)
def test_depth_anything_v2_input_sizes(src, expected):
    # DPT rule: keep the scale closest to 1 among 518/H and 518/W, then nearest multiple of 14.
    assert Preprocess(height=518, width=518, multiple=14).input_size(*src) == expected


def test_transformers_depth_bad_checkpoints(tmp_path, tiny_depth_anything):
    with pytest.raises(InputError, match="does not exist"):
        TransformersDepth(tmp_path / "missing")
    with pytest.raises(InputError, match="no config.json"):
        TransformersDepth(tmp_path)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(InputError, match="not a depth-estimation model"):
        TransformersDepth(bert)
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((tiny_depth_anything / "config.json").read_text())
    with pytest.raises(InputError, match="weights"):
        TransformersDepth(no_weights, device="cpu")
    with pytest.raises(InputError, match="batch_size"):
        TransformersDepth(tiny_depth_anything, batch_size=0)
    with pytest.raises(InputError, match="output"):
        TransformersDepth(tiny_depth_anything, output="inverse")


def test_cuda_without_gpu_is_an_input_error(tiny_depth_anything, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA GPU"):
        TransformersDepth(tiny_depth_anything, device="cuda")
    with pytest.raises(InputError, match="device"):
        TransformersDepth(tiny_depth_anything, device="tpu")


# ---------------------------------------------------------------- provided and known depth


def frames_for(t: int, h: int, w: int) -> np.ndarray:
    return np.zeros((t, h, w, 3), np.uint8)


def test_provided_npy_round_trip_and_invalid_values(tmp_path):
    depth = np.random.default_rng(0).uniform(0.5, 20.0, (3, 6, 8)).astype(np.float32)
    depth[0, 0, 0], depth[1, 1, 1], depth[2, 2, 2] = 0.0, -1.0, np.nan
    np.save(tmp_path / "d.npy", depth)
    out = ProvidedDepth(tmp_path / "d.npy").estimate(frames_for(3, 6, 8))
    assert out.dtype == np.float32
    assert np.isinf([out[0, 0, 0], out[1, 1, 1], out[2, 2, 2]]).all()
    good = np.isfinite(depth) & (depth > 0)
    np.testing.assert_array_equal(out[good], depth[good])
    scaled = ProvidedDepth(tmp_path / "d.npy", scale=2.0).estimate(frames_for(3, 6, 8))
    np.testing.assert_allclose(scaled[good], 2 * depth[good])


def test_provided_single_frame_and_shape_mismatch(tmp_path):
    np.save(tmp_path / "one.npy", np.full((6, 8), 3.0))
    assert ProvidedDepth(tmp_path / "one.npy").estimate(frames_for(1, 6, 8)).shape == (1, 6, 8)
    with pytest.raises(InputError, match=r"\[1, 6, 8\].*\[2, 6, 8\]"):
        ProvidedDepth(tmp_path / "one.npy").estimate(frames_for(2, 6, 8))
    with pytest.raises(InputError, match="resize=True"):
        ProvidedDepth(tmp_path / "one.npy").estimate(frames_for(1, 12, 16))


def test_provided_resize_uses_nearest_values(tmp_path):
    depth = np.array([[[1.0, 2.0], [3.0, np.inf]]], np.float32)
    np.save(tmp_path / "small.npy", depth)
    with pytest.warns(UserWarning, match="2x2 but the video is 4x4"):
        out = ProvidedDepth(tmp_path / "small.npy", resize=True).estimate(frames_for(1, 4, 4))
    expected = np.repeat(np.repeat(depth, 2, axis=1), 2, axis=2)
    np.testing.assert_array_equal(out, expected)


def test_provided_npz_keys(tmp_path):
    depth = np.full((2, 4, 5), 7.0, np.float32)
    np.savez(tmp_path / "named.npz", depth=depth, rgb=np.zeros((2, 4, 5, 3)))
    np.savez(tmp_path / "single.npz", whatever=depth * 2)
    np.savez(tmp_path / "ambiguous.npz", a=depth, b=depth)
    np.testing.assert_array_equal(
        ProvidedDepth(tmp_path / "named.npz").estimate(frames_for(2, 4, 5)), depth
    )
    np.testing.assert_array_equal(
        ProvidedDepth(tmp_path / "single.npz").estimate(frames_for(2, 4, 5)), depth * 2
    )
    with pytest.raises(InputError, match="'depth'"):
        ProvidedDepth(tmp_path / "ambiguous.npz")


def test_provided_png16_folder(tmp_path):
    rng = np.random.default_rng(0)
    depth_m = rng.uniform(0.3, 60.0, (3, 5, 7))
    millimetres = np.round(depth_m * 1000).astype(np.uint16)
    millimetres[1, 2, 3] = 0  # the usual "no measurement"
    folder = tmp_path / "depth"
    folder.mkdir()
    for i, image in enumerate(millimetres):
        assert cv2.imwrite(str(folder / f"{i}.png"), image)
    out = ProvidedDepth(folder, scale=0.001).estimate(frames_for(3, 5, 7))
    assert np.isinf(out[1, 2, 3])
    mask = np.isfinite(out)
    np.testing.assert_allclose(out[mask], depth_m[mask], atol=6e-4)

    colour = tmp_path / "colour"
    colour.mkdir()
    cv2.imwrite(str(colour / "0.png"), np.zeros((5, 7, 3), np.uint8))
    with pytest.raises(InputError, match="single-channel"):
        ProvidedDepth(colour)


def test_provided_disparity_and_relative_kinds(tmp_path):
    depth = np.random.default_rng(1).uniform(1.0, 10.0, (2, 4, 6)).astype(np.float32)
    np.save(tmp_path / "disp.npy", 1.0 / depth)
    out = ProvidedDepth(tmp_path / "disp.npy", kind="disparity").estimate(frames_for(2, 4, 6))
    np.testing.assert_allclose(out, depth, rtol=1e-5)
    rel = np.stack([reference_disparity(4, 6), 3 * reference_disparity(4, 6) + 1])
    np.save(tmp_path / "rel.npy", rel)
    out = ProvidedDepth(tmp_path / "rel.npy", kind="relative", near=1.0, far=10.0).estimate(
        frames_for(2, 4, 6)
    )
    np.testing.assert_allclose(out[1], out[0], rtol=1e-4)
    assert out.max() <= 10.0 + 1e-4  # clamped to far
    assert np.percentile(out, 2) == pytest.approx(1.0, rel=0.05)  # 98th disparity -> near


def test_provided_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        ProvidedDepth(tmp_path / "none.npy")
    (tmp_path / "d.txt").write_text("1 2 3")
    with pytest.raises(InputError, match=".npy or .npz"):
        ProvidedDepth(tmp_path / "d.txt")
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 4, 5)))
    with pytest.raises(InputError, match=r"\[T, H, W\]"):
        ProvidedDepth(tmp_path / "bad.npy")
    with pytest.raises(InputError, match="kind"):
        ProvidedDepth(tmp_path / "bad.npy", kind="metres")


def test_known_depth():
    depth = np.full((2, 3, 4), 5.0, np.float32)
    depth[0, 0, 0] = np.inf
    known = KnownDepth(depth)
    out = known.estimate(frames_for(2, 3, 4))
    np.testing.assert_array_equal(out, depth)
    out[:] = 1.0  # callers get a copy
    np.testing.assert_array_equal(known.estimate(frames_for(2, 3, 4)), depth)
    with pytest.raises(InputError, match=r"\[2, 3, 4\].*\[2, 3, 5\]"):
        known.estimate(frames_for(2, 3, 5))
    with pytest.raises(InputError, match="NaN"):
        KnownDepth(np.full((1, 2, 2), np.nan))
    with pytest.raises(InputError, match="positive"):
        KnownDepth(np.zeros((1, 2, 2)))
    with pytest.raises(InputError, match=r"\[T, H, W\]"):
        KnownDepth(np.ones((2, 2)))


# ---------------------------------------------------------------- backend selection


def test_load_depth_backend_chooses_by_content(tmp_path, tiny_depth_anything):
    backend = load_depth_backend(tiny_depth_anything, device="cpu", batch_size=2)
    assert isinstance(backend, TransformersDepth) and backend.batch_size == 2
    np.save(tmp_path / "d.npy", np.ones((1, 2, 2)))
    assert isinstance(load_depth_backend(tmp_path / "d.npy", scale=2.0), ProvidedDepth)
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    cv2.imwrite(str(pngs / "0.png"), np.ones((2, 2), np.uint16))
    assert isinstance(load_depth_backend(pngs), ProvidedDepth)
    with pytest.raises(InputError, match="does not take"):
        load_depth_backend(tmp_path / "d.npy", batch_size=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="neither"):
        load_depth_backend(empty)
    (tmp_path / "x.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="cannot use"):
        load_depth_backend(tmp_path / "x.mp4")
    with pytest.raises(InputError, match="does not exist"):
        load_depth_backend(tmp_path / "missing")
