"""The root of every exception procmem-gym raises on purpose.

Each project exception derives from :class:`ProcMemError` *and* keeps the builtin base it has
always had (``MemoryFormatError`` is still a ``ValueError``, ``ModelNotFoundError`` still a
``FileNotFoundError``), so user code that catches the builtin keeps working. The command line
prints a :class:`ProcMemError` as one line and exits 1; anything else is a bug and shows its
traceback.
"""

from __future__ import annotations

__all__ = ["ProcMemError", "UsageError", "MissingExtraError", "InputNotFoundError", "LogprobsUnavailable"]


class ProcMemError(Exception):
    """Something the user can fix: the message says what went wrong and what to do."""


class UsageError(ProcMemError, ValueError):
    """A setting or argument value that cannot work (an unknown mode, a negative count, ...)."""


class MissingExtraError(ProcMemError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class InputNotFoundError(ProcMemError, FileNotFoundError):
    """An input file or folder that does not exist; the message names it."""


class LogprobsUnavailable(ProcMemError, NotImplementedError):
    """A policy that cannot give the log-probabilities asked for (a server without them, a free-text action).

    Learners catch it and gate by paired validation rollouts instead; the report says which ran.
    """
