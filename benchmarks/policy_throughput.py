"""SmolLM2 policy throughput, old path against new in the same run: decisions/s, equivalence, end to end.

The old path is ``HFPolicy(cache=False)`` (every prompt encoded from scratch, left-padded,
``model.generate``; each admissible command scored with the whole prompt); the new path is the
default prompt cache (packed sequences, prefix reuse, one prompt pass per choice, forced tokens).
Both load the same weights and see the same prompts.

- load: the first load de-quantises the GGUF file (into a fresh temp cache), then the cached load.
- mastermind: constrained guesses/s at batch 1 and 8, on mid-game states of independent games,
  and in game order (8 recorded games replayed step by step, as a vector env plays them).
- alfworld: admissible-command decisions/s at batch 1 and 8 on states (prompt + commands) recorded
  from the expert playing the bundled sample games.
- equivalence: on every recorded state (Mastermind and ALFWorld), the greedy action of both paths
  and the log-probabilities of candidate actions (float32).
- e2e: ``procmem-gym run --env procmem_gym/Mastermind-v0 --agent smollm2 --episodes 32 --num-envs 8``
  through the Python API, both paths, float32 greedy: seconds and whether the logs are identical.
- bf16: the new path in bfloat16 (decisions/s), and its log-probability error against float32.
- profile: where the new path's time goes; tokens/s against this machine's limits.

Prints JSON; ratios compare measurements of this run.

    python benchmarks/policy_throughput.py --json
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from procmem_gym.agents import ExpertPolicy, RandomPolicy

import procmem_gym  # noqa: F401


def mastermind_states(count: int, seed: int = 0) -> list[tuple[str, dict]]:
    """Return (observation, info) of independent games, 0-7 random guesses in."""
    env = gym.make("procmem_gym/Mastermind-v0")
    rng = RandomPolicy(seed=seed)
    states = []
    for game in range(count):
        obs, info = env.reset(seed=game)
        for _ in range(game % 8):
            obs, _, done, _, info = env.step(rng.act(obs, info))
        states.append((obs, info))
    return states


def mastermind_games(games: int, turns: int, seed: int = 1) -> list[list[tuple[str, dict]]]:
    """Return ``games`` recorded games of ``turns`` states each (random valid guesses, never solved early)."""
    env = gym.make("procmem_gym/Mastermind-v0", max_turns=turns + 1)
    rng = RandomPolicy(seed=seed)
    out = []
    for game in range(games):
        obs, info = env.reset(seed=1000 + game)
        states = []
        for _ in range(turns):
            states.append((obs, info))
            obs, _, done, _, info = env.step(rng.act(obs, info))
            if done:
                obs, info = env.reset(seed=5000 + game)
        out.append(states)
    return out


def alfworld_states(folder: Path, splits: tuple[str, ...] = ("train", "valid_seen", "valid_unseen")) -> list:
    """Return (observation, info) of every step of the expert on the bundled sample games."""
    from procmem_gym.envs.alfworld import copy_sample_games, prepare_games

    copy_sample_games(folder)
    prepare_games(folder)
    states = []
    expert = ExpertPolicy()
    for split in splits:
        env = gym.make("procmem_gym/ALFWorld-v0", data_dir=str(folder), split=split)
        for game in range(6):
            obs, info = env.reset(seed=game)
            done = False
            while not done:
                states.append((obs, info))
                obs, _, terminated, truncated, info = env.step(expert.act(obs, info))
                done = terminated or truncated
        env.close()
    return states


def decisions_per_s(policy, states: list[tuple[str, dict]], batch: int, count: int) -> float:
    """Return decisions/s over ``count`` states taken ``batch`` at a time (slots 0..batch-1)."""
    policy.reset()
    chosen = states[:count]
    start = time.perf_counter()
    for k in range(0, len(chosen), batch):
        part = chosen[k : k + batch]
        policy.act_batch([o for o, _ in part], [i for _, i in part], slots=list(range(len(part))))
    return len(chosen) / (time.perf_counter() - start)


def game_order_per_s(policy, games: list[list[tuple[str, dict]]]) -> float:
    """Return decisions/s replaying the games together, one batched call per turn (slot = game)."""
    policy.reset()
    start = time.perf_counter()
    for turn in range(len(games[0])):
        part = [g[turn] for g in games]
        policy.act_batch([o for o, _ in part], [i for _, i in part], slots=list(range(len(part))))
    return len(games) * len(games[0]) / (time.perf_counter() - start)


def interleaved(measure, policies: dict, rounds: int = 3) -> dict:
    """Run ``measure(policy)`` for each policy in alternation; return each one's median."""
    results: dict = {name: [] for name in policies}
    for _ in range(rounds):
        for name, policy in policies.items():
            results[name].append(measure(policy))
    return {name: round(float(np.median(v)), 3) for name, v in results.items()}


def equivalence(old, new, states: list[tuple[str, dict]]) -> dict:
    """Return greedy agreement and the largest log-probability difference over the states."""
    same, diffs = 0, []
    for k in range(0, len(states), 8):
        part = states[k : k + 8]
        obs, infos = [o for o, _ in part], [i for _, i in part]
        old.reset()
        new.reset()
        a, b = old.act_batch(obs, infos), new.act_batch(obs, infos)
        same += sum(x == y for x, y in zip(a, b, strict=True))
        prompts, conts = [], []
        for o, i, action in zip(obs, infos, a, strict=True):
            candidates = list(i.get("admissible_commands") or [])[:3] or ["[1 2 3 4]", "[6 5 4 3]"]
            for c in dict.fromkeys([action, *candidates]):
                prompts.append(old.prompt(o, i, slot=-1))
                conts.append(c)
        x, y = old.logprob_tokens(prompts, conts), new.logprob_tokens(prompts, conts)
        diffs += [float(np.abs(p - q).max()) for p, q in zip(x, y, strict=True)]
    return {
        "states": len(states),
        "same_greedy_action": same,
        "scored_pairs": len(diffs),
        "max_abs_logprob_diff": max(diffs),
    }


def end_to_end(policies: dict, episodes: int, num_envs: int, folder: str) -> dict:
    """Play the same seeded Mastermind run with each policy; return seconds and log digests."""
    from procmem_gym.rollouts.runner import Rollouts

    out = {}
    for name, policy in policies.items():
        policy.reset()
        log = os.path.join(folder, f"{name}.jsonl")
        with Rollouts("procmem_gym/Mastermind-v0", num_envs=num_envs) as rollouts:
            start = time.perf_counter()
            played = rollouts.play(policy, episodes=episodes, seed=0, log_path=log)
            seconds = time.perf_counter() - start
        digest = hashlib.sha256(Path(log).read_bytes()).hexdigest()
        out[name] = {"seconds": round(seconds, 1), "steps": sum(r.length for r in played.records), "log_sha256": digest}
    return out


def machine_limits(model_bytes: int, params: int) -> dict:
    """Return measured memory bandwidth and matmul throughput, and the token rates they allow."""
    import torch

    a = np.ones(64_000_000 // 8, dtype=np.float64)
    start = time.perf_counter()
    for _ in range(5):
        a.copy()
    bandwidth = 2 * a.nbytes * 5 / (time.perf_counter() - start)  # read + write
    x = torch.randn(1024, 1024)
    x @ x
    start = time.perf_counter()
    for _ in range(10):
        x @ x
    flops = 10 * 2 * 1024**3 / (time.perf_counter() - start)
    return {
        "memory_gb_per_s": round(bandwidth / 1e9, 1),
        "float32_matmul_gflops": round(flops / 1e9, 1),
        "decode_limit_tokens_per_s_batch1": round(bandwidth / model_bytes, 1),
        "prefill_limit_tokens_per_s": round(flops / (2 * params), 1),
    }


def profile_new(policy, games) -> dict:
    """Return the share of the new path's time in its main operations (game-order replay)."""
    profiler = cProfile.Profile()
    profiler.enable()
    game_order_per_s(policy, games)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)
    names = {"linear": "torch._C._nn.linear", "attention": "scaled_dot_product_attention", "copies": "torch.cat"}
    out = {}
    for key, needle in names.items():
        share = sum(v[2] for f, v in stats.stats.items() if needle in f[2])
        out[key] = round(share / total, 3)
    out["grammar"] = round(sum(v[3] for f, v in stats.stats.items() if f[0].endswith("constraints.py")) / total, 3)
    return out


def main() -> None:
    """Measure both paths; print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=32)
    parser.add_argument("--e2e-episodes", type=int, default=32)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    from procmem_gym.agents.prompts import template_for
    from procmem_gym.agents.smollm2 import load_smollm2

    report: dict = {
        "benchmark": "policy_throughput",
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantised)",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as cache, contextlib.redirect_stdout(sys.stderr):
        os.environ["PROCMEM_GYM_CACHE"] = cache
        start = time.perf_counter()
        load_smollm2(env_id="procmem_gym/Mastermind-v0")
        first = time.perf_counter() - start
        start = time.perf_counter()
        new = load_smollm2(env_id="procmem_gym/Mastermind-v0")
        cached = time.perf_counter() - start
        old = load_smollm2(env_id="procmem_gym/Mastermind-v0", cache=False)
        bf16 = load_smollm2(env_id="procmem_gym/Mastermind-v0", dtype="bfloat16")
    report["load_s"] = {"gguf_first": round(first, 2), "cached": round(cached, 3), "speedup": round(first / cached, 1)}
    paths = {"old": old, "new": new}

    states = mastermind_states(max(args.decisions, 128))
    games = mastermind_games(8, 12)
    mastermind: dict = {}
    for batch in (1, 8):
        rates = interleaved(lambda p, b=batch: decisions_per_s(p, states, b, args.decisions), paths, args.rounds)
        mastermind[f"batch{batch}"] = {**rates, "ratio": round(rates["new"] / rates["old"], 2)}
    rates = interleaved(lambda p: game_order_per_s(p, games), paths, args.rounds)
    mastermind["game_order_batch8"] = {**rates, "ratio": round(rates["new"] / rates["old"], 2)}
    report["mastermind_decisions_per_s"] = mastermind

    with tempfile.TemporaryDirectory() as folder:
        alf = alfworld_states(Path(folder))
    for policy in (old, new):
        policy.template = template_for("procmem_gym/ALFWorld-v0")
    alfworld: dict = {
        "states": len(alf),
        "mean_commands": round(float(np.mean([len(i["admissible_commands"]) for _, i in alf])), 1),
    }
    for batch in (1, 8):
        rates = interleaved(lambda p, b=batch: decisions_per_s(p, alf, b, args.decisions), paths, args.rounds)
        alfworld[f"batch{batch}"] = {**rates, "ratio": round(rates["new"] / rates["old"], 2)}
    report["alfworld_decisions_per_s"] = alfworld
    eq_alf = equivalence(old, new, [s for s in alf if "/train/" in str(s[1].get("gamefile", ""))])
    for policy in (old, new):
        policy.template = template_for("procmem_gym/Mastermind-v0")
    eq_mm = equivalence(old, new, states[:128])
    report["equivalence"] = {"mastermind": eq_mm, "alfworld": eq_alf}

    bf16_rates = {
        "batch8": round(decisions_per_s(bf16, states, 8, args.decisions), 3),
        "game_order_batch8": round(game_order_per_s(bf16, games), 3),
    }
    prompts = [new.prompt(o, i, slot=-1) for o, i in states[:64]]
    conts = [RandomPolicy(seed=k).act(o, i) for k, (o, i) in enumerate(states[:64])]
    error = np.abs(new.logprob(prompts, conts) - bf16.logprob(prompts, conts))
    report["bf16"] = {
        "decisions_per_s": bf16_rates,
        "vs_old_float32_batch8": round(bf16_rates["batch8"] / mastermind["batch8"]["old"], 2),
        "logprob_abs_error_mean": round(float(error.mean()), 4),
        "logprob_abs_error_max": round(float(error.max()), 4),
    }

    if args.e2e_episodes:
        with tempfile.TemporaryDirectory() as folder:
            e2e = end_to_end({"old": old, "new": new}, args.e2e_episodes, args.num_envs, folder)
        e2e["speedup"] = round(e2e["old"]["seconds"] / e2e["new"]["seconds"], 2)
        e2e["identical_logs"] = e2e["old"]["log_sha256"] == e2e["new"]["log_sha256"]
        report["e2e_run"] = {"episodes": args.e2e_episodes, "num_envs": args.num_envs, **e2e}

    params = sum(p.numel() for p in new.model.parameters())
    report["limits"] = machine_limits(params * 4, params)
    engine = new._engine
    report["new_path"] = {
        "encoded_tokens": engine.encoded_tokens,
        "reused_tokens": engine.reused_tokens,
        "profile_share": profile_new(new, games),
    }
    report["targets"] = {
        "mastermind_batch8_new_vs_old>=3": mastermind["batch8"]["ratio"] >= 3,
        "mastermind_game_order_batch8_new_vs_old>=3": mastermind["game_order_batch8"]["ratio"] >= 3,
        "alfworld_new_vs_old>=5": min(alfworld["batch1"]["ratio"], alfworld["batch8"]["ratio"]) >= 5,
        "same_greedy_action_on_200+_prompts": eq_mm["states"] + eq_alf["states"] >= 200
        and eq_mm["same_greedy_action"] == eq_mm["states"]
        and eq_alf["same_greedy_action"] == eq_alf["states"],
        "logprob_diff<=1e-4": max(eq_mm["max_abs_logprob_diff"], eq_alf["max_abs_logprob_diff"]) <= 1e-4,
        "e2e>=2x_identical_logs": None
        if not args.e2e_episodes
        else report["e2e_run"]["speedup"] >= 2 and report["e2e_run"]["identical_logs"],
    }
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
