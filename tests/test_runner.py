"""Who acts: the wrapper decides, the runner asks the policy only then, and the policy hears of every step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from procmem_gym.agents import BasePolicy, RandomPolicy

from procmem_gym import ProceduralMemory, ProceduralMemoryWrapper, Skill
from procmem_gym.rollouts.runner import Rollouts, run_episodes, run_vector_episodes
from procmem_gym.rollouts.transitions import Transition, read_log
from procmem_gym.wrappers.episode import Bookkeeping


class EchoEnv(gym.Env):
    """A text env that answers every command with 'You did: <command>.' and ends after 4 steps."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = spaces.Text(200)
        self.action_space = spaces.Text(200)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return "You are in a room.", {}

    def step(self, action):
        self.t += 1
        return f"You did: {action}.", 0.0, self.t >= 4, False, {}


def look_memory() -> ProceduralMemory:
    memory = ProceduralMemory(embedder="hashing")
    memory.add(
        Skill.create(
            "look first", "entering a room", "look around", patterns=["^You are in a room"], steps=["look"], max_steps=1
        )
    )
    return memory


class Counting(BasePolicy):
    def __init__(self):
        self.asked, self.told = [], []

    def act(self, observation, info):
        self.asked.append(observation)
        return "wait"

    def observe(self, observation, info, action, slot=0):
        self.told.append((observation, action, slot))


def test_policy_is_asked_only_when_no_skill_acts_and_told_of_the_rest():
    env = ProceduralMemoryWrapper(EchoEnv(), look_memory(), mode="inject")
    policy = Counting()
    run_episodes(env, policy, range(2))
    assert policy.told == [("You are in a room.", "look", 0)] * 2
    assert len(policy.asked) == 6 and "You are in a room." not in policy.asked


def test_an_injected_step_shows_in_the_llm_policys_next_prompt(tiny_model_dir, monkeypatch):
    pytest.importorskip("transformers")
    from procmem_gym.agents.hf_policy import HFPolicy

    policy = HFPolicy.from_pretrained(tiny_model_dir, env_id=None, max_new_tokens=4)
    prompts = []
    original = policy.prompt
    monkeypatch.setattr(policy, "prompt", lambda o, i, slot=0: prompts.append(original(o, i, slot)) or prompts[-1])
    env = ProceduralMemoryWrapper(EchoEnv(), look_memory(), mode="inject")
    run_episodes(env, policy, range(1))
    assert len(prompts) == 3  # the skill took the first of the 4 steps
    assert "You are in a room.\nYour action: look" in prompts[0] and "You did: look." in prompts[0]


def test_vector_runner_asks_only_sub_envs_that_need_the_policy():
    from procmem_gym.wrappers.vector import ProceduralMemoryVectorWrapper

    vec = gym.vector.SyncVectorEnv([EchoEnv for _ in range(3)])
    env = ProceduralMemoryVectorWrapper(vec, look_memory(), mode="inject", bookkeeping=Bookkeeping(episode_limit=5))
    assert isinstance(env, ProceduralMemoryVectorWrapper)
    policy = Counting()
    records = run_vector_episodes(env, policy, 5)
    assert len(records) == 5 and len(policy.told) == 5 and len(policy.asked) == 15
    assert {slot for _, _, slot in policy.told} == {0, 1, 2}


def test_rollouts_hand_back_the_episodes_the_log_holds(tmp_path):
    log = tmp_path / "t.jsonl"
    with Rollouts("procmem_gym/Mastermind-v0", num_envs=3) as rollouts:
        played = rollouts.play(
            RandomPolicy(seed=0),
            ProceduralMemory.load("examples/mastermind-v0-memory.json", embedder="hashing"),
            "inject",
            7,
            0,
            log,
            keep_episodes=True,
        )
    logged = [t for t in read_log(log) if isinstance(t, Transition)]
    assert [e.record for e in played.episodes] == played.records and len(played.records) == 7
    assert sorted((t.episode, t.t, t.action) for e in played.episodes for t in e.transitions) == sorted(
        (t.episode, t.t, t.action) for t in logged
    )


def test_rollouts_reuse_the_env_and_replay_the_same_seeds(tmp_path):
    with Rollouts("procmem_gym/Mastermind-v0") as rollouts:
        a = rollouts.play(RandomPolicy(seed=0), episodes=4, seed=3).records
        b = rollouts.play(RandomPolicy(seed=0), episodes=4, seed=3).records
    assert a == b and np.mean([r.return_ for r in a]) > 0
