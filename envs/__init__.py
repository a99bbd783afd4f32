"""The environments of procmem-gym, registered with Gymnasium under the ``procmem_gym/`` namespace.

Every id is registered here and nowhere else (as Minigrid does). Importing this module is cheap:
entry points are strings, so no environment module is imported until ``gymnasium.make``.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

#: Mastermind variants: the parameters of TextArena's ``Mastermind-v0``, ``-v0-hard``, ``-v0-extreme``.
MASTERMIND_VARIANTS: dict[str, dict] = {
    "procmem_gym/Mastermind-v0": dict(code_length=4, num_digits=6, max_turns=20, allow_repeats=False),
    "procmem_gym/Mastermind-hard-v0": dict(code_length=4, num_digits=8, max_turns=30, allow_repeats=False),
    "procmem_gym/Mastermind-extreme-v0": dict(code_length=6, num_digits=12, max_turns=50, allow_repeats=True),
}


#: ALFWorld on its real engine (needs the ``alfworld`` extra and game data; see ``procmem_gym.envs.alfworld``).
ALFWORLD_ID = "procmem_gym/ALFWorld-v0"

#: TextArena's single-player games (the ``textarena`` extra), as ``textarena/<game>``.
TEXTARENA_NAMESPACE = "textarena"


def register_envs() -> None:
    """Register every procmem-gym environment id with Gymnasium (idempotent)."""
    for env_id, kwargs in MASTERMIND_VARIANTS.items():
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point="procmem_gym.envs.mastermind.env:MastermindEnv",
            vector_entry_point="procmem_gym.envs.mastermind.vector:MastermindVectorEnv",
            kwargs=dict(kwargs),
        )
    if ALFWORLD_ID not in registry:
        # No max_episode_steps here: the env truncates at its own ``max_steps`` (default 50).
        register(id=ALFWORLD_ID, entry_point="procmem_gym.envs.alfworld.env:ALFWorldEnv")
    from .textarena.games import GAMES

    for game in GAMES:
        env_id = f"{TEXTARENA_NAMESPACE}/{game}"
        if env_id not in registry:
            # the game ends itself (turn limits); no step limit on top of TextArena's own
            register(id=env_id, entry_point="procmem_gym.envs.textarena.env:TextArenaEnv", kwargs={"game": game})


register_envs()

__all__ = ["ALFWORLD_ID", "MASTERMIND_VARIANTS", "TEXTARENA_NAMESPACE", "register_envs"]
