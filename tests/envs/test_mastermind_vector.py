"""MastermindVectorEnv: same rules as the single env, array fast path, autoreset, make_vec."""

from __future__ import annotations

import random

import gymnasium as gym
import numpy as np
import pytest
from procmem_gym.envs.mastermind import MastermindEnv, MastermindVectorEnv


def test_make_vec_uses_the_vector_entry_point(mastermind_id):
    envs = gym.make_vec(mastermind_id, num_envs=4, vectorization_mode="vector_entry_point")
    assert isinstance(envs.unwrapped, MastermindVectorEnv)
    assert envs.unwrapped.rules == gym.make(mastermind_id).unwrapped.rules
    obs, info = envs.reset(seed=0)
    assert len(obs) == 4 and all(o.startswith("You are playing Mastermind.") for o in obs)
    assert envs.observation_space.contains(obs)


def random_action(rng: random.Random, rules, history: list[str]) -> str:
    """A mix of valid guesses, repeats of earlier guesses and malformed text."""
    r = rng.random()
    if r < 0.1 and history:
        return rng.choice(history)
    if r < 0.2:
        return rng.choice(["", "pass", "[1 2]", "[0 1 2 3 4 5]", "[" + " ".join(["1"] * rules.code_length) + "]"])
    return "[" + " ".join(str(rng.randint(1, rules.num_digits)) for _ in range(rules.code_length)) + "]"


@pytest.mark.parametrize("env_id", ["procmem_gym/Mastermind-v0", "procmem_gym/Mastermind-extreme-v0"])
def test_vector_env_matches_single_envs_on_random_games(env_id):
    """Play N games in the vector env and N single envs with the same secrets and actions."""
    n, steps = 16, 120
    kwargs = dict(gym.make(env_id).unwrapped.rules.__dict__)
    kwargs["max_turns"] = 8  # games end often, so autoreset is exercised too
    vec = MastermindVectorEnv(num_envs=n, **kwargs)
    singles = [MastermindEnv(**kwargs) for _ in range(n)]
    rng = random.Random(7)
    vec_obs, _ = vec.reset(seed=3)
    single_obs = [s.reset(options={"secret": vec.secrets[i].tolist()})[0] for i, s in enumerate(singles)]
    assert list(vec_obs) == single_obs
    histories: list[list[str]] = [[] for _ in range(n)]
    needs_reset = [False] * n
    ended = 0
    for _ in range(steps):
        actions = [random_action(rng, vec.rules, histories[i]) for i in range(n)]
        obs, rewards, terminated, truncated, info = vec.step(actions)
        for i, single in enumerate(singles):
            if needs_reset[i]:  # next-step autoreset: the vector env drew a new secret and ignored the action
                assert obs[i] == single.reset(options={"secret": vec.secrets[i].tolist()})[0]
                assert rewards[i] == 0 and not terminated[i]
                needs_reset[i], histories[i] = False, []
                continue
            s_obs, s_rew, s_term, s_trunc, s_info = single.step(actions[i])
            histories[i].append(actions[i])
            assert obs[i] == s_obs
            assert rewards[i] == pytest.approx(s_rew)
            assert (terminated[i], truncated[i]) == (s_term, s_trunc)
            assert info["turn"][i] == s_info["turn"] and info["success"][i] == s_info["success"]
            assert info["invalid_reason"][i] == s_info["invalid_reason"]
            if s_term:
                needs_reset[i] = True
                ended += 1
    assert ended > 20


def test_integer_actions_equal_text_actions():
    n = 64
    text_env = MastermindVectorEnv(num_envs=n, max_turns=6)
    array_env = MastermindVectorEnv(num_envs=n, max_turns=6, observation_mode="array")
    text_env.reset(seed=5)
    array_env.reset(seed=5)
    assert (text_env.secrets == array_env.secrets).all()
    rng = np.random.default_rng(0)
    for _ in range(40):
        guesses = rng.integers(0, 8, size=(n, 4))  # includes out-of-range digits and repeats
        texts = ["[" + " ".join(map(str, g)) + "]" for g in guesses.tolist()]
        t_obs, t_rew, t_term, _, t_info = text_env.step(texts)
        a_obs, a_rew, a_term, _, a_info = array_env.step(guesses)
        assert (t_rew == a_rew).all() and (t_term == a_term).all()
        assert list(t_info["invalid_reason"]) == list(a_info["invalid_reason"])
        assert array_env.observation_space.contains(a_obs)
        # the array observation holds what the text one says
        for i in range(n):
            turn = int(a_info["turn"][i])
            if turn and not t_obs[i].startswith("You are playing"):
                row = a_obs[i, turn - 1]
                assert f"{turn}. [{' '.join(map(str, row[:4]))}] -> {row[4]} black, {row[5]} white" in t_obs[i]


def test_text_actions_on_array_env_and_vice_versa():
    env = MastermindVectorEnv(num_envs=2, observation_mode="array")
    env.reset(seed=0, options={"secrets": [[1, 2, 3, 4], [4, 3, 2, 1]]})
    obs, rewards, terminated, _, _ = env.step(["[1 2 3 4]", "[1 2 3 4]"])
    assert rewards.tolist() == [1.0, 0.0] and terminated.tolist() == [True, False]
    assert obs[1, 0].tolist() == [1, 2, 3, 4, 0, 4]


def test_seeded_reset_is_deterministic():
    a, b = MastermindVectorEnv(num_envs=32), MastermindVectorEnv(num_envs=32)
    a.reset(seed=11)
    b.reset(seed=11)
    assert (a.secrets == b.secrets).all()
    b.reset(seed=12)
    assert not (a.secrets == b.secrets).all()


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        MastermindVectorEnv(num_envs=0)
    with pytest.raises(ValueError):
        MastermindVectorEnv(observation_mode="pixels")
    env = MastermindVectorEnv(num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected 2 actions"):
        env.step(["[1 2 3 4]"])
    with pytest.raises(ValueError, match="shape"):
        env.step(np.ones((3, 4), dtype=int))
