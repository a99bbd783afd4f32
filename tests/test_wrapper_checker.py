"""Gymnasium's own checker on wrapped envs, re-creation from ``env.spec``, and fresh info on every call."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from procmem_gym import ProceduralMemory, ProceduralMemoryWrapper, Skill

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mastermind-v0-memory.json"


def cartpole_memory() -> ProceduralMemory:
    memory = ProceduralMemory(embedder="hashing")
    memory.add(
        Skill.create(
            "push right",
            "the pole tilts right",
            "push right",
            patterns=[r"^\S+ \S+ 0\.0[5-9]"],
            steps=["1"],
            max_steps=1,
        )
    )
    return memory


@pytest.mark.parametrize("mode", ["off", "guide", "inject"])
def test_check_env_passes_on_wrapped_mastermind(mode):
    memory = None if mode == "off" else ProceduralMemory.load(EXAMPLE, embedder="hashing")
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), memory, mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the env is wrapped": checking the wrapped env is the point
        check_env(env)


@pytest.mark.parametrize("mode", ["off", "guide", "inject"])
def test_check_env_passes_on_wrapped_cartpole(mode):
    env = ProceduralMemoryWrapper(gym.make("CartPole-v1"), None if mode == "off" else cartpole_memory(), mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)  # CartPole's human render mode needs pygame


def test_spec_recreates_the_wrapper_with_a_memory_file(tmp_path):
    memory = ProceduralMemory.load(EXAMPLE, embedder="hashing")
    env = ProceduralMemoryWrapper(
        gym.make("procmem_gym/Mastermind-v0"), memory, mode="inject", log_path=tmp_path / "t.jsonl"
    )
    spec = env.spec
    assert spec.additional_wrappers[-1].kwargs["memory"] == str(EXAMPLE.absolute())
    assert "log_path" not in spec.additional_wrappers[-1].kwargs  # a re-created env never writes this env's log
    again = gym.make(spec)
    assert isinstance(again, ProceduralMemoryWrapper) and again.mode == "inject"
    assert [s.id for s in again.memory] == [s.id for s in memory]
    obs, info = again.reset(seed=0)
    assert info["procmem"]["next_action"] == env.reset(seed=0)[1]["procmem"]["next_action"] is not None
    again.close()
    env.close()


def test_spec_recreates_a_memory_that_was_never_saved():
    env = ProceduralMemoryWrapper(gym.make("CartPole-v1"), cartpole_memory(), mode="guide")
    again = gym.make(env.spec)
    assert [s.to_dict() for s in again.memory] == [s.to_dict() for s in env.memory]
    again.close()


@pytest.mark.parametrize("mode", ["off", "guide", "inject"])
def test_every_call_returns_fresh_procmem_info(mode):
    memory = None if mode == "off" else ProceduralMemory.load(EXAMPLE, embedder="hashing")
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), memory, mode=mode)
    _, first = env.reset(seed=1)
    first["procmem"]["guidance"] = "edited by the user"
    first["procmem"]["candidates"].append(("sk-x", 9.0))
    _, _, _, _, second = env.step("[1 2 3 4]")
    _, third = env.reset(seed=1)
    assert second["procmem"] is not first["procmem"] and third["procmem"] is not first["procmem"]
    assert third["procmem"]["guidance"] != "edited by the user" and ("sk-x", 9.0) not in third["procmem"]["candidates"]
