"""Agents: the :class:`Policy` interface and reference agents that need no model.

LLM policies live beside them but import their heavy dependencies lazily.
"""

from .alfworld_expert import ExpertPolicy
from .mastermind_solver import MastermindSolver
from .policy import BasePolicy, Policy
from .random_policy import RandomPolicy

__all__ = ["Policy", "BasePolicy", "RandomPolicy", "MastermindSolver", "ExpertPolicy"]
