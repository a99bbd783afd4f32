"""Action sets: what may be done in a state, declared once per env, read the same way by every policy.

A skill's constraint (:class:`~procmem_gym.skills.constraint.BoundConstraint`) narrows an action
set; every policy enforces it through :func:`constrain`, so a constraint binds on any env:

- :class:`Commands`: the commands an env lists in ``info["admissible_commands"]`` (TextWorld's
  convention; ALFWorld);
- :class:`Choices`: an enumerable set of text moves: a ``Discrete`` / ``MultiDiscrete`` /
  ``MultiBinary`` action space (each action written as text for a language model and parsed
  back), or a vocabulary an env declares in ``info["action_set"]`` (a list of texts);
- :class:`MoveGrammar`: structured text moves with a format (a regex) and, when the language is
  finite and small, its enumeration (TextArena's ``[up]``, ``[A C]``, ``[3]``); Mastermind's
  guesses are one instance (:class:`GuessGrammar`), decoded token by token under the grammar;
- :class:`FreeText`: any text; a constraint is enforced by sampling and rejection.

Where an env declares its set: ``info["admissible_commands"]`` first, then ``info["action_set"]``
(an :class:`ActionSet` or a list of texts), then the env family's own reader (Mastermind's
variant in ``info``), then the action space. :func:`action_set_of` applies that order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from procmem_gym.envs.families import COMMANDS_KEY

__all__ = [
    "ACTION_SET_KEY",
    "MAX_OPTIONS",
    "ActionSet",
    "Commands",
    "Choices",
    "MoveGrammar",
    "GuessGrammar",
    "FreeText",
    "Constrained",
    "action_set_of",
    "constrain",
    "space_choices",
    "uniform_logprobs",
]

#: The ``info`` key under which an env may declare its action set (an ActionSet or a list of texts).
ACTION_SET_KEY = "action_set"
#: An action set with more options than this is not enumerated (a constraint is then checked by rejection).
MAX_OPTIONS = 10_000


class ActionSet:
    """What may be done in one state: its options as text (when enumerable) and how text becomes an action."""

    kind = "free"

    def options(self) -> list[str] | None:
        """Return every action as text, or None when the set is not enumerable (free text, too large)."""
        return None

    def to_action(self, text: str) -> Any:
        """Return the env action a text stands for (the text itself for text envs)."""
        return text

    def contains(self, text: str) -> bool:
        """Return whether a text is an action of the set."""
        options = self.options()
        return True if options is None else text in options


@dataclass(frozen=True)
class Commands(ActionSet):
    """The commands an env lists now (``info["admissible_commands"]``)."""

    commands: tuple[str, ...]
    kind = "commands"

    def options(self) -> list[str]:
        """Return the commands."""
        return list(self.commands)


@dataclass(frozen=True)
class Choices(ActionSet):
    """An enumerable set of moves written as text, each parsed back into the env's action by ``parse``."""

    texts: tuple[str, ...]
    parse: Callable[[str], Any] | None = field(default=None, compare=False)
    kind = "choices"

    def options(self) -> list[str]:
        """Return the moves as text."""
        return list(self.texts)

    def to_action(self, text: str) -> Any:
        """Return the env action of a move's text."""
        return self.parse(text) if self.parse is not None else text


@dataclass(frozen=True)
class MoveGrammar(ActionSet):
    """Structured text moves: a format (``pattern``, a regex a move must match) and, when finite, the moves."""

    pattern: str
    moves: tuple[str, ...] | None = None
    kind = "grammar"

    def options(self) -> list[str] | None:
        """Return the moves when the grammar's language is enumerated, else None."""
        return list(self.moves) if self.moves is not None else None

    def contains(self, text: str) -> bool:
        """Return whether a text is a move (one of ``moves``, else matching ``pattern``)."""
        if self.moves is not None:
            return text in self.moves
        from procmem_gym.skills.patterns import compile_pattern

        return compile_pattern(self.pattern).fullmatch(text) is not None


@dataclass(frozen=True)
class GuessGrammar(MoveGrammar):
    """Mastermind guesses ``[d d ... d]``: a grammar whose language (up to ~3 million codes) is held as arrays.

    ``variant`` is ``(code_length, num_digits, allow_repeats, tried)``; policies decode under it
    token by token (:class:`~procmem_gym.agents.guess_grammar.MastermindGrammar`) and a constraint
    narrows it with one vectorised check over all codes
    (:func:`~procmem_gym.agents.guess_grammar.allowed_guesses`).
    """

    variant: tuple = ()

    def options(self) -> None:
        """Return None: the codes are held as arrays, not listed as text."""
        return None

    def untried(self) -> int:
        """Return how many guesses are still valid moves (every code not guessed before)."""
        length, digits, repeats, tried = self.variant[:4]
        total = digits**length if repeats else math.perm(digits, length)
        return total - len(tried)


@dataclass(frozen=True)
class FreeText(ActionSet):
    """Any text (an env that states no action set)."""

    kind = "free"


def space_choices(space: Any) -> Choices | None:
    """Return the moves of an enumerable Gymnasium space as text (``3``; ``1 0 2``), or None.

    >>> import gymnasium
    >>> space_choices(gymnasium.spaces.Discrete(3, start=1)).options()
    ['1', '2', '3']
    >>> space_choices(gymnasium.spaces.MultiDiscrete([2, 2])).to_action("1 0")
    array([1, 0])
    """
    import gymnasium as gym

    if isinstance(space, gym.spaces.Discrete):
        start, n = int(space.start), int(space.n)
        if n > MAX_OPTIONS:
            return None
        return Choices(tuple(str(start + k) for k in range(n)), parse=int)
    if isinstance(space, (gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
        if isinstance(space, gym.spaces.MultiBinary):
            highs, starts = [2] * int(np.prod(space.shape)), [0] * int(np.prod(space.shape))
        else:
            highs = [int(x) for x in np.asarray(space.nvec).ravel()]
            starts = [int(x) for x in np.asarray(getattr(space, "start", np.zeros_like(space.nvec))).ravel()]
        if math.prod(highs) > MAX_OPTIONS:
            return None
        texts = tuple(
            " ".join(str(s + v) for s, v in zip(starts, values, strict=True))
            for values in itertools.product(*(range(h) for h in highs))
        )
        shape, dtype = space.shape, space.dtype
        return Choices(texts, parse=lambda t: np.asarray([int(x) for x in t.split()], dtype=dtype).reshape(shape))
    return None


def _family_set(info: Mapping[str, Any]) -> ActionSet | None:
    """Return the action set an env family reads from its own info keys (Mastermind's variant), or None."""
    from procmem_gym.envs.mastermind.rules import variant_of

    variant = variant_of(dict(info))
    if variant is not None:
        return GuessGrammar(r"\[\d+( \d+)*\]", None, variant)
    return None


def action_set_of(info: Mapping[str, Any] | None, space: Any = None) -> ActionSet:
    """Return the action set of a state: the env's listed commands, its declared set, its family's, its space's.

    >>> action_set_of({"admissible_commands": ["look", "go north"]}).options()
    ['look', 'go north']
    >>> action_set_of({"action_set": ["[up]", "[down]"]}).kind
    'choices'
    >>> action_set_of({}).kind
    'free'
    """
    info = info if isinstance(info, Mapping) else {}
    commands = info.get(COMMANDS_KEY)
    if isinstance(commands, (list, tuple)) and commands:
        return Commands(tuple(str(c) for c in commands))
    declared = info.get(ACTION_SET_KEY)
    if isinstance(declared, ActionSet):
        return declared
    if isinstance(declared, (list, tuple)) and declared:
        return Choices(tuple(str(c) for c in declared))
    found = _family_set(info)
    if found is not None:
        return found
    if space is not None:
        choices = space_choices(space)
        if choices is not None:
            return choices
    return FreeText()


@dataclass(frozen=True)
class Constrained:
    """An action set narrowed by a skill's constraint: the options a policy chooses among, and what happened.

    ``status`` is ``None`` (no constraint), ``"applied"``, or ``"skipped"`` with ``reason``
    (``"unbound"``: the constraint's slots could not be filled; ``"nothing allowed"``;
    ``"not enumerable"``: the policy enforces it by rejection).
    """

    options: list[str] | None
    status: str | None = None
    reason: str | None = None

    def detail(self) -> dict[str, Any]:
        """Return what a step's info says of the constraint (empty without one)."""
        if self.status is None:
            return {}
        out: dict[str, Any] = {"constraint": self.status}
        if self.reason:
            out["constraint_reason"] = self.reason
        if self.status == "applied" and self.options is not None:
            out["allowed"] = len(self.options)
        return out


def constrain(actions: ActionSet, bound: Any) -> Constrained:
    r"""Return the options a bound constraint allows in an action set (all of them without a constraint).

    A constraint that is unbound, or that would leave no option, is skipped (the options stay
    whole) and says why; on a set that is not enumerable it is left to rejection.

    >>> from procmem_gym.skills.constraint import Constraint
    >>> bound = Constraint.from_dict({"all": [{"matches": r"\[(up|down)\]"}]}).bind("", {})
    >>> constrain(Choices(("[up]", "[left]", "[down]")), bound).options
    ['[up]', '[down]']
    """
    options = actions.options()
    if bound is None:
        return Constrained(options)
    if not getattr(bound, "bound", True):
        return Constrained(options, "skipped", "unbound")
    if options is None:
        return Constrained(None, "skipped", "not enumerable")
    allowed = [o for o in options if bound.allows(o)]
    if not allowed:
        return Constrained(options, "skipped", "nothing allowed")
    return Constrained(allowed, "applied")


def uniform_logprobs(
    sets: Sequence[ActionSet], actions: Sequence[str], constraints: Sequence[Sequence[Any]]
) -> np.ndarray:
    """Return ``(n, k)``: the log-probability of each action under a uniform choice within each constraint.

    What a uniformly random policy's gate numbers are: ``-log |allowed|`` for an action the
    constraint allows, ``-inf`` for one it excludes; a constraint that is skipped leaves the set
    whole. Mastermind's guesses are counted with one vectorised check over all codes.
    """
    k = max((len(c) for c in constraints), default=0)
    out = np.zeros((len(actions), k))
    for r, (aset, action) in enumerate(zip(sets, actions, strict=True)):
        for j, bound in enumerate(constraints[r]):
            out[r, j] = _uniform_logprob(aset, str(action), bound)
    return out


def _uniform_logprob(aset: ActionSet, action: str, bound: Any) -> float:
    if isinstance(aset, GuessGrammar):
        from procmem_gym.agents.guess_grammar import allowed_guesses

        allowed = allowed_guesses(aset.variant, bound) if bound is not None else None
        if allowed is None:
            return -math.log(max(1, aset.untried()))
        return -math.log(len(allowed)) if bound.allows(action) else -math.inf
    narrowed = constrain(aset, bound)
    if narrowed.options is None:
        return 0.0  # free text: no uniform distribution to speak of
    return -math.log(len(narrowed.options)) if action in narrowed.options else -math.inf
