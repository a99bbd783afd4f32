"""Entry point of the ``procmem-gym`` console script: parse, dispatch, turn errors into messages."""

from __future__ import annotations

import argparse
import errno
import sys

from rich.console import Console
from rich.markup import escape

from procmem_gym import __version__
from procmem_gym.cli import alfworld_cmd, compare_cmd, memory_cmd, report_cmd
from procmem_gym.cli import learn as learn_cmd
from procmem_gym.cli import run as run_cmd
from procmem_gym.errors import ProcMemError


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="procmem-gym", description="Procedural memory for LLM agents as a Gymnasium wrapper."
    )
    parser.add_argument("--version", action="version", version=f"procmem-gym {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    run_cmd.add_parser(subparsers)
    memory_cmd.add_parser(subparsers)
    learn_cmd.add_parsers(subparsers)
    alfworld_cmd.add_parser(subparsers)
    compare_cmd.add_parser(subparsers)
    report_cmd.add_parser(subparsers)
    return parser


#: OS errors that come from the machine (disk full, quota, read-only, permissions, gone), not from a bug.
_MACHINE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EIO}
_RESUMABLE = {"run", "learn"}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    console = Console()
    try:
        return int(args.func(args, console) or 0)
    except ProcMemError as err:  # the user's to fix: one line; anything else is a bug and shows its traceback
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(str(err))}", highlight=False)
        return 1
    except OSError as err:
        if err.errno not in _MACHINE_ERRORS:
            raise
        # the machine's, not a bug: a full disk, a quota, a read-only or vanished folder
        where = f"{err.filename}: " if err.filename else ""
        kept = " (episodes finished before it are kept; continue with --resume)" if args.command in _RESUMABLE else ""
        Console(stderr=True, soft_wrap=True).print(
            f"[red]error:[/red] {escape(where + (err.strerror or str(err)))}{kept}", highlight=False
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
