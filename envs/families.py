"""Env families: what procmem-gym knows about each kind of environment, in one table.

A family says how prompts present the env, which ``info`` key says an episode succeeded,
what a vector env of it is built with, and which reference agents play it. Runners, the agent
factory and the prompts all ask :func:`family_of`, which finds an id's family from the entry
point it is registered with — so variants a user registers with procmem-gym's entry points
(``gymnasium.register("my/Mastermind-5x9", entry_point="procmem_gym.envs.mastermind.env:MastermindEnv", ...)``)
belong to the family too. Any other env (CartPole, ...) is :data:`GENERIC`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EnvFamily", "FAMILIES", "GENERIC", "family_of"]


@dataclass(frozen=True)
class EnvFamily:
    """What procmem-gym knows about one kind of environment."""

    name: str
    #: Module whose entry points make the family's envs.
    module: str
    #: How messages name the family.
    title: str = ""
    #: Prompt template of LLM policies (``procmem_gym.agents.prompts.TEMPLATES``).
    prompt: str = "default"
    #: ``info`` key that says the episode succeeded (None: ``success``, else ``won``, else False).
    success_key: str | None = None
    #: Keyword arguments a vector env of the family is made with (agents read what they ask for).
    vector_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Reference agents (besides ``random`` and LLM agents, which play every env) that play it.
    agents: tuple[str, ...] = ()


FAMILIES: dict[str, EnvFamily] = {
    "mastermind": EnvFamily(
        "mastermind",
        "procmem_gym.envs.mastermind",
        "Mastermind",
        prompt="mastermind",
        success_key="success",
        # each game's history and variant in info, as the single env gives them (agents read them)
        vector_kwargs={"info_history": True},
        agents=("solver",),
    ),
    "alfworld": EnvFamily(
        "alfworld", "procmem_gym.envs.alfworld", "ALFWorld", prompt="alfworld", success_key="won", agents=("expert",)
    ),
}
GENERIC = EnvFamily("generic", "", "other")


def family_of(env_id: str | None) -> EnvFamily:
    """Return the family of a registered env id (:data:`GENERIC` for other or unknown ids).

    >>> import procmem_gym
    >>> family_of("procmem_gym/Mastermind-hard-v0").name, family_of("CartPole-v1").name
    ('mastermind', 'generic')
    """
    if not env_id:
        return GENERIC
    import gymnasium as gym

    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return GENERIC
    entry = spec.entry_point if isinstance(spec.entry_point, str) else getattr(spec.entry_point, "__module__", "")
    for family in FAMILIES.values():
        if entry.startswith(family.module + ".") or entry.startswith(family.module + ":"):
            return family
    return GENERIC
