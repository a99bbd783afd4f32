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

__all__ = ["RunFolderError", "check_resume", "read_json"]


class RunFolderError(ProcMemError, RuntimeError):
    """A run folder that cannot be started or resumed as asked; the message says what to change."""


def read_json(path: Path) -> Any:
    """Return a JSON file of a run folder; raise :class:`RunFolderError` naming it when it does not parse."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFolderError(f"{path}: cannot read it ({err})") from None


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
