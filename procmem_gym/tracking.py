"""SkillTracker: the option state machine of one episode (which skill is active, for how long, why it ended).

Shared by the single-env and the vector-env wrapper. For every observation the tracker first
checks the active skill's termination (its patterns on the new text, its ``max_steps``, the
end of the episode), then, with no skill active, asks the memory for a skill whose activation
holds and activates the best one. Slots of the skill's action templates are filled from the
named groups of the activation patterns that matched (``(?P<obj>[a-z]+)`` fills ``{obj}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from procmem_gym.memory import ProceduralMemory
from procmem_gym.patterns import search
from procmem_gym.skill import Skill
from procmem_gym.transitions import EpisodeRecord

_SLOT = re.compile(r"\{(\w+)\}")


def fill(text: str, values: dict[str, str]) -> str:
    """Return ``text`` with each ``{name}`` that has a value replaced by it (others left as they are)."""
    if not values or "{" not in text:
        return text
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass
class SkillUse:
    """How one skill was used in one episode."""

    activations: int = 0
    completions: int = 0
    steps: int = 0


@dataclass
class SkillTracker:
    """Tracks the active skill through one episode and reports ``info["procmem"]``."""

    memory: ProceduralMemory
    candidates_k: int = 5
    active: Skill | None = None
    step_in_skill: int = 0
    slots: dict[str, str] = field(default_factory=dict)
    uses: dict[str, SkillUse] = field(default_factory=dict)
    candidates: list[tuple[str, float]] = field(default_factory=list)
    skill_steps: int = 0
    #: Probability of leaving a skill whose activation holds inactive for a step (Skill-Pro: 0.3 in learning).
    explore: float = 0.0
    #: The skill left inactive on the current step by exploration, if any.
    explored: str | None = None
    text: str = ""
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def start(self, seed: int | None = None) -> None:
        """Forget the previous episode (``seed`` seeds the exploration of this one)."""
        self.active, self.step_in_skill, self.slots = None, 0, {}
        self.uses, self.candidates, self.skill_steps, self.explored = {}, [], 0, None
        self.rng = np.random.default_rng([0 if seed is None else seed, 0x5EED])

    def begin(self, text: str, seed: int | None = None) -> dict[str, Any]:
        """Start an episode on its first observation; return ``info["procmem"]``."""
        self.start(seed)
        self.select(text)
        return self.info()

    def step(self, text: str, episode_over: bool) -> tuple[str | None, str | None, dict[str, Any]]:
        """Account for one env step that led to ``text``: return the (skill, event) to log and ``info["procmem"]``.

        The event is ``terminate`` when the skill ended on this step; otherwise, with no skill
        active, a skill whose activation holds for ``text`` is activated for the next step.
        """
        skill_id, event = self.advance()
        if self.check_termination(text, episode_over):
            event = "terminate"
        if not episode_over:
            self.select(text)
        return skill_id, event, self.info()

    def select(self, text: str) -> None:
        """With no skill active, activate the best skill whose activation holds for ``text``.

        With ``explore`` > 0 the skill is left inactive for this step with that probability
        (seeded per episode), so that situations a skill covers also yield data without it.
        """
        self.text, self.explored = text, None
        if self.active is not None:
            self.candidates = []
            return
        self.candidates = self.memory.activation_candidates(text, self.candidates_k)
        for skill_id, _ in self.candidates:
            skill = self.memory.find(skill_id)
            if skill is None:
                continue
            if self.explore > 0 and self.rng.random() < self.explore:
                self.explored = skill_id
                return
            self.active, self.step_in_skill = skill, 0
            self.slots = self._capture(skill, text)
            self.uses.setdefault(skill_id, SkillUse()).activations += 1
            return

    def advance(self) -> tuple[str | None, str | None]:
        """Account for one env step; return the (skill id, event) to log for it."""
        if self.active is None:
            return None, None
        event = "activate" if self.step_in_skill == 0 else "continue"
        self.step_in_skill += 1
        self.uses[self.active.id].steps += 1
        self.skill_steps += 1
        return self.active.id, event

    def check_termination(self, text: str, episode_over: bool) -> bool:
        """End the active skill if its condition holds on ``text`` (or the budget/episode is spent)."""
        skill = self.active
        if skill is None:
            return False
        term = skill.termination
        completed = self.step_in_skill >= term.max_steps or any(search(p, text) is not None for p in term.patterns)
        if completed or episode_over:
            if completed:
                self.uses[skill.id].completions += 1
            self.active, self.step_in_skill, self.slots = None, 0, {}
            return True
        return False

    def info(self) -> dict[str, Any]:
        """Return ``info["procmem"]``: the active skill, its guidance and next action, the candidates."""
        skill = self.active
        if skill is None:
            return {"active_skill": None, "guidance": None, "next_action": None, "candidates": list(self.candidates)}
        out = {
            "active_skill": skill.id,
            "skill_name": skill.name,
            "guidance": fill(skill.execution.guidance, self.slots) or None,
            "next_action": skill.action(self.step_in_skill, self.slots),
            "candidates": list(self.candidates),
        }
        if skill.execution.constraint is not None:
            # the constraint filled in for this observation: the policy chooses among what it allows
            out["constraint"] = skill.execution.constraint.bind(self.text, self.slots)
        return out

    @staticmethod
    def _capture(skill: Skill, text: str) -> dict[str, str]:
        """Return the named groups captured by the skill's matching activation patterns."""
        values: dict[str, str] = {}
        for p in skill.activation.patterns:
            groups = search(p, text)
            if groups:
                for k, v in groups.items():
                    values.setdefault(k, v)
        return values

    def record(
        self, episode: int, episode_return: float, length: int, success: bool, seed: int | None, update_memory: bool
    ) -> EpisodeRecord:
        """Return the episode's record; with ``update_memory`` the used skills' stats are updated too."""
        usage = self.usage()
        if update_memory:
            self.memory.record_episode(usage, success, episode_return)
        return EpisodeRecord(episode, episode_return, length, success, tuple(usage), self.skill_steps, seed)

    def usage(self) -> dict[str, tuple[int, int, int]]:
        """Return ``{id: (activations, completions, steps)}`` for the episode so far."""
        return {k: (u.activations, u.completions, u.steps) for k, u in self.uses.items()}
