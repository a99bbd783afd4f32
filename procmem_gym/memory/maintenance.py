"""Skill stats, scores and maintenance: what a store does with its skills after episodes end (ProcMEM's maintenance).

:class:`SkillMaintenance` is the part of :class:`~procmem_gym.memory.store.ProceduralMemory`
that updates the used skills' stats after an episode, records learners' gains, rescores, and
in :meth:`SkillMaintenance.maintain` prunes low scorers, merges near-duplicates that act alike
and enforces the capacity; every removal is an event in the memory file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from procmem_gym.skills.scoring import ScoreConfig, prunable, score
from procmem_gym.skills.skill import Skill, SkillStats

if TYPE_CHECKING:
    from procmem_gym.memory.vectors import TextVectors

__all__ = ["MaintenanceReport", "SkillMaintenance"]


@dataclass(frozen=True)
class MaintenanceReport:
    """What one ``maintain()`` call did."""

    pruned: tuple[str, ...] = ()
    merged: tuple[tuple[str, str], ...] = ()  # (removed, kept)
    over_capacity: tuple[str, ...] = ()
    skills: int = 0


class SkillMaintenance:
    """Stats, scores, pruning, merging and capacity of a store's skills (mixed into ``ProceduralMemory``)."""

    _skills: dict[str, Skill]
    _dirty: set[str]
    _text_vectors: Any
    vectors: TextVectors
    clock: int
    iteration: int
    capacity: int | None
    merge_threshold: float
    score_config: ScoreConfig
    history: list[dict[str, Any]]

    def record_episode(self, uses: dict[str, tuple[int, int, int]], success: bool, episode_return: float) -> None:
        """Update the stats of the skills an episode used: ``uses[id] = (activations, completions, steps)``."""
        for skill_id, (activations, completions, _steps) in uses.items():
            skill = self._skills.get(skill_id)
            if skill is None:  # removed while the episode ran
                continue
            st = skill.stats
            stats = SkillStats(
                activations=st.activations + activations,
                completions=st.completions + completions,
                episodes=st.episodes + 1,
                successes=st.successes + int(bool(success)),
                return_sum=st.return_sum + float(episode_return),
                last_used=self.clock,
            )
            self._skills[skill_id] = skill.with_(
                stats=stats, score=score(stats, self.clock, self.score_config, skill.score)
            )
        self.clock += 1

    def record_gain(self, skill_id: str, gain: float) -> None:
        """Add one episode's gain over its baseline to a skill's stats (learners; the ``gain`` score reads them)."""
        skill = self._skills.get(skill_id)
        if skill is None:
            return
        st = skill.stats
        stats = replace(st, gain_sum=st.gain_sum + gain, gain_sq=st.gain_sq + gain * gain, gain_n=st.gain_n + 1)
        self._skills[skill_id] = skill.with_(stats=stats)

    def rescore(self) -> None:
        """Recompute every skill's score at the current clock."""
        for sid, s in list(self._skills.items()):
            self._skills[sid] = s.with_(score=score(s.stats, self.clock, self.score_config, s.score))

    def maintain(self) -> MaintenanceReport:
        """Score, prune low scorers, merge near-duplicates, enforce capacity; every removal is an event."""
        if len(self.vectors) > 4 * len(self._skills) + 1024:  # vectors of texts no skill has any more
            self.vectors.keep_only(t for s in self._skills.values() for t in (s.activation.text, s.text))
        self.rescore()
        pruned = []
        for s in self.skills:
            if prunable(s.stats, s.score, self.score_config, self.clock):
                reason = "harmful: its gain is below 0" if self.score_config.kind == "gain" else "low score"
                self.remove(s.id, "prune", {"reason": reason, "score": round(s.score, 4), "episodes": s.stats.episodes})
                pruned.append(s.id)
        merged = self._merge_duplicates()
        over = []
        if self.capacity is not None and len(self._skills) > self.capacity:
            ranked = sorted(self._skills.values(), key=lambda s: (s.score, s.stats.episodes, s.id))
            for s in ranked[: len(self._skills) - self.capacity]:
                self.remove(
                    s.id, "prune", {"reason": "capacity", "capacity": self.capacity, "score": round(s.score, 4)}
                )
                over.append(s.id)
        self._dirty.clear()
        scores = [s.score for s in self._skills.values()]
        self.history.append(
            {
                "iteration": self.iteration,
                "skills": len(scores),
                "mean_score": round(sum(scores) / len(scores), 6) if scores else 0.0,
                "clock": self.clock,
            }
        )
        return MaintenanceReport(tuple(pruned), tuple(merged), tuple(over), len(self._skills))

    def _merge_duplicates(self) -> list[tuple[str, str]]:
        """Merge each new or changed skill into a near-identical one (cosine >= merge_threshold)."""
        dirty = [i for i in self._skills if i in self._dirty]
        if not dirty or len(self._skills) < 2:
            return []
        self._text_vectors.fit([(s.id, s.text) for s in self._skills.values()])
        ids = self._text_vectors.ids
        position = {sid: n for n, sid in enumerate(ids)}
        alive = np.ones(len(ids), dtype=bool)
        merged = []
        for sid in dirty:
            me = position[sid]
            if not alive[me]:
                continue
            sims = self._text_vectors.matrix @ self._text_vectors.matrix[me]
            sims[me] = -1.0
            sims[~alive] = -1.0
            a = self._skills[sid]
            other = -1
            for k in np.argsort(-sims)[:8]:  # the most similar texts that are also the same procedure
                if sims[k] < self.merge_threshold:
                    break
                if _same_procedure(a, self._skills[ids[int(k)]]):
                    other = int(k)
                    break
            if other < 0:
                continue
            b = self._skills[ids[other]]
            keep, drop = (a, b) if (a.score, a.stats.episodes, b.id) > (b.score, b.stats.episodes, a.id) else (b, a)
            sources = tuple(dict.fromkeys(keep.lineage.sources + drop.lineage.sources))
            lineage = replace(keep.lineage, sources=sources)  # the guard against leaks holds for both
            self._skills[keep.id] = keep.with_(stats=_sum_stats(keep.stats, drop.stats), lineage=lineage)
            self.remove(drop.id, "merge", {"into": keep.id, "similarity": round(float(sims[other]), 4)})
            alive[position[drop.id]] = False
            merged.append((drop.id, keep.id))
        return merged


def _same_procedure(a: Skill, b: Skill) -> bool:
    """Whether two similar skills may merge: skills that act by patterns and steps must share them.

    Text similarity alone would merge rules such as "after [1 2 4 6] scored 0 black play X" and
    "after [1 2 6 4] scored 0 black play Y", which read alike but act differently.
    """
    if a.activation.patterns or b.activation.patterns or a.execution.steps or b.execution.steps:
        return (a.activation.patterns, a.execution.steps) == (b.activation.patterns, b.execution.steps)
    return True


def _sum_stats(a: SkillStats, b: SkillStats) -> SkillStats:
    return SkillStats(
        activations=a.activations + b.activations,
        completions=a.completions + b.completions,
        episodes=a.episodes + b.episodes,
        successes=a.successes + b.successes,
        return_sum=a.return_sum + b.return_sum,
        last_used=max(a.last_used, b.last_used),
    )
