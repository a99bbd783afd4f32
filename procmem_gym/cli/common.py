"""What the subcommands share: env keyword arguments, opening envs with clear errors, progress bars, tables."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from procmem_gym.errors import ProcMemError
from procmem_gym.files.reading import loads_strict
from procmem_gym.rollouts.runner import Rollouts, RunSummary

__all__ = [
    "CommandError",
    "add_env_kwarg",
    "add_model_options",
    "parse_env_kwargs",
    "open_rollouts",
    "progress_bar",
    "summary_table",
    "check_positive",
    "default_out",
    "interrupted",
]


class CommandError(ProcMemError, RuntimeError):
    """A command that cannot run as asked; the message says what to change."""


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--dtype`` and ``--device``, the options of a local model agent (``smollm2``, ``hf:PATH``)."""
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default=None,
        help="weights of a local LLM agent: float32 (default; exact log-probabilities for the PPO gate) or "
        "bfloat16 (about 1.7x faster on CPUs with AVX512-BF16/AMX, log-probabilities within ~0.1 nats)",
    )
    parser.add_argument(
        "--device", default="auto", help="where a local LLM agent runs: auto (CUDA when available, default), cpu, cuda"
    )
    parser.add_argument(
        "--allow-repeats",
        action="store_true",
        dest="repeat_commands",
        help="a local LLM agent's greedy command choice may take a command again in a state where it already "
        "took it (default: such repeats are skipped while another command is admissible, so it does not loop)",
    )
    parser.add_argument(
        "--server-timeout",
        type=float_in(0, 86_400, low_open=True),
        default=None,
        help="openai: agents: seconds one request may take in all, answer included (default 60)",
    )
    parser.add_argument(
        "--server-retries",
        type=int_in(0, 100),
        default=None,
        help="openai: agents: retries after 429, 5xx or a network error, with backoff and Retry-After (default 4)",
    )


def add_env_kwarg(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--env-kwarg KEY=VALUE`` option (read by :func:`parse_env_kwargs`)."""
    parser.add_argument(
        "--env-kwarg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="env_kwargs",
        help="keyword argument for the env, repeatable; VALUE is read as JSON when it parses "
        "(e.g. --env-kwarg split=valid_unseen --env-kwarg data_dir=DIR)",
    )


def parse_env_kwargs(items: list[str] | None) -> dict[str, Any]:
    """Turn ``KEY=VALUE`` strings into env keyword arguments (VALUE as JSON when it parses, else text)."""
    kwargs: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CommandError(f"--env-kwarg takes KEY=VALUE with KEY a keyword name, got {item!r}")
        try:
            kwargs[key] = loads_strict(value)
        except ValueError as err:
            if value.lstrip()[:1] in ("[", "{") and "nested" in str(err):
                raise CommandError(f"--env-kwarg {key}: the value is {err}") from None
            kwargs[key] = value
    return kwargs


def seed_value(text: str) -> int:
    """``type=`` of ``--seed`` options: an integer in 0 .. 2**32 - 1 (numpy's seeds), else a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {text[:40]!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is an integer in 0 .. 4294967295, got {value}")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """Return an argparse ``type=`` for integers in ``low .. high`` (a usage error names the option otherwise).

    >>> int_in(1, 8)("3")
    3
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"an integer is expected, got {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low} .. {high:,}, got {value:,}")
        return value

    parse.__name__ = "integer"
    return parse


def float_in(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """Return an argparse ``type=`` for finite numbers in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a number is expected, got {text[:40]!r}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be a finite number in {bracket}{low:g}, {high:g}], got {text[:40]}")
        return value

    parse.__name__ = "number"
    return parse


#: The most envs stepped together (each is a process, an actor or a game in memory).
MAX_ENVS = 1024
#: The most episodes one command plays (episode numbers and seeds stay far inside numpy's range).
MAX_EPISODES = 10_000_000


def check_positive(**values: int) -> None:
    """Raise :class:`CommandError` for a count option below 1 (named as its ``--flag``)."""
    for name, value in values.items():
        if value < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """Add ``--backend`` and ``--ray-address`` (where the envs run)."""
    p.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where the envs run: this process (local) or Ray actors (ray: one per --num-envs)",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="--backend ray: a running cluster (e.g. 10.0.0.1:6379, or auto); default: start a local Ray",
    )
    p.add_argument(
        "--policy-on",
        choices=("driver", "ray"),
        default="driver",
        help="where the policy runs: this process, or a Ray actor (with a GPU when the cluster has one)",
    )


def policy_where(args: argparse.Namespace, action_space: Any, console: Any = None) -> Any:
    """Return the ``--agent`` policy of a run or learn command, here or in a Ray actor (``--policy-on ray``)."""
    from procmem_gym.agents.factory import make_policy, server_options

    spec = {
        "name": args.agent,
        "env_id": args.env,
        "action_space": action_space,
        "seed": args.seed,
        "dtype": args.dtype,
        "device": args.device,
        "server": server_options(args),
        "avoid_repeats": not getattr(args, "repeat_commands", False),
    }
    if getattr(args, "policy_on", "driver") == "ray":
        from procmem_gym.rollouts.ray_backend import RayPolicy

        return RayPolicy(spec, address=args.ray_address)
    return make_policy(**spec, console=console)


def open_rollouts(
    env_id: str, num_envs: int, env_kwargs: dict[str, Any], backend: str = "local", ray_address: str | None = None
) -> Rollouts:
    """Return :class:`Rollouts` for an env; an unknown id or bad keyword arguments become one clear error.

    Errors raised while the env is made are the user's (the id, ``--env-kwarg`` values, missing
    data), so they are reported as :class:`CommandError` naming the env and what was passed.
    """
    try:
        return Rollouts(env_id, num_envs, env_kwargs, backend=backend, ray_address=ray_address)
    except ProcMemError:
        raise
    except gym.error.Error as err:
        ids = ", ".join(sorted(k for k in gym.registry if k.startswith("procmem_gym/")))
        raise CommandError(f"cannot make env {env_id!r}: {err}. procmem-gym registers: {ids}") from err
    except (TypeError, ValueError) as err:  # a keyword the env does not take, or a value it refuses
        raise CommandError(f"cannot make env {env_id!r} with {env_kwargs}: {err}") from err


def default_out(env_id: str, agent: str) -> Path:
    """Return ``runs/<env>-<agent>-<time>``, the default output folder of a run."""
    name = env_id.split("/")[-1]
    agent_name = agent.replace(":", "-").replace("/", "_")[-40:]
    return Path("runs") / f"{name}-{agent_name}-{time.strftime('%Y%m%d-%H%M%S')}"


@contextmanager
def progress_bar(console: Console, *fields: str, transient: bool = False) -> Iterator[Progress]:
    """Yield a rich progress bar (description, bar, done/total, the given text columns, elapsed time)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(f) for f in fields]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console, transient=transient, disable=not console.is_terminal) as progress:
        yield progress


def summary_table(summary: RunSummary, title: str = "procmem-gym run") -> Table:
    """Return a rich table of a run's summary."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.to_dict().items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    return table


def interrupted(console: Console, what: str, out: Path) -> int:
    """Print how to continue an interrupted command and return its exit status (130)."""
    console.print(f"[yellow]interrupted; continue with: procmem-gym {what} ... --out {out} --resume[/yellow]")
    return 130
