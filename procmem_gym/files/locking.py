"""One writer per output: an OS file lock on a run folder or a memory file while it is written.

:func:`exclusive` takes a non-blocking ``flock`` on ``<path>.lock`` (a run folder: ``DIR/.lock``).
A second process that wants the same output gets :class:`OutputBusyError` at once and changes
nothing; the lock goes with the process, so a crashed writer never leaves a stale lock behind
(the lock file itself may stay; it holds nothing). Where ``fcntl`` does not exist (Windows) the
lock is a no-op, and says so in its docstring only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from procmem_gym.errors import ProcMemError
from procmem_gym.files.folders import make_folder

__all__ = ["OutputBusyError", "exclusive", "lock_path"]

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class OutputBusyError(ProcMemError, RuntimeError):
    """Another process is writing the same run folder or memory file."""


def lock_path(target: str | os.PathLike, folder: bool = False) -> Path:
    """Return the lock file of an output: ``DIR/.lock`` for a folder, ``FILE.lock`` for a file."""
    target = Path(target)
    return target / ".lock" if folder else target.with_name(target.name + ".lock")


@contextlib.contextmanager
def exclusive(target: str | os.PathLike, what: str, folder: bool = False) -> Iterator[None]:
    """Hold the output ``target`` for this process; raise :class:`OutputBusyError` when another holds it."""
    path = lock_path(target, folder)
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        make_folder(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise OutputBusyError(f"{target}: cannot lock the {what} ({err.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusyError(
                f"{target}: another procmem-gym process is writing this {what}; wait for it or choose another"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock
