"""Constraints: a skill's declarative statement of which actions the policy may take.

A constraint is plain data in the memory file (no code, no ``eval``). It is a conjunction of
statements about the candidate action, read against text the skill captured:

``{"count": KIND, "with": TEMPLATE, "op": OP, "value": TERMS}``
    ``KIND`` counts the action's tokens against the reference tokens of ``with``:
    ``same_position`` (equal tokens at the same index), ``in_common`` (the size of the multiset
    intersection), ``member_of`` (action tokens that occur in the reference). ``OP`` is one of
    ``==, !=, <=, >=``; ``value`` is an integer, a template that reads as one, or a list of
    them that is summed. Tokens are the numbers of a text (``"tokens": "words"`` compares
    lower-case words instead).
``{"count": ..., "for_each": REGEX, ...}``
    The statement must hold for every match of ``REGEX`` in the observation, its named groups
    filling the templates (at most 64 matches).
``{"matches": REGEX_TEMPLATE}`` / ``{"not_matches": REGEX_TEMPLATE}``
    The whole action must (not) match; ``{slots}`` are filled with the escaped captured text.
``{"unrepeated": true}``
    The action is none of those the episode has taken so far (a search that never goes back).

Templates are filled from the named groups of the skill's activation patterns (``{g}``). All
regexes run on RE2 (linear time), and every size is bounded, so a constraint from an untrusted
file cannot stall the agent. Example — "play only codes that would have received the same
feedback from the last guess":

>>> c = Constraint.from_dict({"all": [
...     {"count": "same_position", "with": "{guess}", "op": "==", "value": "{black}"},
...     {"count": "in_common", "with": "{guess}", "op": "==", "value": ["{black}", "{white}"]}]})
>>> bound = c.bind("", {"guess": "[1 2 3 4]", "black": "1", "white": "1"})
>>> bound.allows("[1 5 2 6]"), bound.allows("[1 2 5 6]")
(True, False)

Nothing here knows Mastermind: black and white pegs are these two counts.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from procmem_gym.errors import ProcMemError
from procmem_gym.skills.patterns import PatternError, compile_pattern

__all__ = ["Constraint", "BoundConstraint", "ConstraintError", "KINDS", "OPS", "action_tokens", "readable_pattern"]

KINDS = ("same_position", "in_common", "member_of")
OPS = {"==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge}
#: Bounds on what one constraint may hold or do.
LIMITS = {"statements": 16, "template": 300, "terms": 4, "matches": 64, "tokens": 64, "value": 10**6}

_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NUMBER = re.compile(r"\d{1,9}")
_WORD = re.compile(r"[a-z0-9]+")


class ConstraintError(ProcMemError, ValueError):
    """A constraint that breaks the format; the message names the statement and field."""


def action_tokens(text: str, tokens: str = "numbers") -> tuple:
    """Return the tokens of a text: its numbers (ints) or its lower-case words, at most 64."""
    if tokens == "numbers":
        return tuple(int(m) for m in _NUMBER.findall(text[:4096])[: LIMITS["tokens"]])
    return tuple(_WORD.findall(text[:4096].lower())[: LIMITS["tokens"]])


_PHRASES = {
    "same_position": "the tokens the action has in the same place as",
    "in_common": "the tokens the action has in common with",
    "member_of": "the action's tokens found in",
}


def readable_pattern(pattern: str) -> str:
    r"""Return a regex as the text it matches, its named groups shown by name (for people, not for matching).

    >>> readable_pattern(r"(?m)^\s*(?P<n0>\d+)\.\ (?P<L0>\[[^\]\n]*\])\ \->\ (?P<n1>\d+)\ black\s*$")
    'n0. L0 -> n1 black'
    """
    out, i = [], 0
    text = pattern
    for prefix in ("(?m)", "^", "\\s*"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    for suffix in ("$", "\\s*"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    while i < len(text):
        if text.startswith("(?P<", i):
            end = text.index(">", i)
            name, depth, j = text[i + 4 : end], 1, end + 1
            while j < len(text) and depth:  # skip the group's body, brackets and escapes included
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "[":
                    close = text.find("]", j + 2)
                    j = close + 1 if close > 0 else j + 1
                    continue
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            out.append(name)
            i = j
        elif text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _template(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > LIMITS["template"]:
        raise ConstraintError(f"{where} must be a text of 1 to {LIMITS['template']} characters")
    return value


def _fill(template: str, values: dict[str, str]) -> str | None:
    """Return the template with its slots filled, or None when a slot has no value."""
    missing = False

    def one(m: re.Match) -> str:
        nonlocal missing
        v = values.get(m.group(1))
        if v is None:
            missing = True
            return ""
        return v

    out = _SLOT.sub(one, template)
    return None if missing else out


@dataclass(frozen=True)
class Statement:
    """One statement of a constraint (see the module docstring)."""

    kind: str  # a count KIND, or "matches" / "not_matches" / "unrepeated"
    ref: str = ""  # the ``with`` template, or the regex template
    op: str = "=="
    value: tuple[int | str, ...] = ()
    for_each: str | None = None
    tokens: str = "numbers"

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Statement:
        """Return the statement a dict describes; raise :class:`ConstraintError` naming ``where``."""
        if not isinstance(data, dict):
            raise ConstraintError(f"{where} must be an object")
        if "unrepeated" in data:
            if data["unrepeated"] is not True or len(data) != 1:
                raise ConstraintError(f'{where} must be {{"unrepeated": true}} and nothing else')
            return cls("unrepeated")
        if "matches" in data or "not_matches" in data:
            kind = "matches" if "matches" in data else "not_matches"
            ref = _template(data[kind], f"{where}.{kind}")
            _check_regex(_SLOT.sub("x", ref), f"{where}.{kind}")
            return cls(kind, ref)
        kind = data.get("count")
        if kind not in KINDS:
            raise ConstraintError(f"{where}.count must be one of {', '.join(KINDS)}, got {kind!r}")
        op = data.get("op", "==")
        if op not in OPS:
            raise ConstraintError(f"{where}.op must be one of {', '.join(OPS)}, got {op!r}")
        raw = data.get("value")
        terms = raw if isinstance(raw, list) else [raw]
        if not 1 <= len(terms) <= LIMITS["terms"]:
            raise ConstraintError(f"{where}.value must be 1 to {LIMITS['terms']} terms")
        value: list[int | str] = []
        for t in terms:
            if isinstance(t, bool) or not isinstance(t, (int, str)):
                raise ConstraintError(f"{where}.value terms must be integers or templates, got {t!r}")
            if isinstance(t, int) and not 0 <= t <= LIMITS["value"]:
                raise ConstraintError(f"{where}.value {t} is out of range")
            value.append(_template(t, f"{where}.value") if isinstance(t, str) else t)
        for_each = data.get("for_each")
        if for_each is not None:
            _check_regex(_template(for_each, f"{where}.for_each"), f"{where}.for_each")
        tokens = data.get("tokens", "numbers")
        if tokens not in ("numbers", "words"):
            raise ConstraintError(f"{where}.tokens must be numbers or words, got {tokens!r}")
        return cls(kind, _template(data.get("with"), f"{where}.with"), op, tuple(value), for_each, tokens)

    def to_dict(self) -> dict[str, Any]:
        """Return the dict stored in memory files."""
        if self.kind == "unrepeated":
            return {"unrepeated": True}
        if self.kind in ("matches", "not_matches"):
            return {self.kind: self.ref}
        out: dict[str, Any] = {"count": self.kind, "with": self.ref, "op": self.op}
        out["value"] = list(self.value) if len(self.value) > 1 else self.value[0]
        if self.for_each is not None:
            out["for_each"] = self.for_each
        if self.tokens != "numbers":
            out["tokens"] = self.tokens
        return out


def _check_regex(pattern: str, where: str) -> None:
    try:
        compile_pattern(pattern)
    except PatternError as err:
        raise ConstraintError(f"{where}: {err}") from None


@dataclass(frozen=True)
class Constraint:
    """A conjunction of statements about the action (see the module docstring)."""

    statements: tuple[Statement, ...]

    @classmethod
    def from_dict(cls, data: Any) -> Constraint:
        """Return the constraint ``{"all": [statement, ...]}`` describes."""
        if not isinstance(data, dict) or not isinstance(data.get("all"), list):
            raise ConstraintError('execution.constraint must be {"all": [statement, ...]}')
        items = data["all"]
        if not 1 <= len(items) <= LIMITS["statements"]:
            raise ConstraintError(f"execution.constraint needs 1 to {LIMITS['statements']} statements")
        return cls(tuple(Statement.from_dict(s, f"execution.constraint.all[{k}]") for k, s in enumerate(items)))

    def to_dict(self) -> dict[str, Any]:
        """Return the dict stored in memory files."""
        return {"all": [s.to_dict() for s in self.statements]}

    def describe(self) -> str:
        r"""Return the constraint in words (for prompts, tables and reports).

        >>> line = r"(?m)^\s*(?P<n0>\d+)\.\ (?P<L0>\[[^\]\n]*\])\ \->\ (?P<n1>\d+)\ black"
        >>> statement = {"count": "in_common", "with": "{L0}", "op": "==", "value": ["{n1}", "{n2}"]}
        >>> Constraint.from_dict({"all": [{**statement, "for_each": line}]}).describe()
        'for every line like "n0. L0 -> n1 black": the tokens the action has in common with L0 = n1 + n2'
        """
        parts = []
        for s in self.statements:
            if s.kind == "unrepeated":
                parts.append("the action was not taken before in this episode")
                continue
            if s.kind in ("matches", "not_matches"):
                parts.append(f"the action {'matches' if s.kind == 'matches' else 'does not match'} /{s.ref}/")
                continue
            value = " + ".join(_SLOT.sub(r"\1", str(v)) for v in s.value)
            op = {"==": "=", "!=": "≠", "<=": "≤", ">=": "≥"}[s.op]
            ref = _SLOT.sub(r"\1", s.ref)
            text = f"{_PHRASES[s.kind]} {ref} {op} {value}"
            parts.append(f'for every line like "{readable_pattern(s.for_each)}": {text}' if s.for_each else text)
        return "; ".join(parts)

    def bind(self, observation: str, values: dict[str, str], taken: Sequence[str] = ()) -> BoundConstraint:
        """Return the concrete checks for one observation and the activation's captured ``values``.

        ``taken`` are the actions the episode has taken so far (for ``unrepeated``). A statement
        whose slots cannot all be filled (or whose value is not a number) makes the whole
        constraint unbound: it then allows every action, and says so.
        """
        counts: list[tuple[str, tuple, str, int, str]] = []
        regexes: list[tuple[str, bool]] = []
        excluded: frozenset[str] = frozenset()
        for s in self.statements:
            if s.kind == "unrepeated":
                excluded = frozenset(" ".join(str(a).lower().split()) for a in taken)
                continue
            if s.kind in ("matches", "not_matches"):
                filled = _fill(s.ref, {k: re.escape(v) for k, v in values.items()})
                if filled is None or not _compiles(filled):
                    return BoundConstraint((), (), bound=False)
                regexes.append((filled, s.kind == "not_matches"))
                continue
            contexts = [values]
            if s.for_each is not None:
                matcher = compile_pattern(s.for_each)
                contexts = []
                for m in matcher.finditer(observation[:100_000]):
                    contexts.append({**values, **{k: v for k, v in m.groupdict().items() if v is not None}})
                    if len(contexts) >= LIMITS["matches"]:
                        break
            for ctx in contexts:
                ref = _fill(s.ref, ctx)
                total = 0
                for term in s.value:
                    text = str(term) if isinstance(term, int) else _fill(term, ctx)
                    if text is None or not text.strip().isdigit() or len(text.strip()) > 7:
                        return BoundConstraint((), (), bound=False)
                    total += int(text.strip())
                if ref is None:
                    return BoundConstraint((), (), bound=False)
                counts.append((s.kind, action_tokens(ref, s.tokens), s.op, total, s.tokens))
        return BoundConstraint(tuple(counts), tuple(regexes), bound=True, excluded=excluded)


def _compiles(pattern: str) -> bool:
    try:
        compile_pattern(pattern)
    except PatternError:
        return False
    return True


def _count(kind: str, action: tuple, ref: tuple) -> int:
    if kind == "same_position":
        return sum(1 for a, b in zip(action, ref, strict=False) if a == b)
    if kind == "in_common":
        return sum((Counter(action) & Counter(ref)).values())
    members = set(ref)
    return sum(1 for a in action if a in members)


@dataclass(frozen=True)
class BoundConstraint:
    """A constraint filled in for one observation: concrete checks any policy can apply.

    ``counts`` holds ``(kind, reference tokens, op, value, tokens)``; ``regexes`` holds
    ``(pattern, negated)``; ``excluded`` the actions already taken (``unrepeated``, compared
    without case and extra spaces). An unbound constraint (``bound=False``) allows everything.
    """

    counts: tuple[tuple[str, tuple, str, int, str], ...]
    regexes: tuple[tuple[str, bool], ...]
    bound: bool = True
    excluded: frozenset[str] = frozenset()

    def allows(self, action: str) -> bool:
        """Return whether the constraint allows an action (text)."""
        if not self.bound:
            return True
        text = str(action)
        if self.excluded and " ".join(text.lower().split()) in self.excluded:
            return False
        cache: dict[str, tuple] = {}
        for kind, ref, op, value, tokens in self.counts:
            toks = cache.get(tokens)
            if toks is None:
                toks = cache[tokens] = action_tokens(text, tokens)
            if not OPS[op](_count(kind, toks, ref), value):
                return False
        for pattern, negated in self.regexes:
            if (compile_pattern(pattern).fullmatch(text) is not None) == negated:
                return False
        return True

    def mask(self, actions: Sequence[str]) -> np.ndarray:
        """Return which of a list of actions (commands) the constraint allows."""
        return np.array([self.allows(a) for a in actions], dtype=bool)

    def mask_codes(self, codes: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """Return which rows of an ``(N, L)`` integer matrix (number tokens) the constraint allows.

        ``counts`` is the ``(N, max + 1)`` count of each number per row (for ``in_common``),
        computed when not given. Statements are applied one after the other to the rows still
        allowed, so a long conjunction over millions of codes costs little once the first
        statements have narrowed them. Regex statements are checked on the rows' text ``[a b ...]``.
        """
        keep = np.ones(len(codes), dtype=bool)
        if not self.bound or not len(codes):
            return keep
        alive = np.arange(len(codes))
        for kind, ref, op, value, tokens in self.counts:
            if tokens != "numbers" or not len(alive):
                continue
            rows = codes[alive]
            ref_arr = np.asarray(ref, dtype=np.int64)
            if kind == "same_position":
                n = min(rows.shape[1], len(ref_arr))
                got = (rows[:, :n] == ref_arr[:n]).sum(axis=1)
            elif kind == "member_of":
                got = np.isin(rows, ref_arr).sum(axis=1)
            else:
                if counts is None:
                    counts = value_counts(codes)
                width = counts.shape[1]
                ref_counts = np.bincount(ref_arr[(ref_arr >= 0) & (ref_arr < width)], minlength=width)[:width]
                got = np.minimum(counts[alive], ref_counts).sum(axis=1)
            alive = alive[OPS[op](got, value)]
        if self.excluded and len(alive):  # unrepeated: the taken actions that are codes, matched as keys
            taken = [_code_of(a, codes.shape[1]) for a in self.excluded]
            taken_rows = np.array([t for t in taken if t is not None], dtype=np.int64).reshape(-1, codes.shape[1])
            if len(taken_rows):
                base = int(max(codes.max(initial=0), taken_rows.max(initial=0))) + 1
                weights = base ** np.arange(codes.shape[1], dtype=np.int64)
                alive = alive[~np.isin(codes[alive].astype(np.int64) @ weights, taken_rows @ weights)]
        if self.regexes and len(alive):
            if len(alive) > MAX_REGEX_CODES:  # the worst case per step is bounded: the check is skipped, and says so
                raise ConstraintTooLargeError(
                    f"a regex statement over {len(alive):,} codes (at most {MAX_REGEX_CODES:,} are checked per step)"
                )
            texts = ["[" + " ".join(map(str, row)) + "]" for row in codes[alive].tolist()]
            for pattern, negated in self.regexes:
                matcher = compile_pattern(pattern)
                ok = np.fromiter((matcher.fullmatch(t) is not None for t in texts), dtype=bool, count=len(texts))
                ok = ~ok if negated else ok
                alive, texts = alive[ok], [t for t, k in zip(texts, ok, strict=True) if k]
        keep[:] = False
        keep[alive] = True
        return keep

    def to_dict(self) -> dict[str, Any]:
        """Return the checks as JSON-ready data (for ``info`` and logs)."""
        return {
            "bound": self.bound,
            "counts": [[k, list(r), op, v, t] for k, r, op, v, t in self.counts],
            "regexes": [[p, n] for p, n in self.regexes],
            **({"excluded": sorted(self.excluded)} if self.excluded else {}),
        }


#: Codes a regex statement is checked against in one step, after the count statements narrowed them.
MAX_REGEX_CODES = 250_000


class ConstraintTooLargeError(ProcMemError, ValueError):
    """A constraint whose regex would be checked against more codes than a step allows; the step skips it."""


def _code_of(action: str, length: int) -> list[int] | None:
    """Return the numbers of an action written ``[a b ...]`` (as compared without case and spaces), or None."""
    if not _CODE_TEXT.fullmatch(action):  # only "[a b ...]" is ever the text of a code row
        return None
    numbers = action[1:-1].split()
    return [int(n) for n in numbers] if len(numbers) == length and all(len(n) < 9 for n in numbers) else None


_CODE_TEXT = re.compile(r"\[\d+(?: \d+)*\]")


def value_counts(codes: np.ndarray) -> np.ndarray:
    """Return the ``(N, max + 1)`` count of each value per row of a non-negative integer matrix."""
    width = int(codes.max()) + 1 if codes.size else 1
    out = np.zeros((len(codes), width), dtype=np.int16)
    for value in range(width):
        out[:, value] = (codes == value).sum(axis=1)
    return out
