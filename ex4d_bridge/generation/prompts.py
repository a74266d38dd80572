"""Prompt embeddings: the reference prompts, the UMT5 encoding and an on-disk cache.

The EX-4D reference always uses one fixed prompt pair, so its embeddings are computed once and
cached on disk: later runs never load the 5.7B-parameter text encoder at all (it is loaded lazily
on the first cache miss).

Embeddings are padded exactly as diffusers' Wan pipelines and the original Wan code do: the
encoder output is cut to the prompt's real length and zero-padded to 512 tokens. Wan's attention
takes the *last* 512 context tokens as text, so any other length would shift the split between
text and image tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

log = logging.getLogger(__name__)

DEFAULT_PROMPT = (
    "4K ultra HD, surround motion, realistic tone, panoramic shot, wide-angle view, "
    "cinematic quality"
)
DEFAULT_NEGATIVE_PROMPT = (
    "Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, "
    "images, static, overall gray, worst quality, low quality, JPEG compression residue, ugly, "
    "incomplete, extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, "
    "misshapen limbs, fused fingers, still picture, messy background, three legs, many people in "
    "the background, walking backwards"
)
TEXT_LENGTH = 512  # Wan's fixed text context; see the module docstring


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ex4d-bridge" / "prompt-embeds"


class PromptCache:
    """Prompt embeddings on disk, one safetensors file per (text encoder, prompt).

    ``identity`` names the text encoder (weights, tokenizer, dtype): embeddings of another
    encoder are never returned.
    """

    def __init__(self, directory: str | os.PathLike, identity: str):
        self.directory = Path(directory)
        self.identity = identity

    def _path(self, prompt: str) -> Path:
        key = hashlib.sha256(f"{self.identity}\0{TEXT_LENGTH}\0{prompt}".encode()).hexdigest()
        return self.directory / f"{key[:40]}.safetensors"

    def get(self, prompt: str) -> torch.Tensor | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self._path(prompt)
        if not path.is_file():
            return None
        try:
            return load_file(path)["embeds"]
        except (OSError, KeyError, SafetensorError) as exc:  # a damaged entry is recomputed
            log.warning("ignoring unreadable prompt cache entry %s: %s", path, exc)
            return None

    def put(self, prompt: str, embeds: torch.Tensor) -> None:
        from safetensors.torch import save_file

        path = self._path(prompt)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            os.close(fd)
            meta = {"prompt": prompt[:2000], "identity": self.identity[:2000]}
            save_file({"embeds": embeds.detach().cpu().contiguous()}, tmp, metadata=meta)
            os.replace(tmp, path)  # readers never see a half-written entry
        except OSError as exc:  # a read-only cache must not stop generation
            log.warning("could not write the prompt cache entry %s: %s", path, exc)


def encoder_identity(paths: list[Path], dtype: torch.dtype) -> str:
    """A cache identity from the text encoder's and tokenizer's files (names, sizes, small
    files' contents) and the dtype the encoder runs in."""
    h = hashlib.sha256(str(dtype).encode())
    for root in paths:
        for f in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            size = f.stat().st_size
            h.update(f"{f.relative_to(root)}:{size}".encode())
            if size < 4 << 20:  # configs and tokenizer files; weights are named by size
                h.update(f.read_bytes())
    return h.hexdigest()


class PromptEncoder:
    """UMT5 prompt encoding with Wan's padding, the cache, and a lazily loaded encoder.

    ``load_text_encoder`` builds the encoder on first use; ``device`` is where it runs
    (``"cpu"`` keeps its 11 GB off the GPU). With ``offload_after_use`` it is moved to the CPU
    again after each encoding.
    """

    def __init__(
        self,
        tokenizer,
        text_encoder: torch.nn.Module | None = None,
        *,
        load_text_encoder: Callable[[], torch.nn.Module] | None = None,
        device: torch.device | str = "cpu",
        cache: PromptCache | None = None,
        offload_after_use: bool = False,
    ):
        if text_encoder is None and load_text_encoder is None:
            raise ValueError("give text_encoder or load_text_encoder")
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self._load = load_text_encoder
        self.device = torch.device(device)
        self.cache = cache
        self.offload_after_use = offload_after_use

    @property
    def loaded(self) -> bool:
        return self.text_encoder is not None

    def _encoder(self) -> torch.nn.Module:
        if self.text_encoder is None:
            assert self._load is not None
            log.info("loading the text encoder (prompt not in the cache)")
            self.text_encoder = self._load()
        return self.text_encoder

    @torch.no_grad()
    def _run(self, prompt: str) -> torch.Tensor:
        from diffusers.pipelines.wan.pipeline_wan_i2v import prompt_clean

        encoder = self._encoder()
        encoder.to(self.device)
        try:
            tokens = self.tokenizer(
                [prompt_clean(prompt)],
                padding="max_length",
                max_length=TEXT_LENGTH,
                truncation=True,
                add_special_tokens=True,
                return_attention_mask=True,
                return_tensors="pt",
            )
            ids, mask = tokens.input_ids.to(self.device), tokens.attention_mask.to(self.device)
            hidden = encoder(ids, mask).last_hidden_state
            length = int(mask.gt(0).sum())
            # Keep the real tokens, zero the padding (not the encoder's padding outputs).
            out = torch.zeros_like(hidden)
            out[:, :length] = hidden[:, :length]
        finally:
            if self.offload_after_use and self.device.type != "cpu":
                encoder.to("cpu")
        return out

    def encode(self, prompt: str) -> torch.Tensor:
        """[1, 512, text_dim] embeddings of ``prompt`` (on the CPU when read from the cache)."""
        if self.cache is not None:
            cached = self.cache.get(prompt)
            if cached is not None:
                return cached
        embeds = self._run(prompt)
        if self.cache is not None:
            self.cache.put(prompt, embeds)
        return embeds
