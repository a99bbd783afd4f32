"""Turn an ``--agent`` string into a policy for an env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from procmem_gym.agents.policy import Policy
from procmem_gym.envs.families import FAMILIES, family_of

from procmem_gym.errors import ProcMemError

AGENTS_HELP = (
    "random, solver (Mastermind), expert (ALFWorld), smollm2, hf:PATH (model folder or .gguf file), openai:MODEL@URL"
)


class AgentError(ProcMemError, ValueError):
    """An ``--agent`` value that names no agent, or an agent that cannot play this env."""


def _check_fits(name: str, env_id: str) -> None:
    """Raise :class:`AgentError` unless the reference agent ``name`` plays the family of ``env_id``."""
    if name in family_of(env_id).agents:
        return
    homes = " and ".join(f.title for f in FAMILIES.values() if name in f.agents)
    raise AgentError(f"agent {name!r} plays {homes} only, not {env_id}")


def server_options(args: Any) -> dict[str, Any]:
    """Return the ``openai:`` agent options given on the command line (``--server-timeout``, ``--server-retries``)."""
    return {"timeout": getattr(args, "server_timeout", None), "retries": getattr(args, "server_retries", None)}


def make_policy(
    name: str,
    env_id: str,
    action_space: gym.Space | None,
    seed: int,
    console: Any = None,
    dtype: str | None = None,
    device: str | None = None,
    server: dict[str, Any] | None = None,
    avoid_repeats: bool = True,
) -> Policy:
    """Return the policy ``name`` describes, checked against the env ``env_id``.

    ``server`` holds an ``openai:`` agent's ``timeout`` and ``retries`` (None: the defaults).
    ``avoid_repeats``: a local LLM's greedy command choices skip commands already taken in the
    same state (:class:`~procmem_gym.agents.hf_policy.TakenCommands`).
    """
    if name == "random":
        from procmem_gym.agents import RandomPolicy

        return RandomPolicy(seed=seed, action_space=action_space)
    if name == "solver":
        _check_fits(name, env_id)
        from procmem_gym.agents import MastermindSolver

        return MastermindSolver(seed=seed)
    if name == "expert":
        _check_fits(name, env_id)
        from procmem_gym.agents import ExpertPolicy

        return ExpertPolicy()
    if name == "smollm2":
        from procmem_gym.agents.smollm2 import cached_smollm2_dir, is_cached, load_smollm2

        if console is not None and not is_cached():
            console.print(
                f"first use of smollm2: de-quantising the GGUF model into {cached_smollm2_dir()} (once, ~20 s)"
            )
        return load_smollm2(
            env_id=env_id, dtype=dtype, device=device, avoid_repeats=avoid_repeats, action_space=action_space
        )
    if name.startswith("hf:"):
        from procmem_gym.agents.hf_policy import HFPolicy

        return HFPolicy.from_pretrained(
            name[3:],
            env_id=env_id,
            name=name,
            dtype=dtype,
            device=device,
            avoid_repeats=avoid_repeats,
            action_space=action_space,
        )
    if name.startswith("openai:"):
        from procmem_gym.agents.openai_policy import OpenAIPolicy, parse_openai_agent

        model, url = parse_openai_agent(name[7:])
        options = {k: v for k, v in (server or {}).items() if v is not None}
        return OpenAIPolicy(model, url, env_id=env_id, seed=seed, action_space=action_space, **options)
    raise AgentError(f"unknown agent {name!r}; choose one of: {AGENTS_HELP}")
