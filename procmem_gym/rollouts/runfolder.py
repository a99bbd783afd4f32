"""Run folders: the settings a run recorded when it started, checked when it is resumed.

``procmem-gym run`` records its settings in ``config.json``, ``procmem-gym learn`` in
``state.json``; ``--resume`` continues a run only with the settings it was started with, since
other settings would play other episodes than the ones already logged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from procmem_gym.errors import ProcMemError
from procmem_gym.files.reading import InputFileError, read_text

__all__ = ["RunFolderError", "check_resume", "read_json"]


class RunFolderError(ProcMemError, RuntimeError):
    """A run folder that cannot be started or resumed as asked; the message says what to change."""


#: The largest JSON file of a run folder read (config, summary, state, evaluation).
RUN_FILE_LIMIT = 64 << 20


def read_json(path: Path) -> Any:
    """Return a JSON object of a run folder; raise :class:`RunFolderError` naming it when it is not one."""
    try:
        data = json.loads(read_text(path, RUN_FILE_LIMIT, "run file"))
    except InputFileError as err:
        raise RunFolderError(str(err)) from None
    except (ValueError, RecursionError) as err:
        raise RunFolderError(f"{path}: not JSON ({str(err)[:200]})") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: a JSON object was expected, got a {type(data).__name__}")
    return data


def check_resume(folder: Path, recorded: dict[str, Any] | None, settings: dict[str, Any], keys: Iterable[str]) -> None:
    """Raise :class:`RunFolderError` unless ``recorded`` settings exist and equal ``settings`` on ``keys``."""
    if recorded is None:
        raise RunFolderError(f"--resume: {folder} holds no run to resume")
    for key in keys:
        if recorded.get(key) != settings.get(key):
            raise RunFolderError(
                f"--resume: {folder} was run with {key}={recorded.get(key)!r}, not {settings.get(key)!r}; "
                "resume with the same settings or choose another --out"
            )
