"""The skill score: how much a skill is worth keeping (ProcMEM's maintenance).

Two kinds (``ScoreConfig.kind``):

``"gain"`` (the learners'): the skill's gain over the no-skill baseline — the group-relative
advantages of the episodes that used it — as a lower confidence bound, Skill-Pro's
``mean gain - c * sqrt(ln(1 + t) / n)`` (``t``: episodes the memory has recorded, ``n``: gains of
the skill). A skill without gains yet keeps the score it was admitted with. It is harmful, and
pruned, once ``n >= min_episodes`` and even the upper bound is below 0.

``"success"`` (the default for hand-made memories)::

    value    = (return_sum + prior * m) / (episodes + m)          Bayesian mean return
    success  = (successes + prior * m) / (episodes + m)           Bayesian success rate
    evidence = 1 - exp(-episodes / usage_scale)                   0 for a new skill, -> 1 with use
    recency  = 0.5 ** ((clock - last_used) / half_life)           the memory's episode clock
    score    = recency * (success_weight * success + (1 - success_weight) * value)
                       * (1 - evidence_weight + evidence_weight * evidence)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from procmem_gym.skills.skill import SkillStats


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
    kind: str = "success"
    bound: float = 0.2  # c of the gain's confidence bound (Skill-Pro)


def gain_bound(stats: SkillStats, clock: int, config: ScoreConfig) -> float:
    """Return the half-width of the gain's confidence bound."""
    return config.bound * math.sqrt(math.log(1 + max(clock, 1)) / max(stats.gain_n, 1))


def score(stats: SkillStats, clock: int, config: ScoreConfig = ScoreConfig(), current: float = 0.0) -> float:
    """Return a skill's score from its stats at the memory's episode ``clock`` (``current``: its score now)."""
    if config.kind == "gain":
        if stats.gain_n == 0:
            return current
        return stats.gain_sum / stats.gain_n - gain_bound(stats, clock, config)
    m, prior = config.prior_weight, config.prior
    value = (stats.return_sum + prior * m) / (stats.episodes + m)
    success = (stats.successes + prior * m) / (stats.episodes + m)
    evidence = 1.0 - math.exp(-stats.episodes / config.usage_scale)
    age = max(0, clock - stats.last_used) if stats.last_used >= 0 else 0
    recency = 0.5 ** (age / config.half_life)
    quality = config.success_weight * success + (1 - config.success_weight) * value
    return recency * quality * (1 - config.evidence_weight + config.evidence_weight * evidence)


def prunable(stats: SkillStats, skill_score: float, config: ScoreConfig = ScoreConfig(), clock: int = 0) -> bool:
    """Return whether a skill scores too low (``gain``: is harmful) after enough use to judge it."""
    if config.kind == "gain":
        if stats.gain_n < config.min_episodes:
            return False
        return stats.gain_sum / stats.gain_n + gain_bound(stats, clock, config) < 0
    return stats.episodes >= config.min_episodes and skill_score < config.prune_below
