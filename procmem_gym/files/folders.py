"""Output folders: every folder procmem-gym creates is made here, and an OS error becomes one clear line."""

from __future__ import annotations

import os
from pathlib import Path

from procmem_gym.errors import ProcMemError

__all__ = ["OutputFolderError", "make_folder"]


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
