"""The ALFWorld hand-coded expert as an agent: it plays the command the env's expert proposes."""

from __future__ import annotations

from typing import Any

from .policy import BasePolicy


class ExpertPolicy(BasePolicy):
    """Play ``info["expert_action"]``, the next command of ALFWorld's hand-coded expert.

    The expert runs inside the env (``procmem_gym/ALFWorld-v0`` with ``expert=True``, the
    default), where it sees the game's facts; this agent only forwards its choice, so its
    trajectories are the expert trajectories MemP builds memory from offline.

    >>> ExpertPolicy().act("You arrive at fridge 1.", {"expert_action": "open fridge 1"})
    'open fridge 1'
    """

    name = "expert"

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        """Return the expert's next command; raise if the env does not provide one."""
        action = info.get("expert_action")
        if not isinstance(action, str) or not action:
            raise ValueError(
                "agent 'expert' needs info['expert_action'] from the env: use procmem_gym/ALFWorld-v0 "
                "with expert=True (the default)"
            )
        return action
