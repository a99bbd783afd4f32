"""Mastermind env throughput: our single and vector envs against TextArena's, same workload, same run.

The workload is one fixed list of random valid guesses (seeded); every env plays it from the
start, resetting with seed = episode index whenever a game ends. TextArena's ``MastermindEnv``
is stepped directly (``reset``, ``step``, ``get_observation``) when ``textarena`` is installed.
Prints JSON; ratios are against TextArena measured in this run (absolute numbers vary by machine).

    python benchmarks/env_throughput.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import gymnasium as gym
import numpy as np
from procmem_gym.envs.mastermind import MastermindEnv, MastermindVectorEnv

import procmem_gym  # noqa: F401  (registers the env ids)

ENV_ID = "procmem_gym/Mastermind-v0"


def workload(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Return ``n`` random valid v0 guesses as text and as an ``(n, 4)`` int array."""
    rng = np.random.default_rng(seed)
    guesses = np.argsort(rng.random((n, 6)), axis=1)[:, :4] + 1
    return ["[" + " ".join(map(str, g)) + "]" for g in guesses.tolist()], guesses


def bench_single(env, actions: list[str], steps: int) -> float:
    """Return steps/s of a Gymnasium env playing ``actions`` for ``steps`` steps."""
    k, episode = 0, 0
    start = time.perf_counter()
    while k < steps:
        env.reset(seed=episode)
        episode += 1
        done = False
        while not done and k < steps:
            _, _, terminated, truncated, _ = env.step(actions[k % len(actions)])
            done = terminated or truncated
            k += 1
    return k / (time.perf_counter() - start)


def bench_textarena(actions: list[str], steps: int) -> float | None:
    """Return steps/s of TextArena's own MastermindEnv, or None when textarena is not installed."""
    try:
        from textarena.envs.Mastermind.env import MastermindEnv as TAMastermind
    except ImportError:
        return None
    env = TAMastermind(code_length=4, num_numbers=6, max_turns=20, duplicate_numbers=False)
    k, episode = 0, 0
    start = time.perf_counter()
    while k < steps:
        env.reset(num_players=1, seed=episode)
        env.get_observation()
        episode += 1
        done = False
        while not done and k < steps:
            done, _ = env.step(actions[k % len(actions)])
            env.get_observation()
            k += 1
    return k / (time.perf_counter() - start)


def bench_vector(actions, num_envs: int, vector_steps: int, observation_mode: str) -> float:
    """Return env-steps/s of the vector env over ``vector_steps`` batched steps."""
    envs = gym.make_vec(
        ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", observation_mode=observation_mode
    )
    assert isinstance(envs.unwrapped, MastermindVectorEnv)
    envs.reset(seed=0)
    n = len(actions)
    batches = [actions[(i * num_envs) % n : (i * num_envs) % n + num_envs] for i in range(vector_steps)]
    batches = [b if len(b) == num_envs else actions[:num_envs] for b in batches]
    start = time.perf_counter()
    for batch in batches:
        envs.step(batch)
    return vector_steps * num_envs / (time.perf_counter() - start)


def main() -> None:
    """Measure every env and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000, help="single-env steps per measurement")
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--vector-steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="best of N measurements")
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args()

    text_actions, int_actions = workload(max(args.steps, args.num_envs * 4))

    def best(fn, *a):
        return max(fn(*a) for _ in range(args.repeats))

    results: dict[str, float | None] = {
        "textarena_steps_per_s": best(bench_textarena, text_actions, args.steps)
        if bench_textarena(text_actions, 1000) is not None
        else None,
        "single_steps_per_s": best(bench_single, MastermindEnv(), text_actions, args.steps),
        "single_make_steps_per_s": best(bench_single, gym.make(ENV_ID), text_actions, args.steps),
        "vector_text_env_steps_per_s": best(bench_vector, text_actions, args.num_envs, args.vector_steps, "text"),
        "vector_array_env_steps_per_s": best(
            bench_vector, int_actions.astype(np.int64), args.num_envs, args.vector_steps, "array"
        ),
    }
    ta = results["textarena_steps_per_s"]
    report = {
        "benchmark": "env_throughput",
        "env": ENV_ID,
        "num_envs": args.num_envs,
        "python": platform.python_version(),
        "results": {k: (round(v) if v is not None else None) for k, v in results.items()},
    }
    if ta:
        ratios = {
            k.replace("_steps_per_s", "") + "_vs_textarena": round(v / ta, 2)
            for k, v in results.items()
            if v and k != "textarena_steps_per_s"
        }
        report["ratios"] = ratios
        report["targets"] = {
            "single_vs_textarena>=2": ratios["single_vs_textarena"] >= 2,
            "vector_vs_textarena>=20": max(
                ratios["vector_text_env_vs_textarena"], ratios["vector_array_env_vs_textarena"]
            )
            >= 20,
        }
    else:
        report["note"] = "textarena is not installed: pip install textarena to measure the baseline"
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
