"""TextArena's single-player games as Gymnasium envs (the ``textarena`` extra).

Importing this package does not import textarena; the env does when it is made.
"""

from __future__ import annotations

from typing import Any

from .games import GAMES, NEEDS_DATA, Game


def __getattr__(name: str) -> Any:
    if name in ("TextArenaEnv", "TextArenaDataError"):
        from . import env

        return getattr(env, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["GAMES", "NEEDS_DATA", "Game", "TextArenaEnv", "TextArenaDataError"]
