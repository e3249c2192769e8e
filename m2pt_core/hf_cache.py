"""Hugging Face model names resolved from the local Hugging Face cache, offline.

``timm/vit_small_patch16_224.augreg_in21k`` or ``hf-hub:timm/...`` (timm's spelling) name a Hub
repository; its weights are found in huggingface_hub's cache layout
(``<cache>/models--<org>--<name>/snapshots/<commit>/model.safetensors``) when they were downloaded
before. Nothing is ever downloaded here: a name that is not cached raises an error that says how
to fetch it.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Union

from .errors import CheckpointError

_PREFIXES = ("hf-hub:", "hf_hub:", "hf:")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Weight files a Hub model repository holds, in order of preference (safetensors first).
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


def hf_repo_id(name: Union[str, os.PathLike]) -> Optional[str]:
    """The Hub repo id ``name`` refers to, or None when it is not a Hub name (an existing path is
    never a Hub name)."""
    text = str(name).strip()
    for p in _PREFIXES:
        if text.startswith(p):
            return text[len(p):].split("@")[0]
    if Path(text).exists() or not _REPO_ID.match(text):
        return None
    return text


def hf_cache_dir(cache_dir: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The hub cache folder huggingface_hub uses ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def resolve_hf_weights(name: Union[str, os.PathLike],
                       cache_dir: Optional[Union[str, os.PathLike]] = None) -> Optional[Path]:
    """The cached weight file of Hub model ``name``; None when ``name`` is not a Hub name.

    Raises CheckpointError when it is a Hub name whose weights are not in the cache."""
    repo_id = hf_repo_id(name)
    if repo_id is None:
        return None
    cache = hf_cache_dir(cache_dir)
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with timm
        try_to_load_from_cache = None
    if try_to_load_from_cache is not None:
        for filename in WEIGHT_FILES:
            found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache))
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    # Same layout read by hand (any snapshot), for caches without a refs/main entry.
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    for filename in WEIGHT_FILES:
        hits = sorted(repo_dir.glob(f"snapshots/*/{filename}"))
        if hits:
            return hits[-1]
    raise CheckpointError(
        f"{repo_id!r} looks like a Hugging Face model name, but its weights ({' or '.join(WEIGHT_FILES[:2])}) "
        f"are not in the local Hugging Face cache ({repo_dir}). Nothing is downloaded here; fetch them once "
        f"with `huggingface-cli download {repo_id} model.safetensors` (or "
        f"`python -c \"from huggingface_hub import hf_hub_download; hf_hub_download('{repo_id}', 'model.safetensors')\"`), "
        f"or pass the path of a weight file."
    )


def hf_model_name(name: Union[str, os.PathLike]) -> str:
    """The model part of a Hub name, e.g. 'vit_small_patch16_224.augreg_in21k' (used to read the size)."""
    repo_id = hf_repo_id(name) or str(name)
    return repo_id.rsplit("/", 1)[-1]
