"""Loading the Wan2.1 I2V components from a local diffusers-format directory, offline.

The directory is what ``hf download Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`` (or
``DiffusionPipeline.save_pretrained``) writes: ``model_index.json`` and the subfolders
``tokenizer``, ``text_encoder``, ``image_encoder``, ``image_processor``, ``vae`` and
``transformer``. Its ``scheduler`` is ignored: EX-4D samples with flow-matching Euler, shift 5.
Nothing is ever fetched: every load is ``local_files_only``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..errors import InputError

log = logging.getLogger(__name__)

COMPONENTS = ("tokenizer", "text_encoder", "image_encoder", "image_processor", "vae", "transformer")
_IMAGE_ENCODERS = ("CLIPVisionModel", "CLIPVisionModelWithProjection")


def quiet_torchvision_notice() -> None:
    """transformers 5 warns once that ``CLIPImageProcessor`` falls back to its PIL variant when
    torchvision is absent; we use the PIL variant on purpose (ex4d-bridge never installs
    torchvision), so trigger that one-time notice with its logger muted."""
    logger = logging.getLogger("transformers.utils.import_utils")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        import transformers

        getattr(transformers, "CLIPImageProcessor", None)
    except ImportError:
        pass
    finally:
        logger.setLevel(level)


def image_processor_class():
    """CLIP's PIL image processor (transformers 5 without torchvision), else the classic one."""
    try:
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil
    except ImportError:
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor


def check_base_dir(path: str | Path) -> Path:
    """The base directory, after checking that it looks like a diffusers Wan I2V model."""
    base = Path(path).expanduser()
    if not base.is_dir():
        raise InputError(
            f"base model directory {base} does not exist; give a local diffusers-format "
            "Wan2.1-I2V-14B-480P directory (Wan-AI/Wan2.1-I2V-14B-480P-Diffusers)"
        )
    missing = [c for c in COMPONENTS if not (base / c).is_dir()]
    if missing:
        raise InputError(
            f"{base} is not a diffusers-format Wan2.1 image-to-video directory: missing "
            f"{', '.join(missing)}/ (expected {', '.join(COMPONENTS)})"
        )
    return base


def _wrap(component: str, base: Path, fn):
    try:
        return fn()
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise InputError(
            f"could not load the {component} from {base / component}: {exc}. Is the download "
            "complete (all weight files present)?"
        ) from exc


def _component_class(base: Path, name: str) -> str | None:
    try:
        index = json.loads((base / "model_index.json").read_text())
        return index.get(name, [None, None])[1]
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def load_transformer(base: Path, dtype: torch.dtype):
    from diffusers import WanTransformer3DModel

    def load():
        model = WanTransformer3DModel.from_pretrained(
            base / "transformer", torch_dtype=dtype, local_files_only=True
        )
        cfg = model.config
        if cfg.image_dim is None or cfg.in_channels != 36:
            raise InputError(
                f"{base / 'transformer'} is not a Wan2.1 image-to-video transformer "
                f"(in_channels={cfg.in_channels}, image_dim={cfg.image_dim}; expected 36 and "
                "1280): EX-4D needs Wan2.1-I2V-14B-480P"
            )
        return model.eval()

    return _wrap("transformer", base, load)


def load_vae(base: Path, dtype: torch.dtype):
    from diffusers import AutoencoderKLWan

    return _wrap(
        "vae",
        base,
        lambda: AutoencoderKLWan.from_pretrained(
            base / "vae", torch_dtype=dtype, local_files_only=True
        ).eval(),
    )


def load_image_encoder(base: Path, dtype: torch.dtype):
    import transformers

    name = _component_class(base, "image_encoder") or "CLIPVisionModel"
    if name not in _IMAGE_ENCODERS:
        raise InputError(f"image_encoder of {base} is a {name}; expected one of {_IMAGE_ENCODERS}")
    cls = getattr(transformers, name)
    return _wrap(
        "image_encoder",
        base,
        lambda: cls.from_pretrained(
            base / "image_encoder", dtype=dtype, local_files_only=True
        ).eval(),
    )


def load_image_processor(base: Path):
    cls = image_processor_class()
    return _wrap(
        "image_processor",
        base,
        lambda: cls.from_pretrained(base / "image_processor", local_files_only=True),
    )


def load_tokenizer(base: Path):
    from transformers import AutoTokenizer

    return _wrap(
        "tokenizer",
        base,
        lambda: AutoTokenizer.from_pretrained(base / "tokenizer", local_files_only=True),
    )


def load_text_encoder(base: Path, dtype: torch.dtype):
    from transformers import UMT5EncoderModel

    log.info("loading the UMT5 text encoder from %s", base / "text_encoder")
    return _wrap(
        "text_encoder",
        base,
        lambda: UMT5EncoderModel.from_pretrained(
            base / "text_encoder", dtype=dtype, local_files_only=True
        ).eval(),
    )


def save_components(directory: str | Path, components: dict) -> Path:
    """Write components in the diffusers layout (``model_index.json`` and subfolders)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline

    out = Path(directory)
    pipe = WanImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0), **components
    )
    pipe.save_pretrained(out)
    return out
