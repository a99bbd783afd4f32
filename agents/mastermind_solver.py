"""A Mastermind solver: Knuth-style minimax on small variants, sampled consistent guesses on large ones.

The solver reads the variant and the guess history from ``info`` (never the secret), so it
works on the single env, on each game of a vector env, and after invalid moves. Small variants
(up to ``exhaustive_limit`` codes: v0 has 360, hard 1,680) precompute the full feedback table
and pick the guess whose largest feedback class is smallest (Knuth 1976), preferring guesses
that could still be the secret; the ``"expected"`` strategy minimises the expected class size
instead. Large variants (extreme has 2,985,984 codes) keep the consistent candidates as an
array and guess the candidate that best splits a random sample of the others.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from procmem_gym.envs.mastermind.rules import (
    CodeBook,
    MastermindRules,
    digit_counts,
    feedback_many,
    format_guess,
)

from procmem_gym.errors import UsageError

from .policy import BasePolicy

History = tuple[tuple[tuple[int, ...], int, int], ...]


def rules_from_info(info: dict[str, Any]) -> MastermindRules:
    """Return the variant described by a Mastermind ``info`` dict."""
    try:
        return MastermindRules(
            int(info["code_length"]), int(info["num_digits"]), int(info["max_turns"]), bool(info["allow_repeats"])
        )
    except KeyError as err:
        raise UsageError(f"info has no {err.args[0]!r}: the solver needs a procmem_gym Mastermind env's info") from err


def history_from_info(info: dict[str, Any]) -> History:
    """Return the guess history of a Mastermind ``info`` as ``((guess, black, white), ...)``."""
    return tuple((tuple(int(d) for d in h["guess"]), int(h["black"]), int(h["white"])) for h in info["history"])


class _Variant:
    """Everything the solver precomputes for one variant: the codes, and for small ones the feedback table."""

    def __init__(self, rules: MastermindRules, exhaustive: bool) -> None:
        self.rules = rules
        self.base = rules.code_length + 1  # feedback class id = black * base + white
        self.book = CodeBook(rules, max_codes=rules.num_codes) if exhaustive else None
        if self.book is not None:
            self.codes, self.counts, self.table = self.book.codes, self.book.counts, self.book.table
        else:
            self.codes = rules.codes()
            self.counts = digit_counts(self.codes, rules.num_digits)
            self.table = None

    def index(self, guess: tuple[int, ...]) -> int:
        """Return the row of ``guess`` in ``codes`` (small variants only)."""
        return int(self.book.index_of[self.book.keys(np.array([guess]))[0]])

    def filter(self, candidates: np.ndarray, guess: tuple[int, ...], black: int, white: int) -> np.ndarray:
        """Return the candidate indices consistent with one more scored guess."""
        if self.table is not None:
            row = self.table[self.index(guess)]
            return candidates[row[candidates] == black * self.base + white]
        b, w = feedback_many(guess, self.codes[candidates], self.rules.num_digits, self.counts[candidates])
        return candidates[(b == black) & (w == white)]


class MastermindSolver(BasePolicy):
    """Play Mastermind from the feedback alone.

    >>> import gymnasium, procmem_gym
    >>> env = gymnasium.make("procmem_gym/Mastermind-v0")
    >>> solver = MastermindSolver()
    >>> obs, info = env.reset(seed=3)
    >>> done = False
    >>> while not done:
    ...     obs, reward, done, truncated, info = env.step(solver.act(obs, info))
    >>> reward, info["turn"] <= 6
    (1.0, True)
    """

    name = "solver"

    def __init__(
        self,
        strategy: str = "minimax",
        seed: int = 0,
        exhaustive_limit: int = 5000,
        sample_guesses: int = 64,
        sample_secrets: int = 512,
        cache_size: int = 4096,
    ) -> None:
        if strategy not in ("minimax", "expected"):
            raise UsageError(f"strategy must be 'minimax' or 'expected', got {strategy!r}")
        self.strategy = strategy
        self.seed = int(seed)
        self.exhaustive_limit = exhaustive_limit
        self.sample_guesses = sample_guesses
        self.sample_secrets = sample_secrets
        self.cache_size = cache_size
        self._variants: dict[MastermindRules, _Variant] = {}
        # history -> candidate indices, and history -> chosen guess (a decision tree, filled lazily)
        self._candidates: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._choices: OrderedDict[tuple, tuple[int, ...]] = OrderedDict()

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        """Return the next guess as ``[d d d d]``."""
        return format_guess(self.next_guess(rules_from_info(info), history_from_info(info)))

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None
    ) -> list[str]:
        """Return one guess per game; games with the same history share the work through the cache."""
        return super().act_batch(observations, infos, slots)

    def next_guess(self, rules: MastermindRules, history: History) -> tuple[int, ...]:
        """Return the guess to play after ``history`` (deterministic for a given seed)."""
        key = (rules, history)
        cached = self._choices.get(key)
        if cached is not None:
            self._choices.move_to_end(key)
            return cached
        variant = self._variant(rules)
        candidates = self._consistent(variant, history)
        if len(candidates) == 0:
            raise UsageError(f"no code of {rules} is consistent with the history {history}: the feedback is wrong")
        tried = {guess for guess, _, _ in history}
        if len(candidates) == 1:
            choice = tuple(int(d) for d in variant.codes[candidates[0]])
        elif variant.table is not None:
            choice = self._exhaustive_choice(variant, candidates, tried)
        else:
            choice = self._sampled_choice(variant, candidates, history)
        self._remember(self._choices, key, choice)
        return choice

    def _variant(self, rules: MastermindRules) -> _Variant:
        variant = self._variants.get(rules)
        if variant is None:
            variant = _Variant(rules, exhaustive=rules.num_codes <= self.exhaustive_limit)
            self._variants[rules] = variant
        return variant

    def _consistent(self, variant: _Variant, history: History) -> np.ndarray:
        """Return the indices of the codes consistent with ``history``, reusing the longest cached prefix."""
        rules = variant.rules
        start, candidates = 0, None
        for k in range(len(history), -1, -1):
            cached = self._candidates.get((rules, history[:k]))
            if cached is not None:
                start, candidates = k, cached
                break
        if candidates is None:
            candidates = np.arange(len(variant.codes))
        for k in range(start, len(history)):
            guess, black, white = history[k]
            candidates = variant.filter(candidates, guess, black, white)
            self._remember(self._candidates, (rules, history[: k + 1]), candidates)
        return candidates

    def _remember(self, cache: OrderedDict, key: tuple, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _exhaustive_choice(self, variant: _Variant, candidates: np.ndarray, tried: set) -> tuple[int, ...]:
        """Return the guess (any valid code) that best splits the candidates; ties go to candidates, then order."""
        classes = variant.base * variant.base
        sub = variant.table[:, candidates].astype(np.int64)
        rows = np.arange(sub.shape[0], dtype=np.int64)[:, None]
        sizes = np.bincount((sub + rows * classes).ravel(), minlength=sub.shape[0] * classes)
        sizes = sizes.reshape(sub.shape[0], classes)
        if self.strategy == "minimax":
            cost = sizes.max(axis=1).astype(np.float64)
        else:
            cost = (sizes.astype(np.float64) ** 2).sum(axis=1)
        is_candidate = np.zeros(len(variant.codes), dtype=bool)
        is_candidate[candidates] = True
        # A candidate can win at once: among equal costs it is strictly better.
        cost = cost * 2 - is_candidate
        for guess in tried:
            cost[variant.index(guess)] = np.inf
        return tuple(int(d) for d in variant.codes[int(np.argmin(cost))])

    def _sampled_choice(self, variant: _Variant, candidates: np.ndarray, history: History) -> tuple[int, ...]:
        """Return a consistent candidate that best splits a random sample of the candidates."""
        flat = [self.seed, len(variant.codes)] + [x for guess, b, w in history for x in (*guess, b, w)]
        rng = np.random.default_rng(flat)
        pool = (
            candidates
            if len(candidates) <= self.sample_guesses
            else rng.choice(candidates, self.sample_guesses, replace=False)
        )
        secrets = (
            candidates
            if len(candidates) <= self.sample_secrets
            else rng.choice(candidates, self.sample_secrets, replace=False)
        )
        codes, counts = variant.codes[secrets], variant.counts[secrets]
        best, best_cost = pool[0], np.inf
        for g in pool:
            black, white = feedback_many(variant.codes[g], codes, variant.rules.num_digits, counts)
            sizes = np.bincount(black * variant.base + white, minlength=variant.base * variant.base)
            cost = float((sizes.astype(np.float64) ** 2).sum())
            if cost < best_cost:
                best, best_cost = g, cost
        return tuple(int(d) for d in variant.codes[best])
