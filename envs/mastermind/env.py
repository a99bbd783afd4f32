"""The single-game Mastermind environment, with TextArena's rules, as a Gymnasium text env."""

from __future__ import annotations

import operator
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from procmem_gym.errors import UsageError

from . import messages
from .rules import MAX_ACTION_CHARS, InvalidGuessError, MastermindRules, completion, feedback, format_guess

#: Parsed actions are cached (agents repeat the same strings); the cache is bounded.
_PARSE_CACHE_SIZE = 8192
_PARSE_CACHE_MAX_CHARS = 256


class MastermindEnv(gym.Env[str, str]):
    """Crack a secret code of digits from black/white peg feedback.

    ## Description

    Mastermind with TextArena's rules (``textarena/envs/Mastermind``): the env draws a secret
    code of ``code_length`` digits from 1 to ``num_digits`` (distinct unless ``allow_repeats``);
    the player guesses and learns, per guess, how many digits are right and in place (black
    pegs) and how many are right but elsewhere (white pegs).

    ## Action Space

    ``Text``: any string; the guess is the first ``[d d d d]`` group in it (spaces or commas
    between digits). A string without one, a wrong length, a digit out of range, a repeat
    where repeats are forbidden, or a guess already made is an *invalid move*.

    ## Observation Space

    ``Text``. The first observation states the rules (``You are playing Mastermind. ...``);
    every later one starts with the step's message (``Submitted [1 2 3 4]. Feedback: 2 black
    peg(s), 1 white peg(s).`` or ``Invalid move: <reason> ...``), then the guess history and the
    guesses left.

    ## Rewards

    1 for cracking the code. When the guesses run out, the last guess earns
    ``(black + 0.5 white) / code_length``; otherwise 0.

    ## Episode End

    Terminated when the code is cracked, when ``max_turns`` guesses are used up, or when an
    invalid move follows ``error_allowance`` invalid moves in a row (scored as the last valid
    guess). Invalid moves within the allowance cost no guess. Never truncated.

    ## Information

    ``history`` (each guess with its black and white pegs), ``turn``, ``guesses_left``,
    ``invalid_reason`` (None for a valid move), ``success``, and the variant: ``code_length``,
    ``num_digits``, ``allow_repeats``, ``max_turns``. The secret is ``env.unwrapped.secret``.

    ## Arguments

    ``code_length=4``, ``num_digits=6``, ``max_turns=20``, ``allow_repeats=False``,
    ``error_allowance=1``, ``render_mode=None`` (or ``"ansi"``: the board as text).
    ``reset(options={"secret": (1, 2, 3, 4)})`` fixes the secret.

    ## Version History

    * v0: the initial version (``Mastermind-v0``, ``-hard-v0``, ``-extreme-v0`` as TextArena's).

    >>> import gymnasium, procmem_gym
    >>> env = gymnasium.make("procmem_gym/Mastermind-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs.splitlines()[0]
    'You are playing Mastermind.'
    >>> obs, reward, terminated, truncated, info = env.step("[1 2 3 4]")
    >>> obs.startswith("Submitted [1 2 3 4]. Feedback:")
    True
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        code_length: int = 4,
        num_digits: int = 6,
        max_turns: int = 20,
        allow_repeats: bool = False,
        error_allowance: int = 1,
        render_mode: str | None = None,
    ) -> None:
        self.rules = MastermindRules(code_length, num_digits, max_turns, allow_repeats)
        if isinstance(error_allowance, bool) or not isinstance(error_allowance, int) or error_allowance < 0:
            raise UsageError(f"error_allowance must be a non-negative integer, got {error_allowance!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UsageError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.error_allowance = error_allowance
        self.render_mode = render_mode
        # Generous bound: prompt, the step message, one history line per guess and the final line.
        max_obs = 1024 + (max_turns + 2) * (3 * code_length + 40)
        self.observation_space = spaces.Text(max_length=max_obs, min_length=1, charset=messages.CHARSET)
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, min_length=0, charset=messages.CHARSET)
        self._example = self.rules.example()
        self._prompt = messages.prompt(self.rules)
        # action text -> (guess, canonical text) or the InvalidGuessError reason
        self._parsed: dict[str, tuple[tuple[int, ...], str] | str] = {}
        self.secret: tuple[int, ...] = ()
        self._secret_set: frozenset[int] = frozenset()
        self._history: list[dict[str, Any]] = []
        self._guesses: set[tuple[int, ...]] = set()
        self._history_text = ""
        self._errors_in_row = 0
        self._done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start a new game with a secret drawn from ``self.np_random``; ``options={"secret": ...}`` fixes it."""
        super().reset(seed=seed)
        rules = self.rules
        if options and options.get("secret") is not None:
            secret = tuple(int(d) for d in options["secret"])
            if len(secret) != rules.code_length or any(d < 1 or d > rules.num_digits for d in secret):
                raise UsageError(f"options['secret'] {secret} is not a code of this variant ({rules})")
            if not rules.allow_repeats and len(set(secret)) != len(secret):
                raise UsageError(f"options['secret'] {secret} repeats a digit but this variant forbids repeats")
            self.secret = secret
        elif rules.allow_repeats:
            self.secret = tuple((self.np_random.integers(1, rules.num_digits + 1, rules.code_length)).tolist())
        else:
            self.secret = tuple((self.np_random.permutation(rules.num_digits)[: rules.code_length] + 1).tolist())
        self._secret_set = frozenset(self.secret)
        self._history = []
        self._guesses = set()
        self._history_text = ""
        self._errors_in_row = 0
        self._done = False
        return self._prompt, self._info(None, False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Score one guess; an unparsable or illegal one is an invalid move, never an exception."""
        if self._done:
            raise RuntimeError("step() called on a finished game; call reset() first")
        rules = self.rules
        parsed = self._parse(action)
        if isinstance(parsed, str):
            return self._invalid(parsed)
        guess, text = parsed
        if guess in self._guesses:
            return self._invalid(f"you have already guessed {text}.")

        self._errors_in_row = 0
        if rules.allow_repeats:
            black, white = feedback(guess, self.secret)
        else:  # no digit repeats: white pegs are the shared digits that are not black
            black = sum(map(operator.eq, guess, self.secret))
            white = len(self._secret_set.intersection(guess)) - black
        self._history.append({"guess": list(guess), "black": black, "white": white})
        self._guesses.add(guess)
        turn = len(self._history)
        self._history_text += messages.history_line(turn, text, black, white)
        if black == rules.code_length:
            self._done = True
            return messages.won_text(text, rules.code_length, turn), 1.0, True, False, self._info(None, True)
        line = messages.feedback_text(text, black, white)
        if turn >= rules.max_turns:
            self._done = True
            score = completion(black, white, rules.code_length)
            obs = messages.lost_text(line, self._history_text, self.secret, score, "Out of guesses.")
            return obs, score, True, False, self._info(None, False)
        obs = messages.status_text(line, self._history_text, rules.max_turns - turn)
        return obs, 0.0, False, False, self._info(None, False)

    def _parse(self, action: object) -> tuple[tuple[int, ...], str] | str:
        """Return ``(guess, canonical text)`` for a valid action, else the reason it is invalid."""
        cacheable = type(action) is str and len(action) <= _PARSE_CACHE_MAX_CHARS
        if cacheable:
            hit = self._parsed.get(action)
            if hit is not None:
                return hit
        try:
            guess = self.rules.parse(action)
            result: tuple[tuple[int, ...], str] | str = (guess, format_guess(guess))
        except InvalidGuessError as err:
            result = str(err)
        if cacheable:
            if len(self._parsed) >= _PARSE_CACHE_SIZE:
                self._parsed.clear()
            self._parsed[action] = result
        return result

    def _invalid(self, reason: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        line = messages.invalid_text(reason[0].upper() + reason[1:], self._example)
        self._errors_in_row += 1
        if self._errors_in_row > self.error_allowance:
            self._done = True
            score = self._score()
            why = f"Too many invalid moves in a row ({self._errors_in_row})."
            obs = messages.lost_text(line, self._history_text, self.secret, score, why)
            return obs, score, True, False, self._info(reason, False)
        obs = messages.status_text(line, self._history_text, self.rules.max_turns - len(self._history))
        return obs, 0.0, False, False, self._info(reason, False)

    def _score(self) -> float:
        if not self._history:
            return 0.0
        last = self._history[-1]
        return completion(last["black"], last["white"], self.rules.code_length)

    def _info(self, invalid_reason: str | None, success: bool) -> dict[str, Any]:
        rules = self.rules
        return {
            "history": [dict(h, guess=list(h["guess"])) for h in self._history],  # fresh: callers keep infos
            "turn": len(self._history),
            "guesses_left": rules.max_turns - len(self._history),
            "invalid_reason": invalid_reason,
            "success": success,
            "code_length": rules.code_length,
            "num_digits": rules.num_digits,
            "allow_repeats": rules.allow_repeats,
            "max_turns": rules.max_turns,
        }

    def render(self) -> str | None:
        """Return the board as text when ``render_mode="ansi"`` (the secret shows once the game is over)."""
        if self.render_mode != "ansi":
            return None
        return messages.board(self.rules, self._history, self.secret, reveal=self._done)
