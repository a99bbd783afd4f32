"""Where Non-Parametric PPO's candidates come from: contrast, hindsight, a teacher, a writer's semantic gradients.

:class:`CandidateProposals` is the proposing half of
:class:`~procmem_gym.learning.npppo.NPPOLearner`: from the decisions of the proposing tasks it
labels better and worse actions (a teacher's actions in the agent's states, or in hindsight the
action that won the task, :func:`hindsight_labels`), mines constraints that separate them in
each situation class (:mod:`procmem_gym.learning.contrast`), drops candidates the pool already
has, and with a writer model revises the guidance of the most used skills
(:mod:`procmem_gym.learning.semantic`). The gate and the confirmation are in ``npppo.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from procmem_gym.agents.policy import Policy
from procmem_gym.envs.families import COMMANDS_KEY
from procmem_gym.learning.contrast import Candidate, Labelled, candidate_skill, mine_by_advantage, mine_constraints
from procmem_gym.learning.experience import Decision, decisions, group_advantages
from procmem_gym.memory import ProceduralMemory
from procmem_gym.skills.skill import LIMITS, Skill

__all__ = ["CandidateProposals", "hindsight_labels"]


class CandidateProposals:
    """The candidate-proposing half of the NPPO learner (mixed into ``NPPOLearner``)."""

    memory: ProceduralMemory
    policy: Policy
    teacher: Policy | None
    writer: Any
    config: Any
    env_id: str
    out: Any
    _earlier: Any

    def _propose(self, propose: list[Decision]) -> list[tuple[Skill, Skill | None]]:
        """Return ``(candidate, parent)`` pairs: mined constraints, then semantic gradients."""
        cfg = self.config
        out: list[tuple[Skill, Skill | None]] = []
        if cfg.constraints:
            labelled = self._labelled(propose)
            found = mine_constraints(labelled, coverage=cfg.coverage, k=cfg.k)[: cfg.k]
            if not found and self.teacher is None:
                # no win to learn from in hindsight yet: statements that split the agent's own
                # actions by advantage (noisier; the gate and the confirmation judge them)
                samples = [Labelled(d.observation, d.action, d.advantage > 0, d.advantage) for d in propose]
                found = mine_by_advantage(samples, k=cfg.k, min_z=cfg.min_z)[: cfg.k]
            for candidate in found:
                parent = self._covering(candidate)
                skill = candidate_skill(
                    candidate, env=self.env_id, agent=getattr(self.policy, "name", None), parent=parent
                )
                if skill.id not in self.memory and not self._same_as_pool(skill):
                    out.append((skill, parent))
        if self.writer is not None:
            out += self._semantic_gradients(propose)
        return out

    def _labelled(self, propose: list[Decision]) -> list[Labelled]:
        """Return better/worse actions: the teacher's against the agent's, else hindsight labels.

        Without a teacher the better actions come in hindsight from the tasks that were won
        (:func:`hindsight_labels`), over this iteration's proposal tasks and every earlier
        iteration's tasks (the gate only reads this iteration's held-out tasks).
        """
        if self.teacher is not None:
            out = []
            for d in propose:
                if d.info is None:
                    continue  # the state's info is unknown (an episode's first step): the teacher cannot read it
                best = self.teacher.act(d.observation, d.info)
                out.append(Labelled(d.observation, str(best), True))
                if str(best) != d.action:
                    out.append(Labelled(d.observation, d.action, False))
            return out
        return hindsight_labels(self._earlier_decisions() + propose)

    def _why_nothing(self, propose: list[Decision]) -> str:
        """Return why no candidate came out of this iteration's proposal data."""
        cfg = self.config
        if not cfg.constraints and self.writer is None:
            return "constraint candidates are off (--no-constraints) and there is no --writer"
        if not propose:
            return "the policy made no decision in the proposal tasks"
        if self.teacher is None and not any(d.won for d in self._earlier_decisions() + propose):
            return (
                "no task has been won yet, so there are no hindsight labels (better actions); "
                "play more episodes or give a --teacher"
            )
        return "no constraint separates the better actions from the worse ones in any situation class"

    def _earlier_decisions(self) -> list[Decision]:
        """Return the decisions of the iterations before this one, read back from their logs."""
        from procmem_gym.learning.experience import load_episodes

        cached = self._earlier
        if cached is not None and cached[0] == self.memory.iteration:
            return cached[1]
        out: list[Decision] = []
        for i in range(self.memory.iteration):
            log = self.out / f"iter-{i:03d}" / "transitions.jsonl"
            if log.exists():
                episodes = load_episodes(log)
                out += decisions(episodes, group_advantages(episodes))
        self._earlier = (self.memory.iteration, out)
        return out

    def _covering(self, candidate: Candidate) -> Skill | None:
        """Return the skill in memory that covers the candidate's situation (its parent), if any."""
        for skill in self.memory.skills:
            if candidate.situation.pattern in skill.activation.patterns:
                return skill
        return None

    def _same_as_pool(self, skill: Skill) -> bool:
        c = skill.execution.constraint
        return any(
            s.execution.constraint == c and s.activation.patterns == skill.activation.patterns
            for s in self.memory.skills
        )

    def _semantic_gradients(self, propose: list[Decision]) -> list[tuple[Skill, Skill | None]]:
        """Revised guidance for the most used skills, written by the writer (always well formed)."""
        from procmem_gym.learning.semantic import guidance_prompt

        cfg = self.config
        uses: dict[str, list[Decision]] = {}
        for d in propose:
            if d.skill is not None:
                uses.setdefault(d.skill, []).append(d)
        parents = [s for s in sorted(uses, key=lambda k: -len(uses[k])) if len(uses[s]) >= cfg.min_segments]
        out = []
        for sid in parents[: cfg.max_parents]:
            parent = self.memory.find(sid)
            if parent is None:
                continue
            ranked = sorted(uses[sid], key=lambda d: -d.advantage)
            prompts = [guidance_prompt(parent, ranked, k) for k in range(cfg.k)]
            for text in self.writer.generate(prompts, max_new_tokens=96):
                guidance = " ".join(text.split())[: LIMITS["guidance"]]
                if len(guidance) < 12:
                    self.memory.record("reject", sid, {"stage": "writer", "reason": "empty or unusable guidance"})
                    continue
                child = parent.with_(execution=replace(parent.execution, guidance=guidance))
                child = Skill.from_dict(
                    {
                        **child.to_dict(),
                        "id": None,
                        "stats": None,
                        "score": 0.0,
                        "lineage": {
                            "parent": parent.id,
                            "version": parent.lineage.version + 1,
                            "method": "npppo",
                            "env": self.env_id,
                            "agent": getattr(self.policy, "name", None),
                        },
                    }
                )
                out.append((child, parent))
        return out


def hindsight_labels(decisions_: Sequence[Decision], per_task: int = 400) -> list[Labelled]:
    """Return labels in hindsight: the action that won a task is a better action in that task's other states.

    When an episode of a task (an env seed) is won, its winning action is, in hindsight, an
    action the agent could have taken in every state of that task's episodes where it was
    available (among the admissible commands, when the env lists them) — the idea of hindsight
    experience replay. There it is labelled better, and the agent's own action, when it differs,
    worse. Winning actions are also better in their own state. Nothing here knows the env; a
    constraint mined from these labels still has to pass the gate and the paired confirmation.
    At most ``per_task`` states per task are labelled.
    """
    winning: dict[object, list[str]] = {}
    for d in decisions_:
        if d.won and d.action not in winning.setdefault(d.task, []):
            winning[d.task].append(d.action)
    out: list[Labelled] = []
    used: dict[object, int] = {}
    for d in decisions_:
        wins = winning.get(d.task)
        if not wins or used.get(d.task, 0) >= per_task:
            continue
        used[d.task] = used.get(d.task, 0) + 1
        if d.info is None and COMMANDS_KEY in d.step:
            continue  # the env lists its commands, but not yet for this first step: availability unknown
        commands = (d.info or {}).get(COMMANDS_KEY)
        for w in wins:
            if commands and w not in [str(c) for c in commands]:
                continue
            out.append(Labelled(d.observation, w, True, abs(d.advantage)))
            if d.action != w:
                out.append(Labelled(d.observation, d.action, False, d.advantage))
    return out
