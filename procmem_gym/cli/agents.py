"""Turn an ``--agent`` string into a policy for an env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

AGENTS_HELP = "random, solver (Mastermind), expert (ALFWorld), smollm2, hf:PATH"


class AgentError(ValueError):
    """An ``--agent`` value that names no agent, or an agent that cannot play this env."""


def make_policy(name: str, env: gym.Env, seed: int) -> Any:
    """Return the policy ``name`` describes, checked against ``env``."""
    from procmem_gym.agents import MastermindSolver, RandomPolicy
    from procmem_gym.envs.mastermind import MastermindEnv

    if name == "random":
        return RandomPolicy(seed=seed, action_space=env.action_space)
    if name == "solver":
        if not isinstance(env.unwrapped, MastermindEnv):
            raise AgentError(f"agent 'solver' plays Mastermind only, not {env.spec.id if env.spec else env}")
        return MastermindSolver(seed=seed)
    if name in ("expert", "smollm2") or name.startswith(("hf:", "openai:")):
        raise AgentError(f"agent {name!r} is not available in this version of procmem-gym (known: random, solver)")
    raise AgentError(f"unknown agent {name!r}; choose one of: {AGENTS_HELP}")
