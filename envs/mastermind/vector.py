"""N Mastermind games stepped at once: feedback for all N guesses in one array operation.

Registered as the ``vector_entry_point`` of every Mastermind id, so
``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")`` returns it.
The rules, rewards and texts are those of :class:`MastermindEnv` (a test plays both side by
side). Two observation modes: ``"text"`` (the single env's strings) and ``"array"`` (the guess
history as integers, for throughput: no string is built or parsed). Actions may be a sequence
of strings or, in either mode, an ``(num_envs, code_length)`` integer array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from procmem_gym.errors import UsageError

from . import messages
from .rules import MAX_ACTION_CHARS, CodeBook, InvalidGuessError, MastermindRules, digit_counts, format_guess


class MastermindVectorEnv(VectorEnv):
    """Vectorised Mastermind with next-step autoreset (Gymnasium's default for vector envs).

    ## Description

    ``num_envs`` games of :class:`~procmem_gym.envs.mastermind.env.MastermindEnv` stepped at once,
    with the same rules, rewards and texts. Small variants (v0, hard) score guesses by one gather
    from a precomputed feedback table; large ones (extreme) count digits with array operations.

    ## Action Space

    A sequence of ``num_envs`` strings (as the single env takes), or an ``(num_envs, code_length)``
    integer array (the fastest path).

    ## Observation Space

    ``observation_mode="text"``: a tuple of the single env's strings. ``"array"``: the guess
    history as an ``(num_envs, max_turns, code_length + 2)`` int8 array (digits, black, white).

    ## Rewards

    As the single env: 1 for cracking the code, ``(black + 0.5 white) / code_length`` of the last
    guess when a game ends otherwise.

    ## Episode End

    As the single env; a finished game is reset by the next ``step`` (whose action for it is
    ignored), Gymnasium's next-step autoreset.

    ## Information

    ``turn``, ``guesses_left``, ``success``, ``invalid_reason`` (with ``_key`` masks); with
    ``info_history=True`` also each game's ``history`` and the variant, as the single env gives.

    ## Arguments

    ``num_envs``, the variant (``code_length``, ``num_digits``, ``max_turns``, ``allow_repeats``),
    ``error_allowance=1``, ``observation_mode="text"``, ``info_history=False``.
    ``reset(options={"secrets": array})`` fixes the secrets.

    ## Version History

    * v0: the initial version.

    >>> import gymnasium, procmem_gym
    >>> envs = gymnasium.make_vec("procmem_gym/Mastermind-v0", num_envs=3, vectorization_mode="vector_entry_point")
    >>> obs, info = envs.reset(seed=0)
    >>> obs, rewards, terminated, truncated, info = envs.step(["[1 2 3 4]"] * 3)
    >>> [o.startswith("Submitted [1 2 3 4]") for o in obs]
    [True, True, True]
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        code_length: int = 4,
        num_digits: int = 6,
        max_turns: int = 20,
        allow_repeats: bool = False,
        error_allowance: int = 1,
        observation_mode: str = "text",
        info_history: bool = False,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise UsageError(f"num_envs must be a positive integer, got {num_envs!r}")
        if observation_mode not in ("text", "array"):
            raise UsageError(f"observation_mode must be 'text' or 'array', got {observation_mode!r}")
        if isinstance(error_allowance, bool) or not isinstance(error_allowance, int) or error_allowance < 0:
            raise UsageError(f"error_allowance must be a non-negative integer, got {error_allowance!r}")
        if render_mode is not None:
            raise UsageError("MastermindVectorEnv has no render modes; render a single MastermindEnv instead")
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
            raise UsageError(f"autoreset_mode must be next-step or disabled, got {autoreset_mode}")
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        self.rules = rules = MastermindRules(code_length, num_digits, max_turns, allow_repeats)
        self.num_envs = num_envs
        self.error_allowance = error_allowance
        self.observation_mode = observation_mode
        #: Also put each game's history and the variant in info, as the single env does (costs a copy per step).
        self.info_history = info_history
        self.render_mode = None
        n, t, length = num_envs, max_turns, code_length
        if observation_mode == "text":
            max_obs = 1024 + (max_turns + 2) * (3 * code_length + 40)
            self.single_observation_space = spaces.Text(max_length=max_obs, min_length=1, charset=messages.CHARSET)
        else:
            high = max(num_digits, code_length)
            self.single_observation_space = spaces.Box(0, high, shape=(t, length + 2), dtype=np.int8)
        self.single_action_space = spaces.Text(max_length=MAX_ACTION_CHARS, min_length=0, charset=messages.CHARSET)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)

        self.book = CodeBook(rules) if rules.num_codes <= 5000 else None
        self.base = num_digits + 2  # digits 1..D; 0 = empty or negative, D + 1 = too large
        self._weights = self.base ** np.arange(length, dtype=np.int64)
        # Integer keys make "was this guessed before?" one comparison per history slot.
        self._keys_exact = length * np.log2(self.base) < 62
        self.secrets = np.zeros((n, length), dtype=np.int8)
        self._secret_index = np.zeros(n, dtype=np.int64)  # row in the code book (small variants)
        self._secret_counts = np.zeros((n, num_digits), dtype=np.uint8)  # digit counts (large variants)
        # history[i, k] = guess digits, black, white of guess k of game i (zeros past the turn).
        self._history = np.zeros((n, t, length + 2), dtype=np.int8)
        self._keys = np.full((n, t), -1, dtype=np.int64)
        self._turn = np.zeros(n, dtype=np.int64)
        self._errors = np.zeros(n, dtype=np.int64)
        self._autoreset = np.zeros(n, dtype=bool)
        self._finished = np.zeros(n, dtype=bool)  # autoreset disabled: games that ended and wait for reset()
        self._history_text = [""] * n
        self._prompt = messages.prompt(rules)
        self._last_obs = [self._prompt] * n
        self._example = rules.example()
        self._rows = np.arange(n)
        self._all = np.ones(n, dtype=bool)
        self._none = np.zeros(n, dtype=bool)
        self._no_reasons = np.full(n, None, dtype=object)

    # ----------------------------------------------------------------- reset
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start the N games (or those ``options["reset_mask"]`` selects).

        ``seed``: an int seeds the vector env's generator; a list gives each game its own seed,
        and then game ``i`` gets exactly the secret the single env draws for ``seed[i]``.
        ``options={"secrets": array (N, code_length)}`` fixes the secrets.
        """
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        mask = self._all if mask is None else np.asarray(mask, dtype=bool)
        if mask.shape != (self.num_envs,) or not mask.any():
            raise UsageError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},) with a True")
        seeds = None
        if isinstance(seed, (list, tuple)):
            if len(seed) != self.num_envs:
                raise UsageError(f"expected {self.num_envs} seeds, got {len(seed)}")
            seeds = list(seed)
        else:
            super().reset(seed=seed)
        self._start(mask, options.get("secrets"), seeds)
        if self.observation_mode == "text":
            self._last_obs = [self._prompt if m else o for m, o in zip(mask.tolist(), self._last_obs, strict=True)]
            obs = tuple(self._last_obs)
        else:
            obs = self._history.copy()
        return obs, self._info(self._none, self._no_reasons)

    def _draw(self, seed: int | None) -> list[int]:
        """Return one secret: from a generator seeded with ``seed`` exactly as the single env draws it."""
        rules = self.rules
        rng = self.np_random if seed is None else seeding.np_random(seed)[0]
        if rules.allow_repeats:
            return rng.integers(1, rules.num_digits + 1, rules.code_length).tolist()
        return (rng.permutation(rules.num_digits)[: rules.code_length] + 1).tolist()

    def _start(self, mask: np.ndarray, secrets: Any = None, seeds: list[int | None] | None = None) -> None:
        rules = self.rules
        rows = np.flatnonzero(mask)
        if seeds is not None and secrets is None:
            drawn = np.array([self._draw(seeds[i]) for i in rows.tolist()], dtype=np.int64)
        elif secrets is not None:
            drawn = np.asarray(secrets, dtype=np.int64).reshape(self.num_envs, rules.code_length)[rows]
            for row in drawn.tolist():
                rules.parse(format_guess(row))  # the same validation as a guess: range and repeats
        elif rules.allow_repeats:
            drawn = self.np_random.integers(1, rules.num_digits + 1, size=(len(rows), rules.code_length))
        else:
            drawn = self.np_random.random((len(rows), rules.num_digits)).argsort(axis=1)[:, : rules.code_length] + 1
        self.secrets[rows] = drawn
        if self.book is not None:
            self._secret_index[rows] = self.book.index_of[self.book.keys(drawn)]
        else:
            self._secret_counts[rows] = digit_counts(drawn, rules.num_digits)
        self._history[rows] = 0
        self._keys[rows] = -1
        self._turn[rows] = 0
        self._errors[rows] = 0
        self._autoreset[rows] = False
        self._finished[rows] = False
        if self.observation_mode == "text":
            for i in rows.tolist():
                self._history_text[i] = ""

    # ----------------------------------------------------------------- step
    def step(self, actions: Sequence[str] | np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Score N guesses; games that ended on the previous step are reset and ignore their action."""
        n, length = self.num_envs, self.rules.code_length
        resetting = self._autoreset | self._finished  # a copy: _start clears the flags in place
        active = ~resetting
        guesses, why = self._parse(actions, active)
        keys = np.clip(guesses, 0, self.base - 1).astype(np.int64) @ self._weights
        index, valid = self._validate(guesses, keys, active, why)
        invalid = active & ~valid
        guesses, black, white = self._score(guesses, index, valid)
        self._record(guesses, keys, black, white, valid, invalid)

        won = valid & (black == length)
        out_of_turns = valid & ~won & (self._turn >= self.rules.max_turns)
        too_many_errors = invalid & (self._errors > self.error_allowance)
        terminated = won | out_of_turns | too_many_errors
        rewards = won.astype(np.float64)
        lost = out_of_turns | too_many_errors
        if lost.any():
            rewards[lost] = self._last_score(lost)

        reasons = self._no_reasons
        if why:
            reasons = self._no_reasons.copy()
            reasons[list(why)] = list(why.values())
        obs = self._observe_step(guesses, black, white, reasons, valid, won, out_of_turns, too_many_errors, rewards)
        obs = self._after_step(obs, resetting, terminated)
        return obs, rewards, terminated, np.zeros(n, dtype=bool), self._info(won, reasons)

    def _validate(
        self, guesses: np.ndarray, keys: np.ndarray, active: np.ndarray, why: dict[int, str]
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Return each guess's index in the code book (None without one) and which rows are valid moves.

        ``why`` gains the reason of every invalid row (out of range, repeated digits, guessed before).
        """
        rules = self.rules
        if self.book is not None:
            index = self.book.index_of[keys]
            bad = active & (index < 0)
        else:
            index = None
            bad = active & self._invalid_digits(guesses)
        if bad.any():  # reasons only for the rows that need one (the rules say which)
            for i, row in zip(np.flatnonzero(bad).tolist(), guesses[bad].tolist(), strict=False):
                if i not in why:
                    why[i] = _reason(rules, row)
        valid = active & ~bad
        if why:
            valid[list(why)] = False
        repeated = valid & self._seen(keys, guesses)
        if repeated.any():
            rows = np.flatnonzero(repeated)
            for i, guess in zip(rows.tolist(), guesses[rows].tolist(), strict=False):
                why[i] = f"you have already guessed {format_guess(guess)}."
            valid &= ~repeated
        return index, valid

    def _score(
        self, guesses: np.ndarray, index: np.ndarray | None, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the guesses as scored and their black and white pegs (from the code book's table if there is one)."""
        if index is not None:
            fb = self.book.table[np.where(valid, index, 0), self._secret_index]
            black, white = np.divmod(fb, self.book.classes)
            return guesses, black, white
        guesses = np.where(valid[:, None], guesses, 0)
        black = (guesses == self.secrets).sum(axis=1)
        common = np.minimum(digit_counts(guesses, self.rules.num_digits), self._secret_counts).sum(axis=1)
        return guesses, black, common - black

    def _record(
        self,
        guesses: np.ndarray,
        keys: np.ndarray,
        black: np.ndarray,
        white: np.ndarray,
        valid: np.ndarray,
        invalid: np.ndarray,
    ) -> None:
        """Write the valid guesses into the games' histories, advance their turns, count invalid moves in a row."""
        length = self.rules.code_length
        rows = np.flatnonzero(valid)
        slot = self._turn[rows]
        self._history[rows, slot, :length] = guesses[rows]
        self._history[rows, slot, length] = black[rows]
        self._history[rows, slot, length + 1] = white[rows]
        self._keys[rows, slot] = keys[rows]
        self._turn[rows] += 1
        self._errors[valid] = 0
        self._errors[invalid] += 1

    def _after_step(self, obs: Any, resetting: np.ndarray, terminated: np.ndarray) -> Any:
        """Keep finished games finished (autoreset disabled) or reset them next step; return the observations."""
        if self.metadata["autoreset_mode"] == AutoresetMode.DISABLED:
            # finished games stay finished until reset() with a reset_mask starts them again
            self._finished = self._finished | terminated
            if self.observation_mode == "text":
                self._last_obs = [
                    last if r else o for r, o, last in zip(resetting.tolist(), obs, self._last_obs, strict=True)
                ]
                obs = tuple(self._last_obs)
            return obs
        if resetting.any():
            self._start(resetting)
            if self.observation_mode == "text":
                obs = tuple(self._prompt if r else o for r, o in zip(resetting.tolist(), obs, strict=False))
            else:
                obs[resetting] = 0
        self._autoreset = terminated
        return obs

    def _parse(self, actions: Sequence[str] | np.ndarray, active: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """Return the guesses as an (N, L) int64 array and ``{row: reason}`` for unparsable text actions."""
        n, length = self.num_envs, self.rules.code_length
        why: dict[int, str] = {}
        if isinstance(actions, np.ndarray) and actions.dtype.kind in "iu":
            if actions.shape != (n, length):
                raise UsageError(f"integer actions must have shape {(n, length)}, got {actions.shape}")
            return actions.astype(np.int64), why
        if len(actions) != n:
            raise UsageError(f"expected {n} actions, got {len(actions)}")
        guesses = np.zeros((n, length), dtype=np.int64)
        parse = self.rules.parse
        for i in np.flatnonzero(active).tolist():
            try:
                guesses[i] = parse(actions[i])
            except InvalidGuessError as err:
                why[i] = str(err)
        return guesses, why

    def _invalid_digits(self, guesses: np.ndarray) -> np.ndarray:
        """Return the rows with a digit out of range, or a repeated digit where repeats are forbidden."""
        bad = (guesses.min(axis=1) < 1) | (guesses.max(axis=1) > self.rules.num_digits)
        if not self.rules.allow_repeats:
            ordered = np.sort(guesses, axis=1)
            bad |= (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        return bad

    def _seen(self, keys: np.ndarray, guesses: np.ndarray) -> np.ndarray:
        """Return the rows whose guess was already played in the same game."""
        if self._keys_exact:
            return (self._keys == keys[:, None]).any(axis=1)
        length = self.rules.code_length
        same = (self._history[:, :, :length] == guesses[:, None, :]).all(axis=2)
        return (same & (np.arange(self.rules.max_turns) < self._turn[:, None])).any(axis=1)

    def _last_score(self, mask: np.ndarray) -> np.ndarray:
        """Return TextArena's score of the last valid guess of the masked games (0 without one)."""
        length = self.rules.code_length
        rows = np.flatnonzero(mask)
        turn = self._turn[rows]
        last = self._history[rows, np.maximum(turn - 1, 0)].astype(np.float64)
        score = (last[:, length] + 0.5 * last[:, length + 1]) / length
        return np.where(turn > 0, score, 0.0)

    def _observe_step(self, guesses, black, white, reasons, valid, won, out_of_turns, too_many_errors, rewards) -> Any:
        if self.observation_mode == "array":
            return self._history.copy()
        rules = self.rules
        out = [""] * self.num_envs
        for i in range(self.num_envs):
            if self._autoreset[i] or self._finished[i]:
                continue
            if valid[i]:
                text, b, w, turn = format_guess(guesses[i].tolist()), int(black[i]), int(white[i]), int(self._turn[i])
                self._history_text[i] += messages.history_line(turn, text, b, w)
                if won[i]:
                    out[i] = messages.won_text(text, rules.code_length, turn)
                    continue
                line = messages.feedback_text(text, b, w)
            else:
                reason = reasons[i]
                line = messages.invalid_text(reason[0].upper() + reason[1:], self._example)
            if out_of_turns[i]:
                why = "Out of guesses."
            elif too_many_errors[i]:
                why = f"Too many invalid moves in a row ({int(self._errors[i])})."
            else:
                out[i] = messages.status_text(line, self._history_text[i], rules.max_turns - int(self._turn[i]))
                continue
            out[i] = messages.lost_text(line, self._history_text[i], self.secrets[i].tolist(), float(rewards[i]), why)
        return tuple(out)

    def _info(self, success: np.ndarray, reasons: np.ndarray) -> dict[str, Any]:
        info = {
            "turn": self._turn.copy(),
            "_turn": self._all,
            "guesses_left": self.rules.max_turns - self._turn,
            "_guesses_left": self._all,
            "success": success,
            "_success": self._all,
            "invalid_reason": reasons,
            "_invalid_reason": self._none if reasons is self._no_reasons else reasons != None,  # noqa: E711
        }
        if self.info_history:
            rules, length = self.rules, self.rules.code_length
            history = np.empty(self.num_envs, dtype=object)
            for i in range(self.num_envs):
                rows = self._history[i, : self._turn[i]].tolist()
                history[i] = [{"guess": r[:length], "black": r[length], "white": r[length + 1]} for r in rows]
            info["history"], info["_history"] = history, self._all
            for key in ("code_length", "num_digits", "allow_repeats", "max_turns"):
                info[key] = np.full(self.num_envs, getattr(rules, key))
                info["_" + key] = self._all
        return info


def _reason(rules: MastermindRules, row: list[int]) -> str:
    """Return why a row of digits is not a valid guess (the single env's wording)."""
    try:
        rules.parse(format_guess(max(d, 0) for d in row))
    except InvalidGuessError as err:
        return str(err)
    raise AssertionError(f"{row} is a valid guess")  # pragma: no cover - callers pass invalid rows only
