"""``procmem-gym learn`` (online: npppo or memp) and ``procmem-gym build`` (offline, from trajectories).

``procmem-gym learn`` with no arguments is the project's main job: Mastermind-v0, the
embedded ``smollm2`` policy, a few Non-Parametric PPO iterations, then a before/after table
(no memory vs the learned memory, on the same evaluation seeds).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from procmem_gym.agents.policy import Policy
from procmem_gym.atomic import write_json_atomic
from procmem_gym.cli.agents import AGENTS_HELP, make_policy
from procmem_gym.cli.common import (
    CommandError,
    add_env_kwarg,
    check_positive,
    interrupted,
    open_rollouts,
    parse_env_kwargs,
    progress_bar,
)
from procmem_gym.errors import InputNotFoundError
from procmem_gym.learning.loop import Learner, resume_point
from procmem_gym.memory import ProceduralMemory, count_tokens
from procmem_gym.runner import Rollouts, summarize
from procmem_gym.transitions import Episode

EVAL_SEED = 100_000  # evaluation episodes never share seeds with training episodes
#: Kept for scripts that import it: the error of a learning run that cannot start as asked.
LearnError = CommandError


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
    p.add_argument(
        "--update", choices=("vanilla", "validation", "adjustment"), default="validation", help="MemP update"
    )
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--trust", type=float, default=4.0, help="PPO gate: bound on the mean |log ratio| (nats)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/learn")
    p.add_argument("--resume", action="store_true", help="continue from the last finished iteration in --out")
    add_env_kwarg(p)
    p.set_defaults(func=learn_cmd)

    b = subparsers.add_parser("build", help="build memory offline from trajectories (MemP)")
    b.add_argument("--trajectories", required=True, help="a transitions.jsonl, or an ETO/MemP trajectory JSON")
    b.add_argument("--strategy", choices=("trajectory", "script", "proceduralization"), required=True)
    b.add_argument("--memory", required=True, help="memory file to create or extend")
    b.add_argument("--env", default=None, help="the env the trajectories come from (recorded in lineage)")
    b.add_argument("--agent", default=None, help="the agent that made them (recorded in lineage)")
    b.add_argument(
        "--writer", default=None, help="an LLM agent that writes scripts (default: rules mined without a model)"
    )
    b.add_argument("--min-support", type=int, default=2)
    b.set_defaults(func=build_cmd)


def _episodes_from(path: Path) -> list[Episode]:
    from procmem_gym.learning.experience import load_episodes
    from procmem_gym.learning.memp import load_eto

    if not path.exists():
        raise InputNotFoundError(f"{path}: no such trajectory file")
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
    memory = (
        ProceduralMemory.load(out) if out.exists() else ProceduralMemory(meta={"env_id": args.env, "agent": args.agent})
    )
    writer = make_policy(args.writer, args.env or "", None, 0, console) if args.writer else None
    before = len(memory)
    build_memory(
        episodes, args.strategy, memory, writer=writer, env=args.env, agent=args.agent, min_support=args.min_support
    )
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


def evaluate(
    rollouts: Rollouts, policy: Policy, memory: ProceduralMemory | None, mode: str, episodes: int, seed: int, log: Path
) -> dict[str, Any]:
    """Play evaluation episodes (memory stats are not updated) and return their summary numbers."""
    calls, tokens = policy.model_calls, policy.generated_tokens
    records = rollouts.play(policy, memory, mode, episodes, seed, log, update_memory=False).records
    s = summarize(
        records,
        rollouts.env_id,
        getattr(policy, "name", "policy"),
        0.0,
        skills=len(memory) if memory else 0,
        memory_tokens=memory.tokens() if memory else 0,
        model_calls=policy.model_calls - calls,
        generated_tokens=policy.generated_tokens - tokens,
    )
    return s.to_dict()


def _settings(args: argparse.Namespace, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return the settings a resumed run must share (recorded in ``state.json``)."""
    settings = {
        "env": args.env,
        "agent": args.agent,
        "method": args.method,
        "mode": args.mode,
        "seed": args.seed,
        "update": args.update,
    }
    if env_kwargs:
        settings["env_kwargs"] = env_kwargs
    return settings


def _learner(
    args: argparse.Namespace, policy: Policy, memory: ProceduralMemory, rollouts: Rollouts, **hooks: Any
) -> Learner:
    """Return the learner ``--method`` names, configured from the command line."""
    out = Path(args.out)
    loop = {k: getattr(args, k) for k in ("iterations", "episodes", "num_envs", "mode", "seed")}
    if args.method == "npppo":
        from procmem_gym.learning.npppo import NPPOConfig, NPPOLearner

        return NPPOLearner(args.env, policy, memory, out, NPPOConfig(**loop, trust=args.trust), rollouts, **hooks)
    from procmem_gym.learning.memp_online import MempConfig, MempLearner

    return MempLearner(args.env, policy, memory, out, MempConfig(**loop, update=args.update), rollouts, **hooks)


def _memory(args: argparse.Namespace, out: Path) -> ProceduralMemory:
    """Return the memory to learn into: the run's own (resume), ``--memory`` when it exists, else a new one."""
    if args.resume and (out / "memory.json").exists():
        return ProceduralMemory.load(out / "memory.json")
    if args.memory and Path(args.memory).exists():
        return ProceduralMemory.load(args.memory)
    return ProceduralMemory(meta={"env_id": args.env, "agent": args.agent})


def learn_cmd(args: argparse.Namespace, console: Console) -> int:
    """Learn memory online, then compare no memory with the learned memory."""
    check_positive(iterations=args.iterations, episodes=args.episodes, num_envs=args.num_envs)
    out = Path(args.out)
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    settings = _settings(args, env_kwargs)
    resume_point(out, settings, args.resume)  # refuse early, before a model is loaded
    memory = _memory(args, out)
    rollouts = open_rollouts(args.env, args.num_envs, env_kwargs)
    try:
        policy = make_policy(args.agent, args.env, rollouts.action_space, args.seed, console, dtype=args.dtype)
        with progress_bar(console, transient=True) as progress:
            task = progress.add_task("iteration", total=args.episodes)

            def show(report: Any) -> None:
                progress.reset(task, description=f"iteration {report.iteration + 1}")
                console.print(
                    f"iteration {report.iteration}: return {report.mean_return:.3f}  "
                    f"success {report.success_rate:.0%}  "
                    f"reuse {report.reuse_rate:.0%}  admitted {report.admitted}  rejected {report.rejected}  "
                    f"pruned {report.pruned}  merged {report.merged}  skills {report.skills}"
                )

            learner = _learner(
                args, policy, memory, rollouts, on_iteration=show, on_episode=lambda _: progress.advance(task)
            )
            start = learner.start(settings, args.resume)
            try:
                learner.run(start)
            except KeyboardInterrupt:
                return interrupted(console, "learn", out)
        if args.memory:
            memory.save(args.memory)
        if args.eval_episodes > 0:
            _evaluation(console, args, rollouts, policy, memory, out)
    finally:
        rollouts.close()
    console.print(f"memory: {args.memory or out / 'memory.json'}")
    return 0


def _evaluation(
    console: Console, args: argparse.Namespace, rollouts: Rollouts, policy: Policy, memory: ProceduralMemory, out: Path
) -> None:
    """Evaluate no memory and the learned memory on the same seeds; write ``evaluation.json``; print a table."""
    seed = args.seed + EVAL_SEED
    before = evaluate(rollouts, policy, None, "off", args.eval_episodes, seed, out / "eval-before.jsonl")
    after = evaluate(rollouts, policy, memory, args.mode, args.eval_episodes, seed, out / "eval-after.jsonl")
    write_json_atomic(out / "evaluation.json", {"no_memory": before, "learned_memory": after})
    table = Table(title=f"{args.env}, {args.agent}: {args.eval_episodes} evaluation episodes (same seeds)")
    for col in ("", "mean return", "success", "reuse", "skills", "memory tokens", "model calls / ep"):
        table.add_column(col, justify="right")
    for name, s in (("no memory", before), (f"learned ({args.mode})", after)):
        table.add_row(
            name,
            f"{s['mean_return']:.3f}",
            f"{s['success_rate']:.0%}",
            f"{s['reuse_rate']:.0%}",
            str(s["skills"]),
            str(s["memory_tokens"]),
            f"{s['model_calls'] / max(s['episodes'], 1):.1f}",
        )
    console.print(table)
