"""``procmem-gym learn`` (online: npppo or memp) and ``procmem-gym build`` (offline, from trajectories).

``procmem-gym learn`` with no arguments is the project's main job: Mastermind-v0, the
embedded ``smollm2`` policy, a few Non-Parametric PPO iterations, then a before/after table
(no memory vs the learned memory, on the same evaluation seeds).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from procmem_gym.atomic import write_json_atomic
from procmem_gym.cli.agents import AGENTS_HELP, make_policy
from procmem_gym.cli.run import parse_env_kwargs
from procmem_gym.memory import ProceduralMemory, count_tokens

EVAL_SEED = 100_000  # evaluation episodes never share seeds with training episodes


class LearnError(RuntimeError):
    """A learning run that cannot start as asked."""


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``learn`` and ``build``."""
    p = subparsers.add_parser("learn", help="learn procedural memory online (the main job with no arguments)")
    p.add_argument("--env", default="procmem_gym/Mastermind-v0")
    p.add_argument("--agent", default="smollm2", help=AGENTS_HELP)
    p.add_argument("--method", choices=("npppo", "memp"), default="npppo")
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--episodes", type=int, default=8, help="training episodes per iteration")
    p.add_argument("--eval-episodes", type=int, default=16, help="episodes of the before/after evaluation (0: none)")
    p.add_argument("--memory", default=None, help="memory file to learn into (default OUT/memory.json)")
    p.add_argument("--mode", choices=("inject", "guide"), default="inject", help="how skills act during rollouts")
    p.add_argument("--update", choices=("vanilla", "validation", "adjustment"), default="validation", help="MemP update")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--trust", type=float, default=4.0, help="PPO gate: bound on the mean |log ratio| (nats)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/learn")
    p.add_argument("--resume", action="store_true", help="continue from the last finished iteration in --out")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE", dest="env_kwargs",
                   help="keyword argument for the env, repeatable (e.g. --env-kwarg data_dir=DIR for ALFWorld)")
    p.set_defaults(func=learn_cmd)

    b = subparsers.add_parser("build", help="build memory offline from trajectories (MemP)")
    b.add_argument("--trajectories", required=True, help="a transitions.jsonl, or an ETO/MemP trajectory JSON")
    b.add_argument("--strategy", choices=("trajectory", "script", "proceduralization"), required=True)
    b.add_argument("--memory", required=True, help="memory file to create or extend")
    b.add_argument("--env", default=None, help="the env the trajectories come from (recorded in lineage)")
    b.add_argument("--agent", default=None, help="the agent that made them (recorded in lineage)")
    b.add_argument("--writer", default=None, help="an LLM agent that writes scripts (default: rules mined without a model)")
    b.add_argument("--min-support", type=int, default=2)
    b.set_defaults(func=build_cmd)


def _episodes_from(path: Path) -> list:
    from procmem_gym.learning.experience import load_episodes
    from procmem_gym.learning.memp import load_eto

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such trajectory file")
    if path.suffix == ".jsonl":
        return load_episodes(path)
    return load_eto(path)


def build_cmd(args: argparse.Namespace, console: Console) -> int:
    """Build or extend a memory from a trajectory file."""
    from procmem_gym.learning.memp import build_memory

    path = Path(args.trajectories)
    episodes = _episodes_from(path)
    if not episodes:
        raise LearnError(f"{path}: no finished episode in the file")
    out = Path(args.memory)
    memory = ProceduralMemory.load(out) if out.exists() else ProceduralMemory(meta={"env_id": args.env, "agent": args.agent})
    writer = make_policy(args.writer, args.env or "", None, 0, console) if args.writer else None
    before = len(memory)
    build_memory(episodes, args.strategy, memory, writer=writer, env=args.env, agent=args.agent, min_support=args.min_support)
    memory.maintain()
    memory.save(out)
    source_tokens = sum(count_tokens(t.observation) + count_tokens(t.action) for e in episodes for t in e.transitions)
    table = Table(title=f"procmem-gym build ({args.strategy})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("episodes read", len(episodes)),
        ("successful", sum(e.record.success for e in episodes)),
        ("skills added", len(memory) - before),
        ("skills in memory", len(memory)),
        ("memory tokens", memory.tokens()),
        ("trajectory tokens", source_tokens),
        ("compression", f"{source_tokens / max(memory.tokens(), 1):.1f}x"),
    ]
    for k, v in rows:
        table.add_row(k, str(v))
    console.print(table)
    console.print(f"memory: {out}")
    return 0


def evaluate(env_id: str, policy: Any, memory: ProceduralMemory | None, mode: str, episodes: int, num_envs: int, seed: int, log: Path,
             env_kwargs: dict[str, Any] | None = None) -> dict:
    """Play evaluation episodes (memory stats are not updated) and return their summary numbers."""
    from procmem_gym.runner import play_logged, summarize

    calls, tokens = getattr(policy, "model_calls", 0), getattr(policy, "generated_tokens", 0)
    records = play_logged(env_id, policy, memory, mode, episodes, seed, log, num_envs, update_memory=False,
                          env_kwargs=env_kwargs)
    s = summarize(records, env_id, getattr(policy, "name", "policy"), 0.0,
                  skills=len(memory) if memory else 0, memory_tokens=memory.tokens() if memory else 0,
                  model_calls=getattr(policy, "model_calls", 0) - calls,
                  generated_tokens=getattr(policy, "generated_tokens", 0) - tokens)
    return s.to_dict()


def learn_cmd(args: argparse.Namespace, console: Console) -> int:
    """Learn memory online, then compare no memory with the learned memory."""
    from procmem_gym.learning.npppo import NPPOConfig, NPPOLearner

    for name in ("iterations", "episodes", "num_envs"):
        if getattr(args, name) < 1:
            raise LearnError(f"--{name.replace('_', '-')} must be at least 1")
    out = Path(args.out)
    config = NPPOConfig(iterations=args.iterations, episodes=args.episodes, num_envs=args.num_envs, mode=args.mode,
                        seed=args.seed, trust=args.trust)
    settings = {"env": args.env, "agent": args.agent, "method": args.method, "mode": args.mode, "seed": args.seed, "update": args.update}
    env_kwargs = parse_env_kwargs(getattr(args, "env_kwargs", None) or [])
    if env_kwargs:
        settings["env_kwargs"] = env_kwargs
    state_path = out / "state.json"
    if state_path.exists() and not args.resume:
        raise LearnError(f"{out} already holds a learning run; pass --resume to continue it or choose another --out")
    if args.resume:
        if not state_path.exists():
            raise LearnError(f"--resume: {out} holds no learning run (no state.json)")
        previous = json.loads(state_path.read_text()).get("settings", {})
        for key, value in settings.items():
            if previous.get(key, value) != value:
                raise LearnError(f"--resume: {out} was run with {key}={previous[key]!r}, not {value!r}")
    memory_path = Path(args.memory) if args.memory else out / "memory.json"
    if args.resume and (out / "memory.json").exists():
        memory = ProceduralMemory.load(out / "memory.json")
    elif memory_path.exists():
        memory = ProceduralMemory.load(memory_path)
    else:
        memory = ProceduralMemory(meta={"env_id": args.env, "agent": args.agent})
    try:
        gym.spec(args.env)
    except gym.error.Error as err:
        raise LearnError(f"cannot make env {args.env!r}: {err}") from err
    try:
        space = gym.make(args.env, **env_kwargs).action_space
    except TypeError as err:
        raise LearnError(f"cannot make env {args.env!r} with {env_kwargs}: {err}") from err
    policy = make_policy(args.agent, args.env, space, args.seed, console, dtype=args.dtype)

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True, disable=not console.is_terminal)
    task = progress.add_task("iteration", total=args.episodes)

    def episode_done(_: Any) -> None:
        progress.advance(task)

    def show(report: Any) -> None:
        progress.reset(task, description=f"iteration {report.iteration + 1}")
        console.print(
            f"iteration {report.iteration}: return {report.mean_return:.3f}  success {report.success_rate:.0%}  "
            f"reuse {report.reuse_rate:.0%}  admitted {report.admitted}  rejected {report.rejected}  "
            f"pruned {report.pruned}  merged {report.merged}  skills {report.skills}"
        )

    out.mkdir(parents=True, exist_ok=True)
    if not args.resume:  # the settings are checked by a later --resume, even after an interruption
        write_json_atomic(state_path, {"iterations_done": 0, "settings": settings})
    if args.method == "npppo":
        learner = NPPOLearner(args.env, policy, memory, out, config, on_iteration=show, on_episode=episode_done,
                              env_kwargs=env_kwargs)
        start = learner.finished_iterations() if args.resume else 0
        try:
            with progress:
                learner.run(start)
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted; continue with: procmem-gym learn ... --out {out} --resume[/yellow]")
            return 130
    else:
        start = _memp_finished(out) if args.resume else 0
        try:
            with progress:
                _learn_memp(args, policy, memory, out, config, start, show, episode_done, env_kwargs)
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted; continue with: procmem-gym learn ... --out {out} --resume[/yellow]")
            return 130
    if args.memory:
        memory.save(memory_path)

    if args.eval_episodes > 0:
        eval_mode = args.mode
        before = evaluate(args.env, policy, None, "off", args.eval_episodes, args.num_envs, args.seed + EVAL_SEED,
                          out / "eval-before.jsonl", env_kwargs)
        after = evaluate(args.env, policy, memory, eval_mode, args.eval_episodes, args.num_envs, args.seed + EVAL_SEED,
                         out / "eval-after.jsonl", env_kwargs)
        write_json_atomic(out / "evaluation.json", {"no_memory": before, "learned_memory": after})
        table = Table(title=f"{args.env}, {args.agent}: {args.eval_episodes} evaluation episodes (same seeds)")
        for col in ("", "mean return", "success", "reuse", "skills", "memory tokens", "model calls / ep"):
            table.add_column(col, justify="right")
        for name, s in (("no memory", before), (f"learned ({eval_mode})", after)):
            table.add_row(name, f"{s['mean_return']:.3f}", f"{s['success_rate']:.0%}", f"{s['reuse_rate']:.0%}", str(s["skills"]),
                          str(s["memory_tokens"]), f"{s['model_calls'] / max(s['episodes'], 1):.1f}")
        console.print(table)
    console.print(f"memory: {memory_path}")
    return 0


def _memp_finished(out: Path) -> int:
    state = out / "state.json"
    return int(json.loads(state.read_text()).get("iterations_done", 0)) if state.exists() else 0


def _learn_memp(
    args: argparse.Namespace, policy: Any, memory: ProceduralMemory, out: Path, config: Any, start: int, show: Any, on_episode: Any,
    env_kwargs: dict[str, Any] | None = None,
) -> None:
    """MemP online: roll out with the memory, then Update after every episode, per iteration."""
    import shutil

    import numpy as np

    from procmem_gym.learning.memp import apply_update
    from procmem_gym.learning.npppo import IterationReport, NPPOLearner

    rollout = NPPOLearner(args.env, policy, memory, out, config, on_episode=on_episode, env_kwargs=env_kwargs)
    writer = policy if hasattr(policy, "generate") else None
    for i in range(start, config.iterations):
        folder = out / f"iter-{i:03d}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        memory.iteration = i
        events = len(memory.events)
        episodes = rollout.rollouts(folder / "transitions.jsonl", config.seed + 1000 * i, memory, config.mode, config.episodes)
        for e in episodes:
            apply_update(memory, e, args.update, writer=writer if args.update == "adjustment" else None, env=args.env, agent=args.agent)
        report_m = memory.maintain()
        memory.save(out / "memory.json")
        added = sum(1 for e in memory.events[events:] if e["kind"] in ("add", "update"))
        rejected = sum(1 for e in memory.events[events:] if e["kind"] == "reject")
        report = IterationReport(i, len(episodes), float(np.mean([e.return_ for e in episodes])),
                                 float(np.mean([e.record.success for e in episodes])),
                                 float(np.mean([bool(e.record.skills_used) for e in episodes])),
                                 added, rejected, len(report_m.pruned) + len(report_m.over_capacity), len(report_m.merged), len(memory))
        write_json_atomic(folder / "report.json", report.to_dict())
        state = json.loads((out / "state.json").read_text()) if (out / "state.json").exists() else {}
        write_json_atomic(out / "state.json", {**state, "iterations_done": i + 1, "config": asdict(config), "env": args.env})
        show(report)
