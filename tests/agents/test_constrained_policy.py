"""Policies inside a skill's constraint: the allowed set, sampling seeds, exact behaviour log-probabilities."""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from procmem_gym.agents import RandomPolicy  # noqa: E402
from procmem_gym.agents.hf_policy import HFPolicy  # noqa: E402
from procmem_gym.envs.mastermind.rules import feedback  # noqa: E402

from procmem_gym.skills.constraint import Constraint  # noqa: E402

SAME_FEEDBACK = Constraint.from_dict(
    {
        "all": [
            {"count": "same_position", "with": "{g}", "op": "==", "value": "{b}"},
            {"count": "in_common", "with": "{g}", "op": "==", "value": ["{b}", "{w}"]},
        ]
    }
)
COMMANDS = ["go to fridge 1", "open fridge 1", "take apple 1 from countertop 1", "go to microwave 1", "look"]


def mid_game(seed: int = 3):
    env = gym.make("procmem_gym/Mastermind-v0")
    obs, info = env.reset(seed=seed)
    obs, _, _, _, info = env.step("[1 2 3 4]")
    black, white = feedback((1, 2, 3, 4), env.unwrapped.secret)
    bound = SAME_FEEDBACK.bind(obs, {"g": "[1 2 3 4]", "b": str(black), "w": str(white)})
    return obs, info, bound, (black, white)


@pytest.fixture()
def sampler(tiny_model_dir):
    return HFPolicy.from_pretrained(
        tiny_model_dir, env_id="procmem_gym/Mastermind-v0", batch_size=4, max_new_tokens=24, temperature=1.0
    )


def test_guesses_stay_inside_the_constraint_and_the_logged_probability_is_exact(sampler):
    obs, info, bound, fb = mid_game()
    info = {**info, "procmem": {"constraint": bound}}
    actions = []
    for seed in range(6):
        sampler.reset(seed=seed)  # an empty history: the prompt the gate rebuilds (it leaves history out)
        actions.append(sampler.act(obs, info))
    details = sampler.last_details
    for a in actions:
        digits = tuple(int(x) for x in a.strip("[]").split())
        assert feedback((1, 2, 3, 4), digits) == fb  # same feedback as the secret would get
    assert details[0]["constraint"] == "applied"
    # the behaviour log-probability logged with the last action is what the gate recomputes
    again = sampler.action_logprobs([obs], [info], [actions[-1]], [[bound]])
    assert again[0, 0] == pytest.approx(details[0]["behaviour_logprob"], abs=1e-4)


def test_the_constrained_distribution_is_the_one_sampled_from(sampler):
    obs, info, bound, _ = mid_game()
    allowed = [
        "[" + " ".join(map(str, c)) + "]"
        for c in itertools.permutations(range(1, 7), 4)
        if bound.allows("[" + " ".join(map(str, c)) + "]") and c != (1, 2, 3, 4)
    ]
    held = sampler.action_logprobs([obs] * len(allowed), [info] * len(allowed), allowed, [[bound]] * len(allowed))
    # over the allowed guesses the probabilities sum to one (each is written one way only) ...
    assert np.exp(held[:, 0]).sum() == pytest.approx(1.0, abs=1e-4)
    excluded = next(
        "[" + " ".join(map(str, c)) + "]"
        for c in itertools.permutations(range(1, 7), 4)
        if not bound.allows("[" + " ".join(map(str, c)) + "]")
    )
    assert sampler.action_logprobs([obs], [info], [excluded], [[bound]])[0, 0] == -np.inf
    # ... and they are the frequencies the policy samples with
    n = 400
    counts: dict[str, int] = {}
    with_skill = {**info, "procmem": {"constraint": bound}}
    for seed in range(n):
        sampler.reset(seed=1000 + seed)
        a = sampler.act(obs, with_skill)
        counts[a] = counts.get(a, 0) + 1
    p = dict(zip(allowed, np.exp(held[:, 0]), strict=True))
    assert set(counts) <= set(allowed)
    for a in sorted(p, key=p.get)[-5:]:
        assert abs(counts.get(a, 0) / n - p[a]) < 4 * math.sqrt(p[a] * (1 - p[a]) / n) + 1e-3


def test_sampling_is_seeded_per_slot(sampler):
    obs, info, bound, _ = mid_game()
    info = {**info, "procmem": {"constraint": bound}}

    def draw(seed):
        sampler.reset(seed=seed, index=0)
        sampler.reset(seed=seed + 1, index=1)
        return [sampler.act_batch([obs, obs], [info, info], slots=[0, 1]) for _ in range(3)]

    assert draw(5) == draw(5) and draw(5) != draw(6)


def test_command_choice_inside_a_regex_constraint_and_skipped_when_it_allows_nothing(tiny_model_dir):
    policy = HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/ALFWorld-v0", batch_size=4)
    toward = Constraint.from_dict({"all": [{"matches": "go to {target} \\d+"}]}).bind("", {"target": "microwave"})
    info = {"admissible_commands": COMMANDS, "procmem": {"constraint": toward}}
    assert policy.act("You pick up the potato 1.", info) == "go to microwave 1"
    assert policy.last_details[0]["constraint"] == "applied"
    nothing = Constraint.from_dict({"all": [{"matches": "go to {target} \\d+"}]}).bind("", {"target": "garage"})
    action = policy.act(
        "You pick up the potato 1.", {"admissible_commands": COMMANDS, "procmem": {"constraint": nothing}}
    )
    assert action in COMMANDS and policy.last_details[0]["constraint"] == "skipped"


def test_the_random_policy_draws_uniformly_inside_the_constraint():
    obs, info, bound, fb = mid_game()
    policy = RandomPolicy(seed=0)
    seen = set()
    for _ in range(200):
        a = policy.act(obs, {**info, "procmem": {"constraint": bound}})
        seen.add(a)
        assert feedback((1, 2, 3, 4), tuple(int(x) for x in a.strip("[]").split())) == fb
    allowed = sum(
        bound.allows("[" + " ".join(map(str, c)) + "]") for c in itertools.permutations(range(1, 7), 4)
    ) - int(bound.allows("[1 2 3 4]"))
    assert policy.last_details[0]["behaviour_logprob"] == pytest.approx(-math.log(allowed))
    assert len(seen) > min(allowed, 200) * 0.5
