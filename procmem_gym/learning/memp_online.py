"""MemP online: learn memory from scratch by retrieving, using and updating it episode by episode.

Each iteration rolls out episodes with the current memory (see :class:`~procmem_gym.learning.loop.Learner`),
then applies MemP's Update to every episode in order (:func:`~procmem_gym.learning.memp.apply_update`):
``vanilla`` adds every trajectory, ``validation`` only successful ones, ``adjustment`` also
corrects the memory a failed episode used, by reflection of the policy model. For tasks
stated in text (ALFWorld), the successful episodes are also proceduralised
(:func:`~procmem_gym.learning.procedures.procedure_skills`): a stage of a task that no
procedure in memory covers yet gets one from how this iteration's episodes succeeded there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from procmem_gym.envs.families import family_of
from procmem_gym.learning.loop import Learner
from procmem_gym.learning.memp import apply_update, states_task
from procmem_gym.learning.procedures import procedure_skills
from procmem_gym.rollouts.transitions import Episode

__all__ = ["MempConfig", "MempLearner"]


@dataclass(frozen=True)
class MempConfig:
    """Settings of a MemP online run (saved with its checkpoint)."""

    iterations: int = 3
    episodes: int = 8
    num_envs: int = 1
    mode: str = "inject"
    update: str = "validation"
    seed: int = 0


class MempLearner(Learner):
    """MemP's online Update loop on top of the shared learner loop.

    Deprecation is relative to the no-memory baseline: the success rate of the iteration's
    episodes in which no memory was used (the last one measured when every episode used one;
    MemP's 50 % before any is measured).
    """

    _baseline: float | None = None

    def improve(self, iteration: int, episodes: Sequence[Episode]) -> None:
        """Apply the configured Update to each episode, in the order they finished."""
        update = self.config.update
        writer = self.policy if update == "adjustment" and hasattr(self.policy, "generate") else None
        agent = getattr(self.policy, "name", None)
        # the no-memory baseline: the success rate of this iteration's episodes that used no memory
        plain = [e.record.success for e in episodes if not e.record.skills_used]
        baseline = sum(plain) / len(plain) if plain else self._baseline
        self._baseline = baseline
        for episode in episodes:
            apply_update(self.memory, episode, update, writer=writer, env=self.env_id, agent=agent, baseline=baseline)
        won = [e for e in episodes if e.record.success and states_task(e, family_of(self.env_id))]
        if won:
            covered = {p for skill in self.memory for p in skill.activation.patterns}
            for skill in procedure_skills(won, self.env_id, agent, min_support=1, method="memp:online"):
                if skill.activation.patterns[0] not in covered and skill.id not in self.memory:
                    self.memory.add(skill, {"source": "online", "iteration": iteration, "name": skill.name})
