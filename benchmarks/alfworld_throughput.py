"""ALFWorld throughput: our ``procmem_gym/ALFWorld-v0`` against the alfworld package's ``AlfredTWEnv``.

Both run the same engine on the same games (the bundled samples, prepared into a temporary
folder, or ``--data-dir``) and play the same commands: each game's recorded expert walkthrough.
``AlfredTWEnv`` is the package's own batch-1 environment (``init_env(batch_size=1)``), configured
as ALFWorld's DAgger training does, so both run the hand-coded expert after every step; a second
pair runs both without the expert. Rounds alternate between the envs; the medians are reported.

    python benchmarks/alfworld_throughput.py --json

Ours runs twice per round: with the parse cache (the default) and without it (TextWorld's code as
shipped). ``speedup_vs_alfredtwenv`` is AlfredTWEnv's time per step over ours with the cache;
``no_parse_cache_overhead`` is ours without it over AlfredTWEnv, minus 1 (the cost of the wrapper).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
from procmem_gym.envs.alfworld import copy_sample_games, find_games, prepare_games

import procmem_gym  # noqa: F401  (registers the env ids)


def walkthroughs(games: list[Path]) -> dict[str, list[str]]:
    """Return each game file's recorded expert walkthrough."""
    return {str(g): json.loads(g.read_text())["walkthrough"] for g in games}


def alfred_config(split_root: Path, expert: bool, max_steps: int) -> dict:
    """An AlfredTWEnv config reading ``split_root`` (DAgger training runs the expert; DQN does not)."""
    return {
        "dataset": {
            "data_path": str(split_root),
            "eval_id_data_path": str(split_root),
            "eval_ood_data_path": str(split_root),
            "num_train_games": -1,
            "num_eval_games": -1,
        },
        "logic": {},
        "env": {
            "type": "AlfredTWEnv",
            "domain_randomization": False,
            "task_types": [1, 2, 3, 4, 5, 6],
            "expert_timeout_steps": 150,
            "expert_type": "handcoded",
            "goal_desc_human_anns_prob": 0.0,
        },
        "general": {"training_method": "dagger" if expert else "dqn"},
        "dagger": {"training": {"max_nb_steps_per_episode": max_steps}},
        "rl": {"training": {"max_nb_steps_per_episode": max_steps}},
    }


def bench_alfred(
    split_root: Path, plans: dict[str, list[str]], expert: bool, episodes: int
) -> tuple[float, float, int]:
    """Play ``episodes`` games on AlfredTWEnv; return (seconds in reset per reset, seconds per step, steps)."""
    from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        env = AlfredTWEnv(alfred_config(split_root, expert, 50), train_eval="train").init_env(batch_size=1)
    reset_s = step_s = 0.0
    steps = 0
    for _ in range(episodes):
        t = time.perf_counter()
        _, infos = env.reset()
        reset_s += time.perf_counter() - t
        plan = plans[infos["extra.gamefile"][0]]
        t = time.perf_counter()
        for command in plan:
            _, _, dones, _ = env.step([command])
            steps += 1
            if dones[0]:
                break
        step_s += time.perf_counter() - t
    env.close()
    return reset_s / episodes, step_s / steps, steps


def bench_ours(
    games: list[Path],
    plans: dict[str, list[str]],
    expert: bool,
    episodes: int,
    order: list[Path],
    parse_cache: bool = True,
) -> tuple[float, float, int]:
    """Play the same games in the same order on procmem_gym/ALFWorld-v0 (gymnasium.make, checker wrappers on)."""
    env = gym.make(
        "procmem_gym/ALFWorld-v0", game_files=[str(g) for g in games], expert=expert, parse_cache=parse_cache
    )
    reset_s = step_s = 0.0
    steps = 0
    for k in range(episodes):
        game = order[k % len(order)]
        t = time.perf_counter()
        env.reset(seed=k, options={"game": str(game)})
        reset_s += time.perf_counter() - t
        t = time.perf_counter()
        for command in plans[str(game)]:
            _, _, terminated, truncated, _ = env.step(command)
            steps += 1
            if terminated or truncated:
                break
        step_s += time.perf_counter() - t
    env.close()
    return reset_s / episodes, step_s / steps, steps


def alfred_order(split_root: Path, episodes: int) -> list[Path]:
    """The order in which AlfredTWEnv plays its games (its own seeded shuffle), read off one pass."""
    from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        env = AlfredTWEnv(alfred_config(split_root, False, 50), train_eval="train").init_env(batch_size=1)
    order = []
    for _ in range(episodes):
        _, infos = env.reset()
        order.append(Path(infos["extra.gamefile"][0]))
    env.close()
    return order


def main() -> None:
    """Measure both envs and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default=None, help="prepared ALFWorld data (default: the bundled samples, prepared)"
    )
    parser.add_argument("--split", default="train")
    parser.add_argument("--episodes", type=int, default=6, help="games per round (default: one pass over 6 games)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else copy_sample_games(Path(tmp) / "alfworld")
        if not args.data_dir:
            prepare_games(data_dir)
        split_root = data_dir / "json_2.1.1" / args.split
        games = find_games(data_dir, args.split)
        plans = walkthroughs(games)
        order = alfred_order(split_root, args.episodes)
        results: dict[str, dict[str, float]] = {}
        for expert in (True, False):
            ours_r, ours_s, theirs_r, theirs_s, plain_s = [], [], [], [], []
            for _ in range(args.rounds):
                r, s, _ = bench_alfred(split_root, plans, expert, args.episodes)
                theirs_r.append(r)
                theirs_s.append(s)
                _, s, _ = bench_ours(games, plans, expert, args.episodes, order, parse_cache=False)
                plain_s.append(s)
                r, s, n = bench_ours(games, plans, expert, args.episodes, order)
                ours_r.append(r)
                ours_s.append(s)
            key = "expert" if expert else "no_expert"
            ours_step, theirs_step = statistics.median(ours_s), statistics.median(theirs_s)
            plain_step = statistics.median(plain_s)
            results[key] = {
                "steps_per_round": n,
                "alfredtwenv_reset_ms": round(1000 * statistics.median(theirs_r), 2),
                "ours_reset_ms": round(1000 * statistics.median(ours_r), 2),
                "alfredtwenv_steps_per_s": round(1 / theirs_step, 2),
                "ours_no_parse_cache_steps_per_s": round(1 / plain_step, 2),
                "ours_steps_per_s": round(1 / ours_step, 2),
                "speedup_vs_alfredtwenv": round(theirs_step / ours_step, 2),
                "no_parse_cache_overhead": round(plain_step / theirs_step - 1, 4),
                "reset_ratio": round(statistics.median(ours_r) / statistics.median(theirs_r), 3),
            }
        # Reset of a game played just before: ours keeps the loaded game and only restarts it.
        env = gym.make("procmem_gym/ALFWorld-v0", game_files=[str(games[0])])
        env.reset(seed=0)
        t = time.perf_counter()
        for k in range(10):
            env.reset(seed=k)
        results["same_game_reset_ms"] = {"ours": round(100 * (time.perf_counter() - t), 2)}
        env.close()

    out = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "games": len(games),
        "split": args.split,
        "rounds": args.rounds,
        "results": results,
        "targets": {
            "speedup_vs_alfredtwenv>=1.8": all(
                r["speedup_vs_alfredtwenv"] >= 1.8 for r in results.values() if "speedup_vs_alfredtwenv" in r
            ),
            "no_parse_cache_overhead<=0.10": all(
                r["no_parse_cache_overhead"] <= 0.10 for r in results.values() if "no_parse_cache_overhead" in r
            ),
        },
    }
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
