"""The PPO gate with a scripted model whose log-probabilities are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from procmem_gym.learning.experience import Sample
from procmem_gym.learning.gate import PPOGate, RolloutGate, surrogate

# Two logged decisions: "good" had advantage +1, "bad" had advantage -1.
SAMPLES = [Sample("state A", "good", 1.0), Sample("state B", "bad", -1.0)]


class ScriptedModel:
    """log π(action | prompt) from a table: the prompt names the skill version."""

    def __init__(self, table):
        self.table = table
        self.calls = 0

    def logprob(self, prompts, actions):
        self.calls += 1
        return np.array([self.table[(p.split("|")[0], a)] for p, a in zip(prompts, actions, strict=False)])


def run_gate(table, gate=None):
    model = ScriptedModel(table)
    gate = gate or PPOGate(eps=0.2, margin=0.0, trust=0.5)
    return gate.evaluate(SAMPLES, model.logprob, lambda s: "old|" + s, lambda s: "new|" + s)


def test_candidate_raising_high_advantage_actions_is_admitted():
    table = {
        ("old", "good"): math.log(0.4),
        ("new", "good"): math.log(0.6),  # r = 1.5
        ("old", "bad"): math.log(0.5),
        ("new", "bad"): math.log(0.4),
    }  # r = 0.8
    d = run_gate(table)
    # L(new) = mean(min(1.5*1, 1.2*1), min(0.8*-1, 0.8*-1)) = mean(1.2, -0.8) = 0.2 ; L(old) = mean(1, -1) = 0
    assert d.accepted
    assert d.surrogate_new == pytest.approx(0.2) and d.surrogate_old == pytest.approx(0.0)
    assert d.mean_abs_log_ratio == pytest.approx((math.log(1.5) + abs(math.log(0.8))) / 2)


def test_candidate_raising_low_advantage_actions_is_rejected():
    table = {
        ("old", "good"): math.log(0.5),
        ("new", "good"): math.log(0.4),  # r = 0.8
        ("old", "bad"): math.log(0.4),
        ("new", "bad"): math.log(0.6),
    }  # r = 1.5
    d = run_gate(table)
    # L(new) = mean(min(0.8, 0.8), min(-1.5, -1.2)) = mean(0.8, -1.5) = -0.35
    assert not d.accepted and d.surrogate_new == pytest.approx(-0.35) and "not above" in d.reason


def test_candidate_past_the_trust_bound_is_rejected():
    table = {
        ("old", "good"): math.log(0.1),
        ("new", "good"): math.log(0.9),  # r = 9
        ("old", "bad"): math.log(0.5),
        ("new", "bad"): math.log(0.5),
    }
    d = run_gate(table)
    # the surrogate would improve (clipped: mean(1.2, -1) = 0.1 > 0) but mean |log r| = log(9)/2 = 1.0986 > 0.5
    assert d.surrogate_new == pytest.approx(0.1)
    assert not d.accepted and d.mean_abs_log_ratio == pytest.approx(math.log(9) / 2) and "trust" in d.reason
    loose = run_gate(table, PPOGate(eps=0.2, margin=0.0, trust=2.0))
    assert loose.accepted


def test_margin_and_minimum_samples():
    table = {("old", "good"): 0.0, ("new", "good"): 0.0, ("old", "bad"): 0.0, ("new", "bad"): 0.0}
    assert not run_gate(table).accepted  # an identical candidate never passes: L(new) == L(old)
    d = PPOGate(min_samples=3).evaluate(SAMPLES, None, str, str)
    assert not d.accepted and "only 2 samples" in d.reason


def test_surrogate_formula():
    assert surrogate(np.log([2.0, 0.5]), np.array([1.0, 1.0]), 0.2) == pytest.approx((1.2 + 0.5) / 2)
    assert surrogate(np.log([2.0, 0.5]), np.array([-1.0, -1.0]), 0.2) == pytest.approx((-2.0 - 0.8) / 2)


def test_rollout_gate_compares_paired_returns():
    def run_with(candidate, seeds):
        return [0.5 + (0.1 if candidate else 0.0) for _ in seeds]

    d = RolloutGate(episodes=4).evaluate(run_with, range(10))
    assert d.accepted and d.samples == 4 and d.surrogate_new == pytest.approx(0.6)


def test_learner_falls_back_to_paired_rollouts_without_log_probabilities(tmp_path):
    """A policy without logprob (the random agent here, a chat server in practice) is gated by rollouts."""
    from procmem_gym.agents import RandomPolicy

    from procmem_gym import ProceduralMemory, Skill
    from procmem_gym.learning.npppo import NPPOConfig, NPPOLearner

    memory = ProceduralMemory(embedder="hashing")
    learner = NPPOLearner(
        "procmem_gym/Mastermind-v0", RandomPolicy(seed=0), memory, tmp_path, NPPOConfig(rollout_episodes=6, margin=0.0)
    )
    # all digits found, none in place: trying the derangements beats random guessing
    derange = Skill.create(
        "derange",
        "0 black 4 white",
        "try the derangements",
        patterns=[r"^Submitted \[(?P<a>\d) (?P<b>\d) (?P<c>\d) (?P<d>\d)\]\. Feedback: 0 black peg\(s\), 4 white"],
        steps=["[{b} {a} {d} {c}]", "[{b} {c} {d} {a}]", "[{b} {d} {a} {c}]"],
        max_steps=3,
    )
    opener = Skill.create(
        "open", "start", "open with [2 1 4 3]", patterns=["^You are playing"], steps=["[2 1 4 3]"], max_steps=1
    )
    memory.add(opener)
    decision = learner._gate([], None, derange)
    assert decision.samples == 6 and "paired rollouts" in decision.reason
    assert decision.surrogate_new != decision.surrogate_old or not decision.accepted
    assert len(list((tmp_path / "iter-000" / "gate").glob("*.jsonl"))) == 2
