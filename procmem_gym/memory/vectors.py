"""Text vectors of a memory: each text embedded once, kept beside the memory file, loaded with it.

Activation checks, retrieval and near-duplicate merging all compare embeddings of skill texts;
:class:`TextVectors` holds them keyed by the text itself, so no text is embedded twice in a
process, and :meth:`TextVectors.save` writes them next to the memory file
(``memory.json.vectors.npz``) so that a memory loaded later does not embed its skills again
(100,000 skills take minutes to embed with MiniLM). The file is a cache: numpy arrays, read
without pickle; one that is missing, from another embedder, or unreadable is ignored, and the
vectors are computed again.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from procmem_gym.files.atomic import write_bytes_atomic
from procmem_gym.memory.embedding import Embedder

__all__ = ["TextVectors", "sidecar_path"]


def sidecar_path(memory_path: str | os.PathLike) -> Path:
    """Return where the vectors of the memory file at ``memory_path`` are kept."""
    path = Path(memory_path)
    return path.with_name(path.name + ".vectors.npz")


def _digest(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class TextVectors:
    """Unit vectors of texts for one embedder, keyed by the text's SHA-1, in one growable matrix."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._row: dict[bytes, int] = {}
        self._matrix = np.zeros((0, embedder.dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._row)

    def _append(self, keys: list[bytes], vectors: np.ndarray) -> None:
        start, end = len(self._row), len(self._row) + len(keys)
        if end > len(self._matrix):
            grown = np.zeros((max(end, 2 * len(self._matrix), 256), self.embedder.dim), dtype=np.float32)
            grown[:start] = self._matrix[:start]
            self._matrix = grown
        self._matrix[start:end] = vectors
        for offset, k in enumerate(keys):
            self._row[k] = start + offset

    def get(self, texts: Sequence[str]) -> np.ndarray:
        """Return the ``(len(texts), dim)`` vectors of ``texts``, embedding the unknown ones in one batch."""
        keys = [_digest(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._row}
        if missing:
            self._append(list(missing), self.embedder.embed(list(missing.values())))
        return self._matrix[[self._row[k] for k in keys]]

    def keep_only(self, texts: Iterable[str]) -> None:
        """Forget the vectors of texts not in ``texts`` (skills that were removed or changed)."""
        keep = [k for k in dict.fromkeys(_digest(t) for t in texts) if k in self._row]
        rows = [self._row[k] for k in keep]
        self._row = {}
        matrix, self._matrix = self._matrix[rows], np.zeros((0, self.embedder.dim), dtype=np.float32)
        self._append(keep, matrix)

    def save(self, path: str | os.PathLike, texts: Iterable[str]) -> None:
        """Write the vectors of ``texts`` that are known (atomically; the embedder's name is recorded)."""
        keys = [k for k in dict.fromkeys(_digest(t) for t in texts) if k in self._row]
        digests = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 20)
        vectors = self._matrix[[self._row[k] for k in keys]]
        buffer = io.BytesIO()
        np.savez(buffer, embedder=np.array(self.embedder.name), digests=digests, vectors=vectors)
        write_bytes_atomic(path, buffer.getvalue())

    def load(self, path: str | os.PathLike) -> int:
        """Add the vectors a file holds when it is this embedder's and well formed; return how many (0 otherwise)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["embedder"]) != self.embedder.name:
                    return 0
                digests, vectors = data["digests"], data["vectors"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return 0
        n = len(digests)
        if digests.shape != (n, 20) or digests.dtype != np.uint8 or vectors.shape != (n, self.embedder.dim):
            return 0
        if vectors.dtype != np.float32 or not np.isfinite(vectors).all():
            return 0
        keys = [row.tobytes() for row in digests]
        new = [i for i, k in enumerate(keys) if k not in self._row]
        self._append([keys[i] for i in new], vectors[new])
        return n
