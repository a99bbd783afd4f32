"""The memory's evolution record: one typed event per decision about a skill.

Every addition, new version, rejected candidate, pruning and merge is an :class:`Event`; the
memory file keeps them in order (docs/design.md#the-memory-file), and plots, reports and ``memory show``
read them. An event reads like the dict it is stored as (``event["kind"]``), so code written
against the file format works on the objects too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "EVENT_KINDS", "now"]

EVENT_KINDS = ("add", "update", "reject", "prune", "merge")
_FIELDS = ("t", "iteration", "kind", "skill", "detail")


def now() -> str:
    """Return the current UTC time as the file format writes it (``2026-01-31T12:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class Event:
    """One decision about a skill: when, in which iteration, what kind, which skill, and why.

    >>> e = Event("2026-01-01T00:00:00Z", 0, "add", "sk-1", {"name": "open"})
    >>> e["kind"], Event.from_dict(e.to_dict()) == e
    ('add', True)
    """

    t: str
    iteration: int
    kind: str
    skill: str | None
    detail: Any = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the dict stored in memory files and reports."""
        return {"t": self.t, "iteration": self.iteration, "kind": self.kind, "skill": self.skill, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Return the event a file's dict describes (``ValueError`` when it is not one)."""
        if not isinstance(data, dict):
            raise ValueError("an event is an object")
        return cls(data.get("t", ""), data.get("iteration", 0), data.get("kind"), data.get("skill"), data.get("detail"))

    def __getitem__(self, key: str) -> Any:
        """Return a field by its file-format key, as on the stored dict."""
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a field by its key, or ``default`` for a key events do not have."""
        return getattr(self, key) if key in _FIELDS else default
