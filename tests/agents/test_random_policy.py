"""RandomPolicy: valid, untried, seeded guesses; admissible commands; action-space fallback."""

from __future__ import annotations

import gymnasium as gym
from procmem_gym.agents import Policy, RandomPolicy


def play(env_id: str, seed: int) -> list[str]:
    env = gym.make(env_id)
    policy = RandomPolicy(seed=0)
    policy.reset(seed=seed)
    obs, info = env.reset(seed=seed)
    actions, done = [], False
    while not done:
        action = policy.act(obs, info)
        actions.append(action)
        obs, _, done, _, info = env.step(action)
        assert info["invalid_reason"] is None
    return actions


def test_random_guesses_are_always_valid(mastermind_id):
    for seed in range(5):
        actions = play(mastermind_id, seed)
        assert len(actions) == len(set(actions))


def test_same_seed_same_actions():
    assert play("procmem_gym/Mastermind-v0", 3) == play("procmem_gym/Mastermind-v0", 3)
    assert play("procmem_gym/Mastermind-v0", 3) != play("procmem_gym/Mastermind-v0", 4)


def test_admissible_commands_and_action_space():
    policy = RandomPolicy(seed=0)
    assert policy.act("", {"admissible_commands": ["look", "go north"]}) in ("look", "go north")
    space = gym.spaces.Discrete(3)
    assert RandomPolicy(seed=0, action_space=space).act("", {}) in range(3)
    assert isinstance(policy, Policy)
