"""Skill: one unit of procedural memory, an option of the Skill-MDP (activation, execution, termination).

Skills are plain, frozen data with ``to_dict`` / ``from_dict``. They come from files that are
shared, imported and written by models, so ``from_dict`` validates everything: types, text
lengths (one skill cannot blow up a prompt) and regex patterns, which must compile on RE2's
linear-time engine (no catastrophic backtracking).
"""

from __future__ import annotations

import hashlib
import json
import math
import string
from dataclasses import dataclass, field, replace
from typing import Any

from procmem_gym.errors import ProcMemError
from procmem_gym.skills.constraint import Constraint, ConstraintError
from procmem_gym.skills.patterns import PatternError, compile_pattern

__all__ = ["Skill", "Activation", "Execution", "Termination", "SkillStats", "Lineage", "SkillError", "LIMITS"]

#: Bounds on what one skill may hold.
LIMITS = {
    "name": 120,
    "text": 1_000,  # activation and termination conditions
    "guidance": 4_000,
    "steps": 64,  # number of action templates
    "step": 500,  # characters per template
    "patterns": 16,
    "pattern": 500,
    "max_steps": 1_000,
}

METHODS = ("manual", "npppo", "memp:trajectory", "memp:script", "memp:proceduralization", "import")


class SkillError(ProcMemError, ValueError):
    """A skill that breaks the format; the message says which field and why."""


def _text(value: Any, field_name: str, limit: int, required: bool = False) -> str:
    if type(value) is str and value.isascii():  # the common case, checked in C: ASCII holds no surrogate
        value = value.strip()
        if len(value) <= limit and (value or not required):
            return value
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise SkillError(f"{field_name} must be a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise SkillError(f"{field_name} is {len(value)} characters long, at most {limit} allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SkillError(f"{field_name} holds text UTF-8 cannot encode (an unpaired surrogate)") from None
    if required and not value:
        raise SkillError(f"{field_name} must not be empty")
    return value


def _patterns(value: Any, field_name: str, compile: bool = True) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SkillError(f"{field_name} must be a list of regex strings")
    if len(value) > LIMITS["patterns"]:
        raise SkillError(f"{field_name} has {len(value)} patterns, at most {LIMITS['patterns']} allowed")
    out = []
    for p in value:
        p = _text(p, field_name, LIMITS["pattern"], required=True)
        if compile:
            try:
                compile_pattern(p)
            except PatternError as err:
                raise SkillError(f"{field_name}: {err}") from err
        out.append(p)
    return tuple(out)


def _int(value: Any, field_name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SkillError(f"{field_name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        raise SkillError(f"{field_name} must be in [{low}, {high}], got {value}")
    return value


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SkillError(f"{field_name} must be a finite number, got {value!r}")
    return float(value)


def _mapping(value: Any, field_name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SkillError(f"{field_name} must be an object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Activation:
    """When a skill applies: a natural-language condition and/or regexes over the observation."""

    text: str = ""
    patterns: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, check_patterns: bool = True) -> Activation:
        """Return the activation a dict describes (``text`` and/or ``patterns`` required)."""
        data = _mapping(data, "activation")
        act = cls(
            _text(data.get("text"), "activation.text", LIMITS["text"]),
            _patterns(data.get("patterns"), "activation.patterns", check_patterns),
        )
        if not act.text and not act.patterns:
            raise SkillError("activation needs a text or at least one pattern")
        return act


@dataclass(frozen=True)
class Execution:
    """What to do: guidance for the policy, action templates the wrapper can inject, a constraint.

    The ``constraint`` (:class:`~procmem_gym.skills.constraint.Constraint`) narrows the actions the
    policy may take; the policy still chooses among them.
    """

    guidance: str = ""
    steps: tuple[str, ...] = ()
    constraint: Constraint | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Execution:
        """Return the execution a dict describes."""
        data = _mapping(data, "execution")
        steps = data.get("steps") or ()
        if isinstance(steps, str) or not isinstance(steps, (list, tuple)):
            raise SkillError("execution.steps must be a list of action templates")
        if len(steps) > LIMITS["steps"]:
            raise SkillError(f"execution.steps has {len(steps)} templates, at most {LIMITS['steps']} allowed")
        steps = tuple(_text(s, "execution.steps", LIMITS["step"], required=True) for s in steps)
        for s in steps:
            slots(s)  # raises on a malformed template
        guidance = _text(data.get("guidance"), "execution.guidance", LIMITS["guidance"])
        constraint = None
        if data.get("constraint") is not None:
            try:
                constraint = Constraint.from_dict(data["constraint"])
            except ConstraintError as err:
                raise SkillError(str(err)) from None
        return cls(guidance, steps, constraint)

    def to_dict(self) -> dict[str, Any]:
        """Return the dict stored in memory files (``constraint`` only when there is one)."""
        out: dict[str, Any] = {"guidance": self.guidance, "steps": list(self.steps)}
        if self.constraint is not None:
            out["constraint"] = self.constraint.to_dict()
        return out


@dataclass(frozen=True)
class Termination:
    """When a skill is done: a condition, optional patterns, and a step budget."""

    text: str = ""
    patterns: tuple[str, ...] = ()
    max_steps: int = 10

    @classmethod
    def from_dict(cls, data: Any, check_patterns: bool = True) -> Termination:
        """Return the termination a dict describes."""
        data = _mapping(data, "termination")
        return cls(
            _text(data.get("text"), "termination.text", LIMITS["text"]),
            _patterns(data.get("patterns"), "termination.patterns", check_patterns),
            _int(data.get("max_steps", 10), "termination.max_steps", 1, LIMITS["max_steps"]),
        )


_STAT_INTS = {"activations": 0, "completions": 0, "episodes": 0, "successes": 0, "last_used": -1, "gain_n": 0}
_STAT_FLOATS = ("return_sum", "gain_sum", "gain_sq")


def _plain_stats(data: dict[str, Any]) -> bool:
    """Return whether stats are exactly what a memory file holds (known keys, ints in range, finite floats).

    The fast path of a memory load; anything else takes the checks that name the bad field.
    """
    for k, v in data.items():
        low = _STAT_INTS.get(k)
        if low is not None:
            if type(v) is not int or v < low:
                return False
        elif k in _STAT_FLOATS:
            if type(v) is not float or v != v or v in (math.inf, -math.inf):
                return False
        else:
            return False
    return True


@dataclass(frozen=True)
class SkillStats:
    """Usage counters, updated at the end of each episode that activated the skill."""

    activations: int = 0
    completions: int = 0
    episodes: int = 0
    successes: int = 0
    return_sum: float = 0.0
    last_used: int = -1  # the memory's episode clock when the skill was last used
    gain_sum: float = 0.0  # group-relative advantages of the episodes that used it (learners)
    gain_sq: float = 0.0
    gain_n: int = 0

    @property
    def success_rate(self) -> float:
        """Return successes / episodes (0 when unused)."""
        return self.successes / self.episodes if self.episodes else 0.0

    @classmethod
    def from_dict(cls, data: Any) -> SkillStats:
        """Return the stats a dict describes (missing counters are 0)."""
        data = _mapping(data, "stats")
        if _plain_stats(data):
            return cls(**data)
        ints = {
            k: _int(data.get(k, 0), f"stats.{k}", 0) for k in ("activations", "completions", "episodes", "successes")
        }
        return cls(
            **ints,
            return_sum=_number(data.get("return_sum", 0.0), "stats.return_sum"),
            last_used=_int(data.get("last_used", -1), "stats.last_used", -1),
            gain_sum=_number(data.get("gain_sum", 0.0), "stats.gain_sum"),
            gain_sq=_number(data.get("gain_sq", 0.0), "stats.gain_sq"),
            gain_n=_int(data.get("gain_n", 0), "stats.gain_n", 0),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the dict stored in memory files (the gain counters only once a learner has recorded gains)."""
        out: dict[str, Any] = {
            "activations": self.activations,
            "completions": self.completions,
            "episodes": self.episodes,
            "successes": self.successes,
            "return_sum": self.return_sum,
            "last_used": self.last_used,
        }
        if self.gain_n:
            out.update(gain_sum=self.gain_sum, gain_sq=self.gain_sq, gain_n=self.gain_n)
        return out


@dataclass(frozen=True)
class Lineage:
    """Where a skill came from: parent, version, how it was made, and for which env and agent."""

    parent: str | None = None
    version: int = 1
    method: str = "manual"
    env: str | None = None
    agent: str | None = None
    #: What the skill was built from (ALFWorld game files, say): a run never retrieves a skill for
    #: an episode of one of its sources, so an evaluation cannot read the answer it was built on.
    sources: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> Lineage:
        """Return the lineage a dict describes."""
        data = _mapping(data, "lineage")
        parent, env, agent = data.get("parent"), data.get("env"), data.get("agent")
        for name, v in (("parent", parent), ("env", env), ("agent", agent)):
            if v is not None and not isinstance(v, str):
                raise SkillError(f"lineage.{name} must be a string or null")
        method = _text(data.get("method", "manual"), "lineage.method", 40, required=True)
        sources = data.get("sources") or ()
        if not isinstance(sources, (list, tuple)) or not all(isinstance(x, str) and len(x) <= 1000 for x in sources):
            raise SkillError("lineage.sources must be a list of strings (at most 1000 characters each)")
        if len(sources) > 10_000:
            raise SkillError(f"lineage.sources holds {len(sources)} entries; at most 10000")
        version = _int(data.get("version", 1), "lineage.version", 1)
        return cls(parent, version, method, env, agent, tuple(dict.fromkeys(sources)))


@dataclass(frozen=True)
class Skill:
    """A skill of the Skill-MDP: when it applies, what to do, when it is done, and how it has fared.

    >>> skill = Skill.from_dict({
    ...     "name": "open with a spread guess",
    ...     "activation": {"text": "no guess has been made yet", "patterns": ["^You are playing Mastermind"]},
    ...     "execution": {"guidance": "Guess four different digits.", "steps": ["[1 2 3 4]"]},
    ...     "termination": {"text": "a guess has been made", "max_steps": 1},
    ... })
    >>> skill.id.startswith("sk-"), skill.lineage.version
    (True, 1)
    >>> Skill.from_dict(skill.to_dict()) == skill
    True
    """

    id: str
    name: str
    activation: Activation
    execution: Execution = field(default_factory=Execution)
    termination: Termination = field(default_factory=Termination)
    stats: SkillStats = field(default_factory=SkillStats)
    score: float = 0.0
    lineage: Lineage = field(default_factory=Lineage)

    @classmethod
    def create(
        cls,
        name: str,
        activation: str = "",
        guidance: str = "",
        *,
        patterns: tuple[str, ...] | list[str] = (),
        steps: tuple[str, ...] | list[str] = (),
        termination: str = "",
        termination_patterns: tuple[str, ...] | list[str] = (),
        max_steps: int = 10,
        constraint: dict[str, Any] | None = None,
        **lineage: Any,
    ) -> Skill:
        """Return a new, validated skill with a content-derived id (keyword arguments go to ``lineage``)."""
        execution: dict[str, Any] = {"guidance": guidance, "steps": list(steps)}
        if constraint is not None:
            execution["constraint"] = constraint
        return cls.from_dict(
            {
                "name": name,
                "activation": {"text": activation, "patterns": list(patterns)},
                "execution": execution,
                "termination": {"text": termination, "patterns": list(termination_patterns), "max_steps": max_steps},
                "lineage": lineage,
            }
        )

    @classmethod
    def from_dict(cls, data: Any, check_patterns: bool = True) -> Skill:
        """Return the skill a dict describes; raise :class:`SkillError` naming the bad field.

        ``check_patterns=False`` leaves compiling the patterns to the caller (a memory load
        checks all of a file's patterns at once).
        """
        if not isinstance(data, dict):
            raise SkillError(f"a skill must be an object, got {type(data).__name__}")
        if "activation" not in data:
            raise SkillError("a skill needs an activation condition")
        name = _text(data.get("name"), "name", LIMITS["name"], required=True)
        activation = Activation.from_dict(data["activation"], check_patterns)
        execution = Execution.from_dict(data.get("execution"))
        termination = Termination.from_dict(data.get("termination"), check_patterns)
        skill_id = data.get("id")
        if skill_id is None:
            skill_id = content_id(name, activation, execution, termination)
        skill_id = _text(skill_id, "id", 64, required=True)
        return cls(
            id=skill_id,
            name=name,
            activation=activation,
            execution=execution,
            termination=termination,
            stats=SkillStats.from_dict(data.get("stats")),
            score=_number(data.get("score", 0.0), "score"),
            lineage=Lineage.from_dict(data.get("lineage")),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the dict stored in memory files."""
        return {
            "id": self.id,
            "name": self.name,
            "activation": {"text": self.activation.text, "patterns": list(self.activation.patterns)},
            "execution": self.execution.to_dict(),
            "termination": {
                "text": self.termination.text,
                "patterns": list(self.termination.patterns),
                "max_steps": self.termination.max_steps,
            },
            "stats": self.stats.to_dict(),
            "score": self.score,
            "lineage": {
                "parent": self.lineage.parent,
                "version": self.lineage.version,
                "method": self.lineage.method,
                "env": self.lineage.env,
                "agent": self.lineage.agent,
                **({"sources": list(self.lineage.sources)} if self.lineage.sources else {}),
            },
        }

    def with_(self, **changes: Any) -> Skill:
        """Return a copy with some fields replaced (``dataclasses.replace``)."""
        return replace(self, **changes)

    @property
    def text(self) -> str:
        """Return the skill's text as a prompt or a retriever reads it."""
        parts = [self.name, f"When: {self.activation.text}" if self.activation.text else ""]
        parts.append(self.execution.guidance)
        if self.execution.steps:
            parts.append("Steps: " + "; ".join(self.execution.steps))
        if self.execution.constraint is not None:
            parts.append("Only actions with: " + self.execution.constraint.describe())
        if self.termination.text:
            parts.append(f"Done when: {self.termination.text}")
        return "\n".join(p for p in parts if p)

    def action(self, step: int, values: dict[str, str]) -> str | None:
        """Return the concrete action for the skill's ``step``-th step, or None (no template, unfilled slot)."""
        if step >= len(self.execution.steps):
            return None
        template = self.execution.steps[step]
        needed = slots(template)
        if any(name not in values for name in needed):
            return None
        return template.format_map(values)


def slots(template: str) -> tuple[str, ...]:
    """Return the slot names of an action template (``"take {obj} from {recep}"`` -> ``("obj", "recep")``)."""
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        raise SkillError(f"execution.steps: malformed template {template!r} ({err})") from err
    for f, spec, conv in parsed:
        # Plain names only: a format spec such as {x:>99999999} could build a huge string.
        if not f.isidentifier() or spec or conv:
            raise SkillError(f"execution.steps: slot {{{f}}} in {template!r} must be a plain name like {{obj}}")
    return tuple(f for f, _, _ in parsed)


def content_id(name: str, activation: Activation, execution: Execution, termination: Termination) -> str:
    """Return a stable id derived from a skill's content: the same skill gets the same id anywhere."""
    payload = json.dumps(
        [
            name,
            activation.text,
            list(activation.patterns),
            execution.guidance,
            list(execution.steps),
            termination.text,
            list(termination.patterns),
            termination.max_steps,
        ]
        + ([execution.constraint.to_dict()] if execution.constraint is not None else []),
        ensure_ascii=False,
    )
    return "sk-" + hashlib.sha1(payload.encode("utf-8")).hexdigest()[:8]
