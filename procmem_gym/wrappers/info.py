"""ProcmemInfo: what the memory wrapper says about each observation, as a typed record.

The wrapper puts ``ProcmemInfo.to_dict()`` into ``info["procmem"]`` (a fresh dict on every
call, so a caller may keep and edit it); docs/design.md#the-infoprocmem-record lists the keys.
``ProcmemInfo.from_dict(info["procmem"])`` reads one back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProcmemInfo", "KEY"]

#: The ``info`` key the wrapper writes; an env whose own info holds it cannot be wrapped.
KEY = "procmem"


@dataclass(frozen=True)
class ProcmemInfo:
    """The active skill, its guidance and next action, the activation candidates, episode memories, the constraint.

    Attributes:
        active_skill: id of the active skill, or None.
        guidance: the active skill's guidance with its slots filled, or None.
        next_action: the active skill's next action (its step template filled), or None.
        candidates: ``(skill id, score)`` of the skills whose activation held, best first.
        skill_name: the active skill's name (only with an active skill).
        memories: episode-scope retrieval (MemP): ``{"id", "name", "guidance", "similarity"}``
            of the task's memories, kept for the whole episode; None when retrieval is per step.
        constraint: the active skill's constraint bound to this observation
            (:class:`~procmem_gym.skills.constraint.BoundConstraint`), or None.

    >>> info = ProcmemInfo(candidates=(("sk-1", 0.9),))
    >>> info.to_dict()
    {'active_skill': None, 'guidance': None, 'next_action': None, 'candidates': [('sk-1', 0.9)]}
    >>> ProcmemInfo.from_dict(info.to_dict()) == info
    True
    """

    active_skill: str | None = None
    guidance: str | None = None
    next_action: str | None = None
    candidates: tuple[tuple[str, float], ...] = ()
    skill_name: str | None = None
    memories: tuple[Mapping[str, Any], ...] | None = None
    constraint: Any = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``info["procmem"]`` dict: fresh containers, optional keys only when they apply."""
        out: dict[str, Any] = {"active_skill": self.active_skill}
        if self.active_skill is not None:
            out["skill_name"] = self.skill_name
        out["guidance"] = self.guidance
        out["next_action"] = self.next_action
        out["candidates"] = list(self.candidates)
        if self.memories is not None:
            out["memories"] = [dict(m) for m in self.memories]
        if self.constraint is not None:
            out["constraint"] = self.constraint
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcmemInfo:
        """Return the record an ``info["procmem"]`` dict holds."""
        memories = data.get("memories")
        return cls(
            active_skill=data.get("active_skill"),
            guidance=data.get("guidance"),
            next_action=data.get("next_action"),
            candidates=tuple((str(c[0]), float(c[1])) for c in data.get("candidates") or ()),
            skill_name=data.get("skill_name"),
            memories=None if memories is None else tuple(dict(m) for m in memories),
            constraint=data.get("constraint"),
        )
