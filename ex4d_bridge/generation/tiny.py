"""Random-weight components of the ``tiny`` preset, built offline from configs.

Same classes as Wan2.1-I2V-14B (WanTransformer3DModel, AutoencoderKLWan, UMT5EncoderModel,
CLIPVisionModel) at a few thousand parameters each, plus a word-level tokenizer over the
reference prompts' vocabulary. Weights come from a seeded generator, so two builds with one
seed are identical.
"""

from __future__ import annotations

import re

import torch

from .presets import TINY_TRANSFORMER
from .prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT

TINY_IMAGE_SIZE = 32


def build_tokenizer():
    """A fast tokenizer (word level, lower case, ``</s>`` appended) that needs no download."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in re.findall(r"\w+|[^\w\s]", f"{DEFAULT_PROMPT} {DEFAULT_NEGATIVE_PROMPT}".lower()):
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build_tiny_components(seed: int = 0) -> dict:
    """``tokenizer, text_encoder, image_encoder, image_processor, vae, transformer``."""
    from .loading import image_processor_class, quiet_torchvision_notice

    quiet_torchvision_notice()
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    tokenizer = build_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=max(64, len(tokenizer)),
                d_model=TINY_TRANSFORMER["text_dim"],
                d_kv=8,
                d_ff=64,
                num_layers=2,
                num_heads=4,
                relative_attention_num_buckets=8,
            )
        ).eval()
        image_encoder = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=TINY_TRANSFORMER["image_dim"],
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=TINY_IMAGE_SIZE,
                patch_size=8,
            )
        ).eval()
        vae = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1).eval()
        transformer = WanTransformer3DModel(**dict(TINY_TRANSFORMER)).eval()
    image_processor = image_processor_class()(
        size={"shortest_edge": TINY_IMAGE_SIZE},
        crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
    )
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "image_encoder": image_encoder,
        "image_processor": image_processor,
        "vae": vae,
        "transformer": transformer,
    }


def save_tiny_base(directory, seed: int = 0):
    """Write the tiny components as a diffusers-format directory (what ``from_pretrained``
    reads), so the local loading path can be exercised without any download."""
    from .loading import save_components

    return save_components(directory, build_tiny_components(seed))
