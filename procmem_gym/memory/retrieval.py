"""Retrievers over skill texts: ``random``, ``keyword`` (BM25) and ``embedding`` (cosine).

A retriever is fitted on ``(id, text)`` pairs and answers ``search(query, k)`` with
``[(id, score), ...]``, best first. Fitting is incremental where it matters: the embedding
retriever embeds each text once (a skill whose text did not change keeps its vector), and a
query costs one matrix product over all skills.

Where retrieval happens is set per run (:func:`retrieval_settings`, docs/design.md#retrieval):
``scope="step"`` activates skills step by step (ProcMEM), ``scope="episode"`` retrieves the
task's memories once per episode (MemP; :meth:`ProceduralMemory.task_memories`, kept in the
prompt by :class:`~procmem_gym.wrappers.tracking.SkillTracker`).
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from procmem_gym.errors import UsageError
from procmem_gym.memory.embedding import Embedder

if TYPE_CHECKING:
    from procmem_gym.memory.store import ProceduralMemory
from procmem_gym.memory.vectors import TextVectors

__all__ = [
    "SCOPES",
    "retrieval_settings",
    "Retriever",
    "RandomRetriever",
    "KeywordRetriever",
    "EmbeddingRetriever",
    "VectorIndex",
    "make_retriever",
    "RETRIEVERS",
]

_TOKEN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Return lower-case word tokens."""
    return _TOKEN.findall(text.lower())


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the ``k`` largest scores, best first (ties: lower index first)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


def matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Return ``matrix @ vector`` (float32), computed by torch when torch is loaded in this process.

    numpy's OpenBLAS and torch keep separate thread pools; on a small machine, OpenBLAS threads
    still spinning after a product take the cores from the next torch forward pass (the query's
    embedding, the policy's step). Measured on 2 cores: a MiniLM query at 100,000 skills took
    107 ms with numpy's products and 15 ms with torch's. Without torch, numpy does the product.
    """
    torch = sys.modules.get("torch")
    if torch is None or matrix.size < 16_384:
        return matrix @ vector
    return torch.mv(torch.from_numpy(np.ascontiguousarray(matrix)), torch.from_numpy(vector)).numpy()


class Retriever(Protocol):
    """Finds the skills most relevant to a query."""

    name: str

    def fit(self, items: Sequence[tuple[str, str]]) -> None:
        """Index ``(id, text)`` pairs, replacing what was indexed before."""
        ...

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Return up to ``k`` ``(id, score)`` pairs, best first."""
        ...


class RandomRetriever:
    """MemP's ``random`` baseline: k skills drawn uniformly, seeded."""

    name = "random"

    def __init__(self, seed: int | None = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.ids: list[str] = []

    def fit(self, items: Sequence[tuple[str, str]]) -> None:
        """Remember the ids."""
        self.ids = [i for i, _ in items]

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Return k random ids with score 0."""
        if not self.ids or k <= 0:
            return []
        picks = self.rng.choice(len(self.ids), size=min(k, len(self.ids)), replace=False)
        return [(self.ids[int(i)], 0.0) for i in picks]


class KeywordRetriever:
    """Okapi BM25 over word tokens (k1 = 1.5, b = 0.75), with an inverted index.

    >>> r = KeywordRetriever()
    >>> r.fit([("a", "heat the apple in the microwave"), ("b", "guess four digits")])
    >>> r.search("microwave apple", 1)[0][0]
    'a'
    """

    name = "keyword"

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.ids: list[str] = []
        self.postings: dict[str, list[tuple[int, int]]] = {}
        self.lengths = np.zeros(0)
        self.avg_length = 0.0

    def fit(self, items: Sequence[tuple[str, str]]) -> None:
        """Build the inverted index."""
        self.ids = [i for i, _ in items]
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = []
        for doc, (_, text) in enumerate(items):
            tokens = tokenize(text)
            lengths.append(len(tokens))
            for term, tf in Counter(tokens).items():
                postings[term].append((doc, tf))
        self.postings = dict(postings)
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.avg_length = float(self.lengths.mean()) if lengths else 0.0

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Return the best BM25 matches (only documents sharing a term with the query)."""
        n = len(self.ids)
        if not n or k <= 0:
            return []
        scores = np.zeros(n)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.avg_length, 1e-9))
        for term in set(tokenize(query)):
            posting = self.postings.get(term)
            if not posting:
                continue
            docs = np.fromiter((d for d, _ in posting), dtype=np.int64, count=len(posting))
            tf = np.fromiter((t for _, t in posting), dtype=np.float64, count=len(posting))
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            scores[docs] += idf * tf * (self.k1 + 1) / (tf + norm[docs])
        hits = np.flatnonzero(scores > 0)
        order = hits[top_k(scores[hits], k)]
        return [(self.ids[int(i)], float(scores[i])) for i in order]


class VectorIndex:
    """Unit vectors of texts by id; texts are embedded once, a query is one matrix product.

    Up to ``exact_limit`` rows every query is exact. Beyond, queries are two-stage: a seeded
    random projection to ``sketch_dim`` dimensions (inner products are preserved up to about
    ``1/sqrt(sketch_dim)``) picks a shortlist of ``shortlist`` rows, whose exact cosines are
    then computed. This reads half the bytes per query at 100,000 skills, where the
    exact product is bound by memory bandwidth.
    """

    def __init__(
        self,
        embedder: Embedder | TextVectors,
        exact_limit: int = 20_000,
        sketch_dim: int = 128,
        shortlist: int = 1024,
    ) -> None:
        # texts are embedded through a TextVectors: shared by every index of a memory, saved with it
        self.vectors = embedder if isinstance(embedder, TextVectors) else TextVectors(embedder)
        self.embedder = self.vectors.embedder
        self.exact_limit, self.sketch_dim, self.shortlist = exact_limit, sketch_dim, shortlist
        self.ids: list[str] = []
        self.matrix = np.zeros((0, self.embedder.dim), dtype=np.float32)
        self._sketch: np.ndarray | None = None
        self._projection: np.ndarray | None = None

    def fit(self, items: Sequence[tuple[str, str]]) -> None:
        """Index ``(id, text)`` pairs, embedding only the texts not seen before (in one batch)."""
        self.ids = [i for i, _ in items]
        self.matrix = self.vectors.get([t for _, t in items])
        self._sketch = None
        if len(self.ids) > self.exact_limit and self.embedder.dim > self.sketch_dim:
            if self._projection is None:
                rng = np.random.default_rng(0)
                q, _ = np.linalg.qr(rng.standard_normal((self.embedder.dim, self.sketch_dim)))
                self._projection = np.ascontiguousarray(q, dtype=np.float32)
            self._sketch = np.ascontiguousarray(self.matrix @ self._projection)

    def vector(self, text: str) -> np.ndarray:
        """Return the unit vector of one text."""
        return self.embedder.embed([text])[0]

    def scores(self, query_vector: np.ndarray) -> np.ndarray:
        """Return the exact cosine of every indexed text with a unit query vector."""
        return matvec(self.matrix, query_vector)

    def search(self, query_vector: np.ndarray, k: int, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rows, cosines)`` of the best ``k`` rows (at or above ``threshold``), best first."""
        if not self.ids or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self._sketch is None:
            rows = np.arange(len(self.ids))
            sims = self.scores(query_vector)
        else:
            rough = matvec(self._sketch, query_vector @ self._projection)
            rows = top_k(rough, max(self.shortlist, 8 * k))
            sims = matvec(self.matrix[rows], query_vector)
        if threshold is not None:
            keep = sims >= threshold
            rows, sims = rows[keep], sims[keep]
        best = top_k(sims, k)
        return rows[best], sims[best]


class EmbeddingRetriever:
    """Cosine similarity of embeddings; MemP's ``query`` retrieval uses a 0.5 score threshold."""

    name = "embedding"

    def __init__(self, embedder: Embedder | TextVectors, threshold: float | None = None) -> None:
        self.index = VectorIndex(embedder)
        self.threshold = threshold

    def fit(self, items: Sequence[tuple[str, str]]) -> None:
        """Embed what is new and rebuild the matrix."""
        self.index.fit(items)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Return the k most similar texts (above ``threshold`` when set)."""
        if not self.index.ids or k <= 0:
            return []
        rows, sims = self.index.search(self.index.vector(query), k, self.threshold)
        return [(self.index.ids[int(i)], float(s)) for i, s in zip(rows, sims, strict=False)]


RETRIEVERS = ("random", "keyword", "embedding")


def make_retriever(name: str, embedder: Embedder | TextVectors, seed: int | None = 0) -> Retriever:
    """Return the retriever ``name`` describes (the embedding retriever embeds through ``embedder``)."""
    if name == "random":
        return RandomRetriever(seed)
    if name in ("keyword", "bm25"):
        return KeywordRetriever()
    if name in ("embedding", "query"):
        return EmbeddingRetriever(embedder)
    raise UsageError(f"unknown retriever {name!r}; choose one of {', '.join(RETRIEVERS)}")


#: How skills are retrieved: every step by activation (ProcMEM), or once per episode by task (MemP).
SCOPES = ("step", "episode")


def retrieval_settings(memory: ProceduralMemory | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """Return the tracker's retrieval settings: the memory's own (``meta["retrieval"]``), then ``override``.

    Keys: ``scope`` (``step`` or ``episode``), ``top_k``, ``threshold`` (cosine, episode scope).
    """
    merged: dict[str, Any] = {}
    for part in ((memory.meta.get("retrieval") if memory is not None else None), override):
        if part is None:
            continue
        if not isinstance(part, dict):
            raise UsageError(f"retrieval settings must be a mapping, got {type(part).__name__}")
        merged.update({k: v for k, v in part.items() if v is not None})
    unknown = set(merged) - {"scope", "top_k", "threshold"}
    if unknown:
        raise UsageError(f"unknown retrieval settings {sorted(unknown)}; known: scope, top_k, threshold")
    out: dict[str, Any] = {}
    if "scope" in merged:
        if merged["scope"] not in SCOPES:
            raise UsageError(f"retrieval scope must be one of {SCOPES}, got {merged['scope']!r}")
        out["scope"] = merged["scope"]
    if "top_k" in merged:
        k = merged["top_k"]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
            raise UsageError(f"retrieval top_k must be an integer in 1..100, got {k!r}")
        out["top_k"] = k
    if "threshold" in merged:
        t = merged["threshold"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not -1.0 <= float(t) <= 1.0:
            raise UsageError(f"retrieval threshold is a cosine in [-1, 1], got {t!r}")
        out["task_threshold"] = float(t)
    return out
