"""The skill score: a success-weighted, usage-aware, recency-decayed value (ProcMEM's maintenance).

    value    = (return_sum + prior * m) / (episodes + m)          Bayesian mean return
    success  = (successes + prior * m) / (episodes + m)           Bayesian success rate
    evidence = 1 - exp(-episodes / usage_scale)                   0 for a new skill, -> 1 with use
    recency  = 0.5 ** ((clock - last_used) / half_life)           the memory's episode clock
    score    = recency * (success_weight * success + (1 - success_weight) * value)
                       * (1 - evidence_weight + evidence_weight * evidence)

The priors keep a new skill's score moderate instead of 0 or 1, evidence rewards skills that
have proven themselves many times, and recency lets skills that stopped firing fade out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from procmem_gym.skill import SkillStats


@dataclass(frozen=True)
class ScoreConfig:
    """Parameters of the score function and of pruning."""

    prior: float = 0.5
    prior_weight: float = 2.0
    success_weight: float = 0.5
    usage_scale: float = 10.0
    evidence_weight: float = 0.5
    half_life: float = 200.0
    prune_below: float = 0.1
    min_episodes: int = 3  # a skill is never pruned for its score before it was used this often


def score(stats: SkillStats, clock: int, config: ScoreConfig = ScoreConfig()) -> float:
    """Return a skill's score from its stats at the memory's episode ``clock``."""
    m, prior = config.prior_weight, config.prior
    value = (stats.return_sum + prior * m) / (stats.episodes + m)
    success = (stats.successes + prior * m) / (stats.episodes + m)
    evidence = 1.0 - math.exp(-stats.episodes / config.usage_scale)
    age = max(0, clock - stats.last_used) if stats.last_used >= 0 else 0
    recency = 0.5 ** (age / config.half_life)
    quality = config.success_weight * success + (1 - config.success_weight) * value
    return recency * quality * (1 - config.evidence_weight + config.evidence_weight * evidence)


def prunable(stats: SkillStats, skill_score: float, config: ScoreConfig = ScoreConfig()) -> bool:
    """Return whether a skill scores too low after enough use to judge it."""
    return stats.episodes >= config.min_episodes and skill_score < config.prune_below
