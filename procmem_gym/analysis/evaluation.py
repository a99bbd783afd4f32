"""Paired comparisons of runs played on the same seeds: the evidence that memory helps, or does not.

Two runs on the same episode seeds play the same tasks (the same secret, the same game) with the
same sampling seeds, so they are compared episode by episode (docs/design.md#evaluation): the mean of
the per-episode return differences with a 95 % bootstrap confidence interval, and an exact
McNemar test on success (a two-sided binomial test on the episodes only one of the two won).

>>> from procmem_gym.rollouts.transitions import EpisodeRecord
>>> a = [EpisodeRecord(k, 0.2, 20, False, seed=k) for k in range(30)]
>>> b = [EpisodeRecord(k, 1.0, 5, True, seed=k) for k in range(30)]
>>> c = compare(a, b)
>>> c.pairs, round(c.mean_difference, 2), c.ci_low > 0, c.success_p < 0.001
(30, 0.8, True, True)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from procmem_gym.errors import ProcMemError
from procmem_gym.files.reading import InputFileError
from procmem_gym.rollouts.transitions import EpisodeRecord, read_log

__all__ = ["PairedComparison", "compare", "bootstrap_ci", "mcnemar_p", "records_of", "ComparisonError"]


class ComparisonError(ProcMemError, ValueError):
    """Two runs that cannot be compared episode by episode (no shared seeds)."""


@dataclass(frozen=True)
class PairedComparison:
    """Run B against run A on the episodes both played with the same seed."""

    pairs: int
    mean_a: float
    mean_b: float
    mean_difference: float  # B - A, mean return
    ci_low: float
    ci_high: float
    success_a: float
    success_b: float
    only_a_won: int
    only_b_won: int
    success_p: float  # exact McNemar (two-sided binomial test on the discordant pairs)
    steps_a: float
    steps_b: float

    def to_dict(self) -> dict[str, Any]:
        """Return the numbers, rounded for reports."""
        return {k: round(v, 6) if isinstance(v, float) and k != "success_p" else v for k, v in asdict(self).items()}


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Return the percentile bootstrap confidence interval of the mean (seeded, so reproducible)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Return the exact two-sided McNemar p-value: a binomial test of the discordant pairs at 1/2."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare(a: Sequence[EpisodeRecord], b: Sequence[EpisodeRecord], seed: int = 0) -> PairedComparison:
    """Return B against A on the seeds both runs played (``ComparisonError`` when they share none)."""
    by_seed_a = {r.seed: r for r in a if r.seed is not None}
    pairs = [(by_seed_a[r.seed], r) for r in b if r.seed in by_seed_a]
    if not pairs:
        raise ComparisonError("the two runs share no episode seed: play them with the same --seed and --episodes")
    ra = np.array([x.return_ for x, _ in pairs])
    rb = np.array([y.return_ for _, y in pairs])
    low, high = bootstrap_ci(rb - ra, seed=seed)
    wins_a = np.array([x.success for x, _ in pairs])
    wins_b = np.array([y.success for _, y in pairs])
    only_a, only_b = int((wins_a & ~wins_b).sum()), int((wins_b & ~wins_a).sum())
    return PairedComparison(
        pairs=len(pairs),
        mean_a=float(ra.mean()),
        mean_b=float(rb.mean()),
        mean_difference=float((rb - ra).mean()),
        ci_low=low,
        ci_high=high,
        success_a=float(wins_a.mean()),
        success_b=float(wins_b.mean()),
        only_a_won=only_a,
        only_b_won=only_b,
        success_p=mcnemar_p(only_a, only_b),
        steps_a=float(np.mean([x.length for x, _ in pairs])),
        steps_b=float(np.mean([y.length for _, y in pairs])),
    )


def records_of(run: str | os.PathLike) -> list[EpisodeRecord]:
    """Return the finished episodes of a run folder (its ``transitions.jsonl``) or of a log file."""
    path = os.fspath(run)
    if os.path.isdir(path):
        path = os.path.join(path, "transitions.jsonl")
    if not os.path.lexists(path):
        raise ComparisonError(f"{run}: no transitions.jsonl (a folder written by procmem-gym run?)")
    try:  # the bounded reader: a FIFO or a device in its place is refused, naming it
        return [r for r in read_log(path) if isinstance(r, EpisodeRecord)]
    except InputFileError as err:
        raise ComparisonError(str(err)) from None
