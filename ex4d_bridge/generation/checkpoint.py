"""EX-4D adapter weights: the released ``ex4d.ckpt`` layout and our own safetensors format.

Both are read into one *canonical* naming and loaded strictly: every key must land on a
parameter and every adapter parameter must be loaded, else the load fails listing the keys.

Canonical names (also the keys of our safetensors files)::

    transformer.blocks.N.attn1.to_q.lora_A.weight       (diffusers module names, no adapter name)
    condition_encoder.latent_encoder.0.weight

The released checkpoint (a torch state dict) uses the original Wan module names inside peft's
``lora_A``/``lora_B`` keys, with or without the adapter name ``default``:

    blocks.N.self_attn.{q,k,v,o}   -> blocks.N.attn1.{to_q,to_k,to_v,to_out.0}
    blocks.N.cross_attn.{q,k,v,o}  -> blocks.N.attn2.{to_q,to_k,to_v,to_out.0}
    blocks.N.ffn.0 / ffn.2         -> blocks.N.ffn.net.0.proj / ffn.net.2
    latent_encoder.{0,2,4}.*, latent_patch_embedding.*  (the condition encoder, same names)

It carries no LoRA alpha: the reference runs every LoRA at scale 1, so its alpha is its rank
(read from the ``lora_A`` shapes; 16 for the released weights).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import InputError
from .adapter import LORA_TARGET_PATTERN

FORMAT_NAME = "ex4d-bridge-adapter"
FORMAT_VERSION = "1"
TRANSFORMER_PREFIX = "transformer."
ENCODER_PREFIX = "condition_encoder."
ENCODER_KEYS = tuple(
    f"{m}.{p}"
    for m in ("latent_encoder.0", "latent_encoder.2", "latent_encoder.4", "latent_patch_embedding")
    for p in ("weight", "bias")
)

_ORIGINAL_MODULES = {
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
_ORIGINAL_LORA_KEY = re.compile(
    r"^blocks\.(\d+)\.(self_attn\.[qkvo]|cross_attn\.[qkvo]|ffn\.[02])"
    r"\.(lora_[AB])(?:\.(\w+))?\.weight$"
)
_MAX_LISTED = 12


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f", ... and {more} more" if more > 0 else "")


@dataclass
class AdapterWeights:
    """Adapter tensors under canonical names, with what is known about the LoRA."""

    tensors: dict[str, torch.Tensor]
    format: str  # "ex4d-bridge" or "original"
    rank: int | None
    alpha: float | None
    source: str
    unused: list[str] = field(default_factory=list)  # keys of the file that map to nothing
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def condition_hidden(self) -> int | None:
        w = self.tensors.get(ENCODER_PREFIX + "latent_encoder.0.weight")
        return int(w.shape[0]) if w is not None else None


@dataclass
class LoadReport:
    loaded: list[str]
    unused: list[str]
    missing: list[str]
    mismatched: list[str]  # "key: file (shape) vs model (shape)"
    source: str

    @property
    def ok(self) -> bool:
        return not (self.unused or self.missing or self.mismatched)

    def summary(self) -> str:
        lines = [f"{len(self.loaded)} adapter tensors loaded from {self.source}"]
        if self.mismatched:
            lines.append(f"wrong shapes ({len(self.mismatched)}): {_listing(self.mismatched)}")
        if self.unused:
            lines.append(f"unused keys in the file ({len(self.unused)}): {_listing(self.unused)}")
        if self.missing:
            lines.append(
                f"adapter parameters not in the file ({len(self.missing)}): "
                f"{_listing(self.missing)}"
            )
        return "; ".join(lines)


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and (safetensors) metadata of a weights file; torch files load weights-only."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"adapter weights {p} do not exist (give the path of ex4d.ckpt)")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(p), framework="pt") as f:
                meta = dict(f.metadata() or {})
                return {k: f.get_tensor(k) for k in f.keys()}, meta
        except (SafetensorError, OSError) as exc:
            raise InputError(f"{p} is not a readable safetensors file: {exc}") from exc
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors have many types; all mean "not a state dict"
        raise InputError(
            f"{p} is not a readable torch state dict ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict):
        raise InputError(f"{p} does not hold a state dict (found a {type(obj).__name__})")
    has_tensors = any(isinstance(v, torch.Tensor) for v in obj.values())
    for wrapper in ("state_dict", "module", "model"):  # training frameworks nest the dict
        if not has_tensors and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    # Non-tensor entries (step counters, configs) are not weights: they are reported unused.
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    return tensors, {"non_tensor_keys": ",".join(k for k in obj if k not in tensors)}


def from_original(state: dict[str, torch.Tensor], source: str = "<dict>") -> AdapterWeights:
    """Map the released checkpoint's keys to canonical names; unmapped keys are kept as unused."""
    tensors: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    adapter_names = set()
    for key, value in state.items():
        m = _ORIGINAL_LORA_KEY.match(key)
        if m:
            block, module, ab, name = m.groups()
            adapter_names.add(name)
            canon = f"{TRANSFORMER_PREFIX}blocks.{block}.{_ORIGINAL_MODULES[module]}.{ab}.weight"
            tensors[canon] = value
        elif key in ENCODER_KEYS:
            tensors[ENCODER_PREFIX + key] = value
        else:
            unused.append(key)
    if len(adapter_names) > 1:
        raise InputError(
            f"{source} mixes LoRA adapter names {sorted(map(str, adapter_names))}; "
            "expected one adapter (named 'default' or unnamed)"
        )
    ranks = {int(v.shape[0]) for k, v in tensors.items() if ".lora_A." in k and v.ndim == 2}
    rank = ranks.pop() if len(ranks) == 1 else None
    # No alpha in this layout: the reference runs at scale alpha / rank = 1.
    alpha = float(rank) if rank else None
    return AdapterWeights(tensors, "original", rank, alpha, source, unused)


def read_adapter(path: str | os.PathLike) -> AdapterWeights:
    """Read ``ex4d.ckpt`` (original layout) or an adapter saved by :func:`save_adapter`."""
    state, meta = read_state_dict(path)
    skipped = [k for k in meta.pop("non_tensor_keys", "").split(",") if k]
    if meta.get("format") == FORMAT_NAME:
        if meta.get("version") != FORMAT_VERSION:
            raise InputError(
                f"{path} is adapter format version {meta.get('version')}; this release reads "
                f"version {FORMAT_VERSION}"
            )
        try:
            rank, alpha = int(meta["lora_rank"]), float(meta["lora_alpha"])
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path} lacks valid lora_rank/lora_alpha metadata") from exc
        known = (TRANSFORMER_PREFIX, ENCODER_PREFIX)
        tensors = {k: v for k, v in state.items() if k.startswith(known)}
        unused = [k for k in state if not k.startswith(known)]
        return AdapterWeights(tensors, "ex4d-bridge", rank, alpha, str(path), unused, meta)
    weights = from_original(state, str(path))
    weights.unused += skipped
    return weights


def adapter_targets(transformer, condition_encoder, adapter_name: str) -> dict:
    """Canonical name -> parameter, for every tensor an adapter file must provide."""
    from .adapter import lora_parameters

    lora = lora_parameters(transformer, adapter_name)
    targets = {TRANSFORMER_PREFIX + k: p for k, p in lora.items()}
    for k, p in condition_encoder.named_parameters():
        targets[ENCODER_PREFIX + k] = p
    return targets


def load_into(targets: dict, weights: AdapterWeights, strict: bool = True) -> LoadReport:
    """Copy ``weights`` into ``targets``; with ``strict``, any unused, missing or mismatched
    key fails the load."""
    loaded, mismatched = [], []
    unused = list(weights.unused)
    plan = []
    for key, tensor in weights.tensors.items():
        param = targets.get(key)
        if param is None:
            unused.append(key)
        elif tuple(param.shape) != tuple(tensor.shape):
            mismatched.append(f"{key}: file {tuple(tensor.shape)} vs model {tuple(param.shape)}")
        else:
            plan.append((param, tensor))
            loaded.append(key)
    missing = sorted(set(targets) - set(weights.tensors))
    report = LoadReport(loaded, sorted(unused), missing, mismatched, weights.source)
    if strict and not report.ok:
        raise InputError(
            f"the adapter weights do not fit this model: {report.summary()}. Check that "
            "--adapter is the EX-4D checkpoint for this base model (Wan2.1-I2V-14B-480P)"
        )
    with torch.no_grad():
        for param, tensor in plan:
            param.copy_(tensor.to(device=param.device, dtype=param.dtype))
    return report


def save_adapter(
    path: str | os.PathLike,
    targets: dict,
    *,
    rank: int,
    alpha: float,
    extra_metadata: dict[str, str] | None = None,
) -> Path:
    """Write the adapter as safetensors with its LoRA rank and alpha in the metadata."""
    from safetensors.torch import save_file

    out = Path(path)
    if out.suffix != ".safetensors":
        raise InputError(f"adapter files are saved as .safetensors, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: p.detach().to("cpu").contiguous().clone() for k, p in targets.items()}
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "lora_rank": str(int(rank)),
        "lora_alpha": repr(float(alpha)),
        "lora_target_pattern": LORA_TARGET_PATTERN,
        "lora_modules": str(sum(1 for k in tensors if ".lora_A." in k)),
    }
    meta.update(extra_metadata or {})
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, out)
    return out
