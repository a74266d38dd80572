"""Adapter training on the tiny preset (CPU): objective, init, learning, inference parity,
exact resume, checkpoints, CLI and bad input."""

import json

import numpy as np
import pytest
import torch
from float_tolerance import assert_outputs_close

from ex4d_bridge.cli import main
from ex4d_bridge.errors import InputError
from ex4d_bridge.generation import EX4DPipeline, save_tiny_base
from ex4d_bridge.generation.checkpoint import read_adapter
from ex4d_bridge.training.dataset import load_sample, make_dataset, synthetic_clips
from ex4d_bridge.training.flow_matching import (
    model_timesteps,
    noisy_latents,
    sample_sigmas,
    velocity_target,
)
from ex4d_bridge.training.trainer import TrainConfig, Trainer, train

FRAMES, SIZE = 5, 32


def dataset(directory, count=1, frames=FRAMES, size=SIZE):
    make_dataset(synthetic_clips(count, num_frames=frames, size=size), directory, progress=False)
    return directory


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_tiny_base(tmp_path_factory.mktemp("tiny_base"), seed=0)


@pytest.fixture(scope="module")
def one_sample(tmp_path_factory):
    return dataset(tmp_path_factory.mktemp("data1"), count=1)


@pytest.fixture(scope="module")
def two_samples(tmp_path_factory):
    return dataset(tmp_path_factory.mktemp("data2"), count=2)


def config(data, out, base, **kw):
    kw.setdefault("steps", 20)
    kw.setdefault("lr", 3e-3)
    kw.setdefault("warmup_steps", 2)
    kw.setdefault("checkpoint_every", 100)
    return TrainConfig(str(data), str(out), base=str(base), prompt_cache=None, progress=False, **kw)


@pytest.fixture(scope="module")
def trained(base, one_sample, tmp_path_factory):
    """20 steps overfitting one sample; the fixed-draw loss before and after."""
    trainer = Trainer(config(one_sample, tmp_path_factory.mktemp("run"), base))
    before = trainer.evaluate()
    result = trainer.run()
    return trainer, result, before, trainer.evaluate()


# ---------------------------------------------------------------- the objective


def test_noising_and_target_follow_the_installed_scheduler():
    """x_sigma is the scheduler's scale_noise; an Euler step with the target velocity walks the
    straight path, reaching x0 at sigma 0 (so the target is what sampling integrates)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)
    scheduler.set_timesteps(6)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 1, 4, 3, 5, 5, generator=g)
    sample = noise.clone()
    for i, t in enumerate(scheduler.timesteps):
        sigma = scheduler.sigmas[i : i + 1]
        assert torch.allclose(model_timesteps(sigma), t[None])
        x_t = noisy_latents(x0, noise, sigma)
        assert torch.allclose(scheduler.scale_noise(x0, t[None], noise), x_t, atol=1e-6)
        assert torch.allclose(sample, x_t, atol=1e-5)
        sample = scheduler.step(velocity_target(x0, noise), t, sample, return_dict=False)[0]
    assert torch.allclose(sample, x0, atol=1e-5)


def test_shifted_sigmas_are_distributed_like_the_scheduler_grid():
    from diffusers import FlowMatchEulerDiscreteScheduler

    grid = FlowMatchEulerDiscreteScheduler(shift=5.0).sigmas.numpy()
    drawn = sample_sigmas(40_000, torch.Generator().manual_seed(0), mode="shift", shift=5.0)
    q = np.linspace(0.05, 0.95, 19)
    assert np.abs(np.quantile(drawn.numpy(), q) - np.quantile(grid, q)).max() < 0.01
    # E[sigma] = s/a (1 - ln(1 + a)/a) with a = s - 1: 0.74705 for s = 5.
    assert abs(float(drawn.mean()) - 1.25 * (1 - np.log(5) / 4)) < 0.005
    uniform = sample_sigmas(40_000, torch.Generator().manual_seed(0), mode="uniform")
    assert abs(float(uniform.mean()) - 0.5) < 0.005


# ---------------------------------------------------------------- set-up


def test_only_the_adapter_trains_and_it_starts_as_generation_defines(base, one_sample, tmp_path):
    trainer = Trainer(config(one_sample, tmp_path / "run", base))
    pipe = trainer.pipeline
    adapter = pipe.adapter_parameters()
    assert len(adapter) == 48  # 2 blocks x 20 LoRA tensors + 8 condition-encoder tensors
    adapter_ids = {id(p) for p in adapter.values()}
    trainable = [
        p
        for m in (pipe.transformer, pipe.vae, pipe.wan.image_encoder)
        for p in m.parameters()
        if p.requires_grad
    ]
    trainable += [p for p in pipe.condition_encoder.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == adapter_ids
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert optimized == adapter_ids
    for name, p in adapter.items():
        if ".lora_B." in name or "latent_patch_embedding" in name:
            assert not p.any(), name  # zero: the adapter starts as a no-op
    assert pipe.transformer.is_gradient_checkpointing
    frozen = {
        n: p.detach().clone() for n, p in pipe.transformer.named_parameters() if not p.requires_grad
    }
    trainer.train_step()
    assert all(
        torch.equal(p, frozen[n]) for n, p in pipe.transformer.named_parameters() if n in frozen
    )
    assert all(p.grad is None for p in pipe.transformer.parameters() if not p.requires_grad)
    assert not trainer.optimizer.state.keys() - {p for p in adapter.values()}


def test_checkpointing_and_the_encoding_cache_do_not_change_the_updates(
    base, two_samples, tmp_path
):
    runs = {}
    for ckpt, cache in ((True, False), (False, False), (True, True)):
        cfg = config(
            two_samples,
            tmp_path / f"{ckpt}-{cache}",
            base,
            steps=3,  # 2 samples: the third step reuses one, from the cache when enabled
            gradient_checkpointing=ckpt,
            cache_encodings=cache,
        )
        trainer = Trainer(cfg)
        assert trainer.pipeline.transformer.is_gradient_checkpointing is ckpt
        losses = trainer.run().losses
        assert len(trainer._cache) == (2 if cache else 0)
        runs[ckpt, cache] = losses, {k: p.detach().clone() for k, p in trainer.params.items()}
    reference_losses, reference = runs[True, False]
    for losses, params in (runs[False, False], runs[True, True]):
        assert np.allclose(losses, reference_losses, rtol=1e-6)
        for k, p in params.items():
            assert torch.allclose(p, reference[k], rtol=1e-5, atol=1e-7), k


def test_bf16_autocast_with_bf16_base_weights_runs_and_keeps_float32_adapter(
    base, one_sample, tmp_path
):
    trainer = Trainer(
        config(one_sample, tmp_path / "bf16", base, steps=2, dtype="bf16", mixed_precision="bf16")
    )
    assert trainer.pipeline.transformer.blocks[0].attn1.to_q.base_layer.weight.dtype == (
        torch.bfloat16
    )
    assert all(p.dtype == torch.float32 for p in trainer.params.values())
    losses = trainer.run().losses
    reference = Trainer(config(one_sample, tmp_path / "fp32", base, steps=1)).train_step()
    assert np.isfinite(losses).all()
    assert abs(losses[0] - reference["loss"]) < 0.05 * reference["loss"]


# ---------------------------------------------------------------- learning and the result


def test_the_loss_falls_while_overfitting_one_sample(trained):
    _, result, before, after = trained
    losses = np.array(result.losses)
    assert len(losses) == 20 and np.isfinite(losses).all()
    assert losses[-5:].mean() < 0.85 * losses[:5].mean(), losses
    assert after < 0.85 * before, (before, after)  # the same fixed draws before and after


def test_training_inputs_are_exactly_what_generation_feeds_the_model(trained):
    """One Euler step from sigma 1 returns noise - velocity: the trainer's prediction for the
    same sample, noise and erosion must give the pipeline's output."""
    trainer, *_ = trained
    pipe = trainer.pipeline
    sample = load_sample(trainer.data, trainer.rows[0])
    seed = 7
    with torch.no_grad():
        inputs = trainer.encode(sample, seed, torch.tensor([1.0]), seed)
        _, generation_noise, _ = pipe.encode_source(
            sample.target[0], FRAMES, torch.Generator().manual_seed(seed)
        )
        assert torch.equal(inputs.noise, generation_noise)
        x_t = noisy_latents(inputs.x0, inputs.noise, inputs.sigma)
        velocity = trainer.predict(inputs, x_t)
    out = pipe(
        sample.inputs,
        sample.masks,
        sample.target[0],
        prompt=trainer.config.prompt,
        num_inference_steps=1,
        guidance_scale=1.0,
        seed=seed,
        output_type="latent",
    )
    assert torch.allclose(out, inputs.noise - velocity, atol=1e-5)
    assert (velocity - x_t).abs().mean() > 1e-3  # not a trivially equal pair


def test_the_saved_adapter_loads_into_the_pipeline_and_changes_its_output(trained, base, tmp_path):
    trainer, result, *_ = trained
    assert result.adapter.name == "adapter.safetensors" and result.adapter.is_file()
    saved = read_adapter(result.adapter)
    for name, p in trainer.params.items():
        assert torch.equal(saved.tensors[name], p.detach()), name
    sample = load_sample(trainer.data, trainer.rows[0])

    def run(pipe):
        return pipe(sample.inputs, sample.masks, num_inference_steps=3, output_type="float")

    plain = EX4DPipeline.from_pretrained(base, device="cpu", prompt_cache=None)
    untrained = run(plain)
    tuned = EX4DPipeline.from_pretrained(base, result.adapter, device="cpu", prompt_cache=None)
    assert tuned.load_report.ok
    out = run(tuned)
    assert np.abs(out - untrained).mean() > 1e-3
    plain.load_adapter(result.adapter)
    assert_outputs_close(run(plain), out)  # two pipeline instances: equal up to rounding


# ---------------------------------------------------------------- checkpoints and resume


def test_resume_continues_exactly(base, two_samples, tmp_path):
    opts = dict(lr=3e-3, warmup_steps=4, grad_accum=2, checkpoint_every=3)
    straight = train(config(two_samples, tmp_path / "straight", base, steps=6, **opts))
    first = train(config(two_samples, tmp_path / "split", base, steps=3, **opts))
    assert first.checkpoint.name == "step-0000003"
    second = train(config(two_samples, tmp_path / "split", base, steps=6, resume="latest", **opts))
    assert second.step == 6 and len(second.losses) == 3
    # Bit for bit: both runs build the same pipeline the same way in this process and draw the
    # same samples, so this is the same program on the same data (what exact resume means).
    assert first.losses + second.losses == straight.losses
    a, b = read_adapter(straight.adapter).tensors, read_adapter(second.adapter).tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [
        json.loads(x) for x in (tmp_path / "split" / "losses.jsonl").read_text().split("\n") if x
    ]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in log] == straight.losses
    ckpts = sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir())
    assert ckpts == ["step-0000003", "step-0000006"]  # complete ones only, none half-written
    # A checkpoint's adapter is a generation adapter too.
    pipe = EX4DPipeline.from_pretrained(
        base,
        tmp_path / "split" / "checkpoints" / "step-0000006" / "adapter.safetensors",
        device="cpu",
        prompt_cache=None,
    )
    assert pipe.load_report.ok


def test_cli_trains_refuses_to_overwrite_and_resumes(base, one_sample, tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "--quiet",
        "train",
        str(one_sample),
        "--base",
        str(base),
        "--out",
        str(out),
        "--prompt-cache",
        "none",
        "--device",
        "cpu",
        "--warmup-steps",
        "1",
    ]
    assert main([*args, "--steps", "2"]) == 0
    assert (out / "adapter.safetensors").is_file()
    assert (out / "checkpoints" / "step-0000002" / "training_state.pt").is_file()
    assert main([*args, "--steps", "3"]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main([*args, "--steps", "3", "--resume"]) == 0
    assert "trained steps 3..3" in capsys.readouterr().out
    assert len((out / "losses.jsonl").read_text().splitlines()) == 3
    assert main([*args, "--steps", "4", "--resume", "--lr", "5e-4"]) == 2
    assert "settings differ (lr: 0.0001 in the checkpoint, 0.0005 now)" in capsys.readouterr().err


# ---------------------------------------------------------------- bad input


def wide_base(directory):
    """The tiny model at twice the width (24 -> 48): another model size."""
    from diffusers import WanTransformer3DModel

    from ex4d_bridge.generation.loading import save_components
    from ex4d_bridge.generation.presets import TINY_TRANSFORMER
    from ex4d_bridge.generation.tiny import build_tiny_components

    components = build_tiny_components(0)
    wide = {**TINY_TRANSFORMER, "attention_head_dim": 24, "added_kv_proj_dim": 48}
    components["transformer"] = WanTransformer3DModel(**wide).eval()
    return save_components(directory, components)


def test_resuming_an_adapter_of_another_model_size_is_refused(base, one_sample, tmp_path):
    out = tmp_path / "run"
    train(config(one_sample, out, wide_base(tmp_path / "wide"), steps=1))
    with pytest.raises(InputError, match="width 48 with 2 blocks.*this base model has width 24"):
        Trainer(config(one_sample, out, base, steps=2, resume="latest"))


@pytest.mark.parametrize(
    "frames, size, match",
    [(4, SIZE, "4 frames; the Wan VAE takes 4k\\+1"), (FRAMES, 40, "40x40; frame sizes must be")],
)
def test_datasets_the_model_cannot_take_are_refused(base, tmp_path, frames, size, match):
    data = dataset(tmp_path / "data", frames=frames, size=size)
    with pytest.raises(InputError, match=match):
        Trainer(config(data, tmp_path / "run", base))


def test_empty_dataset_missing_base_and_missing_checkpoint_are_refused(base, one_sample, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "index.jsonl").write_text("")
    with pytest.raises(InputError, match="has no samples"):
        Trainer(config(empty, tmp_path / "a", base))
    with pytest.raises(InputError, match="not a dataset"):
        Trainer(config(tmp_path / "nothing", tmp_path / "a", base))
    with pytest.raises(InputError, match="does not exist"):
        Trainer(config(one_sample, tmp_path / "a", tmp_path / "no-base"))
    with pytest.raises(InputError, match="give --base"):
        Trainer(TrainConfig(str(one_sample), str(tmp_path / "a"), prompt_cache=None))
    with pytest.raises(InputError, match="nothing to resume"):
        Trainer(config(one_sample, tmp_path / "a", base, resume="latest"))
    with pytest.raises(InputError, match="--lr must be > 0"):
        Trainer(config(one_sample, tmp_path / "a", base, lr=0.0))
