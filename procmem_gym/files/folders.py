"""Output folders: every folder procmem-gym creates is made here, and an OS error becomes one clear line."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from procmem_gym.errors import ProcMemError

__all__ = ["OutputFolderError", "OutputCollisionError", "make_folder", "refuse_overwrite"]


class OutputFolderError(ProcMemError, OSError):
    """An output folder that cannot be made (a file is in the way, no permission, ...); the message names it."""


def make_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Make ``path`` (and its parents) as a folder; return it. Raise :class:`OutputFolderError` naming it."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputFolderError(f"{p}: the {what} is a file, not a folder; choose another") from None
    except NotADirectoryError:
        raise OutputFolderError(f"{p}: the {what} cannot be made: part of its path is a file, not a folder") from None
    except OSError as err:
        raise OutputFolderError(f"{p}: the {what} cannot be made ({err.strerror or err})") from None
    return p


def refuse_overwrite(
    out: str | os.PathLike, writes: Sequence[str], inputs: Mapping[str, str | os.PathLike | None], role: str
) -> None:
    """Refuse a command whose output folder ``out`` would overwrite one of its inputs, before anything is written.

    ``writes`` are the names the command writes in ``out`` (shell patterns: ``iter-*``); an input
    (``{option: path}``, symlinks followed) that lies inside ``out`` under one of those names is
    refused with one line naming both; ``role`` says what ``out`` is to the command ("written by run").
    """
    root = Path(out).resolve()
    for option, path in inputs.items():
        if path is None:
            continue
        target = Path(path).resolve()
        try:
            rel = target.relative_to(root)
        except ValueError:
            continue
        first = rel.parts[0] if rel.parts else "."
        if first == "." or any(fnmatch.fnmatchcase(first, w) for w in writes):
            raise OutputCollisionError(
                f"{option} {path} would be overwritten: {first} in {out} is {role}; choose another path "
                "(nothing was written)"
            )


class OutputCollisionError(ProcMemError, ValueError):
    """An output that would overwrite one of the command's own inputs; the message names both."""
