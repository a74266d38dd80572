"""Model references: a local path, or a Hugging Face Hub id fetched into the hub cache.

A reference is one of

- a local directory or file (used as is, whenever it exists);
- a hub repository id, ``org/name`` or ``org/name@revision`` (a branch, tag or commit): the
  repository's snapshot directory in the hub cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``);
- one file of a hub repository, ``org/name::path/in/repo`` (optionally
  ``org/name@revision::path/in/repo``), e.g. ``yihouxiang/EX-4D::ex4d.ckpt``: that file's path
  in the cache.

What is not in the cache is downloaded with ``huggingface_hub`` unless the machine is offline
(``HF_HUB_OFFLINE=1``) or ``allow_download=False``; then the error names the id, the cache
searched and the ``hf download`` command that fetches it. ``huggingface_hub`` is imported only
when a hub id is resolved.
"""

from __future__ import annotations

import os
import re
from os import PathLike
from pathlib import Path

from .errors import InputError

KINDS = ("depth", "base", "adapter")
FILE_SEPARATOR = "::"
_KIND_NAMES = {"depth": "depth model", "base": "base model", "adapter": "adapter"}
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"^{_PART}/{_PART}$")
_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_cache_dir() -> Path:
    """The hub cache, read from the environment now (``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``,
    ``HF_HOME/hub``, then ``~/.cache/huggingface/hub``)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read now."""
    return any(
        os.environ.get(name, "").strip().upper() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def parse_hub_ref(ref: str) -> tuple[str, str | None, str | None] | None:
    """``(repo_id, revision, filename)`` of a hub reference, or None if ``ref`` is not one."""
    text = ref.strip()
    filename = None
    if FILE_SEPARATOR in text:
        text, filename = text.split(FILE_SEPARATOR, 1)
        filename = filename.strip("/")
        if not filename or ".." in filename.split("/"):
            return None
    revision = None
    if "@" in text:
        text, revision = text.split("@", 1)
        if not revision:
            return None
    if not _REPO_ID.match(text) or ".." in text:
        return None
    return text, revision, filename


def _download_command(repo_id: str, revision: str | None, filename: str | None) -> str:
    cmd = f"hf download {repo_id}"
    if filename:
        cmd += f" {filename}"
    if revision:
        cmd += f" --revision {revision}"
    return cmd


def resolve_model(
    ref: str | PathLike,
    *,
    kind: str = "depth",
    revision: str | None = None,
    allow_download: bool | None = None,
) -> Path:
    """The local directory or file of a model reference (see the module docstring).

    ``kind`` (``depth``, ``base`` or ``adapter``) only words the errors. ``revision`` applies
    to a hub id that names none. ``allow_download``: None downloads unless ``HF_HUB_OFFLINE``
    is set; False only reads the cache. A reference that is neither an existing path nor a
    hub id comes back as a ``Path``, for the caller to report as missing.
    """
    if kind not in KINDS:
        raise InputError(f"model kind {kind!r} must be one of {', '.join(KINDS)}")
    path = Path(os.fspath(ref)).expanduser()
    if path.exists():
        return path
    text = os.fspath(ref)
    parsed = parse_hub_ref(text) if isinstance(text, str) else None
    if parsed is None or os.path.isabs(text) or text.startswith((".", "~")):
        return path
    repo_id, rev, filename = parsed
    rev = rev or revision
    what = _KIND_NAMES[kind]
    cache = hub_cache_dir()
    offline = hub_offline() if allow_download is None else not allow_download
    import huggingface_hub as hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    label = (
        repo_id + (f"@{rev}" if rev else "") + (f"{FILE_SEPARATOR}{filename}" if filename else "")
    )
    try:
        if filename:
            local = hub.hf_hub_download(
                repo_id, filename, revision=rev, cache_dir=cache, local_files_only=offline
            )
        else:
            local = hub.snapshot_download(
                repo_id, revision=rev, cache_dir=cache, local_files_only=offline
            )
    except LocalEntryNotFoundError:
        if not offline:
            raise InputError(
                f"{what} {label}: no local path {text} and the hub could not be reached; "
                f"fetch it with `{_download_command(repo_id, rev, filename)}`"
            ) from None
        raise InputError(
            f"{what} {label} is not in the hub cache ({cache}) and downloads are off "
            f"(HF_HUB_OFFLINE); fetch it with `{_download_command(repo_id, rev, filename)}` "
            f"on a machine with network access"
        ) from None
    except Exception as exc:  # noqa: BLE001 - repository/revision/file not found, gated, HTTP
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(
            f"{what} {label}: no local path {text}, and downloading it from the Hugging Face "
            f"Hub failed ({type(exc).__name__}{': ' + reason if reason else ''})"
        ) from None
    return Path(local)


__all__ = [
    "FILE_SEPARATOR",
    "KINDS",
    "hub_cache_dir",
    "hub_offline",
    "parse_hub_ref",
    "resolve_model",
]
