"""Rollout scale: ALFWorld expert episodes/s on the local sync, local async and Ray backends, same games, same run.

Every configuration plays the same episodes (the same seeds, so the same games) with the
hand-coded expert through :class:`~procmem_gym.rollouts.runner.Rollouts` and the memory wrapper's
transition log, as ``procmem-gym run`` does:

- ``local-sync-N``: one process, N envs stepped in turn (``SyncVectorEnv``; N = 1: a single env);
- ``local-async-N``: N env processes (``AsyncVectorEnv``);
- ``ray-N``: N Ray actors on a local Ray (``--backend ray``).

Ray's overhead per step is the round trip of one actor call (measured on an actor that does
nothing) and, end to end, ``ray-1``'s time per step minus ``local-sync-1``'s. The games are the
bundled samples prepared into a temporary folder (or ``--data-dir``/``--split``). Prints JSON;
ratios are against ``local-sync-1`` of the same run.

    python benchmarks/rollout_scale.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from procmem_gym.agents import ExpertPolicy
from procmem_gym.envs.alfworld import copy_sample_games, prepare_games

import procmem_gym  # noqa: F401  (registers the env ids)
from procmem_gym.rollouts.runner import Rollouts


def play(backend: str, num_envs: int, env_kwargs: dict, episodes: int, folder: Path) -> dict:
    """Return the time, steps and episode outcomes of one configuration (env start-up not timed)."""
    kwargs = dict(env_kwargs)
    if backend == "async":
        kwargs["vectorization_mode"] = "async"
    with Rollouts(
        "procmem_gym/ALFWorld-v0", num_envs, kwargs, backend="ray" if backend == "ray" else "local"
    ) as rollouts:
        log = folder / f"{backend}-{num_envs}.jsonl"
        rollouts.play(ExpertPolicy(), episodes=min(2, episodes), seed=10_000, log_path=log)  # warm up: load the games
        start = time.perf_counter()
        played = rollouts.play(ExpertPolicy(), episodes=episodes, seed=0, log_path=log)
        seconds = time.perf_counter() - start
    steps = sum(r.length for r in played.records)
    return {
        "backend": backend,
        "workers": num_envs,
        "episodes": len(played.records),
        "steps": steps,
        "success_rate": sum(r.success for r in played.records) / len(played.records),
        "seconds": round(seconds, 3),
        "episodes_per_s": round(len(played.records) / seconds, 3),
        "steps_per_s": round(steps / seconds, 2),
        "outcomes": sorted((r.episode, r.length, r.success) for r in played.records),
    }


def actor_round_trip_ms(calls: int = 300) -> float:
    """Return the median time of one call to a Ray actor that does nothing (the transport's share of a step)."""
    from procmem_gym.rollouts.ray_backend import init_ray

    ray = init_ray()

    @ray.remote
    class Noop:
        def step(self, action):
            return action

    actor = Noop.remote()
    ray.get(actor.step.remote("look"))
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        ray.get(actor.step.remote("look"))
        times.append(time.perf_counter() - t)
    ray.kill(actor)
    return round(statistics.median(times) * 1e3, 3)


def main() -> None:
    """Play every configuration on the same episodes; print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="ALFWorld data (default: the bundled samples, prepared)")
    parser.add_argument("--split", default="valid_unseen")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from procmem_gym.rollouts.ray_backend import init_ray

    init_ray(num_cpus=os.cpu_count())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = args.data_dir
        if data is None:
            data = copy_sample_games(folder / "data")
            prepare_games(data)
        env_kwargs = {"data_dir": str(data), "split": args.split}
        rows = []
        for n in [int(w) for w in args.workers.split(",")]:
            rows.append(play("sync", n, env_kwargs, args.episodes, folder))
            if n > 1:
                rows.append(play("async", n, env_kwargs, args.episodes, folder))
            rows.append(play("ray", n, env_kwargs, args.episodes, folder))
    base = next(r for r in rows if r["backend"] == "sync" and r["workers"] == 1)
    ray1 = next((r for r in rows if r["backend"] == "ray" and r["workers"] == 1), None)
    same = all(r["outcomes"] == base["outcomes"] for r in rows)
    round_trip = actor_round_trip_ms()
    for r in rows:
        r["speedup_vs_local_sync_1"] = round(r["steps_per_s"] / base["steps_per_s"], 3)
        del r["outcomes"]
    report = {
        "benchmark": "rollout_scale",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "split": args.split,
        "rows": rows,
        "same_episodes_everywhere": same,
        "ray_actor_round_trip_ms": round_trip,
        "ray_overhead_ms_per_step": None
        if ray1 is None
        else round((1 / ray1["steps_per_s"] - 1 / base["steps_per_s"]) * 1e3, 3),
    }
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
