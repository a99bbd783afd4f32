"""Regex patterns from untrusted skills, on RE2's linear-time engine.

Memory files are shared and written by models, so a pattern such as ``(a+)+$`` must not be
able to stall the agent: Python's ``re`` backtracks exponentially on it, RE2 never does.
Patterns RE2 cannot compile (backreferences, lookaround) are rejected with a clear error.
:class:`PatternIndex` matches the patterns of every skill against an observation in one pass
(an ``RE2::Set``), so activation checks cost the same with 10 or 100,000 skills.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from procmem_gym.errors import ProcMemError

__all__ = ["PatternError", "compile_pattern", "PatternIndex"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised as PatternError, not printed by RE2
_OPTIONS.max_mem = 8 << 20  # a pattern whose automaton needs more memory is rejected
_SET_OPTIONS = re2.Options()
_SET_OPTIONS.log_errors = False
_SET_OPTIONS.max_mem = 64 << 20
#: Patterns per RE2::Set; many skills are matched by a few sets, each one pass over the text.
SHARD = 2048


class PatternError(ProcMemError, ValueError):
    """A pattern that RE2 cannot compile; the message names the pattern and RE2's reason."""

    def __init__(self, message: str, pattern: str | None = None) -> None:
        super().__init__(message)
        self.pattern = pattern


@lru_cache(maxsize=65536)
def compile_pattern(pattern: str) -> Any:
    """Return the compiled RE2 pattern, or raise :class:`PatternError`."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise PatternError(
            f"pattern {pattern!r} is not supported ({reason}); "
            "patterns use RE2 syntax: no backreferences or lookaround",
            pattern,
        ) from None


def search(pattern: str, text: str) -> dict[str, str] | None:
    """Return the named groups of the first match of ``pattern`` in ``text`` ({} if none), or None."""
    m = compile_pattern(pattern).search(text)
    if m is None:
        return None
    return {k: v for k, v in m.groupdict().items() if v is not None}


class PatternIndex:
    """All patterns of a set of owners (skills), matched against a text in one RE2::Set pass.

    >>> index = PatternIndex()
    >>> index.add("open", ["^You are playing"])
    >>> index.add("fix", ["black peg", "white peg"])
    >>> sorted(index.match("You are playing Mastermind"))
    ['open']
    """

    def __init__(self) -> None:
        self._owners: list[str] = []  # pattern number -> owner
        self._patterns: list[str] = []
        self._sets: list[tuple[int, Any]] | None = None  # (first pattern number, compiled set)

    def add(self, owner: Any, patterns: list[str] | tuple[str, ...]) -> None:
        """Add an owner's patterns (RE2 checks them when the sets are built: :meth:`build`)."""
        for p in patterns:
            self._owners.append(owner)
            self._patterns.append(p)
        self._sets = None

    def build(self) -> None:
        """Compile the sets now; raise :class:`PatternError` naming the first pattern RE2 cannot take."""
        self._compiled()

    def owner_of(self, pattern: str) -> Any:
        """Return the owner of the first occurrence of ``pattern``."""
        return self._owners[self._patterns.index(pattern)]

    def __len__(self) -> int:
        return len(self._patterns)

    def _compile(self, start: int, stop: int) -> list[tuple[int, Any]]:
        s = re2.Set.SearchSet(_SET_OPTIONS)
        for p in self._patterns[start:stop]:
            try:
                s.Add(p)
            except re2.error:
                compile_pattern(p)  # raises PatternError with RE2's reason
                raise PatternError(f"pattern {p!r} is not supported by RE2", p) from None
        try:
            s.Compile()
        except re2.error:
            if stop - start == 1:
                pattern = self._patterns[start]
                raise PatternError(f"pattern {pattern!r} is too large for RE2", pattern) from None
            middle = (start + stop) // 2  # out of memory: split the shard
            return self._compile(start, middle) + self._compile(middle, stop)
        return [(start, s)]

    def _compiled(self) -> list[tuple[int, Any]]:
        if self._sets is None:
            sets: list[tuple[int, Any]] = []
            for start in range(0, len(self._patterns), SHARD):
                sets += self._compile(start, min(start + SHARD, len(self._patterns)))
            self._sets = sets
        return self._sets

    def match(self, text: str) -> set[str]:
        """Return the owners with at least one pattern that matches ``text``."""
        if not self._patterns:
            return set()
        owners = self._owners
        found: set[str] = set()
        data = text.encode("utf-8")
        for start, compiled in self._compiled():
            hits = compiled.Match(data)
            if hits:
                found.update(owners[start + i] for i in hits)
        return found
