"""ProceduralMemory: the store of skills, with activation, retrieval, scoring, maintenance and the evolution record.

The store owns the skills and their events; :mod:`procmem_gym.memory.maintenance` keeps their
stats and scores and prunes and merges them; :mod:`procmem_gym.memory.activation` decides which
skills' activation holds, :mod:`procmem_gym.memory.fileformat` reads and validates files, and
:mod:`procmem_gym.memory.events` types the evolution record.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from procmem_gym.errors import UsageError
from procmem_gym.files.atomic import write_text_atomic
from procmem_gym.memory.activation import ActivationIndex
from procmem_gym.memory.embedding import Embedder, make_embedder
from procmem_gym.memory.events import EVENT_KINDS, Event, now
from procmem_gym.memory.fileformat import FORMAT, VERSION, parse_document, read_document
from procmem_gym.memory.maintenance import MaintenanceReport, SkillMaintenance
from procmem_gym.memory.retrieval import Retriever, VectorIndex, make_retriever
from procmem_gym.memory.vectors import TextVectors, sidecar_path
from procmem_gym.skills.scoring import ScoreConfig
from procmem_gym.skills.skill import Skill

__all__ = ["ProceduralMemory", "MaintenanceReport", "count_tokens"]

DEFAULT_SCORE = ScoreConfig()
_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Return the number of word and punctuation tokens in ``text`` (a tokenizer-free token count)."""
    return len(_TOKEN.findall(text))


class ProceduralMemory(SkillMaintenance):
    """A store of skills with activation matching, retrieval, scoring and an evolution record.

    >>> memory = ProceduralMemory(embedder="hashing")
    >>> skill = memory.add(Skill.create("open", "no guess yet", "Guess [1 2 3 4].",
    ...                                 patterns=["^You are playing Mastermind"], steps=["[1 2 3 4]"], max_steps=1))
    >>> [s.name for s, _ in memory.retrieve("how to open a game", k=1)]
    ['open']
    >>> memory.activation_candidates("You are playing Mastermind.")[0][0] == skill.id
    True
    """

    def __init__(
        self,
        retriever: str = "embedding",
        embedder: Embedder | str | None = None,
        capacity: int | None = None,
        *,
        activation_threshold: float = 0.5,
        merge_threshold: float = 0.95,
        score_config: ScoreConfig = DEFAULT_SCORE,
        seed: int | None = 0,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if capacity is not None and capacity < 1:
            raise UsageError(f"capacity must be at least 1 or None, got {capacity}")
        self.embedder = make_embedder(embedder) if embedder is None or isinstance(embedder, str) else embedder
        self.retriever_name = retriever
        #: Every text the memory embeds, once; kept beside the memory file (see :mod:`procmem_gym.memory.vectors`).
        self.vectors = TextVectors(self.embedder)
        self.retriever: Retriever = make_retriever(retriever, self.vectors, seed)
        self.capacity = capacity
        self.merge_threshold = merge_threshold
        self.score_config = score_config
        self.meta: dict[str, Any] = {"created": now(), "env_id": None, "agent": None}
        self.meta.update(meta or {})
        self.events: list[Event] = []
        self.iteration = 0
        self.clock = 0  # episodes recorded; drives recency
        #: One entry per maintain(): iteration, skills, mean score (the evolution plot reads it).
        self.history: list[dict[str, Any]] = []
        self._skills: dict[str, Skill] = {}
        self._version = 0
        self._activation = ActivationIndex(self.vectors, activation_threshold)
        self._retriever_version = -1
        self._text_vectors = VectorIndex(self.vectors)
        self._dirty: set[str] = set()  # added or changed since the last maintain()
        #: The file this memory was last loaded from or saved to (None: never).
        self.path: Path | None = None

    # ------------------------------------------------------------------ collection
    def __len__(self) -> int:
        return len(self._skills)

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self._skills

    def __iter__(self) -> Iterator[Skill]:
        return iter(list(self._skills.values()))

    @property
    def skills(self) -> list[Skill]:
        """Return the skills in insertion order."""
        return list(self._skills.values())

    def get(self, skill_id: str) -> Skill:
        """Return the skill with this id; ``KeyError`` names the id when there is none."""
        try:
            return self._skills[skill_id]
        except KeyError:
            raise KeyError(f"no skill {skill_id!r} in memory") from None

    def find(self, skill_id: str) -> Skill | None:
        """Return the skill with this id, or None."""
        return self._skills.get(skill_id)

    def add(self, skill: Skill, detail: Any = None) -> Skill:
        """Add a skill (its recency clock starts now) and record an ``add`` event."""
        if skill.id in self._skills:
            raise UsageError(f"skill {skill.id} is already in memory; use update() to change it")
        if skill.stats.last_used < 0:
            skill = skill.with_(stats=replace(skill.stats, last_used=self.clock))
        self._skills[skill.id] = skill
        self._changed(skill.id)
        self.record(
            "add", skill.id, detail if detail is not None else {"name": skill.name, "method": skill.lineage.method}
        )
        return skill

    def update(self, skill_id: str, new: Skill | None = None, detail: Any = None, **changes: Any) -> Skill:
        """Replace a skill by a new version under the same id (version + 1, stats kept) and record it."""
        old = self.get(skill_id)
        base = new if new is not None else old.with_(**changes)
        lineage = replace(
            base.lineage,
            parent=old.lineage.parent if base.lineage.parent in (None, skill_id) else base.lineage.parent,
            version=old.lineage.version + 1,
            env=base.lineage.env or old.lineage.env,
            agent=base.lineage.agent or old.lineage.agent,
        )
        updated = base.with_(id=skill_id, lineage=lineage, stats=old.stats if new is not None else base.stats)
        self._skills[skill_id] = updated
        self._changed(skill_id)
        self.record("update", skill_id, detail if detail is not None else {"version": lineage.version})
        return updated

    def remove(self, skill_id: str, kind: str = "prune", detail: Any = None) -> Skill:
        """Remove a skill and record why (``prune`` by default, or ``merge``)."""
        skill = self.get(skill_id)
        del self._skills[skill_id]
        self._dirty.discard(skill_id)
        self._version += 1
        self.record(kind, skill_id, detail if detail is not None else {"name": skill.name})
        return skill

    def record(self, kind: str, skill_id: str | None, detail: Any = None) -> Event:
        """Append an event to the evolution record (learners record ``reject`` this way) and return it."""
        if kind not in EVENT_KINDS:
            raise UsageError(f"event kind must be one of {EVENT_KINDS}, got {kind!r}")
        event = Event(now(), self.iteration, kind, skill_id, detail)
        self.events.append(event)
        return event

    def _changed(self, skill_id: str) -> None:
        self._dirty.add(skill_id)
        self._version += 1

    # ------------------------------------------------------------------ activation
    @property
    def activation_threshold(self) -> float:
        """Return the cosine at or above which a skill without patterns is activated by embedding."""
        return self._activation.threshold

    @activation_threshold.setter
    def activation_threshold(self, value: float) -> None:
        self._activation.threshold = value

    def activation_candidates(self, text: str, k: int = 5, patterns_only: bool = False) -> list[tuple[str, float]]:
        """Return skills whose activation holds for ``text``, best first, as ``(id, score)``.

        Patterns decide first (score 1 + skill score, so ties go to the better skill); skills
        without patterns follow by the cosine of their activation text with ``text``, kept at or
        above :attr:`activation_threshold` (not with ``patterns_only``).
        """
        self._refresh_activation()
        return self._activation.candidates(self._skills, text, k, patterns_only)

    def task_memories(
        self, task: str, k: int = 10, threshold: float = 0.75, exclude_sources: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """Return MemP's retrieval for a task: up to ``k`` skills keyed by a task like ``task``, as ``(id, cosine)``.

        Skills without activation patterns are keyed by their activation text. MemP keeps those
        within squared L2 distance 0.5 of the query's unit embedding, that is cosine
        ``threshold = 0.75``. Skills built from one of ``exclude_sources`` are never returned.
        """
        self._refresh_activation()
        return self._activation.by_text(self._skills, task, k, threshold, frozenset(exclude_sources))

    def needs_embedding(self) -> bool:
        """Return whether activation checks embed the observation (some skill has no patterns)."""
        self._refresh_activation()
        return bool(self._activation.text_only)

    def _refresh_activation(self) -> None:
        """Bring the activation index up to date with the skills (nothing to do when it is current)."""
        if self._activation._version != self._version:
            with _collector_paused():
                self._activation.refresh(self._skills, self._version)

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, query: str, k: int = 5) -> list[tuple[Skill, float]]:
        """Return the ``k`` skills the retriever finds most relevant to ``query``, with scores."""
        if self._retriever_version != self._version:
            with _collector_paused():  # 100,000 texts: the collector would walk every new object
                self.retriever.fit([(s.id, s.text) for s in self._skills.values()])
            self._retriever_version = self._version
        return [(self._skills[i], s) for i, s in self.retriever.search(query, k)]

    def stats(self) -> dict[str, Any]:
        """Return counts for tables and summaries: skills, tokens of memory text, uses, events by kind."""
        kinds = {k: 0 for k in EVENT_KINDS}
        for e in self.events:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        return {
            "skills": len(self._skills),
            "tokens": self.tokens(),
            "episodes_recorded": self.clock,
            "activations": sum(s.stats.activations for s in self._skills.values()),
            "events": kinds,
        }

    def tokens(self) -> int:
        """Return the tokens of memory text (what a prompt carrying every skill would hold)."""
        return sum(count_tokens(s.text) for s in self._skills.values())

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """Return the file document."""
        meta = dict(self.meta)
        meta.update(
            embedder=self.embedder.name,
            retriever=self.retriever_name,
            clock=self.clock,
            iteration=self.iteration,
            history=self.history,
        )
        return {
            "format": FORMAT,
            "version": VERSION,
            "meta": meta,
            "skills": [s.to_dict() for s in self._skills.values()],
            "events": [e.to_dict() for e in self.events],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the memory atomically (temp file, fsync, rename): the old or the new file, never half.

        The vectors of its texts computed so far go beside it (``<file>.vectors.npz``), so a later
        load does not embed them again.
        """
        write_text_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")
        self.path = Path(path).absolute()
        if len(self.vectors):
            texts = [t for s in self._skills.values() for t in (s.activation.text, s.text)]
            self.vectors.keep_only(texts)
            self.vectors.save(sidecar_path(path), texts)

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs: Any) -> ProceduralMemory:
        """Read a memory file; raise :class:`MemoryFormatError` naming the file and the problem."""
        with _collector_paused():  # the parse makes millions of objects and no cycles: each GC pass is waste
            memory = cls.from_dict(read_document(path), source=str(path), **kwargs)
        memory.path = Path(path).absolute()
        vectors = sidecar_path(path)
        if vectors.is_file():
            memory.vectors.load(vectors)
        return memory

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<memory>", **kwargs: Any) -> ProceduralMemory:
        """Return the memory a file document describes (validated like :meth:`load`)."""
        parsed = parse_document(doc, source)
        if "embedder" not in kwargs and parsed.embedder is not None:
            kwargs["embedder"] = parsed.embedder
        memory = cls(**kwargs)
        memory.meta.update(parsed.meta)
        memory.history = parsed.history
        memory.clock = parsed.clock
        memory.iteration = parsed.iteration
        memory._skills = {s.id: s for s in parsed.skills}
        memory.events = parsed.events
        memory._version += 1
        return memory


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a block (large loads take half the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
