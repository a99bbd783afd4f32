"""Mastermind with TextArena's rules: the single env, the vectorised env and the shared rules."""

from typing import Any

from .env import MastermindEnv
from .rules import InvalidGuessError, MastermindRules, feedback
from .vector import MastermindVectorEnv

__all__ = ["MastermindEnv", "MastermindVectorEnv", "MastermindRules", "InvalidGuessError", "feedback"]


def __getattr__(name: str) -> Any:
    if name == "InvalidGuess":  # the name of earlier versions
        from procmem_gym.errors import renamed

        return renamed(__name__, name, InvalidGuessError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
