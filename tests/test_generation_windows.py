"""Issue 18: long clips generated in overlapping windows, joined by a cross-fade, resumable.

Window plans are checked against the rule written out by hand; joins against constant
windows (the cross-fade is then known in closed form); conditioning, resuming and the
single-window case with the tiny EX-4D preset at 32x32; streaming with tracemalloc (numpy's
allocations are traced); completion lifting on a long path with the classical fallback and
the tiny model.
"""

import threading
import tracemalloc

import numpy as np
import pytest

from ex4d_bridge.cli import main
from ex4d_bridge.errors import InputError
from ex4d_bridge.generation import (
    EX4DPipeline,
    FallbackCompleter,
    GenerationCancelled,
    GenerationRequest,
    SamplingParams,
    WindowOptions,
    generate_views,
    window_bounds,
)
from ex4d_bridge.generation.window_plan import crossfade_weights, join_frames

H = W = 32
TINY = SamplingParams(num_inference_steps=1, guidance_scale=1.0, size="native")

# -- window plans (pure) ------------------------------------------------------------------------

# The rule by hand, size 49 and overlap 8: starts 41 apart while a window would stop short of
# the end, then one window ending on the last frame.
EXPECTED = {
    1: [(0, 1)],
    48: [(0, 48)],
    49: [(0, 49)],
    50: [(0, 49), (1, 50)],
    97: [(0, 49), (41, 90), (48, 97)],
    300: [
        (0, 49),
        (41, 90),
        (82, 131),
        (123, 172),
        (164, 213),
        (205, 254),
        (246, 295),
        (251, 300),
    ],
}


@pytest.mark.parametrize("count", sorted(EXPECTED))
def test_window_bounds_for_the_issue_lengths(count):
    windows = window_bounds(count, 49, 8)
    assert windows == EXPECTED[count]
    covered = np.zeros(count, int)
    for a, b in windows:
        assert b - a == min(count, 49)  # every window is a whole model window (or the render)
        covered[a:b] += 1
    assert covered.min() >= 1 and windows[-1][1] == count
    overlaps = [e - a for a, e in join_frames(windows)]
    assert all(o == 8 for o in overlaps[:-1]) and all(o >= 8 for o in overlaps)


@pytest.mark.parametrize("count", range(1, 140))
@pytest.mark.parametrize("size,overlap", [(17, 1), (17, 4), (49, 8), (49, 24)])
def test_window_counts_are_the_fewest_that_cover(count, size, overlap):
    windows = window_bounds(count, size, overlap)
    expected = 1 if count <= size else -(-(count - size) // (size - overlap)) + 1
    assert len(windows) == expected
    starts = [a for a, _ in windows]
    assert starts == sorted(set(starts)) and starts[0] == 0 and windows[-1][1] == count


def test_crossfade_weights_are_a_linear_ramp_from_zero():
    np.testing.assert_allclose(crossfade_weights(10, 14), [0, 0.25, 0.5, 0.75])
    with pytest.raises(InputError):
        crossfade_weights(5, 5)


@pytest.mark.parametrize(
    "options,match",
    [
        (WindowOptions(mode="long"), "must be one of sampled, windowed"),
        (WindowOptions(mode="sampled", overlap=4), "windowed' long-clip mode only"),
        (WindowOptions(mode="windowed", size=48), "4k\\+1"),
        (WindowOptions(mode="windowed", size=1), "4k\\+1"),
        (WindowOptions(mode="windowed", overlap=0), ">= 1"),
        (WindowOptions(mode="windowed", size=17, overlap=17), "smaller than the window"),
    ],
)
def test_bad_window_options_are_refused_before_any_work(options, match):
    colors, masks = render(5)
    with pytest.raises(InputError, match=match):
        generate_views(Exploding(), GenerationRequest(colors, masks, windows=options))


def test_window_size_must_agree_with_the_model_frame_count():
    colors, masks = render(40)
    request = GenerationRequest(
        colors,
        masks,
        SamplingParams(num_frames=9),
        windows=WindowOptions("windowed", size=17),
    )
    with pytest.raises(InputError, match="window is 17 frames but sampling asks"):
        generate_views(FallbackCompleter(), request)


# -- helpers --------------------------------------------------------------------------------


def render(count: int, h: int = H, w: int = W, seed: int = 0):
    """A render-like input: a smooth moving gradient, a moving hole, black under it."""
    yy, xx = np.mgrid[0:h, 0:w]
    colors = np.empty((count, h, w, 3), np.uint8)
    masks = np.ones((count, h, w), bool)
    for t in range(count):
        colors[t, ..., 0] = (xx * 4 + 2 * t) % 256
        colors[t, ..., 1] = (yy * 4 + seed) % 256
        colors[t, ..., 2] = (t * 3) % 256
        if t:
            x0 = (t % (w - 12)) + 2
            masks[t, 6:20, x0 : x0 + 10] = False
    colors[~masks] = 0
    return colors, masks


class Exploding:
    name = "exploding"
    is_fallback = True

    def generate(self, request, **_):
        raise AssertionError("no window may be generated")


class Constant:
    """Window k (counted per call) comes back as the value ``values[k]`` everywhere."""

    name = "constant"
    is_fallback = True

    def __init__(self, values):
        self.values = list(values)
        self.calls = []

    def generate(self, request, *, progress=None, cancel=None):
        self.calls.append(request)
        value = self.values[len(self.calls) - 1]
        return np.full(request.colors.shape, value, np.uint8)


class Recording:
    """Wraps a completer: what each window was given and what it returned."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.is_fallback = inner.is_fallback
        self.preset = getattr(inner, "preset", None)
        self.describe = getattr(inner, "describe", None)
        self.given = []
        self.returned = []

    def generate(self, request, **kwargs):
        self.given.append(request)
        out = self.inner.generate(request, **kwargs)
        self.returned.append(out.copy())
        return out


@pytest.fixture(scope="module")
def pipe():
    return EX4DPipeline.tiny(seed=0)


# -- joins ----------------------------------------------------------------------------------


def test_overlaps_are_cross_faded_linearly_and_the_join_keeps_the_conditioning_frame():
    colors, masks = render(29)
    completer = Constant([0, 200, 100])
    options = WindowOptions("windowed", size=13, overlap=5)
    out = generate_views(completer, GenerationRequest(colors, masks, windows=options))
    windows = window_bounds(29, 13, 5)
    assert windows == [(0, 13), (8, 21), (16, 29)]
    expected = np.zeros(29)
    expected[8:13] = 200 * np.arange(5) / 5  # 0, 40, 80, 120, 160
    expected[13:16] = 200
    expected[16:21] = 200 + (100 - 200) * np.arange(5) / 5  # 200, 180, 160, 140, 120
    expected[21:] = 100
    np.testing.assert_array_equal(out[:, 0, 0, 0], expected)
    assert (out == out[:, :1, :1, :1]).all()  # every pixel of a frame alike
    # Window k+1's image conditioning is the output frame at its first frame.
    given = [r.first_frame for r in completer.calls]
    assert given[0] is None  # window 1: the reference's (masked render frame 0)
    np.testing.assert_array_equal(given[1], out[8])
    np.testing.assert_array_equal(given[2], out[16])
    # Each window sees the render frames at its own poses, with the model's frame count.
    for (a, b), r in zip(windows, completer.calls, strict=True):
        np.testing.assert_array_equal(r.colors, colors[a:b])
        np.testing.assert_array_equal(r.masks, masks[a:b])
        assert r.sampling.num_frames == 13 and not r.windows.windowed


def test_the_join_frame_of_window_k_plus_1_is_window_ks_generated_frame(pipe):
    colors, masks = render(30)
    rec = Recording(pipe)
    options = WindowOptions("windowed", overlap=4)  # the tiny preset's 17-frame windows
    out = generate_views(rec, GenerationRequest(colors, masks, TINY, windows=options))
    assert window_bounds(30, 17, 4) == [(0, 17), (13, 30)]
    assert len(rec.given) == 2
    first = rec.given[1].first_frame
    # The conditioning image is window 1's generated frame 13, and the output keeps it there.
    np.testing.assert_array_equal(first, rec.returned[0][13])
    np.testing.assert_array_equal(out[13], first)
    np.testing.assert_array_equal(out[:13], rec.returned[0][:13])  # before the join: window 1
    np.testing.assert_array_equal(out[17:], rec.returned[1][4:])  # after the overlap: window 2
    assert [r.sampling.seed for r in rec.given] == [0, 1]


def test_one_window_is_the_sampled_mode(pipe):
    colors, masks = render(12)
    sampled = generate_views(pipe, GenerationRequest(colors, masks, TINY))
    windowed = generate_views(
        pipe, GenerationRequest(colors, masks, TINY, windows=WindowOptions("windowed"))
    )
    np.testing.assert_array_equal(windowed, sampled)


def test_progress_counts_windows_and_steps(pipe, tmp_path):
    colors, masks = render(30)
    calls = []
    request = GenerationRequest(
        colors,
        masks,
        SamplingParams(num_inference_steps=2, guidance_scale=1.0, size="native"),
        windows=WindowOptions("windowed", overlap=4),
    )
    generate_views(pipe, request, progress=lambda d, n, m: calls.append((d, n, m)))
    assert calls[-1][0] == calls[-1][1] == 2 * 4  # two windows of (2 steps + encode + decode)
    assert "window 2/2, denoising step 1/2" in [m for _, _, m in calls]
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:], strict=False))


# -- resuming -------------------------------------------------------------------------------


def test_a_resumed_run_equals_an_uninterrupted_one(pipe, tmp_path):
    colors, masks = render(40)
    options = WindowOptions("windowed", overlap=4)  # windows (0,17) (13,30) (23,40)

    def request(work_dir=None):
        return GenerationRequest(colors, masks, TINY, windows=options, work_dir=work_dir)

    whole = generate_views(pipe, request())
    # Cancel as window 2 starts: window 1 is stored, nothing of window 2.
    cancel = threading.Event()

    def stop_at_window_2(done, total, message):
        if message.startswith("window 2/"):
            cancel.set()

    work = tmp_path / "work"
    with pytest.raises(GenerationCancelled):
        generate_views(pipe, request(work), progress=stop_at_window_2, cancel=cancel)
    assert sorted(p.name for p in work.glob("window_*.npy")) == ["window_0000.npy"]

    rec = Recording(pipe)
    messages = []
    resumed = generate_views(rec, request(work), progress=lambda d, n, m: messages.append(m))
    assert [r.colors.shape[0] for r in rec.given] == [17, 17]  # only windows 2 and 3 ran
    np.testing.assert_array_equal(rec.given[0].colors, colors[13:30])
    assert messages[0] == "window 1/3: stored, resumed"
    np.testing.assert_array_equal(resumed, whole)
    # With every window stored, nothing is generated again.
    rec2 = Recording(pipe)
    np.testing.assert_array_equal(generate_views(rec2, request(work)), whole)
    assert rec2.given == []


def test_a_work_dir_of_another_generation_is_refused(pipe, tmp_path):
    colors, masks = render(30)
    options = WindowOptions("windowed", overlap=4)
    generate_views(
        FallbackCompleter(),
        GenerationRequest(
            colors, masks, windows=WindowOptions("windowed", size=17, overlap=4), work_dir=tmp_path
        ),
    )
    other = GenerationRequest(colors, masks, TINY, windows=options, work_dir=tmp_path)
    with pytest.raises(InputError, match="holds the windows of another generation"):
        generate_views(pipe, other)
    changed = colors.copy()
    changed[5, 0, 0, 0] ^= 1
    fallback = GenerationRequest(
        changed, masks, windows=WindowOptions("windowed", size=17, overlap=4), work_dir=tmp_path
    )
    with pytest.raises(InputError, match="different inputs"):
        generate_views(FallbackCompleter(), fallback)


# -- streaming ------------------------------------------------------------------------------


def _traced_peak(count: int, tmp_path, work: bool) -> tuple[int, np.ndarray]:
    colors, masks = render(count, 64, 64)
    np.save(tmp_path / f"c{count}.npy", colors)
    np.save(tmp_path / f"m{count}.npy", masks)
    del colors, masks
    colors = np.load(tmp_path / f"c{count}.npy", mmap_mode="r")
    masks = np.load(tmp_path / f"m{count}.npy", mmap_mode="r")
    request = GenerationRequest(
        colors,
        masks,
        windows=WindowOptions("windowed", size=17, overlap=4),
        work_dir=tmp_path / f"work{count}" if work else None,
    )
    completer = FallbackCompleter()
    # Warm-up: imports and first-call caches are not the generation's memory.
    warm = WindowOptions("windowed", size=17, overlap=4)
    generate_views(completer, GenerationRequest(colors[:20], masks[:20], windows=warm))
    tracemalloc.start()
    try:
        out = generate_views(completer, request)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, out


def test_memory_does_not_grow_with_the_clip_when_windows_stream_from_disk(tmp_path):
    short_peak, short = _traced_peak(60, tmp_path, work=True)
    long_peak, long = _traced_peak(480, tmp_path, work=True)
    output_bytes = long.nbytes  # 480 x 64 x 64 x 3 = 5.9 MB
    assert isinstance(long, np.memmap) and str(long.filename).endswith("frames.npy")
    print(f"traced peaks: {short_peak} (60 frames), {long_peak} (480), output {output_bytes}")
    assert long_peak < 1.25 * short_peak, (short_peak, long_peak)
    assert long_peak < output_bytes / 4, (long_peak, output_bytes)
    # Without a work directory the output is one array in memory: the peak holds it.
    in_memory_peak, in_memory = _traced_peak(480, tmp_path, work=False)
    assert in_memory_peak >= output_bytes
    np.testing.assert_array_equal(in_memory, long)
    # The first windows are the same in both clips (the 60-frame clip's last one moves back).
    np.testing.assert_array_equal(short[:43], long[:43])


# -- the CLI --------------------------------------------------------------------------------


def test_generate_cli_windows_and_cleans_its_work_dir(tmp_path, capsys):
    from ex4d_bridge.video import read_video, write_mask_video, write_video

    colors, masks = render(40)
    write_video(tmp_path / "color_90.mp4", colors, 25)
    write_mask_video(tmp_path / "mask_90.mp4", masks, 25)
    argv = ["--quiet", "generate", str(tmp_path), "--window", "17", "--overlap", "4"]
    assert main(argv) == 0
    out = read_video(tmp_path / "generated_90.mp4")
    assert out.frames.shape == (40, H, W, 3) and out.fps == pytest.approx(25)
    assert not (tmp_path / "generated_90.windows").exists()
    assert main(["--quiet", "generate", str(tmp_path), "--long-clip", "sampled", "--overlap", "4"])
    err = capsys.readouterr().err
    assert "--window and --overlap need --long-clip windowed" in err
    assert main(["--quiet", "generate", str(tmp_path), "--window", "16"]) == 2
    assert "4k+1" in capsys.readouterr().err


# -- completion lifting on a long path ------------------------------------------------------


@pytest.fixture(scope="module")
def long_scene():
    from ex4d_bridge.depth import KnownDepth
    from ex4d_bridge.scene import reconstruct
    from ex4d_bridge.synthetic import SyntheticScene

    synthetic = SyntheticScene(width=64, height=48, num_frames=40)
    return reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        fps=synthetic.fps,
        progress=False,
    )


def test_complete_scene_lifts_a_long_windowed_generation(long_scene, tmp_path, pipe):
    """A 40-pose path in 17-frame windows: every pose is generated at its own pose and lifted
    like a one-call generation; the fallback's windowed and sampled runs lift the same pixels
    (it completes every frame either way), and the tiny model completes the path too."""
    from ex4d_bridge.camera.coverage import hold_path
    from ex4d_bridge.scene.completion import list_completions, load_completions
    from ex4d_bridge.scene.completion.complete import complete_scene

    path = [hold_path(long_scene.min_depth(), 35, 10, long_scene.num_frames)]
    windows = WindowOptions("windowed", size=17, overlap=4)  # (0,17) (13,30) (23,40)
    runs = {}
    for name, options in (("windowed", windows), ("sampled", None)):
        d = long_scene.save(tmp_path / name)
        report = complete_scene(long_scene, path, scene_dir=d, windows=options, progress=False)
        assert [p.status for p in report.paths] == ["completed"]
        (info,) = list_completions(d)
        assert info.frames == list(range(1, 40))  # every pose after the source view
        runs[name] = (report.paths[0], load_completions(d).layers)
        assert not (d / ".generation-work").exists()
    windowed, sampled = runs["windowed"], runs["sampled"]
    assert windowed[0].pixels == sampled[0].pixels > 0
    assert [a.frame_index for a in windowed[1]] == [b.frame_index for b in sampled[1]]
    for a, b in zip(windowed[1], sampled[1], strict=True):
        assert a.region == b.region
        np.testing.assert_array_equal(a.depth, b.depth)  # propagated depth: no colour in it
        # Colours differ only where the fallback's temporal blend restarts with a window.
        assert np.abs(a.color.astype(int) - b.color.astype(int)).mean() < 4

    d = long_scene.save(tmp_path / "tiny")
    sampling = SamplingParams(num_inference_steps=1, guidance_scale=1.0, size=(32, 32))
    rec = Recording(pipe)
    rec.name = "ex4d-tiny-recorded"
    report = complete_scene(
        long_scene, path, rec, scene_dir=d, sampling=sampling, windows=windows, progress=False
    )
    assert len(rec.given) == 3 and report.paths[0].pixels > 0
    assert list_completions(d)[0].frames == list(range(1, 40))


def test_complete_cli_takes_the_long_clip_flags(long_scene, tmp_path, capsys, monkeypatch):
    import ex4d_bridge.generation.windowed as windowed
    from ex4d_bridge.scene.completion import list_completions

    seen = []
    real = windowed.generate_windowed

    def spy(completer, request, **kwargs):
        seen.append((request.windows, request.work_dir))
        return real(completer, request, **kwargs)

    monkeypatch.setattr(windowed, "generate_windowed", spy)
    d = long_scene.save(tmp_path / "scene")
    argv = ["--quiet", "complete", str(d), "--coverage", "orbit:30", "--window", "17"]
    assert main([*argv, "--long-clip", "sampled"]) == 2
    assert "--window and --overlap need --long-clip windowed" in capsys.readouterr().err
    assert main([*argv, "--overlap", "4"]) == 0
    ((options, work),) = seen
    assert options == WindowOptions("windowed", size=17, overlap=4)
    assert work.parent == d / ".generation-work"
    (info,) = list_completions(d)
    assert info.frames == list(range(1, 40))
    assert not (d / ".generation-work").exists()
