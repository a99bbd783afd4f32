"""TextArenaEnv: one of TextArena's single-player games as a Gymnasium env.

The observation is TextArena's text for the player (what its default wrappers give a language
model: the rules, then every message so far); the action is the text move. The reward is 0 on
every step but the last, which gets TextArena's final reward for the player (1 on a win; on a
loss, the game's own partial score); ``info["success"]`` is True when the game was won (a final
reward of 1 without an invalid move), and ``info["invalid_move"]`` whether TextArena refused the
step's move (a refused move costs no turn; a second one in a row ends the game).
``info["action_set"]`` declares the game's move format
(:class:`~procmem_gym.envs.actions.MoveGrammar`), so skills' constraints bind on it.

TextArena seeds Python's global ``random`` in ``reset`` and draws from it in ``step``. The env
keeps the game's own ``random`` state apart: every call into TextArena swaps the game's state
in and the caller's back out, so ``random.getstate()`` is the same before and after ``reset``
and ``step``, and the same seed plays the same game whatever the caller draws in between.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from procmem_gym.envs.actions import ACTION_SET_KEY, MoveGrammar

from procmem_gym.errors import MissingExtraError, ProcMemError

from .games import GAMES, NEEDS_DATA

__all__ = ["TextArenaEnv", "TextArenaDataError", "CHARSET"]

CHARSET = "".join(chr(c) for c in range(32, 127)) + "\n\t"
MAX_OBSERVATION_CHARS = 200_000
MAX_ACTION_CHARS = 2_000


class TextArenaDataError(ProcMemError, FileNotFoundError):
    """A TextArena game needs data that is not installed (NLTK corpora); the message names it."""


def _textarena() -> Any:
    try:
        import textarena
    except ImportError as err:
        raise MissingExtraError('TextArena games need textarena: pip install "procmem-gym[textarena]"') from err
    return textarena


def _check_data(game: str) -> None:
    needed = NEEDS_DATA.get(game, ())
    if not needed:
        return
    try:
        import nltk
    except ImportError as err:
        raise TextArenaDataError(f"TextArena's {game} needs nltk and its corpora {', '.join(needed)}") from err
    missing = []
    for path in needed:
        try:
            nltk.data.find(path)
        except LookupError:
            missing.append(path)
    if missing:
        raise TextArenaDataError(
            f"TextArena's {game} needs the NLTK data {', '.join(missing)}, which is not installed (and is never "
            f"downloaded at run time): install it with nltk.download() where a network is reachable"
        )


class TextArenaEnv(gym.Env):
    """A TextArena single-player game (``game``: a key of :data:`~procmem_gym.envs.textarena.games.GAMES`).

    >>> import gymnasium, procmem_gym
    >>> env = gymnasium.make("textarena/GuessTheNumber-v0")  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    >>> info["action_set"].options()[:3]  # doctest: +SKIP
    ['[1]', '[2]', '[3]']
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, game: str, render_mode: str | None = None, **game_kwargs: Any) -> None:
        if game not in GAMES:
            raise ProcMemError(f"unknown TextArena game {game!r}; procmem-gym registers: {', '.join(sorted(GAMES))}")
        if render_mode not in (None, "ansi"):
            raise ProcMemError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.game = GAMES[game]
        _check_data(game)
        ta = _textarena()
        caller = random.getstate()
        try:
            self._env = ta.make(self.game.ta_id, **game_kwargs)
            self._random = random.getstate()
        finally:
            random.setstate(caller)
        base = self._env
        while hasattr(base, "env"):
            base = base.env
        self._base = base
        moves = tuple(self.game.moves(base)) if self.game.moves is not None else None
        self.moves = MoveGrammar(self.game.pattern, moves)
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, min_length=0, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, min_length=0, charset=CHARSET)
        self._obs = ""
        self._turn = 0
        self._done = True

    @contextlib.contextmanager
    def _game_random(self) -> Iterator[None]:
        """Run a call into TextArena on the game's own ``random`` state; the caller's is restored after."""
        caller = random.getstate()
        random.setstate(self._random)
        try:
            yield
        finally:
            self._random = random.getstate()
            random.setstate(caller)

    def _observation(self) -> str:
        _, obs = self._env.get_observation()
        text = obs if isinstance(obs, str) else str(obs)
        text = "".join(c if c in CHARSET else "?" for c in text)
        return text[-MAX_OBSERVATION_CHARS:]

    def _info(self, **extra: Any) -> dict[str, Any]:
        return {ACTION_SET_KEY: self.moves, "turn": self._turn, **extra}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start a game; ``seed`` seeds it (the same seed, the same game)."""
        super().reset(seed=seed)
        game_seed = int(self.np_random.integers(2**31 - 1))
        # TextArena's observation wrappers keep every message they saw, across resets too: start afresh
        layer = self._env
        while layer is not None:
            if isinstance(getattr(layer, "full_observations", None), dict):
                layer.full_observations = {}
            layer = getattr(layer, "env", None)
        with self._game_random():
            self._env.reset(num_players=1, seed=game_seed)
            self._obs = self._observation()
        self._turn, self._done = 0, False
        return self._obs, self._info()

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Play one move (text; anything else is TextArena's invalid move)."""
        if self._done:
            raise RuntimeError("step() after the game ended: call reset()")
        text = action if isinstance(action, str) else str(action)
        text = text[:MAX_ACTION_CHARS]
        with self._game_random():
            done, _ = self._env.step(text)
            self._obs = self._observation()
            rewards, game_info = self._env.close() if done else (None, None)
        self._turn += 1
        if not done:
            # TextArena counts invalid moves in a row (its error allowance) and forgets them after a valid one
            invalid = int(getattr(getattr(self._base, "state", None), "error_count", 0) or 0) > 0
            return self._obs, 0.0, False, False, self._info(invalid_move=invalid)
        self._done = True
        player = (game_info or {}).get(0, {}) if isinstance(game_info, dict) else {}
        reward = float((rewards or {}).get(0, 0.0)) if isinstance(rewards, dict) else 0.0
        invalid = bool(player.get("invalid_move", False))
        info = self._info(success=reward >= 1.0 and not invalid, invalid_move=invalid, reason=player.get("reason"))
        return self._obs, reward, True, False, info

    def render(self) -> str | None:
        """Return the player's current text (``render_mode="ansi"``)."""
        return self._obs if self.render_mode == "ansi" else None
