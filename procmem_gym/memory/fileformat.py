"""The memory file: one JSON document, validated on the way in, written atomically.

The format (docs/design.md#the-memory-file)::

    {"format": "procmem-gym/memory", "version": 1,
     "meta": {"created": ..., "env_id": ..., "agent": ..., "embedder": ..., "clock": ..., "iteration": ...},
     "skills": [...skill dicts...],
     "events": [{"t", "iteration", "kind": "add|update|reject|prune|merge", "skill", "detail"}, ...]}

A file that does not parse, has another format or version, or holds an invalid skill raises
:class:`MemoryFormatError` naming the file and the problem; a load never writes the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procmem_gym.errors import ProcMemError
from procmem_gym.files.reading import MAX_DEPTH, InputFileError, check_json, excerpt, read_bytes
from procmem_gym.memory.embedding import Embedder, make_embedder, minilm_available
from procmem_gym.memory.events import Event
from procmem_gym.skills.patterns import PatternError, PatternIndex
from procmem_gym.skills.skill import Skill, SkillError

__all__ = ["FORMAT", "VERSION", "MemoryFormatError", "MemoryDocument", "read_document", "parse_document"]

FORMAT = "procmem-gym/memory"
VERSION = 1
#: Keys of ``meta`` that the store owns (written from its state, not copied from the file's meta).
STATE_KEYS = ("clock", "iteration", "embedder", "retriever", "history")


class MemoryFormatError(ProcMemError, ValueError):
    """A memory file that cannot be loaded; the message names the file and the problem."""


@dataclass
class MemoryDocument:
    """A validated memory file: what :class:`~procmem_gym.memory.ProceduralMemory` is built from."""

    meta: dict[str, Any] = field(default_factory=dict)
    skills: list[Skill] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    clock: int = 0
    iteration: int = 0
    embedder: Embedder | None = None  # None: the file's embedder is not available here


#: The largest memory file read (100,000 skills with long texts fit well below it).
MEMORY_FILE_LIMIT = 1 << 30


def read_document(path: str | os.PathLike) -> Any:
    """Return the parsed JSON of a memory file; raise :class:`MemoryFormatError` naming it when it cannot.

    The file must be a regular file of at most :data:`MEMORY_FILE_LIMIT` bytes, UTF-8 JSON nested
    at most :data:`~procmem_gym.files.reading.MAX_DEPTH` levels, whose strings UTF-8 can encode.
    """
    path = Path(path)
    try:
        raw = read_bytes(path, MEMORY_FILE_LIMIT, "memory file")
    except InputFileError as err:
        raise MemoryFormatError(str(err)) from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # ValueError: JSON, or a 4,300+ digit number
        reason = "nested too deeply" if isinstance(err, RecursionError) else excerpt(str(err), 160)
        raise MemoryFormatError(f"{path}: not a JSON memory file ({reason}); the file was left as it is") from None
    bad = check_json(raw, doc)
    if bad is not None and bad.kind == "depth":
        raise MemoryFormatError(f"{path}: nested more than {MAX_DEPTH} levels deep; not a memory file")
    if bad is not None:
        raise MemoryFormatError(f"{path}: {bad} cannot be saved as UTF-8; the file was left as it is")
    return doc


def parse_document(doc: Any, source: str = "<memory>") -> MemoryDocument:
    """Return the validated content of a memory document; raise :class:`MemoryFormatError` naming ``source``."""
    if not isinstance(doc, dict):
        raise MemoryFormatError(f"{source}: a memory file is a JSON object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise MemoryFormatError(f"{source}: format is {doc.get('format')!r}, expected {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise MemoryFormatError(
            f"{source}: version {doc.get('version')!r} is not supported (this procmem-gym reads {VERSION})"
        )
    meta, skills, events = doc.get("meta", {}), doc.get("skills"), doc.get("events", [])
    if not isinstance(meta, dict) or not isinstance(skills, list) or not isinstance(events, list):
        raise MemoryFormatError(f"{source}: 'meta' must be an object and 'skills', 'events' lists")
    out = MemoryDocument(meta={k: v for k, v in meta.items() if k not in STATE_KEYS})
    if isinstance(meta.get("embedder"), str):
        out.embedder = _embedder_or_none(meta["embedder"])
    history = meta.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise MemoryFormatError(f"{source}: meta.history must be a list of objects")
    out.history = list(history)
    out.clock = _nonneg_int(meta.get("clock", 0), source, "meta.clock")
    out.iteration = _nonneg_int(meta.get("iteration", 0), source, "meta.iteration")
    seen: set[str] = set()
    patterns = PatternIndex()  # every pattern of the file, checked by RE2 at once
    for n, data in enumerate(skills):
        try:
            skill = Skill.from_dict(data, check_patterns=False)
        except SkillError as err:
            name = data.get("name") if isinstance(data, dict) else None
            raise MemoryFormatError(f"{source}: skill {n}{f' ({excerpt(name, 60)})' if name else ''}: {err}") from None
        if skill.id in seen:
            raise MemoryFormatError(f"{source}: skill {n}: duplicate id {skill.id}")
        seen.add(skill.id)
        patterns.add((n, "activation"), skill.activation.patterns)
        patterns.add((n, "termination"), skill.termination.patterns)
        out.skills.append(skill)
    try:
        patterns.build()
    except PatternError as err:
        n, where = patterns.owner_of(err.pattern)
        raise MemoryFormatError(
            f"{source}: skill {n} ({excerpt(out.skills[n].name, 60)}): {where}.patterns: {err}"
        ) from None
    for n, e in enumerate(events):
        try:
            out.events.append(Event.from_dict(e))
        except ValueError:
            raise MemoryFormatError(f"{source}: event {n} is not an event object with a known kind") from None
    return out


def _embedder_or_none(name: str) -> Embedder | None:
    """Return the embedder a file names, or None when it is unknown or not installed here (vectors are recomputed)."""
    try:
        embedder = make_embedder(name)
    except ValueError:
        return None
    if name in ("minilm", "all-MiniLM-L6-v2") and not minilm_available():
        return None
    return embedder


def _nonneg_int(value: Any, source: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MemoryFormatError(f"{source}: {name} must be a non-negative integer, got {value!r}")
    return value
