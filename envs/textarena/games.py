"""TextArena's single-player games that procmem-gym registers: their move formats and what they need offline.

Each game's move format is declared as a :class:`~procmem_gym.envs.actions.MoveGrammar`: the
regex TextArena parses a move with, and the moves themselves (all of them are small finite
sets), read from the game's own settings (its number range, grid size, towers). Games whose
words come from NLTK corpora need those corpora installed; without them they fail at ``make``
with one line (TextArena would try to download them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Game", "GAMES", "NEEDS_DATA"]


@dataclass(frozen=True)
class Game:
    """One TextArena game as procmem-gym registers it."""

    #: TextArena's id of the game (``textarena.make`` takes it).
    ta_id: str
    #: The regex a move is parsed with (as TextArena's game parses it).
    pattern: str
    #: The moves, from the game's base env (its settings); None where the game's moves are not enumerated.
    moves: Callable[[Any], list[str]] | None = field(default=None, compare=False)
    #: How TextArena's final reward maps to success (documented per game kind in the README).
    reward: str = "1 on a win; on a loss or a second invalid move in a row, the game's partial-completion score"


def _numbers(env: Any) -> list[str]:
    return [f"[{n}]" for n in range(int(env.min_number), int(env.max_number) + 1)]


def _towers(env: Any) -> list[str]:
    return [f"[{a} {b}]" for a, b in itertools.permutations("ABC", 2)]


def _directions(env: Any) -> list[str]:
    return ["[up]", "[down]", "[left]", "[right]"]


def _grid(rows: str, cols: str) -> Callable[[Any], list[str]]:
    def moves(env: Any) -> list[str]:
        return [f"[{r} {c}]" for r in range(int(getattr(env, rows))) for c in range(int(getattr(env, cols)))]

    return moves


_GUESS = r"\[(\d+)\]"
_HANOI = r"\[([ABCabc])\s*,?\s*([ABCabc])\]"
_LAKE = r"\[\s*(up|down|left|right|w|a|s|d)\s*\]"
_CELL = r"\[(\d+)\s+(\d+)\]"

#: procmem-gym id suffix -> the game.
GAMES: dict[str, Game] = {
    "GuessTheNumber-v0": Game(
        "GuessTheNumber-v0", _GUESS, _numbers, "1 on a win; else 1 - |last guess - target|/range"
    ),
    "GuessTheNumber-v0-hardcore": Game("GuessTheNumber-v0-hardcore", _GUESS, _numbers),
    "TowerOfHanoi-v0": Game("TowerOfHanoi-v0", _HANOI, _towers, "1 when every disk is on tower C; else 0"),
    "TowerOfHanoi-v0-medium": Game("TowerOfHanoi-v0-medium", _HANOI, _towers),
    "FrozenLake-v0": Game("FrozenLake-v0", _LAKE, _directions, "1 at the goal; else the share of the way covered"),
    "FrozenLake-v0-hardcore": Game("FrozenLake-v0-hardcore", _LAKE, _directions),
    "LightsOut-v0": Game("LightsOut-v0", _CELL, _grid("size", "size"), "1 when every light is off; else progress"),
    "Minesweeper-v0-small": Game(
        "Minesweeper-v0-small", _CELL, _grid("rows", "cols"), "1 when every safe cell is revealed; else progress"
    ),
    "Minesweeper-v0": Game("Minesweeper-v0", _CELL, _grid("rows", "cols")),
    "Wordle-v0": Game("Wordle-v0", r"\[([a-zA-Z]+)\]"),
    "Hangman-v0": Game("Hangman-v0", r"\[([a-zA-Z]+)\]"),
}

#: Games whose module needs NLTK data at import (TextArena downloads it then): the ``nltk.data`` paths.
NEEDS_DATA: dict[str, tuple[str, ...]] = {
    "Wordle-v0": ("corpora/words", "taggers/averaged_perceptron_tagger_eng"),
    "Hangman-v0": ("corpora/words",),
}
