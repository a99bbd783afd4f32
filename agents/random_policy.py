"""An agent that acts uniformly at random among valid actions: the floor every other agent must beat."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from procmem_gym.envs.actions import Commands, GuessGrammar, action_set_of, constrain, uniform_logprobs
from procmem_gym.envs.mastermind.rules import format_guess

from .guess_grammar import allowed_guesses
from .policy import BasePolicy


def skill_constraint(info: dict[str, Any]) -> Any:
    """Return the bound constraint the active skill puts in ``info["procmem"]``, or None."""
    procmem = info.get("procmem") if isinstance(info, dict) else None
    return procmem.get("constraint") if isinstance(procmem, dict) else None


#: Draws of a free-text action space before a constraint that allows none of them is skipped.
REJECTION_TRIES = 1000


class RandomPolicy(BasePolicy):
    """Pick a random valid action, seeded, within the active skill's constraint.

    What counts as valid is read from ``info``: ``admissible_commands`` when the env lists them
    (ALFWorld), the variant and history of a Mastermind game (a well-formed guess not made
    before), otherwise a sample of ``action_space``. A constraint in ``info["procmem"]`` narrows
    the choice to what it allows (a constraint that allows nothing is skipped); the step's
    details then say so, with the log-probability of the action drawn.

    >>> policy = RandomPolicy(seed=0)
    >>> policy.act("", {"code_length": 4, "num_digits": 6, "allow_repeats": False, "history": []})
    '[2 5 3 4]'
    """

    name = "random"

    def __init__(self, seed: int | None = None, action_space: Any = None) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._slot_rngs: dict[int, np.random.Generator] = {}
        self.action_space = action_space

    def reset(self, seed: int | None = None, index: int | None = None) -> None:
        """Re-seed the generator (of one batch slot, or of all) when an episode seed is given."""
        if seed is None:
            return
        # Mix in the policy's own seed so that the policy's draws are not the env's draws.
        rng = np.random.default_rng([seed, 0 if self.seed is None else self.seed])
        if index is None:
            self.rng, self._slot_rngs = rng, {}
        else:
            self._slot_rngs[index] = rng

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        """Return one random valid action (slot 0)."""
        action, detail = self._act(info, self.rng)
        self.last_details = [detail]
        return action

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None
    ) -> list[Any]:
        """Return one action per observation, each slot drawing from its own generator."""
        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        slots = list(slots) if slots is not None else list(range(len(infos)))
        out = [self._act(i, self._slot_rngs.get(s, self.rng)) for i, s in zip(infos, slots, strict=True)]
        self.last_details = [d for _, d in out]
        return [a for a, _ in out]

    def _act(self, info: dict[str, Any], rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        bound = skill_constraint(info)
        actions = action_set_of(info, self.action_space)
        if isinstance(actions, GuessGrammar):
            return self._guess(actions.variant, bound, rng)
        narrowed = constrain(actions, bound)
        if narrowed.options is not None:
            options = narrowed.options
            detail = narrowed.detail()
            if bound is not None or not isinstance(actions, Commands):
                detail["behaviour_logprob"] = -math.log(len(options))
            return actions.to_action(options[int(rng.integers(len(options)))]), detail
        return self._free(bound, rng)

    def _free(self, bound: Any, rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        """Sample the action space; under a constraint, sample until an action is allowed (rejection)."""
        if self.action_space is None:
            raise ValueError(
                "RandomPolicy needs an action set in info (admissible commands, a declared action_set, a Mastermind "
                "info) or an action_space"
            )
        if bound is None:
            return self.action_space.sample(), {}
        for tries in range(1, REJECTION_TRIES + 1):
            action = self.action_space.sample()
            if bound.allows(str(action)):
                return action, {"constraint": "applied", "constraint_reason": "rejection", "tries": tries}
        return action, {"constraint": "skipped", "constraint_reason": f"nothing allowed in {REJECTION_TRIES} draws"}

    def action_logprobs(
        self,
        observations: Sequence[Any],
        infos: Sequence[dict[str, Any]],
        actions: Sequence[Any],
        constraints: Sequence[Sequence[Any]],
        temperature: float | None = None,
    ) -> np.ndarray:
        """Return ``(n, k)``: each action's exact log-probability under a uniform choice within each constraint.

        ``-log |allowed|`` where the constraint allows the action, ``-inf`` where it excludes it
        (the gate's ratio 0); a constraint that allows nothing is skipped, as when acting.
        """
        sets = [action_set_of(i, self.action_space) for i in infos]
        return uniform_logprobs(sets, [str(a) for a in actions], constraints)

    def _guess(self, variant: tuple, bound: Any, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
        if bound is not None:
            allowed = allowed_guesses(variant, bound)
            if allowed is not None:
                row = allowed.codes[int(rng.integers(len(allowed)))]
                return format_guess(row.tolist()), {
                    "constraint": "applied",
                    "behaviour_logprob": -math.log(len(allowed)),
                }
        length, digits, repeats, tried = variant
        for _ in range(1000):
            if repeats:
                guess = rng.integers(1, digits + 1, size=length)
            else:
                guess = rng.choice(digits, size=length, replace=False) + 1
            if tuple(int(d) for d in guess) not in tried:
                return format_guess(guess), ({"constraint": "skipped"} if bound is not None else {})
        raise RuntimeError("could not find an untried guess in 1000 draws")
