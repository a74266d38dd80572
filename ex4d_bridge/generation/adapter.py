"""Wiring the EX-4D adapter into diffusers' ``WanTransformer3DModel`` without forking it.

* LoRA (peft, adapter name ``ex4d``) on every block's self-attention q, k, v, o (``attn1``),
  cross-attention q, k, v, o (``attn2``; not the image-context ``add_k_proj``/``add_v_proj``)
  and both feed-forward linears (``ffn.net.0.proj``, ``ffn.net.2``).
* The condition tokens are added to the output of ``transformer.patch_embedding`` by a forward
  hook, i.e. after the patch embedding and before the first block. diffusers flattens that
  output to tokens as ``flatten(2).transpose(1, 2)``, the same order in which the reference
  flattens its condition tokens, so adding before the flatten adds token to token.
* :func:`conditioned_forward` is the one call of the LoRA'd transformer with condition tokens
  injected: generation (both guidance passes) and training both make it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

ADAPTER_NAME = "ex4d"
# Full-match regex over module names (peft uses re.fullmatch for a string target).
LORA_TARGET_PATTERN = (
    r"blocks\.\d+\.(?:(?:attn1|attn2)\.(?:to_q|to_k|to_v|to_out\.0)|ffn\.net\.(?:0\.proj|2))"
)


def add_ex4d_lora(
    transformer: nn.Module, rank: int, alpha: float, adapter_name: str = ADAPTER_NAME
) -> None:
    """Inject the EX-4D LoRA (B = 0, so a no-op until weights are loaded)."""
    from peft import LoraConfig

    config = LoraConfig(
        r=int(rank),
        lora_alpha=float(alpha),
        target_modules=LORA_TARGET_PATTERN,
        init_lora_weights=True,
        lora_dropout=0.0,
    )
    transformer.add_adapter(config, adapter_name=adapter_name)


def lora_parameters(transformer: nn.Module, adapter_name: str = ADAPTER_NAME) -> dict:
    """``{"<module>.lora_A.weight": parameter}`` for one adapter (adapter name dropped)."""
    tag = f".{adapter_name}."
    out = {}
    for name, param in transformer.named_parameters():
        if (".lora_A." in name or ".lora_B." in name) and tag in name:
            out[name.replace(tag, ".")] = param
    return out


def lora_config(transformer: nn.Module, adapter_name: str = ADAPTER_NAME):
    peft_config = getattr(transformer, "peft_config", None) or {}
    return peft_config.get(adapter_name)


class ConditionInjector:
    """Adds condition tokens to the patch-embedded video while :meth:`active` is entered.

    Outside :meth:`active` the hook does nothing, so the transformer stays usable as a plain
    Wan model. The tokens [1 or B, D, T', H', W'] are broadcast over the batch (the CFG passes).
    """

    def __init__(self, transformer: nn.Module):
        self._tokens: torch.Tensor | None = None
        self._handle = transformer.patch_embedding.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args, output: torch.Tensor) -> torch.Tensor | None:
        tokens = self._tokens
        if tokens is None:
            return None
        if tokens.shape[1:] != output.shape[1:]:
            raise RuntimeError(
                f"condition tokens {tuple(tokens.shape)} do not match the patch-embedded video "
                f"{tuple(output.shape)}"
            )
        return output + tokens.to(device=output.device, dtype=output.dtype)

    @contextlib.contextmanager
    def active(self, tokens: torch.Tensor) -> Iterator[None]:
        self._tokens = tokens
        try:
            yield
        finally:
            self._tokens = None

    def remove(self) -> None:
        self._handle.remove()


def conditioned_forward(
    transformer: nn.Module,
    injector: ConditionInjector,
    tokens: torch.Tensor,
    hidden_states: torch.Tensor,
    timestep: torch.Tensor,
    text: torch.Tensor,
    image: torch.Tensor,
    *,
    cache: str | None = None,
) -> torch.Tensor:
    """The transformer's flow prediction for ``hidden_states`` (noisy latents concatenated with
    the I2V first-frame condition) with the condition ``tokens`` added after the patch
    embedding. ``text``: prompt embeddings (padded to 512 tokens); ``image``: CLIP embeddings
    of the first frame; ``cache``: the name of diffusers' cache context (generation keeps the
    conditional and unconditional passes apart with it), None for none."""
    context = transformer.cache_context(cache) if cache else contextlib.nullcontext()
    with injector.active(tokens), context:
        return transformer(
            hidden_states=hidden_states,
            timestep=timestep,
            encoder_hidden_states=text,
            encoder_hidden_states_image=image,
            return_dict=False,
        )[0]
