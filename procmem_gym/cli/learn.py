"""``procmem-gym learn`` (online: npppo or memp) and ``procmem-gym build`` (offline, from trajectories).

``procmem-gym learn`` with no arguments is the project's main job: Mastermind-v0, the
embedded ``smollm2`` policy, a few Non-Parametric PPO iterations, then a before/after table
(no memory vs the learned memory, on the same evaluation seeds).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from procmem_gym.agents.factory import AGENTS_HELP, make_policy
from procmem_gym.agents.policy import Policy
from procmem_gym.agents.prompts import template_for
from procmem_gym.cli.common import (
    MAX_ENVS,
    MAX_EPISODES,
    CommandError,
    add_backend_options,
    add_env_kwarg,
    add_model_options,
    check_positive,
    float_in,
    int_in,
    interrupted,
    open_rollouts,
    parse_env_kwargs,
    policy_where,
    progress_bar,
    seed_value,
)
from procmem_gym.envs.families import MAIN_JOB_ENV
from procmem_gym.errors import InputNotFoundError
from procmem_gym.files.atomic import write_json_atomic
from procmem_gym.files.folders import make_folder, refuse_overwrite
from procmem_gym.files.locking import exclusive
from procmem_gym.learning.loop import Learner, resume_point
from procmem_gym.memory import ProceduralMemory, count_tokens
from procmem_gym.rollouts.runner import Rollouts
from procmem_gym.rollouts.transitions import Episode

#: What ``learn`` writes in its folder besides ``memory.json`` (where ``--memory`` may point: it learns into it).
LEARN_WRITES = ("state.json", "evaluation.json", "eval-*", "iter-*", "transfer", "*.vectors.npz", ".lock")
EVAL_SEED = 100_000  # evaluation episodes never share seeds with training episodes


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``learn`` and ``build``."""
    p = subparsers.add_parser("learn", help="learn procedural memory online (the main job with no arguments)")
    p.add_argument("--env", default=MAIN_JOB_ENV)
    p.add_argument("--agent", default="smollm2", help=AGENTS_HELP)
    p.add_argument("--method", choices=("npppo", "memp"), default="npppo")
    p.add_argument("--iterations", type=int_in(1, 10_000), default=3)
    p.add_argument(
        "--episodes", type=int_in(1, MAX_EPISODES), default=32, help="training episodes per iteration (tasks x group)"
    )
    p.add_argument(
        "--group", type=int_in(1, 10_000), default=4, help="npppo: sampling seeds per task (group-relative advantages)"
    )
    p.add_argument(
        "--eval-episodes",
        type=int_in(0, MAX_EPISODES),
        default=100,
        help="episodes of each evaluation row, paired by seed (0: none)",
    )
    p.add_argument("--memory", default=None, help="memory file to learn into (default OUT/memory.json)")
    p.add_argument("--mode", choices=("inject", "guide"), default="inject", help="how skills act during rollouts")
    p.add_argument(
        "--update", choices=("vanilla", "validation", "adjustment"), default="validation", help="MemP update"
    )
    p.add_argument("--num-envs", type=int_in(1, MAX_ENVS), default=8)
    add_backend_options(p)
    p.add_argument("--teacher", default=None, help="an agent whose actions are the better ones (e.g. solver)")
    p.add_argument("--writer", default=None, help="an agent that writes semantic gradients (e.g. hf:PATH)")
    p.add_argument(
        "--temperature", type=float_in(0, 100), default=1.0, help="npppo: sampling temperature of learning rollouts"
    )
    p.add_argument(
        "--explore", type=float_in(0, 1), default=0.3, help="npppo: probability of leaving an active skill out"
    )
    p.add_argument(
        "--trust",
        type=float_in(0, 1000, low_open=True),
        default=1.5,
        help="PPO gate: bound on the mean |log ratio| (nats)",
    )
    p.add_argument(
        "--no-gate", action="store_true", help="ablation: every candidate is admitted (no gate, no confirmation)"
    )
    p.add_argument(
        "--gate-rule",
        choices=("screen", "improve"),
        default="screen",
        help="PPO gate: screen (not significantly worse, then the paired confirmation decides) or improve (strict PPO)",
    )
    p.add_argument("--no-constraints", action="store_true", help="ablation: no constraint skills (text guidance only)")
    p.add_argument(
        "--transfer", action="append", default=[], metavar="ENV", help="also evaluate the memory on ENV, repeatable"
    )
    add_model_options(p)
    p.add_argument("--seed", type=seed_value, default=0)
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
    b.add_argument("--min-support", type=int_in(1, 1_000_000), default=2)
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
    if Path(args.memory).resolve() == path.resolve():
        raise CommandError(
            f"--memory {args.memory} is the --trajectories file: it would be overwritten (nothing was written)"
        )
    episodes = _episodes_from(path)
    if not episodes:
        raise CommandError(f"{path}: no finished episode in the file")
    out = Path(args.memory)
    with exclusive(out, "memory file"):  # a second build into the same file is refused, not merged away
        memory = (
            ProceduralMemory.load(out)
            if out.exists()
            else ProceduralMemory(meta={"env_id": args.env, "agent": args.agent})
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


def _settings(args: argparse.Namespace, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return the settings a resumed run must share (recorded in ``state.json``)."""
    settings = {
        "env": args.env,
        "agent": args.agent,
        "method": args.method,
        "mode": args.mode,
        "seed": args.seed,
        "update": args.update,
        "episodes": args.episodes,
        "group": args.group,
        "teacher": args.teacher,
        "temperature": args.temperature,
        "explore": args.explore,
        "gate": not args.no_gate,
        "gate_rule": args.gate_rule,
        "constraints": not args.no_constraints,
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

        config = NPPOConfig(
            **loop,
            group=args.group,
            temperature=args.temperature,
            explore=args.explore,
            trust=args.trust,
            gate=not args.no_gate,
            gate_rule=args.gate_rule,
            constraints=not args.no_constraints,
        )
        teacher = writer = None
        if args.teacher:
            teacher = make_policy(args.teacher, args.env, rollouts.action_space, args.seed)
        if args.writer:
            writer = make_policy(args.writer, args.env, rollouts.action_space, args.seed, dtype=args.dtype)
        return NPPOLearner(args.env, policy, memory, out, config, rollouts, teacher=teacher, writer=writer, **hooks)
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
    """Learn memory online, then compare no memory with the learned memory (the folder and memory file locked)."""
    out = Path(args.out)
    refuse_overwrite(out, LEARN_WRITES, {"--memory": args.memory}, "written by learn")
    make_folder(out, "--out folder")
    with contextlib.ExitStack() as locks:
        locks.enter_context(exclusive(out, "run folder", folder=True))
        if args.memory:
            locks.enter_context(exclusive(args.memory, "memory file"))
        return _learn(args, console)


def _learn(args: argparse.Namespace, console: Console) -> int:
    check_positive(iterations=args.iterations, episodes=args.episodes, num_envs=args.num_envs)
    args.num_envs = min(args.num_envs, max(args.episodes, args.eval_episodes))  # more would only sit idle
    out = Path(args.out)
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    settings = _settings(args, env_kwargs)
    resume_point(out, settings, args.resume)  # refuse early, before a model is loaded
    memory = _memory(args, out)
    rollouts = open_rollouts(args.env, args.num_envs, env_kwargs, args.backend, args.ray_address)
    try:
        policy = policy_where(args, rollouts.action_space, console)
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
    """Evaluate the rows on the same seeds; write ``evaluation.json``; print the table and the skills."""
    from procmem_gym.learning.evaluate import evaluate_rows
    from procmem_gym.learning.npppo import describe_pool

    seed = args.seed + EVAL_SEED
    results = evaluate_rows(rollouts, _rows(args, policy, memory, args.env), args.eval_episodes, seed, out)
    document = _document(results, args.eval_episodes, seed)
    for env_id in args.transfer:
        with open_rollouts(env_id, args.num_envs, {}, args.backend, args.ray_address) as other:
            policy.template = template_for(env_id)
            rows = _rows(args, policy, memory, env_id)[:2]
            transfer = evaluate_rows(other, rows, args.eval_episodes, seed, out / "transfer" / env_id.split("/")[-1])
            policy.template = template_for(args.env)
        document.setdefault("transfer", {})[env_id] = _document(transfer, args.eval_episodes, seed)
        console.print(results_table(transfer, f"transfer to {env_id}: {args.eval_episodes} paired episodes"))
    write_json_atomic(out / "evaluation.json", document)
    console.print(results_table(results, f"{args.env}, {args.agent}: {args.eval_episodes} paired evaluation episodes"))
    console.print("learned skills:")
    for line in describe_pool(memory) or ["(none)"]:
        console.print(f"  - {line}", highlight=False)


def _rows(args: argparse.Namespace, policy: Policy, memory: ProceduralMemory, env_id: str) -> list:
    """Return the evaluation rows that fit the env: no memory, learned, random with it, the reference agent."""
    from procmem_gym.agents import RandomPolicy
    from procmem_gym.envs.families import family_of
    from procmem_gym.learning.evaluate import Row

    rows = [
        Row("no memory", policy, None, "off", "eval-before.jsonl"),
        Row(f"learned memory ({args.mode})", policy, memory, args.mode, "eval-after.jsonl"),
        Row("random agent + learned memory", RandomPolicy(seed=args.seed), memory, args.mode, "eval-random.jsonl"),
    ]
    for name in family_of(env_id).agents:
        rows.append(
            Row(f"{name} (reference)", make_policy(name, env_id, None, args.seed), None, "off", f"eval-{name}.jsonl")
        )
    return rows


def _document(results: list, episodes: int, seed: int) -> dict[str, Any]:
    """Return ``evaluation.json``: the rows, their comparisons with no memory (and the keys of earlier versions)."""
    rows = {r.row.name: r.summary for r in results}
    return {
        "episodes": episodes,
        "seeds": [seed, seed + episodes - 1],
        "no_memory": results[0].summary,
        "learned_memory": results[1].summary if len(results) > 1 else None,
        "rows": rows,
        "against_no_memory": {r.row.name: r.against_baseline.to_dict() for r in results[1:]},
    }


def results_table(results: list, title: str) -> Group:
    """Return the evaluation tables: each row's numbers, then each row against no memory, paired by seed."""
    rows = Table(title=title)
    rows.add_column("")
    for col in ("mean return", "success", "reuse", "steps", "model calls / ep"):
        rows.add_column(col, justify="right", no_wrap=True)
    paired = Table(title=f"against {results[0].row.name}, episode by episode")
    paired.add_column("")
    for col in ("Δ return", "95% CI", "only it won", "only base won", "McNemar p"):
        paired.add_column(col, justify="right", no_wrap=True)
    for r in results:
        s, c = r.summary, r.against_baseline
        rows.add_row(
            r.row.name,
            f"{s['mean_return']:.3f}",
            f"{s['success_rate']:.0%}",
            f"{s['reuse_rate']:.0%}",
            f"{s['mean_steps']:.1f}",
            f"{s['model_calls'] / max(s['episodes'], 1):.1f}",
        )
        if c is not None:
            paired.add_row(
                r.row.name,
                f"{c.mean_difference:+.3f}",
                f"{c.ci_low:+.2f}..{c.ci_high:+.2f}",
                str(c.only_b_won),
                str(c.only_a_won),
                f"{c.success_p:.2g}",
            )
    return Group(rows, paired)
