"""Which skills' activation condition holds for an observation (docs/design.md#activation).

Conditions are checked in order of cost: regex patterns first (every skill's patterns in RE2
sets, one pass over the text), then, for skills that have no patterns, the cosine of their
activation text with the observation (one matrix product over all of them). The index is
derived data: the store rebuilds it lazily after a change, embedding only texts it has not
embedded before.
"""

from __future__ import annotations

from collections.abc import Mapping

from procmem_gym.memory.embedding import Embedder
from procmem_gym.memory.retrieval import VectorIndex
from procmem_gym.memory.vectors import TextVectors
from procmem_gym.skills.patterns import PatternIndex
from procmem_gym.skills.skill import Skill

__all__ = ["ActivationIndex"]


class ActivationIndex:
    """Pattern sets and activation-text vectors of a memory's skills, rebuilt when the memory changes."""

    def __init__(self, embedder: Embedder | TextVectors, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.vectors = VectorIndex(embedder)
        self.patterns = PatternIndex()
        self.text_only: list[str] = []  # skills decided by embedding (no patterns)
        self._version = -1

    def refresh(self, skills: Mapping[str, Skill], version: int) -> None:
        """Rebuild the index for the skills at a store ``version`` (nothing to do when it is current)."""
        if version == self._version:
            return
        patterns, text_only = PatternIndex(), []
        for s in skills.values():
            if s.activation.patterns:
                patterns.add(s.id, s.activation.patterns)
            else:
                text_only.append(s.id)
        self.vectors.fit([(i, skills[i].activation.text) for i in text_only])
        self.patterns, self.text_only, self._version = patterns, text_only, version

    def by_text(
        self, skills: Mapping[str, Skill], query: str, k: int, threshold: float, exclude: frozenset[str] = frozenset()
    ) -> list[tuple[str, float]]:
        """Return up to ``k`` ``(id, cosine)`` of skills without patterns whose activation text is like ``query``.

        Only cosines at or above ``threshold`` count; a skill built from one of ``exclude`` (its
        ``lineage.sources``) is never returned. Ties go to the better skill.
        """
        if not self.text_only or k <= 0:
            return []
        index = self.vectors
        wanted = k
        while True:
            rows, sims = index.search(index.vector(query), wanted + 8, threshold)
            ranked = sorted(
                zip(rows.tolist(), sims.tolist(), strict=False),
                key=lambda p: (-round(p[1], 6), -skills[index.ids[p[0]]].score, p[0]),
            )
            out = [
                (index.ids[i], float(s))
                for i, s in ranked
                if not (exclude and exclude.intersection(skills[index.ids[i]].lineage.sources))
            ]
            if len(out) >= k or len(rows) < wanted + 8:
                return out[:k]
            wanted *= 4  # excluded skills took places: look further

    def candidates(
        self, skills: Mapping[str, Skill], text: str, k: int, patterns_only: bool = False
    ) -> list[tuple[str, float]]:
        """Return up to ``k`` ``(id, score)`` of skills whose activation holds for ``text``, best first.

        Skills with a matching pattern come first (score 1 + skill score, so ties go to the better
        skill); skills without patterns follow by cosine, kept at or above ``threshold`` (unless
        ``patterns_only``).
        """
        matched = self.patterns.match(text) if len(self.patterns) else set()
        out = sorted(((i, 1.0 + skills[i].score) for i in matched), key=lambda p: (-p[1], p[0]))[:k]
        if len(out) < k and self.text_only and not patterns_only:
            index = self.vectors
            rows, sims = index.search(index.vector(text), k - len(out) + 8, self.threshold)
            # by similarity, then by skill score
            ranked = sorted(
                zip(rows.tolist(), sims.tolist(), strict=False),
                key=lambda p: (-round(p[1], 6), -skills[index.ids[p[0]]].score, p[0]),
            )
            out += [(index.ids[i], float(s)) for i, s in ranked[: k - len(out)]]
        return out
