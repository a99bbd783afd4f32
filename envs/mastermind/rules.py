"""Mastermind rules shared by the single and the vector environment, and by the solver.

One place decides what a guess is, whether it is valid and what feedback it earns, so the
single env, the vectorised env and the solver cannot disagree. Everything here is
TextArena-compatible (``textarena/envs/Mastermind``): a guess is the first
``[d d d d]`` group in the text, black pegs count right digit in the right place, white pegs
count the common digits (as multisets) minus the black ones, and the score of an unfinished
game is ``(black + 0.5 * white) / code_length`` of the last guess.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from procmem_gym.errors import ProcMemError, UsageError

__all__ = [
    "MastermindRules",
    "InvalidGuessError",
    "variant_of",
    "feedback",
    "feedback_many",
    "feedback_rows",
    "all_codes",
    "format_guess",
    "completion",
    "CodeBook",
]

# ASCII digits only: `\d` would accept e.g. Arabic-Indic digits that `int()` then converts.
# Unambiguous separators (a comma with optional spaces, or spaces) keep the search linear.
_GUESS_RE = re.compile(r"\[\s*([0-9]+(?:\s*,\s*[0-9]+|\s+[0-9]+)*)\s*\]", re.ASCII)
_SPLIT_RE = re.compile(r"[,\s]+", re.ASCII)

#: Actions longer than this are rejected before any parsing (TextArena uses the same bound).
MAX_ACTION_CHARS = 4096


class InvalidGuessError(ProcMemError, ValueError):
    """A guess the rules do not accept; the message is the reason shown to the player."""


@dataclass(frozen=True)
class MastermindRules:
    """The parameters of one Mastermind variant.

    >>> rules = MastermindRules(code_length=4, num_digits=6)
    >>> rules.parse("I will try [1 2 3 4]")
    (1, 2, 3, 4)
    >>> feedback((1, 2, 3, 4), (1, 3, 5, 6))
    (1, 1)
    """

    code_length: int = 4
    num_digits: int = 6
    max_turns: int = 20
    allow_repeats: bool = False

    def __post_init__(self) -> None:
        for name in ("code_length", "num_digits", "max_turns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if self.num_digits > 99:
            raise UsageError(f"num_digits must be at most 99, got {self.num_digits}")
        if self.code_length > 32:
            raise UsageError(f"code_length must be at most 32, got {self.code_length}")
        if not isinstance(self.allow_repeats, (bool, np.bool_)):
            raise UsageError(f"allow_repeats must be a bool, got {self.allow_repeats!r}")
        if not self.allow_repeats and self.code_length > self.num_digits:
            raise UsageError(
                f"a code of {self.code_length} different digits needs num_digits >= {self.code_length}, "
                f"got {self.num_digits} (or pass allow_repeats=True)"
            )

    @property
    def num_codes(self) -> int:
        """Return how many secret codes this variant has."""
        if self.allow_repeats:
            return self.num_digits**self.code_length
        return int(np.prod(range(self.num_digits - self.code_length + 1, self.num_digits + 1)))

    def example(self) -> str:
        """Return a valid example guess for the prompt, e.g. ``[1 2 3 4]``."""
        return format_guess([i % self.num_digits + 1 for i in range(self.code_length)])

    def parse(self, action: object) -> tuple[int, ...]:
        """Return the guess in ``action`` as a tuple of ints, or raise :class:`InvalidGuessError` with the reason."""
        if not isinstance(action, str):
            raise InvalidGuessError(f"the action must be a string, got {type(action).__name__}.")
        if len(action) > MAX_ACTION_CHARS:
            raise InvalidGuessError(f"the action is too long ({len(action)} characters, at most {MAX_ACTION_CHARS}).")
        try:
            action.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidGuessError("the action is not valid text (it holds an unpaired surrogate).") from None
        match = _GUESS_RE.search(action)
        if match is None:
            raise InvalidGuessError(
                "you did not respond with a space-separated list of numbers wrapped in square brackets."
            )
        tokens = _SPLIT_RE.split(match.group(1))
        if len(tokens) != self.code_length:
            raise InvalidGuessError(f"the guess should contain exactly {self.code_length} numbers, got {len(tokens)}.")
        # A long token is out of range whatever it says; this also keeps int() cheap.
        if any(len(tok) > 3 for tok in tokens):
            raise InvalidGuessError(f"all numbers must be between 1 and {self.num_digits}.")
        guess = tuple(int(tok) for tok in tokens)
        if any(d < 1 or d > self.num_digits for d in guess):
            raise InvalidGuessError(f"all numbers must be between 1 and {self.num_digits}.")
        if not self.allow_repeats and len(set(guess)) != len(guess):
            raise InvalidGuessError("duplicate numbers are not allowed.")
        return guess

    def codes(self) -> np.ndarray:
        """Return every valid code as an ``(num_codes, code_length)`` int8 array, in lexicographic order."""
        return all_codes(self.code_length, self.num_digits, self.allow_repeats)


def format_guess(guess) -> str:
    """Return the canonical text of a guess, ``[1 2 3 4]``."""
    return "[" + " ".join(map(str, guess)) + "]"


def feedback(guess, secret) -> tuple[int, int]:
    """Return ``(black, white)`` pegs for one guess against one secret (pure Python, any repeats)."""
    black = 0
    for g, s in zip(guess, secret, strict=False):
        if g == s:
            black += 1
    common = 0
    for d in set(guess):
        common += min(guess.count(d), secret.count(d))
    return black, common - black


def completion(black: int, white: int, code_length: int) -> float:
    """Return TextArena's partial score of a guess: ``(black + 0.5 white) / code_length``."""
    return (black + 0.5 * white) / code_length


def digit_counts(codes: np.ndarray, num_digits: int) -> np.ndarray:
    """Return an ``(n, num_digits)`` array: how often each digit 1..num_digits occurs in each code.

    A 0 marks an empty slot and is not counted.
    """
    codes = np.asarray(codes)
    n = codes.shape[0]
    width = num_digits + 1
    offsets = codes.astype(np.int64) + (np.arange(n, dtype=np.int64) * width)[:, None]
    counts = np.bincount(offsets.ravel(), minlength=n * width).reshape(n, width)
    return counts[:, 1:].astype(np.uint8)


def feedback_many(guess, codes: np.ndarray, num_digits: int, counts: np.ndarray | None = None):
    """Return ``(black, white)`` arrays for one guess against many codes in one array operation.

    ``counts`` (from :func:`digit_counts`) may be passed to reuse the per-code digit counts.
    """
    guess = np.asarray(guess, dtype=codes.dtype)
    if counts is None:
        counts = digit_counts(codes, num_digits)
    black = (codes == guess).sum(axis=1, dtype=np.int16)
    guess_counts = np.bincount(guess.astype(np.int64) - 1, minlength=num_digits).astype(np.uint8)
    common = np.minimum(counts, guess_counts).sum(axis=1, dtype=np.int16)
    return black, common - black


def feedback_rows(guesses: np.ndarray, secrets: np.ndarray, num_digits: int):
    """Return ``(black, white)`` arrays for row ``i`` of ``guesses`` against row ``i`` of ``secrets``."""
    black = (guesses == secrets).sum(axis=1, dtype=np.int16)
    common = np.minimum(digit_counts(guesses, num_digits), digit_counts(secrets, num_digits)).sum(
        axis=1, dtype=np.int16
    )
    return black, common - black


def all_codes(code_length: int, num_digits: int, allow_repeats: bool) -> np.ndarray:
    """Return every code of a variant as an int8 array in lexicographic order."""
    digits = np.arange(1, num_digits + 1, dtype=np.int8)
    if allow_repeats:
        grids = np.meshgrid(*([digits] * code_length), indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1)
    perms = itertools.permutations(range(1, num_digits + 1), code_length)
    return np.array(list(perms), dtype=np.int8).reshape(-1, code_length)


class CodeBook:
    """Every code of a small variant, an integer key per code, and the full feedback table.

    A row of digits (0 for an empty slot, anything out of range clipped to ``num_digits + 1``)
    has the key ``sum(d_k * base**k)`` with ``base = num_digits + 2``; ``index_of[key]`` is the
    code's row in ``codes``, or -1 when the row is not a valid code of the variant. The table
    holds ``black * (code_length + 1) + white`` for every (guess, secret) pair, so scoring N
    guesses is one gather. Only built for variants with at most ``max_codes`` codes.
    """

    def __init__(self, rules: MastermindRules, max_codes: int = 5000) -> None:
        if rules.num_codes > max_codes:
            raise UsageError(f"{rules} has {rules.num_codes} codes, more than max_codes={max_codes}")
        self.rules = rules
        self.base = rules.num_digits + 2
        self.classes = rules.code_length + 1  # feedback id = black * classes + white
        self.weights = self.base ** np.arange(rules.code_length, dtype=np.int64)
        self.codes = rules.codes()
        self.counts = digit_counts(self.codes, rules.num_digits)
        self.index_of = np.full(self.base**rules.code_length, -1, dtype=np.int32)
        self.index_of[self.keys(self.codes)] = np.arange(len(self.codes), dtype=np.int32)
        table = np.empty((len(self.codes), len(self.codes)), dtype=np.uint8)
        for g, guess in enumerate(self.codes):
            black, white = feedback_many(guess, self.codes, rules.num_digits, self.counts)
            table[g] = black * self.classes + white
        self.table = table

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """Return the integer key of each row of digits (out-of-range digits clipped first)."""
        return np.clip(rows, 0, self.base - 1).astype(np.int64) @ self.weights


def variant_of(info: dict[str, Any]) -> tuple[int, int, bool, frozenset] | None:
    """Return ``(code_length, num_digits, allow_repeats, earlier guesses)`` from a Mastermind info, or None."""
    try:
        variant = int(info["code_length"]), int(info["num_digits"]), bool(info["allow_repeats"])
    except (KeyError, TypeError, ValueError):
        return None
    history = info.get("history") or ()
    try:
        tried = frozenset(tuple(int(d) for d in h["guess"]) for h in history)
    except (KeyError, TypeError, ValueError):
        tried = frozenset()
    return (*variant, tried)
