"""The root of every exception procmem-gym raises on purpose, and the list of them all.

Each project exception derives from :class:`ProcMemError` *and* keeps the builtin base it has
always had (``MemoryFormatError`` is still a ``ValueError``, ``ModelNotFoundError`` still a
``FileNotFoundError``), so user code that catches the builtin keeps working. The command line
prints a :class:`ProcMemError` as one line and exits 1; anything else is a bug and shows its
traceback. Every name ends in ``Error`` (a test checks this list against the code):

=============================  =====================  =================================================
exception                      builtin base           defined in (raised by)
=============================  =====================  =================================================
``ProcMemError``               ``Exception``          ``procmem_gym.errors`` (the root)
``UsageError``                 ``ValueError``         ``procmem_gym.errors`` (settings that cannot work)
``MissingExtraError``          ``ImportError``        ``procmem_gym.errors`` (an optional extra is missing)
``InputNotFoundError``         ``FileNotFoundError``  ``procmem_gym.errors`` (an input path is missing)
``LogprobsUnavailableError``   ``NotImplementedError``  ``procmem_gym.errors`` (a policy without log-probabilities)
``SkillError``                 ``ValueError``         ``procmem_gym.skills.skill``
``ConstraintError``            ``ValueError``         ``procmem_gym.skills.constraint``
``ConstraintTooLargeError``    ``ValueError``         ``procmem_gym.skills.constraint`` (the step skips it)
``PatternError``               ``ValueError``         ``procmem_gym.skills.patterns``
``MemoryFormatError``          ``ValueError``         ``procmem_gym.memory.fileformat``
``InputFileError``             ``ValueError``         ``procmem_gym.files.reading``
``OutputBusyError``            ``RuntimeError``       ``procmem_gym.files.locking``
``LogFormatError``             ``ValueError``         ``procmem_gym.rollouts.transitions``
``RunFolderError``             ``RuntimeError``       ``procmem_gym.rollouts.runfolder``
``WorkerLostError``            ``RuntimeError``       ``procmem_gym.rollouts.ray_backend``
``RayStartError``              ``ConnectionError``    ``procmem_gym.rollouts.ray_backend`` (no cluster at the address)
``OutputFolderError``          ``OSError``            ``procmem_gym.files.folders`` (a folder that cannot be made)
``OutputCollisionError``       ``ValueError``         ``procmem_gym.files.folders`` (an output over an input)
``LearnError``                 ``RuntimeError``       ``procmem_gym.learning.loop``
``TrajectoryFormatError``      ``ValueError``         ``procmem_gym.learning.memp``
``ComparisonError``            ``ValueError``         ``procmem_gym.analysis.evaluation``
``ReportError``                ``ValueError``         ``procmem_gym.analysis.report``
``CommandError``               ``RuntimeError``       ``procmem_gym.cli.common``
``AgentError``                 ``ValueError``         ``procmem_gym.agents.factory``
``ModelNotFoundError``         ``FileNotFoundError``  ``procmem_gym.agents.hf_policy``
``ServerError``                ``RuntimeError``       ``procmem_gym.agents.openai_policy``
``ServerLogprobsError``        ``RuntimeError``       ``procmem_gym.agents.openai_policy`` (a LogprobsUnavailableError)
``InvalidGuessError``          ``ValueError``         ``procmem_gym.envs.mastermind.rules``
``ALFWorldDataError``          ``FileNotFoundError``  ``procmem_gym.envs.alfworld.data``
``TextArenaDataError``         ``FileNotFoundError``  ``procmem_gym.envs.textarena.env`` (NLTK data not installed)
=============================  =====================  =================================================

Names of earlier versions still import, with a ``DeprecationWarning``: ``LogprobsUnavailable``
(here), ``procmem_gym.agents.openai_policy.LogprobsUnavailable`` and
``procmem_gym.envs.mastermind.InvalidGuess``.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["ProcMemError", "UsageError", "MissingExtraError", "InputNotFoundError", "LogprobsUnavailableError"]


class ProcMemError(Exception):
    """Something the user can fix: the message says what went wrong and what to do."""


class UsageError(ProcMemError, ValueError):
    """A setting or argument value that cannot work (an unknown mode, a negative count, ...)."""


class MissingExtraError(ProcMemError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class InputNotFoundError(ProcMemError, FileNotFoundError):
    """An input file or folder that does not exist; the message names it."""


class LogprobsUnavailableError(ProcMemError, NotImplementedError):
    """A policy that cannot give the log-probabilities asked for (a server without them, a free-text action).

    Learners catch it and gate by paired validation rollouts instead; the report says which ran.
    """


def renamed(module: str, old: str, new: Any) -> Any:
    """Return ``new`` for an old exception name, with a ``DeprecationWarning`` naming the new one."""
    warnings.warn(f"{module}.{old} is now {new.__name__}", DeprecationWarning, stacklevel=3)
    return new


def __getattr__(name: str) -> Any:
    if name == "LogprobsUnavailable":
        return renamed(__name__, name, LogprobsUnavailableError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
