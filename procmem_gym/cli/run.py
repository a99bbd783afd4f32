"""``procmem-gym run``: play N seeded episodes, log every transition, write ``summary.json``."""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from procmem_gym.agents.factory import AGENTS_HELP
from procmem_gym.cli.common import (
    MAX_ENVS,
    MAX_EPISODES,
    CommandError,
    add_backend_options,
    add_env_kwarg,
    add_model_options,
    check_positive,
    default_out,
    float_in,
    int_in,
    open_rollouts,
    parse_env_kwargs,
    policy_where,
    progress_bar,
    seed_value,
    summary_table,
)
from procmem_gym.envs.families import MAIN_JOB_ENV
from procmem_gym.files.atomic import write_json_atomic
from procmem_gym.files.folders import make_folder, refuse_overwrite
from procmem_gym.files.locking import exclusive
from procmem_gym.memory import ProceduralMemory
from procmem_gym.memory.retrieval import retrieval_settings
from procmem_gym.rollouts.runfolder import SUMMARY_FIELDS, check_resume, read_json
from procmem_gym.rollouts.runner import RunSummary, Stopwatch, summarize
from procmem_gym.rollouts.transitions import EpisodeRecord, read_log, repair_log
from procmem_gym.wrappers.episode import MODES

#: What ``run`` writes in its folder (its memory copy is ``memory.json``, or ``memory.run.json`` beside an input there).
RUN_WRITES = ("config.json", "summary.json", "transitions.jsonl", "memory.run.json", "*.vectors.npz", ".lock")
#: Settings a resumed run must share with the run it continues (others would play other episodes).
RESUME_KEYS = ("env", "agent", "seed", "mode", "memory", "env_kwargs", "retrieval", "num_envs")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``run`` subcommand."""
    p = subparsers.add_parser("run", help="play episodes with an agent, log transitions, write summary.json")
    p.add_argument("--env", required=True, help=f"a Gymnasium id, e.g. {MAIN_JOB_ENV}")
    p.add_argument("--agent", required=True, help=AGENTS_HELP)
    p.add_argument("--episodes", type=int_in(1, MAX_EPISODES), default=10, help="number of episodes (default 10)")
    p.add_argument("--memory", default=None, help="a procedural memory file to use")
    p.add_argument(
        "--mode", choices=MODES, default=None, help="guide, inject or off (default: guide with --memory, else off)"
    )
    p.add_argument(
        "--retrieval",
        choices=("step", "episode"),
        default=None,
        help="step: skills activate step by step (ProcMEM); episode: memories retrieved once per episode by "
        "the task and kept in the prompt (MemP as published). Default: what the memory file says, else step",
    )
    p.add_argument(
        "--top-k", type=int_in(1, 100), default=None, help="episode retrieval: memories per episode (MemP: 10)"
    )
    p.add_argument(
        "--retrieval-threshold",
        type=float_in(-1, 1),
        default=None,
        help="episode retrieval: the cosine a memory's task needs (MemP: 0.75, squared L2 distance 0.5)",
    )
    p.add_argument("--seed", type=seed_value, default=0, help="episode i uses seed + i (default 0)")
    p.add_argument("--out", default=None, help="output folder (default runs/<env>-<agent>-<time>)")
    p.add_argument(
        "--num-envs",
        type=int_in(1, MAX_ENVS),
        default=1,
        help="step N envs as one vector env, one batched policy call per step",
    )
    add_backend_options(p)
    add_model_options(p)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    add_env_kwarg(p)
    p.set_defaults(func=main)


@dataclass
class RunPlan:
    """A run as asked on the command line, checked: where, with what, and what an interrupted run left."""

    out: Path
    mode: str
    config: dict[str, Any]
    env_kwargs: dict[str, Any]
    records: list[EpisodeRecord] = field(default_factory=list)
    previous: dict[str, Any] = field(default_factory=dict)  # the interrupted run's summary


def plan(args: argparse.Namespace) -> RunPlan:
    """Return the checked plan of a run (and, with ``--resume``, what the interrupted run finished)."""
    check_positive(episodes=args.episodes, num_envs=args.num_envs)
    args.num_envs = min(args.num_envs, args.episodes)  # more envs than episodes would only sit idle
    mode = args.mode or ("guide" if args.memory else "off")
    if mode != "off" and not args.memory:
        raise CommandError(f"--mode {mode} needs --memory FILE")
    if args.resume and not args.out:
        raise CommandError("--resume needs --out: the folder of the run to continue")
    out = Path(args.out) if args.out else default_out(args.env, args.agent)
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    config = {"env": args.env, "agent": args.agent, "seed": args.seed, "mode": mode, "memory": args.memory}
    if env_kwargs:
        config["env_kwargs"] = env_kwargs
    if args.num_envs != 1:  # recorded so that --resume continues the run as it was played
        config["num_envs"] = args.num_envs
    if args.backend != "local":  # provenance only: either backend plays the same episodes
        config["backend"] = args.backend
    retrieval = {
        k: v
        for k, v in (("scope", args.retrieval), ("top_k", args.top_k), ("threshold", args.retrieval_threshold))
        if v is not None
    }
    if retrieval:
        if not args.memory:
            raise CommandError("--retrieval, --top-k and --retrieval-threshold need --memory FILE")
        config["retrieval"] = retrieval
    run = RunPlan(out, mode, config, env_kwargs)
    refuse_overwrite(out, RUN_WRITES, {"--memory": args.memory}, "written by run")
    if not args.resume:
        if (out / "transitions.jsonl").exists():
            raise CommandError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        return run
    recorded = (
        read_json(out / "config.json", {"num_envs": "int", "seed": "int"}) if (out / "config.json").exists() else None
    )
    check_resume(out, recorded, config, RESUME_KEYS)
    log = out / "transitions.jsonl"
    repair_log(log)
    run.records = [r for r in read_log(log) if isinstance(r, EpisodeRecord)] if log.exists() else []
    if (out / "summary.json").exists():
        run.previous = read_json(out / "summary.json", SUMMARY_FIELDS)
    return run


def main(args: argparse.Namespace, console: Console) -> int:
    """Run the ``run`` subcommand; return the exit status.

    The run folder is locked for the whole run (a second run into it is refused and changes
    nothing); a run that fails before its first episode leaves no folder it created behind.
    """
    if args.out is None:
        args.out = str(default_out(args.env, args.agent))
    out = Path(args.out)
    created = not out.exists()
    make_folder(out, "--out folder")  # a file in the way, or no permission: one line naming it
    try:
        with exclusive(out, "run folder", folder=True):
            run = plan(args)  # checked under the lock: a run that finished meanwhile is seen
            return _run(args, console, run)
    except BaseException:
        if created:
            _remove_empty_run_folder(out)  # only when no episode was logged
        raise


def _remove_empty_run_folder(out: Path) -> None:
    """Remove a run folder this run created, when it holds no finished step (only its lock, config, empty log)."""
    if not out.is_dir():
        return
    log = out / "transitions.jsonl"
    removable = {".lock", "config.json"}
    if log.exists() and log.stat().st_size == 0:
        removable.add("transitions.jsonl")
    if all(p.name in removable for p in out.iterdir()):
        for name in removable:
            (out / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            out.rmdir()


def _run(args: argparse.Namespace, console: Console, run: RunPlan) -> int:
    out, records = run.out, run.records
    memory = None
    saved = memory_copy(out, args.memory)
    if args.memory:
        # The run works on a copy in --out (stats change as skills are used); the input file is never written.
        memory = ProceduralMemory.load(saved if args.resume and saved.exists() else args.memory)
        if run.config.get("retrieval"):
            memory.meta["retrieval"] = {**(memory.meta.get("retrieval") or {}), **run.config["retrieval"]}
            retrieval_settings(memory, None)  # a bad value is reported before anything runs
    rollouts = open_rollouts(args.env, args.num_envs, run.env_kwargs, args.backend, args.ray_address)
    policy = policy_where(args, rollouts.action_space, console)
    # written once the env and agent exist, so a run that cannot start leaves no folder behind
    write_json_atomic(out / "config.json", {**run.config, "episodes": args.episodes})
    watch = Stopwatch(float(run.previous.get("seconds", 0.0)))

    def snapshot() -> RunSummary:
        return summarize(
            records,
            env=args.env,
            agent=args.agent,
            seconds=round(watch.seconds, 3),
            skills=len(memory) if memory is not None else 0,
            memory_tokens=memory.tokens() if memory is not None else 0,
            model_calls=run.previous.get("model_calls", 0) + policy.model_calls,
            generated_tokens=run.previous.get("generated_tokens", 0) + policy.generated_tokens,
        )

    interrupted = False
    with progress_bar(console, "return {task.fields[ret]:.3f}  success {task.fields[success]:.0%}") as progress:
        task = progress.add_task(args.env, total=args.episodes, completed=len(records), ret=0.0, success=0.0)

        def on_episode(record: EpisodeRecord) -> None:
            records.append(record)
            s = snapshot()
            progress.update(task, advance=1, ret=s.mean_return, success=s.success_rate)
            if memory is not None:
                memory.save(saved)
            write_json_atomic(out / "summary.json", s.to_dict())

        try:
            rollouts.play(
                policy,
                memory,
                run.mode,
                args.episodes,
                args.seed,
                out / "transitions.jsonl",
                skip=frozenset(r.episode for r in records),
                append=args.resume,
                on_episode=on_episode,
            )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            rollouts.close()
    return report(console, args, out, snapshot(), saved if memory is not None else None, interrupted, len(records))


def memory_copy(out: Path, memory: str | None) -> Path:
    """Return where a run keeps its copy of the memory: ``OUT/memory.json``, unless that is the input itself."""
    copy = out / "memory.json"
    if memory is not None and copy.resolve() == Path(memory).resolve():
        return out / "memory.run.json"  # never write the input
    return copy


def report(
    console: Console,
    args: argparse.Namespace,
    out: Path,
    summary: RunSummary,
    memory_file: Path | None,
    interrupted: bool,
    done: int,
) -> int:
    """Write the final summary, print it and where everything is; return the exit status."""
    write_json_atomic(out / "summary.json", summary.to_dict())
    console.print(summary_table(summary))
    console.print(f"transitions: {out / 'transitions.jsonl'}\nsummary:     {out / 'summary.json'}")
    if memory_file is not None:
        console.print(f"memory:      {memory_file} (skill stats after this run)")
    if interrupted:
        console.print(
            f"[yellow]interrupted after {done} of {args.episodes} episodes; "
            f"continue with: procmem-gym run ... --out {out} --resume[/yellow]"
        )
        return 130
    return 0
