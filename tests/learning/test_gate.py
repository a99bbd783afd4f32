"""The PPO gate with exact constrained ratios, and the paired confirmation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from procmem_gym.learning.gate import PairedConfirmation, PPOGate, surrogate


def constrained_log_ratios(probs: dict[str, float], allowed: set[str], actions: list[str]) -> np.ndarray:
    """log π'(a) - log π(a) for π' = π renormalised over ``allowed`` (0 for an excluded action)."""
    z = sum(p for a, p in probs.items() if a in allowed)
    return np.array([math.log(1 / z) if a in allowed else -math.inf for a in actions])


PROBS = {"good": 0.4, "fine": 0.3, "bad": 0.2, "worse": 0.1}
ACTIONS = ["good", "fine", "bad", "worse", "good", "bad", "fine", "worse"]
ADVANTAGE = np.array([0.5, 0.2, -0.4, -0.6, 0.7, -0.3, 0.1, -0.5])


def test_a_constraint_that_excludes_only_negative_advantage_actions_is_admitted():
    log_r = constrained_log_ratios(PROBS, {"good", "fine"}, ACTIONS)
    d = PPOGate(eps=0.2, trust=1.5).decide(log_r, ADVANTAGE)
    # kept actions: r = 1/0.7 (clipped to 1.2 on positive advantages); excluded ones count 0.8 A
    expected = np.mean([1.2 * a if a > 0 else 0.8 * a for a in ADVANTAGE])
    assert d.accepted and d.surrogate_new == pytest.approx(expected) and d.excluded == pytest.approx(0.5)
    assert d.mean_abs_log_ratio == pytest.approx(math.log(1 / 0.7))


def test_a_constraint_that_excludes_positive_advantage_actions_is_rejected():
    log_r = constrained_log_ratios(PROBS, {"bad", "worse"}, ACTIONS)
    d = PPOGate(eps=0.2, trust=1.5).decide(log_r, ADVANTAGE)
    assert not d.accepted and d.surrogate_new < d.surrogate_old and "not above" in d.reason


def test_the_trust_bound_prices_the_kept_actions():
    # keeping only the least likely action multiplies its probability by 10: log r = 2.30 > 1.5
    log_r = constrained_log_ratios(PROBS, {"worse"}, ACTIONS)
    d = PPOGate(eps=0.2, trust=1.5).decide(log_r, -ADVANTAGE)
    assert not d.accepted and "trust" in d.reason and d.mean_abs_log_ratio == pytest.approx(math.log(10))


def test_an_identical_candidate_never_passes_and_few_samples_do_not_judge():
    gate = PPOGate(eps=0.2, trust=1.5, min_samples=4)
    assert not gate.decide(np.zeros(8), ADVANTAGE).accepted  # L(new) == L(old)
    d = gate.decide(np.zeros(2), ADVANTAGE[:2])
    assert not d.accepted and "only 2 samples" in d.reason


def test_the_clipped_surrogate_treats_minus_infinity_as_ratio_zero():
    assert surrogate(np.array([-np.inf, -np.inf]), np.array([1.0, -1.0]), 0.2) == pytest.approx((0 - 0.8) / 2)


def test_paired_confirmation_needs_a_positive_lower_bound():
    confirm = PairedConfirmation(level=0.95, min_pairs=8)
    base = [0.3, 0.5, 0.2, 0.4, 0.6, 0.3, 0.5, 0.4, 0.2, 0.3]
    better = [b + g for b, g in zip(base, [0.5, 0.4, 0.6, 0.5, 0.3, 0.7, 0.5, 0.4, 0.6, 0.5], strict=True)]
    noisy = [b + g for b, g in zip(base, [0.5, -0.4, 0.3, -0.5, 0.2, -0.1, 0.4, -0.3, 0.1, -0.2], strict=True)]
    yes, no = confirm.decide(better, base), confirm.decide(noisy, base)
    assert yes.accepted and yes.lower_bound > 0 and yes.pairs == 10
    assert not no.accepted and no.mean_gain == pytest.approx(0.0) and no.lower_bound < 0
    assert not confirm.decide([1.0] * 4, [0.0] * 4).accepted  # too few pairs to tell


def test_the_screen_rule_passes_a_wide_constraint_on_noisy_advantages_and_stops_a_harmful_one():
    rng = np.random.default_rng(0)
    n = 400
    adv = rng.normal(0.0, 0.1, n)  # one action hardly moves an episode's return: advantages ~ noise
    # the candidate keeps one action in ten and renormalises: r = 10/9 on those, 0 on the rest
    keep = rng.random(n) < 0.1
    log_r = np.where(keep, np.log(10 / 9), -np.inf)  # kept mass 0.9 of a renormalised distribution
    strict = PPOGate(eps=0.2, trust=1.5, rule="improve").decide(log_r, adv)
    screen = PPOGate(eps=0.2, trust=1.5, rule="screen").decide(log_r, adv)
    # strict PPO pays |A| for every excluded positive-advantage action and credits 0.2 |A| for a negative one
    assert not strict.accepted and strict.surrogate_new < strict.surrogate_old
    assert screen.accepted and "confirmation" in screen.reason
    # a candidate that excludes the actions with clearly positive advantage is stopped by the screen too
    adv2 = np.where(keep, -0.3, 0.3) + rng.normal(0.0, 0.05, n)
    harmful = PPOGate(eps=0.2, trust=1.5, rule="screen").decide(log_r, adv2)
    assert not harmful.accepted and "significantly below" in harmful.reason and harmful.change < 0
    # the screen never passes a candidate that changes nothing
    assert not PPOGate(rule="screen").decide(np.zeros(n), adv).accepted
    with pytest.raises(ValueError):
        PPOGate(rule="lenient")


def test_the_gate_says_when_advantages_carry_no_signal():
    for rule in PPOGate.RULES:
        d = PPOGate(rule=rule).decide(np.full(16, -np.inf), np.zeros(16))
        assert not d.accepted and "every advantage is 0" in d.reason
