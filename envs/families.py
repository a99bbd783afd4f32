"""Env families: everything env-specific that the rest of procmem-gym needs, in one table.

A family says how prompts present the env, which ``info`` key says an episode succeeded, how
an observation states the task and which ``info`` keys name it and the game played, which
``info`` keys are too bulky to log, what a vector env of it is built with, and which reference
agents play it. The wrappers, runners, learners, the agent factory and the prompts all ask
:func:`family_of` (or :func:`family_of_env`), which finds an id's family from the entry point it
is registered with — so variants a user registers with procmem-gym's entry points
(``gymnasium.register("my/Mastermind-5x9", entry_point="procmem_gym.envs.mastermind.env:MastermindEnv", ...)``)
belong to the family too. Any other env (CartPole, a user's own) is :data:`GENERIC`, whose
facts are the conventions of text-game envs (TextWorld's ``won``, ``goal``, ``gamefile``).
No module outside ``envs/`` names an env id or an env's own ``info`` key (a test checks it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EnvFamily", "FAMILIES", "GENERIC", "COMMANDS_KEY", "MAIN_JOB_ENV", "family_of", "family_of_env"]

#: The ``info`` key under which an env lists the commands it accepts now (TextWorld's convention).
COMMANDS_KEY = "admissible_commands"
#: The env of the project's main job (``procmem-gym learn`` with no arguments).
MAIN_JOB_ENV = "procmem_gym/Mastermind-v0"
#: How text games state the task in an observation ("Your task is to: put a mug in cabinet.").
TEXT_GAME_TASK = r"(?i)your task is to:?\s*(.+)"


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
    #: ``info`` keys that say the episode succeeded; the first one present decides (none: failed).
    success_keys: tuple[str, ...] = ("success",)
    #: Regex whose group 1 is the task an observation states (None: observations state none).
    task_pattern: str | None = None
    #: ``info`` key holding the episode's task in words (episode-scope retrieval looks it up).
    task_info_key: str | None = None
    #: ``info`` key naming the game an episode plays (its own memories are never retrieved for it).
    source_info_key: str | None = None
    #: A game's name is its path below this folder, so a copy of the data elsewhere is the same game.
    source_root: str | None = None
    #: ``info`` key holding the reason a move was invalid (learners skip such moves).
    invalid_key: str | None = "invalid_reason"
    #: ``info`` keys too bulky to log with every step (a game's whole history).
    unlogged_keys: tuple[str, ...] = ()
    #: Keyword arguments a vector env of the family is made with (agents read what they ask for).
    vector_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Reference agents (besides ``random`` and LLM agents, which play every env) that play it.
    agents: tuple[str, ...] = ()

    @property
    def success_key(self) -> str:
        """Return the first success key (the one a runner reports)."""
        return self.success_keys[0]

    def succeeded(self, info: Mapping[str, Any]) -> bool:
        """Return whether a final ``info`` says the episode succeeded."""
        for key in self.success_keys:
            if key in info:
                return bool(info[key])
        return False

    def stated_task(self, text: str) -> str | None:
        r"""Return the task an observation states, or None.

        >>> family_of("procmem_gym/ALFWorld-v0").stated_task("A room.\n\nYour task is to: put a mug in cabinet.")
        'put a mug in cabinet.'
        """
        if self.task_pattern is None:
            return None
        match = re.search(self.task_pattern, text)
        return match.group(1).strip() if match else None

    def task_in(self, info: Mapping[str, Any]) -> str | None:
        """Return the task ``info`` names, or None."""
        task = info.get(self.task_info_key) if self.task_info_key else None
        return task if isinstance(task, str) and task else None

    def source_in(self, info: Mapping[str, Any]) -> str | None:
        """Return the name of the game ``info`` says is played (independent of where its data lies), or None."""
        game = info.get(self.source_info_key) if self.source_info_key else None
        return self.source_name(game) if isinstance(game, str) and game else None

    def source_name(self, path: str) -> str:
        """Return the name of a game that does not depend on where its data folder lies.

        >>> family_of("procmem_gym/ALFWorld-v0").source_name("/data/json_2.1.1/train/pick-Apple/trial_T1/game.tw-pddl")
        'train/pick-Apple/trial_T1/game.tw-pddl'
        """
        text = str(path).replace(os.sep, "/")
        root = self.source_root
        return text.split(root, 1)[1] if root and root in text else text


FAMILIES: dict[str, EnvFamily] = {
    "mastermind": EnvFamily(
        "mastermind",
        "procmem_gym.envs.mastermind",
        "Mastermind",
        prompt="mastermind",
        success_keys=("success",),
        unlogged_keys=("history",),
        # each game's history and variant in info, as the single env gives them (agents read them)
        vector_kwargs={"info_history": True},
        agents=("solver",),
    ),
    "alfworld": EnvFamily(
        "alfworld",
        "procmem_gym.envs.alfworld",
        "ALFWorld",
        prompt="alfworld",
        success_keys=("won",),
        task_pattern=TEXT_GAME_TASK,
        task_info_key="goal",
        source_info_key="gamefile",
        source_root="json_2.1.1/",
        unlogged_keys=("history",),
        agents=("expert",),
    ),
    "textarena": EnvFamily(
        "textarena",
        "procmem_gym.envs.textarena",
        "TextArena",
        success_keys=("success",),
        invalid_key="invalid_move",
        unlogged_keys=("action_set",),
    ),
}
#: Any env procmem-gym does not know: the conventions of text-game envs (TextWorld's keys).
GENERIC = EnvFamily(
    "generic",
    "",
    "other",
    success_keys=("success", "won"),
    task_pattern=TEXT_GAME_TASK,
    task_info_key="goal",
    source_info_key="gamefile",
    source_root="json_2.1.1/",
    unlogged_keys=("history", "action_set"),
)


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


def family_of_env(env: Any) -> EnvFamily:
    """Return the family of an env or vector env from its ``spec`` (:data:`GENERIC` without one)."""
    spec = getattr(env, "spec", None)
    return family_of(getattr(spec, "id", None))
