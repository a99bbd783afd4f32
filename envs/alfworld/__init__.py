"""ALFWorld on its real text engine: data folders, game preparation, and the Gymnasium env.

Importing this package imports neither alfworld nor textworld; the env and the preparation
step import them when used (the ``alfworld`` extra).
"""

from __future__ import annotations

from typing import Any

from .data import (
    DOWNLOAD_HINT,
    GAME_FILE,
    SPLITS,
    TASK_TYPES,
    ALFWorldDataError,
    bundled_games_dir,
    find_games,
    normalize_task_types,
    resolve_data_dir,
)


def __getattr__(name: str) -> Any:
    # The env and preparation modules are loaded on first use (they need the alfworld extra).
    if name == "ALFWorldEnv":
        from .env import ALFWorldEnv

        return ALFWorldEnv
    if name in ("prepare_games", "copy_sample_games", "PrepareReport", "PreparedGame"):
        from . import prepare

        return getattr(prepare, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALFWorldDataError",
    "ALFWorldEnv",
    "DOWNLOAD_HINT",
    "GAME_FILE",
    "SPLITS",
    "TASK_TYPES",
    "PrepareReport",
    "PreparedGame",
    "bundled_games_dir",
    "copy_sample_games",
    "find_games",
    "normalize_task_types",
    "prepare_games",
    "resolve_data_dir",
]
