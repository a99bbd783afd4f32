r"""Situation classes: observations abstracted into patterns with slots, so one rule covers many games.

The first line of an observation is the step's message (``Submitted [1 2 3 4]. Feedback: 2 black
peg(s), 1 white peg(s).``); a numbered listing in the rest is the record of earlier steps
(``3. [1 2 3 4] -> 2 black, 1 white``). Both are abstracted the same way, with no knowledge of
any env: a bracketed group that holds numbers becomes a *list slot* (``(?P<L0>\[[^\]]*\])``,
any length, so a rule learned on 4-digit codes reads 6-digit ones), every other number a
*number slot* (``(?P<n0>\d+)``), the rest stays literal. Observations with the same abstraction
are one situation class; constraint statements compare the action with the slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Situation", "situation_of", "listing_classes", "first_line"]

_PIECE = re.compile(r"\[[^\[\]\n]*\d[^\[\]\n]*\]|\d+")
_LISTED = re.compile(r"^\s*\d+\.\s")
#: Abstractions longer than this are not worth a pattern (a whole paragraph, not a situation).
MAX_LINE = 300


def first_line(text: str) -> str:
    """Return the first non-empty line of an observation (the step's own message)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass(frozen=True)
class Situation:
    """An abstracted line: its regex (named groups ``L*`` for lists, ``n*`` for numbers) and slot names."""

    pattern: str
    lists: tuple[str, ...]
    numbers: tuple[str, ...]
    example: str

    @property
    def slots(self) -> int:
        """Return how many slots the line has."""
        return len(self.lists) + len(self.numbers)


def abstract(line: str, anchored: str = "start") -> Situation | None:
    """Return the abstraction of one line (None when it is too long to be a situation).

    ``anchored="start"``: the pattern matches at the start of a text (a first line);
    ``"line"``: it matches whole lines anywhere (``(?m)^...$``, for ``for_each`` over a listing).
    """
    line = line.strip()
    if not line or len(line) > MAX_LINE:
        return None
    parts, lists, numbers, last = [], [], [], 0
    for m in _PIECE.finditer(line):
        parts.append(re.escape(line[last : m.start()]))
        if m.group(0).startswith("["):
            name = f"L{len(lists)}"
            lists.append(name)
            parts.append(rf"(?P<{name}>\[[^\]\n]*\])")
        else:
            name = f"n{len(numbers)}"
            numbers.append(name)
            parts.append(rf"(?P<{name}>\d+)")
        last = m.end()
    parts.append(re.escape(line[last:]))
    body = "".join(parts)
    pattern = "^" + body if anchored == "start" else r"(?m)^\s*" + body + r"\s*$"
    return Situation(pattern, tuple(lists), tuple(numbers), line)


def situation_of(observation: str) -> Situation | None:
    """Return the situation class of an observation: its abstracted first line."""
    return abstract(first_line(observation), "start")


def listing_classes(observation: str) -> list[Situation]:
    """Return the distinct abstracted shapes of the numbered listing lines after the first line."""
    seen: dict[str, Situation] = {}
    for line in observation.splitlines()[1:]:
        if _LISTED.match(line):
            s = abstract(line, "line")
            if s is not None and s.lists and s.pattern not in seen:
                seen[s.pattern] = s
    return list(seen.values())
