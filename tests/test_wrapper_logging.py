"""ProceduralMemoryWrapper in mode="off": the log every run writes, on text and non-text envs."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from procmem_gym.agents import MastermindSolver

from procmem_gym import ProceduralMemoryWrapper
from procmem_gym.rollouts.transitions import EpisodeRecord, LogFormatError, Transition, read_log, repair_log


def test_log_holds_every_transition_and_one_line_per_episode(tmp_path):
    path = tmp_path / "t.jsonl"
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), mode="off", log_path=path)
    solver = MastermindSolver()
    steps = []
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        assert info["procmem"] == {"active_skill": None, "guidance": None, "next_action": None, "candidates": []}
        done, n, first = False, 0, obs
        while not done:
            obs, reward, done, truncated, info = env.step(solver.act(obs, info))
            n += 1
        steps.append((n, first))
    env.close()
    items = list(read_log(path))
    episodes = [r for r in items if isinstance(r, EpisodeRecord)]
    transitions = [r for r in items if isinstance(r, Transition)]
    assert [e.length for e in episodes] == [n for n, _ in steps]
    assert all(e.success and e.return_ == 1.0 and e.seed == i for i, e in enumerate(episodes))
    assert len(transitions) == sum(n for n, _ in steps)
    first = transitions[0]
    assert first.episode == 0 and first.t == 0 and first.observation == steps[0][1]
    assert first.action_source == "policy" and first.skill is None and first.skill_event is None
    assert "history" not in first.info and first.info["turn"] == 1
    # every line is one JSON object with the documented keys
    keys = {
        "episode",
        "t",
        "observation",
        "action",
        "action_source",
        "reward",
        "terminated",
        "truncated",
        "skill",
        "skill_event",
        "info",
    }
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(keys <= set(d) or {"episode", "return", "length", "success", "skills_used"} <= set(d) for d in lines)


def test_wrapper_never_changes_rewards_or_termination():
    plain = gym.make("procmem_gym/Mastermind-v0")
    wrapped = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"))
    for env in (plain, wrapped):
        env.reset(seed=1)
    for action in ["[1 2 3 4]", "bad", "[5 6 1 2]", "[2 1 4 3]"]:
        a, b = plain.step(action), wrapped.step(action)
        assert a[:4] == b[:4]


def test_non_text_env_is_described(tmp_path):
    env = ProceduralMemoryWrapper(gym.make("CartPole-v1"), log_path=tmp_path / "c.jsonl")
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    env.close()
    first = next(iter(read_log(tmp_path / "c.jsonl")))
    assert isinstance(first, Transition) and len(first.observation.split()) == 4


def test_bad_mode_and_missing_memory_are_clear_errors():
    with pytest.raises(ValueError, match="mode"):
        ProceduralMemoryWrapper(gym.make("CartPole-v1"), mode="fast")
    with pytest.raises(ValueError, match="memory"):
        ProceduralMemoryWrapper(gym.make("CartPole-v1"), mode="guide")


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "t.jsonl"
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), log_path=path)
    solver = MastermindSolver()
    for seed in range(2):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, done, _, info = env.step(solver.act(obs, info))
    env.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"episode": 2, "t": 0, "obs')  # killed mid-write
    assert sum(isinstance(r, EpisodeRecord) for r in read_log(path)) == 2
    assert repair_log(path) == 2 and path.read_bytes() == whole
    path.write_bytes(b"not json\n" + whole)
    with pytest.raises(LogFormatError, match=":1:"):
        list(read_log(path))
