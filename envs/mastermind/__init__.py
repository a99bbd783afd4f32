"""Mastermind with TextArena's rules: the single env, the vectorised env and the shared rules."""

from .env import MastermindEnv
from .rules import InvalidGuess, MastermindRules, feedback
from .vector import MastermindVectorEnv

__all__ = ["MastermindEnv", "MastermindVectorEnv", "MastermindRules", "InvalidGuess", "feedback"]
