"""TextArena's single-player games under procmem-gym: each agent on each game, episodes played, crashes, moves.

For every (game, agent): the episodes played without an exception, the share of moves TextArena
accepted (valid-move rate), mean return and success with 95 % bootstrap intervals. The random
agent draws from each game's declared move grammar; LLM agents choose among its moves.

    python benchmarks/textarena_games.py --json --agents random smollm2 --episodes 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

import numpy as np
from procmem_gym.agents.factory import make_policy

import procmem_gym  # noqa: F401  (registers the ids)
from procmem_gym.analysis.evaluation import bootstrap_ci
from procmem_gym.rollouts.runner import Rollouts

GAMES = ["GuessTheNumber-v0", "TowerOfHanoi-v0", "FrozenLake-v0", "LightsOut-v0", "Minesweeper-v0-small"]


def play(game: str, agent: str, episodes: int, num_envs: int, seed: int) -> dict:
    """Return one row of the table."""
    env_id = f"textarena/{game}"
    start = time.perf_counter()
    try:
        with Rollouts(env_id, num_envs) as rollouts:
            policy = make_policy(agent, env_id, rollouts.action_space, seed)
            played = rollouts.play(policy, episodes=episodes, seed=seed, keep_episodes=True)
    except Exception:  # a crash is a result here: the row says which
        return {"game": game, "agent": agent, "crashed": traceback.format_exc(limit=3)}
    steps = [t for e in played.episodes for t in e.transitions]
    invalid = sum(bool(t.info.get("invalid_move")) for t in steps)
    returns = [r.return_ for r in played.records]
    success = [float(r.success) for r in played.records]
    return {
        "game": game,
        "agent": agent,
        "episodes": len(played.records),
        "crashes": 0,
        "steps": len(steps),
        "valid_move_rate": round(1 - invalid / max(1, len(steps)), 3),
        "mean_return": round(float(np.mean(returns)), 3),
        "return_ci": [round(x, 3) for x in bootstrap_ci(returns)],
        "success": round(float(np.mean(success)), 3),
        "success_ci": [round(x, 3) for x in bootstrap_ci(success)],
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    """Print the table (JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["random", "smollm2"])
    parser.add_argument("--games", nargs="+", default=GAMES)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for game in args.games:
        for agent in args.agents:
            rows.append(play(game, agent, args.episodes, args.num_envs, args.seed))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # each row as it finishes
    if args.json:
        print(json.dumps({"rows": rows}, indent=1))
        return
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
