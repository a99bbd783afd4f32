"""ALFWorld at evaluation scale: does memory let the embedded model win on unseen rooms and objects?

The offline route a user follows, end to end, with the numbers of each step:

1. generate games (``procmem-gym alfworld generate``; or ``--data-dir`` with games already there);
2. the expert plays every ``train`` game (the trajectories);
3. ``build --strategy proceduralization``: MemP's memory from those trajectories (memories keyed by
   the task, retrieved once per episode; procedures with the goal's slots as constraint skills);
4. online: the model plays ``valid_seen`` games (seen floor plans, games the memory was not built
   from: a game's own memories are never retrieved, so on ``train`` games most would be left out)
   with that memory, and MemP's Update learns from its own episodes
   (``learn --method memp --update validation``);
5. rows on ``valid_unseen`` (held-out floor plans and object classes), every row on the same games
   and seeds: no memory, MemP memory, memory after online learning, the random agent with the
   MemP memory, the expert (ceiling); then the same rows on the 6 bundled hand-written
   ``valid_unseen`` games, for reference.

Each row reports success rate and mean steps with 95 % bootstrap intervals, and its paired
difference with the no-memory row (bootstrap CI of the mean difference, exact McNemar p).

    python benchmarks/alfworld_memory.py --json --out runs/alfworld-memory
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ENV = "procmem_gym/ALFWorld-v0"


def interval(values, seed: int = 0) -> list[float]:
    """95 % percentile bootstrap interval of a mean."""
    from procmem_gym.analysis.evaluation import bootstrap_ci

    low, high = bootstrap_ci([float(v) for v in values], seed=seed)
    return [round(low, 4), round(high, 4)]


def row_report(result) -> dict:
    """The numbers of one evaluated row."""
    records = result.records
    out = {
        "episodes": len(records),
        "success_rate": round(float(np.mean([r.success for r in records])), 4),
        "success_ci95": interval([r.success for r in records]),
        "mean_steps": round(float(np.mean([r.length for r in records])), 2),
        "steps_ci95": interval([r.length for r in records]),
        "reuse_rate": result.summary.get("reuse_rate"),
        "step_reuse_rate": result.summary.get("step_reuse_rate"),
        "model_calls": result.summary.get("model_calls"),
        "seconds": result.summary.get("seconds"),
    }
    if result.against_baseline is not None:
        c = result.against_baseline
        out["vs_no_memory"] = {
            "pairs": c.pairs,
            "success_difference": round(c.success_b - c.success_a, 4),
            "return_difference_ci95": [round(c.ci_low, 4), round(c.ci_high, 4)],
            "only_no_memory_won": c.only_a_won,
            "only_this_row_won": c.only_b_won,
            "mcnemar_p": c.success_p,
        }
    return out


def evaluate(data_dir: Path, split: str, episodes: int, rows_spec, num_envs: int, folder: Path) -> dict:
    """Play the rows on ``split`` of ``data_dir``; return each row's report."""
    from procmem_gym.learning.evaluate import Row, evaluate_rows
    from procmem_gym.rollouts.runner import Rollouts

    folder.mkdir(parents=True, exist_ok=True)
    rows = [Row(name, policy, memory, mode, f"{name}.jsonl") for name, policy, memory, mode in rows_spec]
    with Rollouts(ENV, num_envs=num_envs, env_kwargs={"data_dir": str(data_dir), "split": split}) as rollouts:
        results = evaluate_rows(rollouts, rows, episodes, 0, folder)
    return {r.row.name: row_report(r) for r in results}


def main() -> None:
    """Run the route and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="generated or official games (default: generate them)")
    parser.add_argument("--train", type=int, default=240)
    parser.add_argument("--valid-seen", type=int, default=60)
    parser.add_argument("--valid-unseen", type=int, default=120)
    parser.add_argument(
        "--episodes", type=int, default=None, help="valid_unseen episodes per row (default: every game)"
    )
    parser.add_argument(
        "--online-episodes", type=int, default=48, help="valid_seen episodes of online learning (0: skip)"
    )
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--agent", default="smollm2")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16"), default=None, help="weights of a local LLM agent (default float32)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from procmem_gym.agents import ExpertPolicy, RandomPolicy
    from procmem_gym.agents.factory import make_policy
    from procmem_gym.envs.alfworld import copy_sample_games, find_games, prepare_games
    from procmem_gym.envs.alfworld.generate import generate_games

    from procmem_gym.learning.memp import build_memory
    from procmem_gym.memory import ProceduralMemory
    from procmem_gym.rollouts.runner import Rollouts

    report: dict = {"benchmark": "alfworld_memory", "agent": args.agent, "dtype": args.dtype or "float32"}
    with contextlib.ExitStack() as stack:
        out = Path(args.out) if args.out else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        out.mkdir(parents=True, exist_ok=True)
        if args.data_dir:
            data = Path(args.data_dir)
        else:
            data = out / "games"
            start = time.perf_counter()
            made = generate_games(
                data,
                {"train": args.train, "valid_seen": args.valid_seen, "valid_unseen": args.valid_unseen},
                seed=args.seed,
            )
            seconds = time.perf_counter() - start
            report["generation"] = {
                "games": len(made.games),
                "seconds": round(seconds, 1),
                "games_per_minute": round(60 * len(made.games) / seconds, 1),
                "redrawn": made.failed_attempts,
                "official_sizes_minutes_estimate": round((3553 + 140 + 134) / (len(made.games) / seconds) / 60, 1),
            }
        train = find_games(data, "train")
        unseen = find_games(data, "valid_unseen")
        episodes = args.episodes or len(unseen)

        # 2-3: expert trajectories on train, MemP's build
        start = time.perf_counter()
        with Rollouts(ENV, num_envs=1, env_kwargs={"data_dir": str(data), "split": "train"}) as rollouts:
            played = rollouts.play(
                ExpertPolicy(), None, "off", len(train), 0, out / "expert-train.jsonl", keep_episodes=True
            )
        memory = build_memory(played.episodes, "proceduralization", ProceduralMemory(), env=ENV, agent="expert")
        memory_path = out / "memp-memory.json"
        memory.save(memory_path)
        report["build"] = {
            "train_games": len(train),
            "expert_success": round(float(np.mean([r.success for r in played.records])), 4),
            "skills": len(memory),
            "procedures": sum(s.execution.constraint is not None for s in memory),
            "task_memories": sum(not s.activation.patterns for s in memory),
            "seconds": round(time.perf_counter() - start, 1),
        }

        # 4: online learning from the MemP memory, the CLI's way
        online_path = None
        if args.online_episodes:
            online_out = out / "online"
            online_path = online_out / "memory.json"
            start = time.perf_counter()
            online_out.mkdir(parents=True, exist_ok=True)
            online_path.write_bytes(memory_path.read_bytes())
            command = [sys.executable, "-m", "procmem_gym.cli.main", "learn", "--env", ENV, "--agent", args.agent]
            command += ["--method", "memp", "--update", "validation", "--mode", "guide", "--iterations", "1"]
            command += ["--episodes", str(args.online_episodes), "--eval-episodes", "0", "--memory", str(online_path)]
            command += ["--num-envs", str(args.num_envs), "--out", str(online_out), "--seed", str(10_000 + args.seed)]
            command += ["--env-kwarg", f"data_dir={data}", "--env-kwarg", "split=valid_seen"]
            command += ["--dtype", args.dtype] if args.dtype else []
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            online = ProceduralMemory.load(online_path)
            report["online"] = {
                "episodes": args.online_episodes,
                "skills_before": len(memory),
                "skills_after": len(online),
                "events": {k: sum(e["kind"] == k for e in online.events) for k in ("add", "prune", "update")},
                "seconds": round(time.perf_counter() - start, 1),
            }

        # 5: the rows
        policy = make_policy(args.agent, ENV, None, args.seed, dtype=args.dtype)
        rows = [
            ("no_memory", policy, None, "off"),
            ("memp_memory", policy, ProceduralMemory.load(memory_path), "guide"),
        ]
        if online_path is not None:
            rows.append(("after_online_learning", policy, ProceduralMemory.load(online_path), "guide"))
        rows.append(
            ("random_with_memp_memory", RandomPolicy(seed=args.seed), ProceduralMemory.load(memory_path), "guide")
        )
        rows.append(("random_no_memory", RandomPolicy(seed=args.seed), None, "off"))
        rows.append(("expert", ExpertPolicy(), None, "off"))
        report["valid_unseen_generated"] = evaluate(data, "valid_unseen", episodes, rows, args.num_envs, out / "rows")
        bundled = copy_sample_games(out / "bundled")
        prepare_games(bundled)
        report["valid_unseen_bundled"] = evaluate(bundled, "valid_unseen", 6, rows, 1, out / "rows-bundled")
    table = report["valid_unseen_generated"]
    report["targets"] = {
        "memory_success>=0.5": max(
            table["memp_memory"]["success_rate"], table.get("after_online_learning", {}).get("success_rate", 0)
        )
        >= 0.5,
        "no_memory_success_about_0": table["no_memory"]["success_rate"] <= 0.1,
        "episodes>=100": table["no_memory"]["episodes"] >= 100,
    }
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
