"""``procmem-gym run``: play N seeded episodes, log every transition, write ``summary.json``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from procmem_gym.atomic import write_json_atomic
from procmem_gym.cli.agents import AGENTS_HELP, make_policy
from procmem_gym.memory import ProceduralMemory
from procmem_gym.runner import RunSummary, Stopwatch, make_env, run_episodes, run_vector_episodes, summarize
from procmem_gym.transitions import EpisodeRecord, read_log, repair_log
from procmem_gym.wrapper import MODES, ProceduralMemoryWrapper


class RunError(RuntimeError):
    """A run that cannot start as asked; the message says what to change."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``run`` subcommand."""
    p = subparsers.add_parser("run", help="play episodes with an agent, log transitions, write summary.json")
    p.add_argument("--env", required=True, help="a Gymnasium id, e.g. procmem_gym/Mastermind-v0")
    p.add_argument("--agent", required=True, help=AGENTS_HELP)
    p.add_argument("--episodes", type=int, default=10, help="number of episodes (default 10)")
    p.add_argument("--memory", default=None, help="a procedural memory file to use")
    p.add_argument("--mode", choices=MODES, default=None, help="guide, inject or off (default: guide with --memory, else off)")
    p.add_argument("--seed", type=int, default=0, help="episode i uses seed + i (default 0)")
    p.add_argument("--out", default=None, help="output folder (default runs/<env>-<agent>-<time>)")
    p.add_argument("--num-envs", type=int, default=1, help="step N envs as one vector env, one batched policy call per step")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                   help="weights of an LLM agent (default float32; bfloat16 is much faster in batches on AMX CPUs)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE", dest="env_kwargs",
                   help="keyword argument for the env, repeatable; VALUE is read as JSON when it parses "
                        "(e.g. --env-kwarg split=valid_unseen --env-kwarg max_steps=30)")
    p.set_defaults(func=main)


def parse_env_kwargs(items: list[str]) -> dict[str, Any]:
    """Turn ``KEY=VALUE`` strings into env keyword arguments (VALUE as JSON when it parses, else text)."""
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise RunError(f"--env-kwarg takes KEY=VALUE with KEY a keyword name, got {item!r}")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    return kwargs


def _default_out(env_id: str, agent: str) -> Path:
    name = env_id.split("/")[-1]
    agent_name = agent.replace(":", "-").replace("/", "_")[-40:]
    return Path("runs") / f"{name}-{agent_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _previous_records(out: Path, config: dict[str, Any]) -> tuple[list[EpisodeRecord], float]:
    """Return the finished episodes and seconds of the interrupted run in ``out`` (checked against config)."""
    config_path = out / "config.json"
    if not config_path.exists():
        raise RunError(f"--resume: {out} holds no run to resume (no config.json)")
    previous = json.loads(config_path.read_text())
    for key in ("env", "agent", "seed", "mode", "memory", "env_kwargs"):
        if previous.get(key) != config.get(key):
            raise RunError(
                f"--resume: {out} was run with {key}={previous.get(key)!r}, not {config.get(key)!r}; "
                "resume with the same settings or choose another --out"
            )
    log = out / "transitions.jsonl"
    repair_log(log)
    records = [r for r in read_log(log) if isinstance(r, EpisodeRecord)] if log.exists() else []
    seconds = 0.0
    if (out / "summary.json").exists():
        seconds = float(json.loads((out / "summary.json").read_text()).get("seconds", 0.0))
    return records, seconds


def _make_env(env_id: str, num_envs: int, env_kwargs: dict[str, Any] | None = None) -> Any:
    """Return the env or vector env, with a clear error for an unknown id."""
    try:
        return make_env(env_id, num_envs, **(env_kwargs or {}))
    except gym.error.Error as err:
        ids = ", ".join(sorted(k for k in gym.registry if k.startswith("procmem_gym/")))
        raise RunError(f"cannot make env {env_id!r}: {err}. procmem-gym registers: {ids}") from err
    except TypeError as err:  # a keyword the env does not take
        raise RunError(f"cannot make env {env_id!r} with {env_kwargs}: {err}") from err


def summary_table(summary: RunSummary, title: str = "procmem-gym run") -> Table:
    """Return a rich table of a run's summary."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.to_dict().items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    """Run the ``run`` subcommand; return the exit status."""
    if args.episodes < 1:
        raise RunError(f"--episodes must be at least 1, got {args.episodes}")
    mode = args.mode or ("guide" if args.memory else "off")
    if mode != "off" and not args.memory:
        raise RunError(f"--mode {mode} needs --memory FILE")
    if args.resume and not args.out:
        raise RunError("--resume needs --out: the folder of the run to continue")
    out = Path(args.out) if args.out else _default_out(args.env, args.agent)
    env_kwargs = parse_env_kwargs(getattr(args, "env_kwargs", None) or [])
    config = {"env": args.env, "agent": args.agent, "seed": args.seed, "mode": mode, "memory": args.memory}
    if env_kwargs:
        config["env_kwargs"] = env_kwargs

    records: list[EpisodeRecord] = []
    seconds = 0.0
    if args.resume:
        records, seconds = _previous_records(out, config)
    elif (out / "transitions.jsonl").exists():
        raise RunError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    memory = None
    if args.memory:
        # The run works on a copy in --out (stats change as skills are used); the input file is never written.
        snapshot_path = out / "memory.json"
        memory = ProceduralMemory.load(snapshot_path if args.resume and snapshot_path.exists() else args.memory)
    if args.num_envs < 1:
        raise RunError(f"--num-envs must be at least 1, got {args.num_envs}")
    env = _make_env(args.env, args.num_envs, env_kwargs)
    space = env.single_action_space if args.num_envs > 1 else env.action_space
    policy = make_policy(args.agent, args.env, space, args.seed, console, dtype=args.dtype)
    # written once the env and agent exist, so a run that cannot start leaves no folder behind
    write_json_atomic(out / "config.json", {**config, "episodes": args.episodes})
    wrapper_kwargs: dict[str, Any] = {}
    if args.num_envs > 1:
        wrapper_kwargs["episode_limit"] = args.episodes - len(records)
    wrapped = ProceduralMemoryWrapper(
        env, memory, mode=mode, log_path=out / "transitions.jsonl", append=args.resume, episode_offset=len(records),
        **wrapper_kwargs,
    )
    watch = Stopwatch(seconds)
    todo = range(len(records), args.episodes)
    previous = json.loads((out / "summary.json").read_text()) if args.resume and (out / "summary.json").exists() else {}

    def snapshot() -> RunSummary:
        return summarize(
            records,
            env=args.env,
            agent=args.agent,
            seconds=round(watch.seconds, 3),
            skills=len(memory) if memory is not None else 0,
            memory_tokens=memory.tokens() if memory is not None else 0,
            model_calls=previous.get("model_calls", 0) + getattr(policy, "model_calls", 0),
            generated_tokens=previous.get("generated_tokens", 0) + getattr(policy, "generated_tokens", 0),
        )

    interrupted = False
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("return {task.fields[ret]:.3f}  success {task.fields[success]:.0%}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(args.env, total=args.episodes, completed=len(records), ret=0.0, success=0.0)

        def on_episode(record: EpisodeRecord) -> None:
            records.append(record)
            s = snapshot()
            progress.update(task, advance=1, ret=s.mean_return, success=s.success_rate)
            if memory is not None:
                memory.save(out / "memory.json")
            write_json_atomic(out / "summary.json", s.to_dict())

        try:
            if args.num_envs > 1:
                # a resumed batched run starts its remaining episodes from seed + episodes done
                run_vector_episodes(wrapped, policy, len(todo), seed=args.seed + len(records), on_episode=on_episode)
            else:
                run_episodes(wrapped, policy, todo, seed=args.seed, on_episode=on_episode)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            wrapped.close()

    summary = snapshot()
    write_json_atomic(out / "summary.json", summary.to_dict())
    console.print(summary_table(summary))
    console.print(f"transitions: {out / 'transitions.jsonl'}\nsummary:     {out / 'summary.json'}")
    if memory is not None:
        console.print(f"memory:      {out / 'memory.json'} (skill stats after this run)")
    if interrupted:
        console.print(
            f"[yellow]interrupted after {len(records)} of {args.episodes} episodes; "
            f"continue with: procmem-gym run ... --out {out} --resume[/yellow]"
        )
        return 130
    return 0
