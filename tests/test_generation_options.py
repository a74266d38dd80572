"""Memory tiers, speed options, extra LoRAs and the ``generate`` command (tiny preset, CPU).

The GPU-only paths (bf16 on CUDA, model offload, streamed group offload) cannot run here; the
tests check that each option reaches the right modules and, where the CPU can run it, that the
output is unchanged up to float rounding (group offload, regional compile; ``float_tolerance``)
or close (fp8 storage).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from float_tolerance import assert_outputs_close

from ex4d_bridge.cli import main
from ex4d_bridge.errors import InputError
from ex4d_bridge.generation import EX4DPipeline, save_tiny_base
from ex4d_bridge.generation.memory import TIERS, apply_plan, resolve_plan, select_tier
from ex4d_bridge.video import read_video, write_mask_video, write_video

T, H, W = 5, 32, 32
GIB = 1 << 30


@pytest.fixture(scope="module")
def render():
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    masks = np.ones((T, H, W), bool)
    masks[1:, 8:24, 8:24] = False
    colors[~masks] = 0
    return colors, masks


@pytest.fixture(scope="module")
def reference_output(render):
    return EX4DPipeline.tiny(seed=0)(*render, num_inference_steps=2, output_type="float")


def test_tier_selection_follows_gpu_memory():
    cuda = torch.device("cuda")
    assert select_tier(torch.device("cpu")) == "cpu"
    assert select_tier(cuda, 80 * GIB) == "80gb"
    assert select_tier(cuda, 48 * GIB) == "48gb"
    assert select_tier(cuda, 24 * GIB) == "24gb"
    assert select_tier(cuda, 16 * GIB) == "12gb"
    low = TIERS["24gb"]
    assert low.fp8 and low.offload == "model" and low.vae_tiling and low.dtype == torch.bfloat16
    assert TIERS["12gb"].offload == "group" and not TIERS["12gb"].fp8
    assert TIERS["80gb"].offload == "none" and TIERS["80gb"].text_encoder_device == "cpu"


def test_plan_overrides_and_cpu_limits():
    plan = resolve_plan("24gb", torch.device("cuda"), fp8=False, dtype="fp16")
    assert not plan.fp8 and plan.dtype == torch.float16 and plan.offload == "model"
    assert resolve_plan("80gb", torch.device("cuda"), offload=None).offload == "none"
    for offload in ("model", "group"):
        with pytest.raises(InputError, match="needs device='cuda'"):
            resolve_plan("cpu", torch.device("cpu"), offload=offload)
    with pytest.raises(InputError, match="memory tier"):
        resolve_plan("40gb", torch.device("cpu"))
    with pytest.raises(InputError, match="dtype"):
        resolve_plan("cpu", torch.device("cpu"), dtype="int8")


def test_the_gpu_tiers_precisions_run_together(render, reference_output):
    """The 80gb tier's mix (bf16 transformer and condition encoder, fp16 CLIP, fp32 VAE, bf16
    text encoder), run on the CPU: every hand-over between components casts correctly."""
    pipe = EX4DPipeline.tiny(seed=0, memory="80gb", device="cpu")
    assert pipe.plan.dtype == torch.bfloat16 and pipe.wan.image_encoder.dtype == torch.float16
    assert pipe.transformer.blocks[0].attn1.to_q.base_layer.weight.dtype == torch.bfloat16
    assert pipe.transformer.blocks[0].attn1.to_q.lora_A["ex4d"].weight.dtype == torch.bfloat16
    out = pipe(*render, num_inference_steps=2, output_type="float")
    assert np.abs(out - reference_output).mean() < 0.05


def test_fp8_storage_reaches_only_the_base_linear_weights(render, reference_output):
    pipe = EX4DPipeline.tiny(seed=0, fp8=True)
    dtypes = {n: p.dtype for n, p in pipe.transformer.named_parameters()}
    fp8 = torch.float8_e4m3fn
    assert dtypes["blocks.0.attn1.to_q.base_layer.weight"] == fp8
    assert dtypes["blocks.1.ffn.net.2.base_layer.weight"] == fp8
    assert dtypes["blocks.0.attn2.add_k_proj.weight"] == fp8
    kept = [n for n, d in dtypes.items() if d != fp8]
    assert all(dtypes[n] == torch.float32 for n in kept)
    assert any(".lora_A." in n for n in kept) and "patch_embedding.weight" in kept
    assert "proj_out.weight" in kept and "scale_shift_table" in kept
    assert all(
        not n.startswith("blocks") or "norm" in n or "lora" in n or "scale_shift" in n for n in kept
    )
    assert all(p.dtype == torch.float32 for p in pipe.condition_encoder.parameters())
    out = pipe(*render, num_inference_steps=2, output_type="float")
    assert np.isfinite(out).all() and not np.array_equal(out, reference_output)
    assert np.abs(out - reference_output).mean() < 0.1


def test_group_offload_hooks_leave_the_output_unchanged(render, reference_output):
    from dataclasses import replace

    from diffusers.hooks.group_offloading import _get_group_onload_device

    pipe = EX4DPipeline.tiny(seed=0)
    plan = replace(TIERS["cpu"], offload="group")  # the CPU cannot stream, but it can hook
    applied = apply_plan(pipe.wan, pipe.condition_encoder, plan, torch.device("cpu"))
    assert any("group offload" in a for a in applied)
    assert _get_group_onload_device(pipe.transformer) == torch.device("cpu")
    out = pipe(*render, num_inference_steps=2, output_type="float")
    assert_outputs_close(out, reference_output)  # another model instance, hooked


def test_model_offload_needs_a_gpu():
    with pytest.raises(InputError, match="needs device='cuda'"):
        EX4DPipeline.tiny(seed=0, offload="model")


def test_regional_compile_and_attention_backend(render, reference_output):
    pipe = EX4DPipeline.tiny(seed=0, compile={"backend": "eager"}, attention_backend="native")
    assert all(b._compiled_call_impl is not None for b in pipe.transformer.blocks)
    assert pipe.transformer.blocks[0].attn1.processor._attention_backend.value == "native"
    out = pipe(*render, num_inference_steps=2, output_type="float")
    assert_outputs_close(out, reference_output)  # another model instance, compiled
    with pytest.raises(InputError, match="downloads kernels"):
        EX4DPipeline.tiny(seed=0, attention_backend="flash_hub")
    with pytest.raises(InputError, match="not usable"):
        EX4DPipeline.tiny(seed=0, attention_backend="no-such-backend")


def test_fused_lora_matches_the_unfused_adapter(render, tmp_path):
    source = EX4DPipeline.tiny(seed=0)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in source.adapter_parameters().values():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    adapter = source.save_adapter(tmp_path / "a.safetensors")
    expected = source(*render, num_inference_steps=2, output_type="float")
    fused = EX4DPipeline.tiny(seed=0, adapter=adapter, fuse_lora=True)
    assert fused.fused and any("fused" in a for a in fused.applied)
    got = fused(*render, num_inference_steps=2, output_type="float")
    np.testing.assert_allclose(got, expected, atol=2e-4)
    with pytest.raises(InputError, match="fused"):
        fused.load_adapter(adapter)


def _wan_lora(path, scale: float = 1.0):
    """A LoRA in the original Wan layout (``diffusion_model.blocks.N.self_attn.q...``), the
    layout public Wan LoRAs such as the 4-step distilled one use."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(1)
    shapes = {f"{a}.{p}": (24, 24) for a in ("self_attn", "cross_attn") for p in "qkvo"}
    shapes.update({"ffn.0": (24, 48), "ffn.2": (48, 24)})
    state = {}
    for block in range(2):
        for module, (fan_in, fan_out) in shapes.items():
            key = f"diffusion_model.blocks.{block}.{module}"
            state[f"{key}.lora_A.weight"] = torch.randn(2, fan_in, generator=g) * scale
            state[f"{key}.lora_B.weight"] = torch.randn(fan_out, 2, generator=g) * scale
    save_file(state, str(path))
    return path


def test_extra_loras_are_set_with_their_weights(render, reference_output, tmp_path):
    lora = _wan_lora(tmp_path / "distill.safetensors")
    pipe = EX4DPipeline.tiny(seed=0, extra_loras=[(lora, 0.5)])
    assert set(pipe.transformer.active_adapters()) == {"ex4d", "extra0"}
    out = pipe(*render, num_inference_steps=2, output_type="float")
    assert np.abs(out - reference_output).max() > 1e-3
    off = EX4DPipeline.tiny(seed=0, extra_loras=[(lora, 0.0)])
    assert_outputs_close(off(*render, num_inference_steps=2, output_type="float"), reference_output)
    with pytest.raises(InputError, match="do not exist"):
        EX4DPipeline.tiny(seed=0, extra_loras=[(tmp_path / "none.safetensors", 1.0)])


# ---------------------------------------------------------------- the command


@pytest.fixture()
def render_dir(tmp_path, render):
    colors, masks = render
    colors = np.concatenate([colors, colors[:, :, :16]], axis=2)  # 48 wide: stretched by --size
    masks = np.concatenate([masks, masks[:, :, :16]], axis=2)
    write_video(tmp_path / "color_90.mp4", colors, 15)
    write_mask_video(tmp_path / "mask_90.mp4", masks, 15)
    return tmp_path


def test_generate_command_with_local_weights(render_dir, tmp_path_factory, capsys):
    base = save_tiny_base(tmp_path_factory.mktemp("base"), seed=0)
    adapter = EX4DPipeline.tiny(seed=0).save_adapter(render_dir / "ex4d.safetensors")
    code = main(
        [
            "generate",
            str(render_dir),
            "--base",
            str(base),
            "--adapter",
            str(adapter),
            "--trajectory-tag",
            "90",
            "--steps",
            "2",
            "--size",
            "32",
            "--device",
            "cpu",
            "--prompt-cache",
            str(render_dir / "cache"),
        ]
    )
    assert code == 0
    # Generated at 17 x 32x32 (the preset's frame count, --size), written back at the render's
    # frame count and size.
    clip = read_video(render_dir / "generated_90.mp4")
    assert clip.frames.shape == (T, 32, 48, 3) and clip.fps == pytest.approx(15)
    assert "tiny" in capsys.readouterr().out


def test_generate_command_without_weights_uses_the_fallback(render_dir, capsys, monkeypatch):
    monkeypatch.delenv("EX4D_WAN_BASE", raising=False)
    monkeypatch.delenv("EX4D_ADAPTER", raising=False)
    assert main(["generate", str(render_dir), "--quiet"]) == 0
    assert read_video(render_dir / "generated_90.mp4").frames.shape == (T, 32, 48, 3)
    assert main(["generate", str(render_dir)]) == 0
    assert "classical completion fallback" in capsys.readouterr().out


def test_generate_command_reports_bad_input(render_dir, tmp_path, capsys):
    assert main(["generate", str(tmp_path / "empty-missing")]) == 2
    assert main(["generate", str(render_dir), "--trajectory-tag", "30"]) == 2
    assert main(["generate", str(render_dir), "--base", str(tmp_path / "no-wan")]) == 2
    assert main(["generate", str(render_dir), "--frames", "16"]) == 2
    assert main(["generate", str(render_dir), "--size", "40"]) == 2
    write_mask_video(render_dir / "mask_90.mp4", np.ones((4, 32, 48), bool), 15)
    assert main(["generate", str(render_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not a directory" in err and "need color_30.mp4" in err
    assert "adapter" in err and "re-render" in err
    assert "4k+1" in err and "multiple of 16" in err
