"""Rollouts on Ray (``--backend ray``) against the local backend, on a local Ray with 2 CPUs."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter

import pytest
from procmem_gym.agents import RandomPolicy

from procmem_gym.cli.main import main
from procmem_gym.errors import MissingExtraError
from procmem_gym.rollouts.runner import Rollouts
from procmem_gym.rollouts.transitions import EpisodeRecord, read_log

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    from procmem_gym.rollouts.ray_backend import init_ray

    started = not ray.is_initialized()
    init_ray(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


def episodes_of(folder):
    """The logged episodes of a run as a multiset of (episode, seed, length, return, success)."""
    return Counter(
        (r.episode, r.seed, r.length, r.return_, r.success)
        for r in read_log(folder / "transitions.jsonl")
        if isinstance(r, EpisodeRecord)
    )


def summary_of(folder):
    summary = json.loads((folder / "summary.json").read_text())
    summary.pop("seconds")
    return summary


def steps_of(folder):
    """The logged steps, by episode and step (the order in which vector envs interleave them set aside)."""
    return sorted(line for line in (folder / "transitions.jsonl").read_text().splitlines() if '"t":' in line)


def test_run_on_ray_equals_the_local_backend_on_mastermind(local_ray, tmp_path):
    common = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "7", "--seed", "3"]
    assert main([*common, "--num-envs", "2", "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--num-envs", "1", "--out", str(tmp_path / "single")]) == 0
    assert main([*common, "--num-envs", "2", "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert summary_of(tmp_path / "ray") == summary_of(tmp_path / "local")
    assert episodes_of(tmp_path / "ray") == episodes_of(tmp_path / "local")
    assert sum(episodes_of(tmp_path / "ray").values()) == 7
    # every step as a single env logs it (the native vector env leaves None values out of info)
    assert steps_of(tmp_path / "ray") == steps_of(tmp_path / "single")
    assert json.loads((tmp_path / "ray" / "config.json").read_text())["backend"] == "ray"


def test_run_on_ray_equals_the_local_backend_on_alfworld(local_ray, tmp_path):
    pytest.importorskip("alfworld")
    from procmem_gym.envs.alfworld import copy_sample_games, prepare_games

    data = copy_sample_games(tmp_path / "data")
    prepare_games(data)
    common = [
        "run",
        "--env",
        "procmem_gym/ALFWorld-v0",
        "--agent",
        "random",
        "--episodes",
        "4",
        "--env-kwarg",
        f"data_dir={data}",
        "--env-kwarg",
        "split=valid_unseen",
        "--env-kwarg",
        "max_steps=8",
        "--num-envs",
        "2",
    ]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert summary_of(tmp_path / "ray") == summary_of(tmp_path / "local")
    assert episodes_of(tmp_path / "ray") == episodes_of(tmp_path / "local")
    assert steps_of(tmp_path / "ray") == steps_of(tmp_path / "local")


@pytest.mark.parametrize("how", ["ray.kill", "SIGKILL"])
def test_a_killed_worker_is_replaced_and_every_episode_counts_once(local_ray, tmp_path, how):
    def play(backend, kill=False):
        with Rollouts("procmem_gym/Mastermind-v0", 2, backend=backend) as rollouts:
            done = []

            def on_episode(record):
                done.append(record.episode)
                if kill and len(done) == 2:  # mid-run: the other worker is inside an episode
                    worker = rollouts.env.workers[0]
                    if how == "ray.kill":
                        ray.kill(worker)
                    else:
                        os.kill(ray.get(worker.pid.remote()), signal.SIGKILL)

            log = tmp_path / f"{backend}-{kill}.jsonl"
            played = rollouts.play(RandomPolicy(seed=0), episodes=6, seed=11, log_path=log, on_episode=on_episode)
            return played.records, getattr(rollouts.env, "restarts", 0), log

    local, _, local_log = play("local")
    killed, restarts, killed_log = play("ray", kill=True)
    assert restarts >= 1
    assert sorted(r.episode for r in killed) == list(range(6))  # each episode exactly once
    assert sorted(killed, key=lambda r: r.episode) == sorted(local, key=lambda r: r.episode)
    logged = [r.episode for r in read_log(killed_log) if isinstance(r, EpisodeRecord)]
    assert sorted(logged) == list(range(6))


def test_without_ray_the_message_names_the_extra(monkeypatch):
    from procmem_gym.rollouts.ray_backend import ray_module

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"procmem-gym\[ray\]"):
        ray_module()


def test_the_policy_can_run_in_a_ray_actor_with_the_same_result(local_ray, tmp_path):
    common = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "5", "--seed", "9"]
    assert main([*common, "--num-envs", "2", "--out", str(tmp_path / "local")]) == 0
    remote = ["--num-envs", "2", "--backend", "ray", "--policy-on", "ray", "--out", str(tmp_path / "ray")]
    assert main([*common, *remote]) == 0
    assert summary_of(tmp_path / "ray") == summary_of(tmp_path / "local")
    assert episodes_of(tmp_path / "ray") == episodes_of(tmp_path / "local")


def test_a_policy_in_an_actor_forwards_what_the_learner_uses(local_ray):
    from procmem_gym.rollouts.ray_backend import RayPolicy

    policy = RayPolicy({"name": "solver", "env_id": "procmem_gym/Mastermind-v0", "action_space": None, "seed": 0})
    assert policy.name == "solver" and hasattr(policy, "act_batch") and not hasattr(policy, "action_logprobs")
    policy.temperature = 0.5  # set in the actor, read back from it
    assert policy.temperature == 0.5
    policy.close()


def test_learn_on_ray_equals_the_local_backend(local_ray, tmp_path):
    args = ["learn", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--teacher", "solver"]
    args += ["--iterations", "1", "--episodes", "8", "--eval-episodes", "4", "--num-envs", "2"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0

    def without_times(value):
        if isinstance(value, dict):
            return {k: without_times(v) for k, v in value.items() if k not in ("seconds", "t")}
        if isinstance(value, list):
            return [without_times(v) for v in value]
        return value

    for name in ("iter-000/report.json", "evaluation.json"):
        local, remote = (json.loads((tmp_path / d / name).read_text()) for d in ("local", "ray"))
        assert without_times(remote) == without_times(local), name
    memory = [json.loads((tmp_path / d / "memory.json").read_text())["skills"] for d in ("local", "ray")]
    assert memory[0] == memory[1] and memory[0]
