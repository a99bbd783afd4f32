"""The wrapper's memory modes: activation, termination, guidance, injection, reuse metrics, vector envs."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import RecordEpisodeStatistics
from procmem_gym.agents import BasePolicy, RandomPolicy

from procmem_gym import ProceduralMemory, ProceduralMemoryWrapper, Skill
from procmem_gym.rollouts.runner import run_episodes, summarize
from procmem_gym.rollouts.transitions import EpisodeRecord, Transition, read_log
from procmem_gym.wrappers.vector import ProceduralMemoryVectorWrapper

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mastermind-v0-memory.json"
ZERO_BLACK = r"Feedback: 0 black peg\(s\), 4 white"


def one_skill_memory(**kw) -> ProceduralMemory:
    m = ProceduralMemory(embedder="hashing")
    m.add(
        Skill.create(
            "no black peg",
            "the last guess had no black peg",
            "Move every digit to another position.",
            patterns=["^Submitted.*" + ZERO_BLACK],
            max_steps=1,
            **kw,
        )
    )
    return m


def play(env, policy, episodes, seed=0):
    return run_episodes(env, policy, range(episodes), seed=seed)


def test_reuse_rates_are_exactly_what_the_log_implies(tmp_path):
    """The skill fires exactly on observations whose first line reports 0 black pegs, for one step."""
    log = tmp_path / "t.jsonl"
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), one_skill_memory(), mode="guide", log_path=log)
    records = play(env, RandomPolicy(seed=0), 40)
    env.close()
    transitions = [r for r in read_log(log) if isinstance(r, Transition)]
    fires = [bool(re.match("^Submitted.*" + ZERO_BLACK, t.observation)) for t in transitions]
    assert 0 < sum(fires) < len(fires)  # the pattern matches only some observations
    assert [t.skill is not None for t in transitions] == fires
    assert all(
        t.skill_event == "terminate" for t, f in zip(transitions, fires, strict=False) if f
    )  # max_steps=1: one step each
    episodes_with = {t.episode for t, f in zip(transitions, fires, strict=False) if f}
    summary = summarize(records, "x", "random", 0.0)
    assert summary.reuse_rate == len(episodes_with) / 40
    assert summary.step_reuse_rate == sum(fires) / len(transitions)
    assert 0 < summary.reuse_rate < 1


def test_guide_mode_exposes_guidance_and_never_acts():
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), one_skill_memory(), mode="guide")
    env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    obs, _, _, _, info = env.step("[2 1 4 3]")  # 0 black, 4 white
    pm = info["procmem"]
    assert pm["active_skill"] is not None and pm["guidance"].startswith("Move every digit")
    assert pm["next_action"] is None and pm["candidates"][0][0] == pm["active_skill"]
    obs, _, _, _, info = env.step("[1 3 2 4]")
    assert obs.startswith("Submitted [1 3 2 4]") and info["procmem"]["active_skill"] is None


def test_augmented_observation_carries_the_guidance():
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), one_skill_memory(), augment_observation=True)
    env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    obs, *_ = env.step("[2 1 4 3]")
    assert obs.startswith("[Skill: no black peg] Move every digit") and "Submitted [2 1 4 3]" in obs


def test_inject_mode_sends_the_skills_actions_with_slots(tmp_path):
    memory = ProceduralMemory.load(EXAMPLE)
    log = tmp_path / "t.jsonl"
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), memory, mode="inject", log_path=log)
    obs, info = env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    assert info["procmem"]["next_action"] == "[1 2 3 4]"
    obs, reward, terminated, _, info = env.step("[5 6 1 2]")
    assert terminated and reward == 1.0  # the opening skill's action was sent, not the policy's
    env.reset(seed=0, options={"secret": (4, 3, 2, 1)})
    env.step("policy action ignored")  # opening [1 2 3 4] -> 0 black 4 white: derangement skill activates
    _, _, _, _, info = env.step("ignored")
    env.close()
    transitions = [r for r in read_log(log) if isinstance(r, Transition)]
    assert transitions[0].action == "[1 2 3 4]" and transitions[0].action_source == "skill"
    assert transitions[0].info["policy_action"] == "[5 6 1 2]"
    derange = transitions[2]
    assert derange.skill_event == "activate" and derange.action_source == "skill"
    assert derange.action == "[2 1 4 3]"  # first derangement of the captured digits {a}=1 {b}=2 {c}=3 {d}=4


def test_termination_by_pattern_counts_a_completion():
    memory = ProceduralMemory.load(EXAMPLE)
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), memory, mode="inject")
    env.reset(seed=0, options={"secret": (4, 3, 2, 1)})  # the last of the nine derangements
    done = False
    while not done:
        _, reward, done, _, info = env.step("unused")
    assert reward == 1.0 and info["turn"] == 10
    record = env.episodes[-1]
    assert len(record.skills_used) == 2 and record.skill_steps == record.length
    derange = next(s for s in memory.skills if "none in place" in s.name)
    assert derange.stats.episodes == 1 and derange.stats.completions == 1 and derange.stats.successes == 1


def test_example_memory_beats_no_memory_for_the_random_agent():
    def mean_return(mode):
        memory = ProceduralMemory.load(EXAMPLE)
        env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), memory, mode=mode)
        records = play(env, RandomPolicy(seed=0), 200)
        return summarize(records, "x", "random", 0.0)

    off, inject = mean_return("off"), mean_return("inject")
    assert inject.mean_return > off.mean_return + 0.2
    assert inject.reuse_rate == 1.0 and off.reuse_rate == 0.0
    print(f"random agent, 200 episodes: no memory {off.mean_return:.3f}, inject {inject.mean_return:.3f}")


def test_wrapper_composes_with_record_episode_statistics():
    env = RecordEpisodeStatistics(ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), one_skill_memory()))
    policy = RandomPolicy(seed=1)
    obs, info = env.reset(seed=0)
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
        done = terminated or truncated
    assert info["episode"]["r"] == pytest.approx(env.env.episodes[-1].return_)
    assert info["episode"]["l"] == env.env.episodes[-1].length
    inner = ProceduralMemoryWrapper(RecordEpisodeStatistics(gym.make("procmem_gym/Mastermind-v0")), one_skill_memory())
    inner.reset(seed=0)
    assert "procmem" in inner.step("[1 2 3 4]")[4]


def test_cartpole_with_describe_and_a_pattern_skill(tmp_path):
    memory = ProceduralMemory(embedder="hashing")
    memory.add(
        Skill.create(
            "push right",
            "the pole leans right",
            "push the cart right",
            patterns=[r"^\S+ \S+ 0\.0[5-9]"],
            steps=["1"],
            max_steps=1,
        )
    )
    env = ProceduralMemoryWrapper(gym.make("CartPole-v1"), memory, mode="inject", log_path=tmp_path / "c.jsonl")

    class Left(BasePolicy):
        def act(self, obs, info):
            return 0

    records = play(env, Left(), 3)
    env.close()
    transitions = [r for r in read_log(tmp_path / "c.jsonl") if isinstance(r, Transition)]
    injected = [t for t in transitions if t.action_source == "skill"]
    assert injected and all(t.action == "1" and re.match(r"^\S+ \S+ 0\.0[5-9]", t.observation) for t in injected)
    assert sum(r.skill_steps for r in records) == len(injected)


def test_vector_env_logs_every_sub_env_episode(tmp_path):
    log = tmp_path / "v.jsonl"
    memory = ProceduralMemory.load(EXAMPLE)
    venv = gym.make_vec("procmem_gym/Mastermind-v0", num_envs=4, vectorization_mode="vector_entry_point")
    env = ProceduralMemoryVectorWrapper(venv, memory, mode="inject", log_path=log)
    assert isinstance(env, ProceduralMemoryVectorWrapper)
    obs, info = env.reset(seed=0)
    assert all(p["next_action"] == "[1 2 3 4]" for p in info["procmem"])
    rng = np.random.default_rng(0)
    for _ in range(60):
        actions = ["[" + " ".join(map(str, rng.permutation(6)[:4] + 1)) + "]" for _ in range(4)]
        obs, rewards, terminated, truncated, info = env.step(actions)
    env.close()
    items = list(read_log(log))
    episodes = [r for r in items if isinstance(r, EpisodeRecord)]
    transitions = [r for r in items if isinstance(r, Transition)]
    assert len(episodes) == len(env.episodes) >= 8
    ids = [e.episode for e in episodes]
    assert len(set(ids)) == len(ids) and max(ids) < len(ids) + 4  # ids are given at the start; 4 still running
    unfinished = {t.episode for t in transitions} - set(ids)
    assert 0 < len(unfinished) <= 4  # close() wrote the running episodes' steps, without an episode line
    for e in episodes:
        steps = [t for t in transitions if t.episode == e.episode]
        assert len(steps) == e.length and [t.t for t in steps] == list(range(e.length))
        assert steps[0].action == "[1 2 3 4]" and steps[0].action_source == "skill"
        assert steps[0].observation.startswith("You are playing Mastermind.")


def test_sync_vector_env_works_too():
    venv = gym.make_vec("procmem_gym/Mastermind-v0", num_envs=2, vectorization_mode="sync")
    env = ProceduralMemoryVectorWrapper(venv, ProceduralMemory.load(EXAMPLE), mode="guide")
    obs, info = env.reset(seed=1)
    assert info["procmem"][0]["guidance"].startswith("Open with [1 2 3 4]")
    env.step(["[1 2 3 4]", "[1 2 3 5]"])
    assert len(env.episodes) == 0


def test_vector_inject_converts_skill_actions_for_non_text_envs(tmp_path):
    memory = ProceduralMemory(embedder="hashing")
    memory.add(
        Skill.create(
            "push right",
            "the pole leans right",
            "push the cart right",
            patterns=[r"^\S+ \S+ 0\.0[5-9]"],
            steps=["1"],
            max_steps=1,
        )
    )
    env = ProceduralMemoryVectorWrapper(
        gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"),
        memory,
        mode="inject",
        log_path=tmp_path / "v.jsonl",
    )
    env.reset(seed=0)
    for _ in range(40):
        env.step(np.zeros(2, dtype=np.int64))  # the policy always pushes left
    env.close()
    injected = [t for t in read_log(tmp_path / "v.jsonl") if isinstance(t, Transition) and t.action_source == "skill"]
    assert injected and all(t.action == "1" for t in injected)
