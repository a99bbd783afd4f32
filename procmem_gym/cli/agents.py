"""Turn an ``--agent`` string into a policy for an env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

AGENTS_HELP = "random, solver (Mastermind), expert (ALFWorld), smollm2, hf:PATH (model folder or .gguf file), openai:MODEL@URL"


class AgentError(ValueError):
    """An ``--agent`` value that names no agent, or an agent that cannot play this env."""


def _entry_point_mentions(env_id: str, family: str) -> bool:
    """Whether ``env_id`` is registered with an entry point of ``family`` ("mastermind", "alfworld")."""
    try:
        entry = str(gym.spec(env_id).entry_point)
    except gym.error.Error:
        return False
    return family in entry.lower()


def make_policy(
    name: str, env_id: str, action_space: gym.Space | None, seed: int, console: Any = None, dtype: str | None = None
) -> Any:
    """Return the policy ``name`` describes, checked against the env ``env_id``."""
    if name == "random":
        from procmem_gym.agents import RandomPolicy

        return RandomPolicy(seed=seed, action_space=action_space)
    if name == "solver":
        if not _entry_point_mentions(env_id, "mastermind"):
            raise AgentError(f"agent 'solver' plays Mastermind only, not {env_id}")
        from procmem_gym.agents import MastermindSolver

        return MastermindSolver(seed=seed)
    if name == "expert":
        if not _entry_point_mentions(env_id, "alfworld"):
            raise AgentError(f"agent 'expert' is ALFWorld's hand-coded expert; it plays procmem_gym/ALFWorld-v0, not {env_id}")
        from procmem_gym.agents import ExpertPolicy

        return ExpertPolicy()
    if name == "smollm2":
        from procmem_gym.agents.smollm2 import _is_complete, cached_smollm2_dir, load_smollm2

        if console is not None and not _is_complete(cached_smollm2_dir()):
            console.print(f"first use of smollm2: de-quantising the GGUF model into {cached_smollm2_dir()} (once, ~20 s)")
        return load_smollm2(env_id=env_id, dtype=dtype)
    if name.startswith("hf:"):
        from procmem_gym.agents.hf_policy import HFPolicy

        return HFPolicy.from_pretrained(name[3:], env_id=env_id, name=name, dtype=dtype)
    if name.startswith("openai:"):
        from procmem_gym.agents.openai_policy import OpenAIPolicy, parse_openai_agent

        model, url = parse_openai_agent(name[7:])
        return OpenAIPolicy(model, url, env_id=env_id, seed=seed)
    raise AgentError(f"unknown agent {name!r}; choose one of: {AGENTS_HELP}")
