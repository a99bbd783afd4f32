"""An agent that acts uniformly at random among valid actions: the floor every other agent must beat."""

from __future__ import annotations

from typing import Any

import numpy as np
from procmem_gym.envs.mastermind.rules import format_guess

from .policy import BasePolicy


class RandomPolicy(BasePolicy):
    """Pick a random valid action, seeded.

    What counts as valid is read from ``info``: ``admissible_commands`` when the env lists them
    (ALFWorld), the variant and history of a Mastermind game (a well-formed guess not made
    before), otherwise a sample of ``action_space``.

    >>> policy = RandomPolicy(seed=0)
    >>> policy.act("", {"code_length": 4, "num_digits": 6, "allow_repeats": False, "history": []})
    '[2 5 3 4]'
    """

    name = "random"

    def __init__(self, seed: int | None = None, action_space: Any = None) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.action_space = action_space

    def reset(self, seed: int | None = None, index: int | None = None) -> None:
        """Re-seed the generator when an episode seed is given (each episode then replays on its own)."""
        if seed is not None:
            # Mix in the policy's own seed so that the policy's draws are not the env's draws.
            self.rng = np.random.default_rng([seed, 0 if self.seed is None else self.seed])

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        """Return one random valid action."""
        commands = info.get("admissible_commands")
        if commands:
            return str(commands[int(self.rng.integers(len(commands)))])
        if "code_length" in info and "num_digits" in info:
            return self._guess(info)
        if self.action_space is None:
            raise ValueError("RandomPolicy needs info['admissible_commands'], a Mastermind info, or an action_space")
        return self.action_space.sample()

    def _guess(self, info: dict[str, Any]) -> str:
        length, digits = int(info["code_length"]), int(info["num_digits"])
        tried = {tuple(h["guess"]) for h in info.get("history", ())}
        for _ in range(1000):
            if info.get("allow_repeats"):
                guess = self.rng.integers(1, digits + 1, size=length)
            else:
                guess = self.rng.choice(digits, size=length, replace=False) + 1
            if tuple(int(d) for d in guess) not in tried:
                return format_guess(guess)
        raise RuntimeError("could not find an untried guess in 1000 draws")
