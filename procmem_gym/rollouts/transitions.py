"""The transition log: one JSON object a line, written by the wrapper, read by learners and the CLI.

Two kinds of line (docs/design.md#the-transition-log): a transition ``{"episode", "t", "observation",
"action", "action_source", "reward", "terminated", "truncated", "skill", "skill_event",
"info"}`` and, after the last transition of an episode, an episode line ``{"episode", "return",
"length", "success", "skills_used"}``. An episode's lines are written together and flushed, so a
process that is killed leaves whole episodes and at most one torn last line, which
:func:`read_log` drops (and :func:`repair_log` cuts off before a resumed run appends).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from procmem_gym.errors import ProcMemError
from procmem_gym.files.folders import make_folder
from procmem_gym.files.reading import excerpt, loads_strict, open_bounded

__all__ = [
    "Transition",
    "EpisodeRecord",
    "parse_line",
    "Episode",
    "TransitionLog",
    "LogFormatError",
    "read_log",
    "repair_log",
    "loggable_info",
    "group_episodes",
]

#: Longest string kept from an info value; longer ones are cut (logs must stay readable).
MAX_INFO_TEXT = 2000
#: Longest list kept from an info value (e.g. ALFWorld's admissible commands).
MAX_INFO_LIST = 256


#: The largest transition log read back (a log is streamed line by line; this bounds a hostile file).
MAX_LOG_BYTES = 64 << 30


class LogFormatError(ProcMemError, ValueError):
    """A transition log line that is not what the format says; the message names the file and line."""


@dataclass(frozen=True)
class Transition:
    """One step: the observation acted on, the action, and what the env answered."""

    episode: int
    t: int
    observation: str
    action: str
    action_source: str = "policy"
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    skill: str | None = None
    skill_event: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict of this transition."""
        return {
            "episode": self.episode,
            "t": self.t,
            "observation": self.observation,
            "action": self.action,
            "action_source": self.action_source,
            "reward": self.reward,
            "terminated": self.terminated,
            "truncated": self.truncated,
            "skill": self.skill,
            "skill_event": self.skill_event,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        """Return the transition a log line describes; ``ValueError`` names a field of the wrong type."""
        info = data.get("info", {})
        if not isinstance(info, dict):
            raise ValueError(f"field 'info' must be an object, got {type(info).__name__}")
        return cls(
            episode=_int(data, "episode"),
            t=_int(data, "t"),
            observation=_str(data, "observation"),
            action=_str(data, "action"),
            action_source=_str(data, "action_source", "policy"),
            reward=_number(data, "reward", 0.0),
            terminated=_bool(data, "terminated", False),
            truncated=_bool(data, "truncated", False),
            skill=_str(data, "skill", None),
            skill_event=_str(data, "skill_event", None),
            info=info,
        )


_MISSING = object()


def _field(data: dict[str, Any], key: str, default: Any) -> Any:
    value = data.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise ValueError(f"field {key!r} is missing")
        return default
    return value


def _int(data: dict[str, Any], key: str, default: Any = _MISSING) -> int:
    value = _field(data, key, default)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**62:
        raise ValueError(f"field {key!r} must be an integer, got {excerpt(value, 40)}")
    return value


def _number(data: dict[str, Any], key: str, default: Any = _MISSING) -> float:
    value = _field(data, key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"field {key!r} must be a finite number, got {excerpt(value, 40)}")
    return float(value)


def _bool(data: dict[str, Any], key: str, default: Any = _MISSING) -> bool:
    value = _field(data, key, default)
    if not isinstance(value, bool) and value not in (0, 1):
        raise ValueError(f"field {key!r} must be true or false, got {excerpt(value, 40)}")
    return bool(value)


def _str(data: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    value = _field(data, key, default)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field {key!r} must be text, got {excerpt(value, 40)}")
    return value


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode: return, length, success and the skills it used."""

    episode: int
    return_: float
    length: int
    success: bool
    skills_used: tuple[str, ...] = ()
    skill_steps: int = 0
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict (the key is ``return``, a Python keyword)."""
        return {
            "episode": self.episode,
            "return": self.return_,
            "length": self.length,
            "success": self.success,
            "skills_used": list(self.skills_used),
            "skill_steps": self.skill_steps,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeRecord:
        """Return the record an episode line describes."""
        skills = data.get("skills_used", [])
        if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
            raise ValueError(f"field 'skills_used' must be a list of skill ids, got {excerpt(skills, 40)}")
        seed = data.get("seed")
        return cls(
            episode=_int(data, "episode"),
            return_=_number(data, "return"),
            length=_int(data, "length"),
            success=_bool(data, "success"),
            skills_used=tuple(skills),
            skill_steps=_int(data, "skill_steps", 0),
            seed=None if seed is None else _int(data, "seed"),
        )


@dataclass(frozen=True)
class Episode:
    """One finished episode: its transitions in order and its record."""

    record: EpisodeRecord
    transitions: tuple[Transition, ...]

    @property
    def return_(self) -> float:
        """Return the episode's return."""
        return self.record.return_


def group_episodes(items: Iterable[Transition | EpisodeRecord]) -> list[Episode]:
    """Return the finished episodes of a log's items (transitions of unfinished episodes are dropped)."""
    pending: dict[int, list[Transition]] = {}
    episodes = []
    for item in items:
        if isinstance(item, Transition):
            pending.setdefault(item.episode, []).append(item)
        else:
            steps = sorted(pending.pop(item.episode, []), key=lambda t: t.t)
            episodes.append(Episode(item, tuple(steps)))
    return episodes


def _plain(value: Any) -> Any:
    """Return ``value`` as a JSON-ready scalar, or raise TypeError when it is not one."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_INFO_TEXT else value[:MAX_INFO_TEXT] + "..."
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def _flat(value: Any) -> Any:
    """Return a scalar, or a short list or dict of scalars, JSON-ready; raise TypeError otherwise."""
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) <= MAX_INFO_LIST:
        return [_plain(v) for v in value]
    if isinstance(value, dict) and len(value) <= MAX_INFO_LIST:
        return {str(k): _plain_or_list(v) for k, v in value.items()}
    return _plain(value)


def _plain_or_list(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) <= MAX_INFO_LIST:
        return [_plain(v) for v in value]
    return _plain(value)


def loggable_info(info: dict[str, Any], exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Return the part of ``info`` worth logging: scalars, short strings, and short lists of them or of flat records.

    A list of flat records (a Mastermind game's ``history``: guesses with their pegs) is kept so
    that a logged state can be replayed to an agent that reads it (a teacher); deeper structures
    are left out. Runs leave ``history`` and ``procmem`` out by default (``log_info_exclude``):
    they repeat what earlier lines hold or are logged in their own fields.
    """
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key in exclude or key.startswith("_"):
            continue
        try:
            if isinstance(value, (list, tuple)) and len(value) <= MAX_INFO_LIST:
                out[key] = [_flat(v) for v in value]
            else:
                out[key] = _plain(value)
        except TypeError:
            continue
    return out


#: Characters of an action the log keeps (an env sees the whole action; the log a bounded excerpt).
MAX_LOGGED_ACTION = 4096


def loggable_action(text: str) -> str:
    """Return an action as the log keeps it: at most :data:`MAX_LOGGED_ACTION` characters, always valid UTF-8."""
    if len(text) > MAX_LOGGED_ACTION:
        text = f"{text[: MAX_LOGGED_ACTION - 40]}... ({len(text):,} characters)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _line(data: dict[str, Any]) -> str:
    line = json.dumps(data, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # text an env or policy passed through: kept, escaped, so the episode is not lost
        line = json.dumps(data, ensure_ascii=True)
    return line


class TransitionLog:
    """Append-only JSONL writer; ``write_episode`` writes an episode's lines in one flushed write."""

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path = Path(path)
        make_folder(self.path.parent)
        if append:
            repair_log(self.path)
        self._file = open(self.path, "a" if append else "w", encoding="utf-8")

    def write_episode(self, transitions: list[Transition], record: EpisodeRecord | None) -> None:
        """Write the transitions of one episode and its episode line (None: unfinished), then flush.

        Flushing hands the lines to the OS, so a killed process loses nothing it finished; the
        file is fsynced on ``close`` (an fsync per episode would cost more than the env step).
        """
        lines = [_line(tr.to_dict()) for tr in transitions]
        if record is not None:
            lines.append(_line(record.to_dict()))
        if not lines:
            return
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    @property
    def closed(self) -> bool:
        """Return whether the file is closed."""
        return self._file.closed

    def close(self) -> None:
        """Flush, fsync and close the file (idempotent)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> TransitionLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def parse_line(raw: bytes) -> Transition | EpisodeRecord:
    """Return the record one log line holds; ``ValueError`` says what is wrong (JSON, a field, its type).

    JSON decoding and UTF-8 errors are ``ValueError`` too, so one ``except`` covers every bad line.
    """
    data = loads_strict(raw)
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    return EpisodeRecord.from_dict(data) if "return" in data else Transition.from_dict(data)


def read_log(path: str | os.PathLike) -> Iterator[Transition | EpisodeRecord]:
    """Yield the transitions and episode records of a log, in order.

    A torn last line (a run killed while writing) is skipped; any other malformed line raises
    :class:`LogFormatError` naming the file and the line number.
    """
    path = Path(path)
    with open_bounded(path, MAX_LOG_BYTES, "transition log") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                record = parse_line(raw)
            except ValueError as err:
                if not raw.endswith(b"\n"):  # the last line, cut off while it was written
                    return
                raise LogFormatError(f"{path}:{number}: not a transition-log line ({str(err)[:200]})") from None
            yield record


def repair_log(path: str | os.PathLike) -> int:
    """Cut a log back to its last complete episode so a resumed run can append; return episodes kept."""
    path = Path(path)
    if not os.path.lexists(path):
        return 0
    keep, episodes = 0, 0
    with open_bounded(path, MAX_LOG_BYTES, "transition log") as f:
        offset, size = 0, os.fstat(f.fileno()).st_size
        for number, raw in enumerate(f, 1):
            offset += len(raw)
            if not raw.endswith(b"\n"):
                break
            try:
                record = parse_line(raw)
            except ValueError as err:
                raise LogFormatError(
                    f"{path}:{number}: corrupt line at byte {offset - len(raw)} ({str(err)[:200]}); "
                    "the log was left as it is"
                ) from None
            if isinstance(record, EpisodeRecord):
                keep, episodes = offset, episodes + 1
    if keep != size:
        with open_bounded(path, MAX_LOG_BYTES, "transition log", mode="r+b") as f:
            f.truncate(keep)
    return episodes
