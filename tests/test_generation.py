"""The EX-4D pipeline on the tiny preset: wiring, maths, checkpoints and bad input (CPU).

Ground truths are independent of the code under test: diffusers' own WanImageToVideoPipeline
(for "the adapter at init is a no-op"), explicit einsums (condition encoder), a NumPy min
filter (erosion), the reference's frame sampling written out (np.linspace, last-frame padding)
and the checkpoint key layout written out from docs/method.md. Outputs of separately built
models are compared with the dtype-derived tolerance of ``float_tolerance``.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch
from float_tolerance import assert_outputs_close

from ex4d_bridge.errors import InputError
from ex4d_bridge.generation import (
    DEFAULT_NEGATIVE_PROMPT,
    DEFAULT_PROMPT,
    EX4DPipeline,
    FallbackCompleter,
    GenerationCancelled,
    GenerationRequest,
    NovelViewCompleter,
    PipelineOptions,
    SamplingParams,
    generate_views,
    load_completer,
    reference_sigmas,
    save_tiny_base,
)
from ex4d_bridge.generation.condition import ConditionEncoder, erode_masks, reference_kernel_sizes

T, H, W = 5, 32, 32
STEPS = 2
# docs/method.md (checkpoint layout): original Wan module names -> diffusers module names.
ORIGINAL_TO_DIFFUSERS = {
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}
ENCODER_KEYS = [
    f"{m}.{p}"
    for m in ("latent_encoder.0", "latent_encoder.2", "latent_encoder.4", "latent_patch_embedding")
    for p in ("weight", "bias")
]


@pytest.fixture(scope="module")
def render():
    """A render-like input: colour, a mask with holes (frame 0 full), black under the holes."""
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    masks = np.ones((T, H, W), bool)
    for t in range(1, T):
        masks[t, 4 + t : 20 + t, 10:26] = False
    colors[~masks] = 0
    return colors, masks


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return save_tiny_base(tmp_path_factory.mktemp("tiny_base"), seed=0)


@pytest.fixture(scope="module")
def pipe():
    return EX4DPipeline.tiny(seed=0)


def randomise_adapter(pipeline: EX4DPipeline, seed: int = 1, lora=True, encoder=True) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in pipeline.adapter_parameters().items():
            is_lora = name.startswith("transformer.")
            if (is_lora and lora) or (not is_lora and encoder):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def original_state(pipeline: EX4DPipeline, adapter_name: str | None = "default") -> dict:
    """The pipeline's adapter written in the released checkpoint's layout (docs/method.md)."""
    modules = dict(pipeline.transformer.named_modules())
    state = {}
    for block in range(pipeline.transformer.config.num_layers):
        for orig, ours in ORIGINAL_TO_DIFFUSERS.items():
            layer = modules[f"blocks.{block}.{ours}"]
            for ab in ("lora_A", "lora_B"):
                name = f".{adapter_name}" if adapter_name else ""
                key = f"blocks.{block}.{orig}.{ab}{name}.weight"
                state[key] = getattr(layer, ab)["ex4d"].weight.detach().clone()
    for key, p in pipeline.condition_encoder.named_parameters():
        state[key] = p.detach().clone()
    return state


def run(pipeline, render, **kwargs):
    colors, masks = render
    kwargs.setdefault("num_inference_steps", STEPS)
    return pipeline(colors, masks, **kwargs)


# ---------------------------------------------------------------- end to end, determinism


def test_end_to_end_from_a_local_directory_is_deterministic(base_dir, render):
    pipeline = EX4DPipeline.from_pretrained(base_dir, device="cpu", prompt_cache=None)
    assert pipeline.preset.name == "tiny" and pipeline.plan.name == "cpu"
    assert isinstance(pipeline, NovelViewCompleter)
    out = run(pipeline, render, seed=3)
    assert out.shape == (T, H, W, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, run(pipeline, render, seed=3))
    assert not np.array_equal(out, run(pipeline, render, seed=4))


def test_adapter_at_init_equals_plain_wan_image_to_video(pipe, render):
    """LoRA B = 0 and a zero last conv: the output is diffusers' stock I2V output (another
    program on separately built weights: equal up to float rounding)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline
    from PIL import Image

    from ex4d_bridge.generation.tiny import build_tiny_components

    plain = WanImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0), **build_tiny_components(seed=0)
    )
    plain.set_progress_bar_config(disable=True)
    stock_set_timesteps = plain.scheduler.set_timesteps
    # The reference's schedule (DiffSynth: linspace(1, 0, n + 1)[:-1], shifted by 5).
    plain.scheduler.set_timesteps = lambda n, device=None: stock_set_timesteps(
        n, device=device, sigmas=np.linspace(1.0, 0.0, n + 1)[:-1]
    )
    colors, masks = render
    expected = plain(
        image=Image.fromarray(colors[0]),
        prompt=DEFAULT_PROMPT,
        negative_prompt=DEFAULT_NEGATIVE_PROMPT,
        height=H,
        width=W,
        num_frames=T,
        num_inference_steps=3,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
    ).frames[0]
    ours = run(pipe, render, num_inference_steps=3, seed=7, output_type="float")
    assert_outputs_close(ours, expected)
    np.testing.assert_allclose(reference_sigmas(4), [1.0, 0.75, 0.5, 0.25])


def test_a_nonzero_adapter_changes_the_output_through_both_parts(render):
    pipeline = EX4DPipeline.tiny(seed=0)
    at_init = run(pipeline, render, output_type="float")
    randomise_adapter(pipeline, lora=True, encoder=False)
    lora_only = run(pipeline, render, output_type="float")
    assert np.abs(lora_only - at_init).max() > 1e-3
    randomise_adapter(pipeline, seed=2, lora=False, encoder=True)
    both = run(pipeline, render, output_type="float")
    assert np.abs(both - lora_only).max() > 1e-3


# ---------------------------------------------------------------- the condition path


def test_condition_encoder_matches_an_explicit_computation():
    torch.manual_seed(0)
    enc = ConditionEncoder(latent_channels=16, hidden=8, out_dim=12)
    with torch.no_grad():
        for p in enc.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    r, m = torch.randn(2, 16, 3, 4, 6), torch.randn(2, 16, 3, 4, 6)
    x = torch.cat([r, m], dim=1)
    h = x
    for i in (0, 2, 4):  # 1x1x1 convolutions: a per-voxel matrix product
        conv = enc.latent_encoder[i]
        h = torch.einsum("oc,bcthw->bothw", conv.weight[:, :, 0, 0, 0], h)
        h = h + conv.bias.view(1, -1, 1, 1, 1)
        if i < 4:
            h = h * torch.sigmoid(h)
    # (1, 2, 2) patches with stride (1, 2, 2): each output sums its 2x2 window.
    patches = h.reshape(2, 8, 3, 2, 2, 3, 2)  # b c t y i x j
    wp = enc.latent_patch_embedding.weight[:, :, 0]  # d c i j
    expected = torch.einsum("dcij,bctyixj->bdtyx", wp, patches)
    expected = expected + enc.latent_patch_embedding.bias.view(1, -1, 1, 1, 1)
    with torch.no_grad():
        got = enc(r, m)
    assert got.shape == (2, 12, 3, 2, 3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    last = ConditionEncoder(16, 8, 12).latent_patch_embedding
    assert not last.weight.any() and not last.bias.any()


def test_the_vae_sees_the_reference_inputs_and_tokens_join_before_block_0(
    pipe, render, monkeypatch
):
    colors, masks = render
    seen = []
    vae_encode = pipe.vae.encode
    monkeypatch.setattr(pipe.vae, "encode", lambda x: seen.append(x.clone()) or vae_encode(x))
    block_inputs = []
    handle = pipe.transformer.blocks[0].register_forward_pre_hook(
        lambda module, args: block_inputs.append(args[0].clone())
    )
    patch_out = []
    handle2 = pipe.transformer.patch_embedding.register_forward_hook(
        lambda module, args, out: patch_out.append(
            module._conv_forward(args[0], module.weight, module.bias)
        )
    )
    randomise_adapter(pipe, seed=5)
    try:
        run(pipe, render, num_inference_steps=1, guidance_scale=1.0, mask_erosion="reference")
        eroded = erode_masks(masks, "reference", seed=0)
        tokens = pipe.encode_condition(colors, eroded)
    finally:
        handle.remove()
        handle2.remove()
        with torch.no_grad():
            for p in pipe.adapter_parameters().values():
                p.zero_()
    # seen[0] is the I2V image conditioning (frame 0 then zeros); then render, then mask.
    assert len(seen) == 3 + 2
    m = torch.from_numpy(eroded).float()
    expected_render = (torch.from_numpy(colors).float() / 255 * m[..., None]) * 2 - 1
    torch.testing.assert_close(seen[1][0].permute(1, 2, 3, 0), expected_render)
    expected_mask = ((m * 2 - 1) * 2 - 1).expand(3, T, H, W)  # the double mapping: {-3, 1}
    torch.testing.assert_close(seen[2][0], expected_mask)
    assert set(torch.unique(seen[2]).tolist()) <= {-3.0, 1.0}
    # Block 0's input = the plain patch embedding + the condition tokens, token for token.
    flat = patch_out[0].flatten(2).transpose(1, 2) + tokens.flatten(2).transpose(1, 2)
    torch.testing.assert_close(block_inputs[0], flat)
    assert not torch.equal(block_inputs[0], patch_out[0].flatten(2).transpose(1, 2))


@pytest.mark.parametrize("k", [2, 3, 4, 7])
def test_erosion_matches_a_min_filter_with_opencv_anchor(k):
    rng = np.random.default_rng(k)
    masks = rng.random((2, 19, 23)) > 0.2
    masks[1] = True
    got = erode_masks(masks, kernel=k)
    lo, hi = -(k // 2), k - 1 - k // 2  # window offsets around each pixel
    padded = np.pad(masks, ((0, 0), (-lo, hi), (-lo, hi)), constant_values=True)
    expected = np.ones_like(masks)
    for dy in range(k):
        for dx in range(k):
            expected &= padded[:, dy : dy + 19, dx : dx + 23]
    np.testing.assert_array_equal(got, expected)
    assert got[1].all()  # a full mask (the source frame) stays full


def test_reference_erosion_draws_a_kernel_per_frame_from_the_seed():
    sizes = reference_kernel_sizes(200, seed=3)
    assert sizes.min() == 2 and sizes.max() == 8 and len(set(sizes.tolist())) == 7
    np.testing.assert_array_equal(sizes, reference_kernel_sizes(200, seed=3))
    masks = np.ones((3, 20, 20), bool)
    masks[:, 10, 10] = False
    eroded = erode_masks(masks, "reference", seed=3)
    for t, k in enumerate(reference_kernel_sizes(3, seed=3)):
        assert (~eroded[t]).sum() == k * k


def test_prompt_embeddings_are_zero_padded_to_512_tokens(pipe):
    embeds = pipe.prompts.encode("surround motion, cinematic quality")
    assert embeds.shape == (1, 512, 32)
    n = len(pipe.prompts.tokenizer("surround motion, cinematic quality").input_ids)
    assert n == 6  # four words, a comma and </s>
    assert embeds[0, :n].abs().sum(dim=1).min() > 0
    assert not embeds[0, n:].any()


# ---------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("adapter_name, rank", [("default", 16), (None, 16), ("default", 4)])
def test_an_original_layout_checkpoint_loads_every_key(
    base_dir, render, tmp_path, adapter_name, rank
):
    """The original layout stores no alpha; the reference runs at scale 1, so alpha = rank
    (rank 4 shows it is not a fixed 16)."""
    source = EX4DPipeline.tiny(seed=0, lora_rank=rank, lora_alpha=float(rank))
    randomise_adapter(source, seed=11)
    expected = run(source, render, output_type="float")
    state = original_state(source, adapter_name)
    assert len(state) == 48  # 2 blocks x 20 LoRA tensors + 8 condition-encoder tensors
    assert set(ENCODER_KEYS) <= set(state)
    ckpt = tmp_path / "ex4d.ckpt"
    torch.save(state, ckpt)
    loaded = EX4DPipeline.from_pretrained(base_dir, ckpt, device="cpu", prompt_cache=None)
    report = loaded.load_report
    assert report.ok and len(report.loaded) == 48
    assert (loaded.lora_rank, loaded.lora_alpha) == (rank, float(rank))
    # Built in memory vs loaded from a directory: not the same program, so a tolerance.
    assert_outputs_close(run(loaded, render, output_type="float"), expected)
    if rank != 16:  # the old fixed alpha of 16 would scale this LoRA by 4
        wrong = EX4DPipeline.from_pretrained(
            base_dir, ckpt, device="cpu", prompt_cache=None, lora_alpha=16.0
        )
        assert np.abs(run(wrong, render, output_type="float") - expected).max() > 1e-2


def test_a_checkpoint_nested_by_a_training_framework_loads(pipe, tmp_path):
    torch.save({"state_dict": original_state(pipe)}, tmp_path / "nested.ckpt")
    assert len(pipe.load_adapter(tmp_path / "nested.ckpt").loaded) == 48


def test_a_wrong_shape_fails_naming_the_keys(base_dir, tmp_path):
    state = original_state(EX4DPipeline.tiny(seed=0))
    state["blocks.1.ffn.2.lora_B.default.weight"] = torch.zeros(25, 16)
    state["latent_patch_embedding.weight"] = torch.zeros(24, 32, 1, 3, 3)
    torch.save(state, tmp_path / "bad.ckpt")
    with pytest.raises(InputError) as err:
        EX4DPipeline.from_pretrained(base_dir, tmp_path / "bad.ckpt", device="cpu")
    msg = str(err.value)
    assert "transformer.blocks.1.ffn.net.2.lora_B.weight" in msg and "(25, 16)" in msg
    assert "condition_encoder.latent_patch_embedding.weight" in msg


def test_unused_and_missing_keys_are_reported(pipe, tmp_path):
    state = original_state(pipe)
    state["blocks.0.cross_attn.k_img.lora_A.default.weight"] = torch.zeros(16, 24)
    state["camera_encoder.scale"] = torch.zeros(1)
    del state["blocks.1.self_attn.o.lora_B.default.weight"]
    torch.save(state, tmp_path / "odd.ckpt")
    with pytest.raises(InputError) as err:
        pipe.load_adapter(tmp_path / "odd.ckpt")
    msg = str(err.value)
    assert "blocks.0.cross_attn.k_img.lora_A.default.weight" in msg
    assert "camera_encoder.scale" in msg
    assert "transformer.blocks.1.attn1.to_out.0.lora_B.weight" in msg
    report = pipe.load_adapter(tmp_path / "odd.ckpt", strict=False)
    assert len(report.loaded) == 47 and len(report.unused) == 2 and len(report.missing) == 1
    with torch.no_grad():
        for p in pipe.adapter_parameters().values():
            p.zero_()


def test_safetensors_round_trip_keeps_alpha_different_from_rank(base_dir, render, tmp_path):
    source = EX4DPipeline.tiny(seed=0, lora_rank=4, lora_alpha=10.0)
    randomise_adapter(source, seed=21)
    expected = run(source, render, output_type="float")
    path = source.save_adapter(tmp_path / "adapter.safetensors")
    loaded = EX4DPipeline.from_pretrained(base_dir, path, device="cpu", prompt_cache=None)
    assert (loaded.lora_rank, loaded.lora_alpha) == (4, 10.0)
    assert loaded.load_report.ok and len(loaded.load_report.loaded) == 48
    assert_outputs_close(run(loaded, render, output_type="float"), expected)
    # The alpha is what makes it equal: the same tensors with alpha = rank differ.
    wrong = EX4DPipeline.from_pretrained(
        base_dir, path, device="cpu", prompt_cache=None, lora_alpha=4.0
    )
    assert np.abs(run(wrong, render, output_type="float") - expected).max() > 1e-4


# ---------------------------------------------------------------- prompt cache, protocol


def test_cached_prompts_never_load_the_text_encoder(base_dir, render, tmp_path):
    cache = tmp_path / "cache"
    first = EX4DPipeline.from_pretrained(base_dir, device="cpu", prompt_cache=cache)
    assert not first.prompts.loaded
    expected = run(first, render)
    assert first.prompts.loaded and len(list(cache.glob("*.safetensors"))) == 2
    second = EX4DPipeline.from_pretrained(base_dir, device="cpu", prompt_cache=cache)
    # The same program on the same data: both built by from_pretrained from one directory,
    # and the cache returns the first run's embeddings bit for bit.
    np.testing.assert_array_equal(run(second, render), expected)
    assert not second.prompts.loaded


def test_generate_reports_progress_and_can_be_cancelled(pipe, render):
    import threading

    colors, masks = render
    calls = []
    # The render's own length and size: no resampling, a cheap run.
    sampling = SamplingParams(num_inference_steps=3, num_frames=T, size="native")
    request = GenerationRequest(colors=colors, masks=masks, sampling=sampling)
    out = generate_views(pipe, request, progress=lambda d, n, msg: calls.append((d, n)))
    assert out.shape == (T, H, W, 3)
    assert [d for d, _ in calls] == [1, 2, 3, 4, 5] and {n for _, n in calls} == {5}
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        generate_views(pipe, request, cancel=cancel)
    with pytest.raises(GenerationCancelled):
        pipe.generate(request, cancel=cancel)


class Seen:
    """Replaces ``EX4DPipeline.__call__``: records what the model would get and returns the
    render colours it was given, so the frames' way through ``generate`` can be followed."""

    def __init__(self):
        self.calls = []

    def __call__(self, pipeline, colors, masks, first_frame=None, **kwargs):
        self.calls.append((colors.copy(), masks.copy(), first_frame, kwargs["sampling"]))
        return colors.copy()


def reference_samples(count: int, num_frames: int) -> list[int]:
    """The reference generate.py's frame choice, written out: linspace(dtype=int) over a long
    video, the whole of a short one padded with its last frame."""
    if count >= num_frames:
        return list(np.linspace(0, count - 1, num_frames, dtype=int))
    return list(range(count)) + [count - 1] * (num_frames - count)


@pytest.mark.parametrize("count", [5, 17, 30, 300])
def test_generate_fits_any_render_length_to_the_preset_and_maps_back(pipe, count, monkeypatch):
    """Shorter, equal and longer than the tiny preset's 17 frames: the model sees the
    reference's 17 frames, and every render frame gets the generated frame of its nearest
    sample (its own, when it was sampled); no length is an error."""
    rng = np.random.default_rng(count)
    colors = rng.integers(0, 256, (count, H, W, 3), dtype=np.uint8)
    masks = rng.random((count, H, W)) > 0.3
    seen = Seen()
    monkeypatch.setattr(EX4DPipeline, "__call__", lambda self, *a, **k: seen(self, *a, **k))
    request = GenerationRequest(colors, masks, SamplingParams(size="native"))
    out = generate_views(pipe, request)
    assert pipe.preset.num_frames == 17
    ((model_colors, model_masks, first, sampling),) = seen.calls
    samples = reference_samples(count, 17)
    np.testing.assert_array_equal(model_colors, colors[samples])
    np.testing.assert_array_equal(model_masks, masks[samples])
    assert first is None and sampling.num_frames == 17
    assert out.shape == colors.shape
    for i in range(count):  # out[i] is the generated frame j whose sample is nearest to i
        j = next(j for j in range(17) if np.array_equal(out[i], colors[samples[j]]))
        assert min(abs(s - i) for s in samples) == abs(samples[j] - i)
    for s in samples:  # a sampled frame gets its own generated frame back
        np.testing.assert_array_equal(out[s], colors[s])


def test_generate_adapts_size_and_frame_count_and_restores_them(pipe):
    """Stretched to the generation size and fitted to the frame count (7 -> 9: the last frame
    repeated, as the reference pads short videos), then both undone."""
    rng = np.random.default_rng(2)
    colors = rng.integers(0, 256, (7, 24, 40, 3), dtype=np.uint8)
    masks = np.ones((7, 24, 40), bool)
    seen = []
    call = pipe.__class__.__call__

    def spy(self, c, m, *args, **kwargs):
        seen.append((c.shape, m.shape))
        return call(self, c, m, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipe.__class__, "__call__", spy)
        sampling = SamplingParams(num_inference_steps=1, num_frames=9, size=(32, 32))
        out = generate_views(pipe, GenerationRequest(colors, masks, sampling))
    assert seen == [((9, 32, 32, 3), (9, 32, 32))]
    assert out.shape == (7, 24, 40, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("erosion", ["reference", None])
def test_image_conditioning_defaults_to_the_masked_render_frame_0(pipe, render, erosion):
    """As the reference: frame 0 of the masked render (colour * eroded mask), not the source
    video's frame; it matters whenever a path does not start at the source pose."""
    colors, masks = render
    colors, masks = colors.copy(), masks.copy()
    masks[0, 8:20, 4:12] = False  # frame 0 is not the source view: it has a hole
    colors[0, 8:20, 4:12] = 200  # and something under it that must not be seen
    images = []
    encode = pipe.encode_source
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipe, "encode_source", lambda img, *a: images.append(img) or encode(img, *a))
        run(pipe, (colors, masks), num_inference_steps=1, mask_erosion=erosion, seed=5)
    kept = erode_masks(masks, erosion, seed=5)[0]
    expected = np.where(kept[..., None], colors[0], 0).astype(np.uint8)
    np.testing.assert_array_equal(images[0], expected)
    if erosion is None:
        assert (expected == 0).all(axis=-1).sum() >= 12 * 8  # the hole is black
    else:  # the reference erosion widens the hole
        assert (~kept).sum() > (~masks[0]).sum()
    given = colors[0].copy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipe, "encode_source", lambda img, *a: images.append(img) or encode(img, *a))
        pipe(colors, masks, given, num_inference_steps=1)
    assert images[-1] is given


def test_sampling_parameters_are_checked_before_any_work(pipe, render):
    colors, masks = render
    bad = {
        "num_frames": (SamplingParams(num_frames=16), "4k\\+1"),
        "size": (SamplingParams(size=(40, 32)), "multiple of 16"),
        "seed": (SamplingParams(seed=-1), "seed"),
        "steps": (SamplingParams(num_inference_steps=0), "num_inference_steps"),
        "guidance": (SamplingParams(guidance_scale=float("nan")), "guidance_scale"),
        "shift": (SamplingParams(shift=0.0), "shift"),
        "erosion": (SamplingParams(mask_erosion="random"), "mask_erosion"),
    }
    for sampling, match in bad.values():
        with pytest.raises(InputError, match=match):
            generate_views(pipe, GenerationRequest(colors, masks, sampling))
    with pytest.raises(InputError, match="first_frame"):
        generate_views(pipe, GenerationRequest(colors, masks, first_frame=colors[0, :16]))


def test_pipeline_options_are_one_frozen_object():
    options = PipelineOptions(memory="cpu", extra_loras=[("x.safetensors", 1)])
    assert options.extra_loras == (("x.safetensors", 1.0),)
    assert options.with_overrides(fp8=True).fp8 and options.fp8 is None
    with pytest.raises(AttributeError):
        options.memory = "80gb"  # frozen
    with pytest.raises(InputError, match="unknown pipeline option.*vae_tilling.*vae_tiling"):
        EX4DPipeline.tiny(vae_tilling=True)
    with pytest.raises(InputError, match="lora_rank"):
        PipelineOptions(lora_rank=0)
    pipe = EX4DPipeline.tiny(options=PipelineOptions(device="cpu", prompt_cache=None, lora_rank=4))
    assert (pipe.lora_rank, pipe.lora_alpha) == (4, 4.0)  # alpha defaults to the rank


def test_no_weights_configured_falls_back_and_says_so_once(render, monkeypatch, caplog):
    monkeypatch.delenv("EX4D_WAN_BASE", raising=False)
    monkeypatch.delenv("EX4D_ADAPTER", raising=False)
    monkeypatch.setattr(FallbackCompleter, "_warned", False)
    completer = load_completer()
    assert isinstance(completer, FallbackCompleter) and completer.is_fallback
    colors, masks = render
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            out = completer.generate(GenerationRequest(colors=colors, masks=masks))
    assert out.shape == colors.shape
    assert sum("fallback" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(InputError, match="adapter"):
        load_completer(base="/some/wan")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c, m: (c, m[:-1]), "4 frames|same render"),
        (lambda c, m: (c, m[:, :16]), "masks are"),
        (lambda c, m: (c[:4], m[:4]), "4k\\+1"),
        (lambda c, m: (c[:, :24, :24], m[:, :24, :24]), "multiple of 16"),
        (lambda c, m: (c.astype(np.float32), m), "uint8"),
        (lambda c, m: (c, m.astype(np.uint8)), "bool"),
    ],
)
def test_bad_inputs_get_clear_errors(pipe, render, change, match):
    colors, masks = change(*render)
    with pytest.raises(InputError, match=match):
        pipe(colors, masks, num_inference_steps=1)


def test_a_first_frame_of_the_wrong_size_is_refused(pipe, render):
    colors, masks = render
    with pytest.raises(InputError, match="first_frame"):
        pipe(colors, masks, colors[0, :16], num_inference_steps=1)


def test_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA GPU"):
        EX4DPipeline.tiny(device="cuda")


def test_missing_weights_are_reported(base_dir, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        EX4DPipeline.from_pretrained(tmp_path / "nowhere", device="cpu")
    with pytest.raises(InputError, match="adapter weights .* do not exist"):
        EX4DPipeline.from_pretrained(base_dir, tmp_path / "ex4d.ckpt", device="cpu")
    broken = shutil.copytree(base_dir, tmp_path / "broken")
    shutil.rmtree(broken / "image_encoder")
    with pytest.raises(InputError, match="missing image_encoder"):
        EX4DPipeline.from_pretrained(broken, device="cpu")
    (broken / "image_encoder").mkdir()
    for f in (broken / "transformer").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(InputError, match="could not load the transformer"):
        EX4DPipeline.from_pretrained(broken, device="cpu")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable torch state dict"):
        EX4DPipeline.from_pretrained(base_dir, tmp_path / "junk.ckpt", device="cpu")
