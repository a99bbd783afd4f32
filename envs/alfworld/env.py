"""ALFWorld as a Gymnasium text environment, on ALFWorld's real TextWorld engine."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from procmem_gym.errors import UsageError

from .data import ALFWorldDataError, find_games, normalize_task_types, read_traj_data
from .engine import make_engine, parse_cache, private_random

#: Text that ALFWorld observations and commands are made of (ASCII; objects are named "apple 1").
CHARSET = "".join(chr(c) for c in range(32, 127)) + "\n"
MAX_OBSERVATION_CHARS = 100_000
MAX_ACTION_CHARS = 256
NOTHING_HAPPENS = "Nothing happens."
_TASK_RE = re.compile(r"Your task is to: (.*?)\.?\s*$", re.S)


def _read_task_type(game: Path) -> str:
    """The task type in the ``traj_data.json`` beside a game file ("" when it cannot be read)."""
    try:
        return str(read_traj_data(game.parent / "traj_data.json")["task_type"])
    except ALFWorldDataError:
        return ""


def check_game_file(path: Path) -> None:
    """Raise :class:`ALFWorldDataError` (one line naming the file) unless ``path`` is a prepared ALFWorld game."""
    from procmem_gym.files.reading import InputFileError, loads_strict, read_bytes

    try:
        data = loads_strict(read_bytes(path, 64 << 20, "game file"))
    except InputFileError as err:
        raise ALFWorldDataError(f"options['game']: {err}") from None
    except ValueError as err:
        raise ALFWorldDataError(f"options['game']: {path} is not an ALFWorld game file (not JSON: {err})") from None
    missing = [k for k in ("pddl_domain", "pddl_problem", "grammar") if not isinstance(data, dict) or k not in data]
    if missing:
        raise ALFWorldDataError(f"options['game']: {path} is not an ALFWorld game file (no {', '.join(missing)})")


class ALFWorldEnv(gym.Env[str, str]):
    """Household tasks in text: ALFWorld's own engine, one game per episode.

    ## Description

    ALFWorld (Shridhar et al. 2021) on its real TextWorld PDDL engine, with ALFWorld's
    demangler, infos and hand-coded expert: six task types (pick, look in light, clean, heat,
    cool, pick two) in rooms with receptacles and objects. ``reset(seed=s)`` plays game
    ``s mod N`` of the split's N games (sorted by folder), so seeds 0..N-1 play every game once,
    as ALFWorld's evaluation does; ``reset()`` without a seed draws a game from the env's
    generator, and ``options={"game": i or path}`` picks one.

    ## Action Space

    ``Text``: a command such as ``go to fridge 1`` or ``move apple 1 to fridge 1``. Commands are
    matched as ALFWorld matches them, exactly, except that case and runs of spaces are ignored
    ("Go to  Fridge 1" is "go to fridge 1"). A command the game does not accept gets ALFWorld's
    "Nothing happens." and costs a step.

    ## Observation Space

    ``Text``: ALFWorld's feedback. The first observation describes the room and ends with
    "Your task is to: ...".

    ## Rewards

    1 on the step that wins the game, else 0.

    ## Episode End

    Terminated when the game is won; truncated after ``max_steps`` steps.

    ## Information

    ``admissible_commands``, ``won``, ``goal``, ``task_type``, ``expert_action`` (the hand-coded
    expert's next command, with ``expert=True``; ``"look"`` where it has none, as in ALFWorld, also
    in the states another agent reaches where the expert itself fails), ``gamefile``, ``step``, ``max_steps``, and
    ``invalid_reason`` on a command the game did not accept.

    ## Arguments

    ``data_dir`` (default ``$ALFWORLD_DATA``), ``split`` (``train``, ``valid_seen``,
    ``valid_unseen``), ``task_types`` (numbers 1-6 or names), ``max_steps=50``, ``game_files``
    (an explicit list instead of a split), ``expert=True``, ``render_mode=None`` or ``"ansi"``,
    ``parse_cache=True`` (memoise TextWorld's parses of game text: same observations, faster
    steps; ``False`` runs TextWorld's code as shipped).

    ## Version History

    * v0: the initial version (alfworld 0.4's engine; ``move X to Y`` is the put command).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        split: str = "train",
        task_types: Sequence[int | str] | None = None,
        max_steps: int = 50,
        game_files: Sequence[str | os.PathLike] | None = None,
        expert: bool = True,
        render_mode: str | None = None,
        parse_cache: bool = True,
    ) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise UsageError(f"max_steps must be a positive integer, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UsageError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.task_types = normalize_task_types(task_types)
        if game_files is not None:
            self.game_files = [Path(g) for g in game_files]
            if not self.game_files:
                raise ALFWorldDataError("game_files is empty: give at least one game.tw-pddl file")
            missing = [str(g) for g in self.game_files if not g.is_file()]
            if missing:
                raise ALFWorldDataError(f"game files not found: {', '.join(missing[:5])}")
            self.split = None
        else:
            self.game_files = find_games(data_dir, split, self.task_types)
            self.split = split
        self.max_steps = max_steps
        self.expert = bool(expert)
        self.parse_cache = bool(parse_cache)
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, min_length=1, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, min_length=0, charset=CHARSET)
        self._engine: Any = None
        self._loaded: Path | None = None
        self._rng_state: list = [random.Random(0).getstate()]
        self._state: Any = None
        self._game: Path | None = None
        self._goal = ""
        self._task_type = ""
        self._task_type_of: dict[Path, str] = {}
        self._steps = 0
        self._done = True
        self._last_command: str | None = None
        self._observation = ""

    # -- episode --------------------------------------------------------------------------------

    def _choose_game(self, seed: int | None, options: dict[str, Any] | None) -> Path:
        n = len(self.game_files)
        choice = (options or {}).get("game")
        if choice is not None:
            if isinstance(choice, bool) or not isinstance(choice, (int, str, os.PathLike)):
                raise UsageError(f"options['game'] must be a game index or a game file, got {choice!r}")
            if isinstance(choice, int):
                if not -n <= choice < n:
                    raise UsageError(f"options['game']={choice} is out of range for {n} games")
                return self.game_files[choice]
            path = Path(choice)
            check_game_file(path)
            return path
        if seed is not None:
            return self.game_files[seed % n]
        return self.game_files[int(self.np_random.integers(n))]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start a game: ``seed`` picks game ``seed mod N`` and seeds the expert; see the class doc."""
        super().reset(seed=seed)
        game = self._choose_game(seed, options)
        # The expert's random choices: a generator of its own, derived from the env's.
        self._rng_state = [random.Random(int(self.np_random.integers(2**63))).getstate()]
        if self._engine is None:
            self._engine = make_engine(expert=self.expert)
        with private_random(self._rng_state), parse_cache(self.parse_cache):
            if self._loaded != game:
                self._loaded = None
                self._engine.load(str(game))
                self._loaded = game
            self._state = self._engine.reset()
        self._game = game
        self._steps = 0
        self._done = False
        self._last_command = None
        self._observation = self._state["feedback"]
        match = _TASK_RE.search(self._observation)
        self._goal = match.group(1).strip() if match else ""
        if game not in self._task_type_of:
            self._task_type_of[game] = _read_task_type(game)
        self._task_type = self._task_type_of[game]
        return self._observation, self._info(None)

    def _command(self, action: Any) -> tuple[str, str | None]:
        """Return the command to send and why it is invalid (None when the game accepts it)."""
        if not isinstance(action, str):
            return "", f"action is not text: {type(action).__name__}"
        admissible = self._state["admissible_commands"]
        if action in admissible:
            return action, None
        if len(action) > MAX_ACTION_CHARS * 16:
            return "", f"action is {len(action)} characters long; no ALFWorld command is"
        try:
            action.encode("utf-8")
        except UnicodeEncodeError:
            return "", "action is not valid text (it holds an unpaired surrogate)"
        normal = " ".join(action.split()).lower()
        if normal in admissible:
            return normal, None
        shown = normal if len(normal) <= 80 else normal[:77] + "..."
        return normal, f"{shown!r} is not an admissible command here"

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Send one command; the reward is 1.0 on the step that completes the task."""
        if self._done:
            raise RuntimeError("step() called on a finished game; call reset() first")
        command, invalid = self._command(action)
        with private_random(self._rng_state), parse_cache(self.parse_cache):
            self._state, _, _ = self._engine.step(command)
        self._steps += 1
        self._last_command = command
        self._observation = self._state["feedback"]
        won = bool(self._state["won"])
        truncated = not won and self._steps >= self.max_steps
        self._done = won or truncated
        return self._observation, 1.0 if won else 0.0, won, truncated, self._info(invalid)

    def _info(self, invalid: str | None) -> dict[str, Any]:
        state = self._state
        info: dict[str, Any] = {
            "admissible_commands": list(state["admissible_commands"]),
            "won": bool(state["won"]),
            "goal": self._goal,
            "task_type": self._task_type,
            "expert_action": state["extra.expert_plan"][0] if self.expert else None,
            "gamefile": str(self._game),
            "step": self._steps,
            "max_steps": self.max_steps,
        }
        if invalid is not None:
            info["invalid_reason"] = invalid
        return info

    # -- the rest ----------------------------------------------------------------------------------

    @property
    def gamefile(self) -> Path | None:
        """The game file of the current episode."""
        return self._game

    def render(self) -> str | None:
        """Return the last command and observation as text when ``render_mode="ansi"``."""
        if self.render_mode != "ansi":
            return None
        if self._last_command is None:
            return self._observation
        return f"> {self._last_command}\n{self._observation}"

    def close(self) -> None:
        """Release the engine."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
            self._loaded = None
        super().close()
