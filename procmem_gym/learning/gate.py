"""The PPO gate: admit a candidate skill only if it improves on the current one, within a trust region.

For logged decisions ``(s_t, a_t)`` with advantages ``A_t``, a candidate ``ω'`` changes the
policy's probability of each logged action from ``π(a_t | s_t, ω)`` to ``π(a_t | s_t, ω')``.
With ``r_t`` the ratio of the two::

    L(ω') = mean_t min(r_t A_t, clip(r_t, 1 - ε, 1 + ε) A_t)      L(ω) = mean_t A_t   (r = 1)

The candidate is admitted when ``L(ω') > L(ω) + margin`` and ``mean_t |log r_t| <= trust``.
Exact log-probabilities come from the local model (``logprob``); backends without them use
:class:`RolloutGate`, which plays paired episodes (same seeds) with either skill.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from procmem_gym.learning.experience import Sample

__all__ = ["GateDecision", "PPOGate", "RolloutGate", "surrogate"]


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and the numbers behind it (recorded in the memory's events)."""

    accepted: bool
    surrogate_new: float
    surrogate_old: float
    mean_abs_log_ratio: float
    samples: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as a JSON-ready dict (numbers rounded)."""
        d = asdict(self)
        for k in ("surrogate_new", "surrogate_old", "mean_abs_log_ratio"):
            d[k] = round(d[k], 6)
        return d


def surrogate(log_ratio: np.ndarray, adv: np.ndarray, eps: float) -> float:
    """Return PPO's clipped surrogate ``mean(min(r A, clip(r, 1-eps, 1+eps) A))``."""
    ratio = np.exp(log_ratio)
    return float(np.mean(np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv)))


class PPOGate:
    """Admit candidates by the clipped surrogate of exact log-probability ratios.

    >>> gate = PPOGate(eps=0.2, margin=0.0, trust=1.0)
    >>> d = gate.decide(np.log([1.5, 0.5]), np.array([1.0, -1.0]))
    >>> d.accepted, round(d.surrogate_new, 3)
    (True, 0.85)
    """

    # The trust bound is in nats of mean |log ratio|. Guidance that names a concrete action moves
    # a small model's log-probability of that action by 2-4 nats (measured with SmolLM2-135M on
    # Mastermind), so a bound of 0.5 rejected every such skill; the clipped surrogate already
    # bounds what one candidate can gain.
    def __init__(self, eps: float = 0.2, margin: float = 0.01, trust: float = 4.0, min_samples: int = 2) -> None:
        self.eps, self.margin, self.trust, self.min_samples = eps, margin, trust, min_samples

    def decide(self, log_ratio: np.ndarray, adv: np.ndarray) -> GateDecision:
        """Return the decision for given log-ratios ``log π(a|s,ω') - log π(a|s,ω)`` and advantages."""
        log_ratio, adv = np.asarray(log_ratio, dtype=np.float64), np.asarray(adv, dtype=np.float64)
        n = len(adv)
        if n < self.min_samples:
            return GateDecision(False, 0.0, 0.0, 0.0, n, f"only {n} samples (need {self.min_samples})")
        new = surrogate(log_ratio, adv, self.eps)
        old = float(np.mean(adv))
        drift = float(np.mean(np.abs(log_ratio)))
        if drift > self.trust:
            return GateDecision(
                False, new, old, drift, n, f"mean |log ratio| {drift:.3f} above the trust bound {self.trust}"
            )
        if new <= old + self.margin:
            return GateDecision(
                False, new, old, drift, n, f"surrogate {new:.4f} not above {old:.4f} + margin {self.margin}"
            )
        return GateDecision(True, new, old, drift, n, "improves the clipped surrogate")

    def evaluate(
        self,
        samples: Sequence[Sample],
        logprob: Callable[[list[str], list[str]], np.ndarray],
        prompt_old: Callable[[str], str],
        prompt_new: Callable[[str], str],
    ) -> GateDecision:
        """Score logged samples under the current and the candidate skill's prompts and decide."""
        if len(samples) < self.min_samples:
            return self.decide(np.zeros(len(samples)), np.zeros(len(samples)))
        actions = [s.action for s in samples]
        old = logprob([prompt_old(s.observation) for s in samples], actions)
        new = logprob([prompt_new(s.observation) for s in samples], actions)
        return self.decide(np.asarray(new) - np.asarray(old), np.array([s.advantage for s in samples]))


class RolloutGate:
    """Fallback without log-probabilities: paired validation rollouts (same seeds), mean return compared."""

    def __init__(self, episodes: int = 8, margin: float = 0.0) -> None:
        self.episodes, self.margin = episodes, margin

    def evaluate(self, run_with: Callable[[bool, list[int]], list[float]], seeds: Sequence[int]) -> GateDecision:
        """``run_with(use_candidate, seeds)`` returns the returns of the episodes played with either skill."""
        seeds = list(seeds)[: self.episodes]
        old = float(np.mean(run_with(False, seeds)))
        new = float(np.mean(run_with(True, seeds)))
        accepted = new > old + self.margin
        reason = (
            "paired rollouts improve the mean return" if accepted else "paired rollouts do not improve the mean return"
        )
        return GateDecision(accepted, new, old, 0.0, len(seeds), reason)
