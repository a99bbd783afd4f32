"""Run folders: the settings a run recorded when it started, checked when it is resumed.

``procmem-gym run`` records its settings in ``config.json``, ``procmem-gym learn`` in
``state.json``; ``--resume`` continues a run only with the settings it was started with, since
other settings would play other episodes than the ones already logged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from procmem_gym.errors import ProcMemError
from procmem_gym.files.reading import InputFileError, excerpt, loads_strict, read_bytes

__all__ = ["RunFolderError", "check_resume", "read_json", "check_fields", "SUMMARY_FIELDS", "STATE_FIELDS"]


class RunFolderError(ProcMemError, RuntimeError):
    """A run folder that cannot be started or resumed as asked; the message says what to change."""


#: The largest JSON file of a run folder read (config, summary, state, evaluation).
RUN_FILE_LIMIT = 64 << 20


#: ``summary.json``: the fields ``--resume`` reads back and their kinds.
SUMMARY_FIELDS = {
    "env": "str",
    "agent": "str",
    "episodes": "int",
    "success_rate": "number",
    "mean_return": "number",
    "mean_steps": "number",
    "reuse_rate": "number",
    "step_reuse_rate": "number",
    "skills": "int",
    "memory_tokens": "int",
    "model_calls": "int",
    "generated_tokens": "int",
    "seconds": "number",
}
#: ``state.json`` of a learning run.
STATE_FIELDS = {"iterations_done": "int", "settings": "dict"}

_KINDS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2**62,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "dict": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
}
_WORDS = {
    "int": "a whole number >= 0",
    "number": "a finite number",
    "str": "text",
    "bool": "true or false",
    "dict": "an object",
    "list": "a list",
}


def check_fields(data: Any, path: Path | str, fields: dict[str, str], where: str = "") -> dict[str, Any]:
    """Return ``data`` if each field present has its kind (``int``, ``number``, ``str``, ...); else one error.

    A kind ending in ``!`` is required. The error names the file and the field, so a run folder
    edited by hand (``{"seconds": "abc"}``) is refused before anything is written.
    """
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: {where or 'a JSON object'} was expected, got a {type(data).__name__}")
    for key, kind in fields.items():
        required = kind.endswith("!")
        kind = kind.rstrip("!")
        if key not in data:
            if required:
                raise RunFolderError(f"{path}: field {where}{key!r} is missing")
            continue
        value = data[key]
        if value is None and not required:
            continue
        if not _KINDS[kind](value):
            raise RunFolderError(f"{path}: field {where}{key!r} must be {_WORDS[kind]}, got {excerpt(value, 40)}")
    return data


def read_json(path: Path, fields: dict[str, str] | None = None) -> Any:
    """Return a JSON object of a run folder (its ``fields`` checked); raise :class:`RunFolderError` naming it."""
    try:
        data = loads_strict(read_bytes(path, RUN_FILE_LIMIT, "run file"))
    except InputFileError as err:
        raise RunFolderError(str(err)) from None
    except ValueError as err:
        raise RunFolderError(f"{path}: not JSON ({str(err)[:200]})") from None
    return check_fields(data, path, fields or {})


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
