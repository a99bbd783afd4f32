"""Non-Parametric PPO (ProcMEM): evolve the skill pool from rollouts, contrast, semantic gradients and the gate.

One iteration (docs/design.md#learning):

1. **Rollouts that explore.** ``tasks`` tasks (env seeds), each played ``group`` times with
   different sampling seeds: the policy samples (``temperature``) under the grammar and any
   active constraint, logging each action's behaviour log-probability; a skill whose activation
   holds is left inactive with probability ``explore`` (Skill-Pro's ε = 0.3), so covered
   situations also yield data without it.
2. **Group-relative advantages**: an episode's return minus its task group's mean, spread over
   its steps.
3. **Candidates**, from the first half of the tasks: constraints mined from contrast
   (:mod:`procmem_gym.learning.contrast`: statements that hold for a teacher's actions in the same
   states, or for the actions that won, and fail for the agent's others), each a revision of
   the skill that covers its situation or a new skill; and, with a ``writer``, semantic
   gradients (revised guidance) for the ``max_parents`` most used skills with ``min_segments``
   uses or more.
4. **The gate**, on the other half of the tasks (:class:`~procmem_gym.learning.gate.PPOGate`):
   the clipped surrogate of exact constrained ratios, within the trust bound.
5. **The confirmation** of the best candidate that passed: a paired rollout on fresh tasks with
   and without it (the same env and sampling seeds), admitted when the lower confidence bound
   of the mean gain is above 0. A revision joins the pool beside its parent.
6. **Maintenance**: every skill's gain over its task groups, a lower confidence bound of it as
   the score, harmful skills pruned, the pool kept to ``capacity``.

Every admitted, rejected, pruned or merged candidate is an event with its numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from procmem_gym.agents.policy import Policy
from procmem_gym.errors import LogprobsUnavailableError
from procmem_gym.files.folders import make_folder
from procmem_gym.learning.candidates import CandidateProposals, hindsight_labels
from procmem_gym.learning.experience import Decision, decisions, group_advantages
from procmem_gym.learning.gate import Confirmation, GateDecision, PairedConfirmation, PPOGate
from procmem_gym.learning.loop import IterationReport, Learner
from procmem_gym.learning.situations import first_line
from procmem_gym.memory import ProceduralMemory
from procmem_gym.rollouts.transitions import Episode
from procmem_gym.skills.patterns import search
from procmem_gym.skills.skill import Skill
from procmem_gym.wrappers.tracking import SkillTracker, fill

__all__ = ["NPPOConfig", "IterationReport", "NPPOLearner", "describe_pool", "hindsight_labels"]


@dataclass(frozen=True)
class NPPOConfig:
    """Settings of a learning run (saved with its checkpoint)."""

    iterations: int = 3
    episodes: int = 32  # per iteration: tasks x group
    group: int = 4  # sampling seeds per task
    num_envs: int = 8
    mode: str = "inject"
    temperature: float = 1.0
    explore: float = 0.3
    k: int = 3
    max_parents: int = 2
    min_segments: int = 6
    eps: float = 0.2
    trust: float = 1.5
    margin: float = 0.0
    gate: bool = True  # False: every candidate is admitted, unjudged (the "gate off" ablation)
    gate_rule: str = "screen"  # PPOGate's rule: "screen" (not significantly worse) or "improve" (strict PPO)
    confirm: bool = True  # False: the gate alone decides
    confirm_episodes: int = 16
    confirm_level: float = 0.95
    constraints: bool = True  # False: no constraint candidates (text guidance only)
    coverage: float = 0.9
    min_z: float = 3.0  # candidates split by advantage alone (no win yet) need this z
    capacity: int = 10
    max_samples: int = 256  # gate samples per candidate
    seed: int = 0

    @property
    def tasks(self) -> int:
        """Return the number of distinct tasks per iteration."""
        return max(1, self.episodes // max(1, self.group))


class NPPOLearner(CandidateProposals, Learner):
    """Learn procedural memory online with Non-Parametric PPO (see the module docstring).

    ``teacher``: a policy whose actions in the agent's states are the better ones (MemP's
    strong-to-weak setting); ``writer``: a model that writes semantic gradients (need not be the
    actor).
    """

    def __init__(self, *args: Any, teacher: Policy | None = None, writer: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config
        self.teacher, self.writer = teacher, writer
        #: Which numbers the gate ran on in the last iteration ("exact log-probabilities" or
        #: "validation rollouts": the policy gave none); in each iteration's report.json.
        self.gate_numbers: str | None = None
        #: (iteration, decisions of the iterations before it), read back from their logs once per iteration
        self._earlier: tuple[int, list[Decision]] | None = None
        self.gate = PPOGate(eps=cfg.eps, margin=cfg.margin, trust=cfg.trust, rule=cfg.gate_rule)
        self.confirmation = PairedConfirmation(level=cfg.confirm_level)
        self.memory.capacity = cfg.capacity
        self.memory.score_config = replace(self.memory.score_config, kind="gain", min_episodes=cfg.min_segments)

    def rollout_plan(self, i: int) -> tuple[list[int], list[int]]:
        """Return the env and policy seeds of iteration ``i``'s rollouts: each task ``group`` times."""
        cfg = self.config
        tasks = [cfg.seed + 1000 * i + t for t in range(cfg.tasks)]
        env_seeds = [s for s in tasks for _ in range(cfg.group)]
        policy_seeds = [10_000_000 + 100_000 * i + 100 * t + g for t in range(cfg.tasks) for g in range(cfg.group)]
        return env_seeds, policy_seeds

    def play(
        self,
        log: Any,
        memory: ProceduralMemory | None,
        env_seeds: list[int],
        policy_seeds: list[int],
        explore: float,
        progress: bool = True,
    ) -> list[Episode]:
        """Play sampled episodes on given seeds (the policy at the learning temperature)."""
        saved = getattr(self.policy, "temperature", None)
        if saved is not None:
            self.policy.temperature = self.config.temperature
        try:
            return self.rollouts.play(
                self.policy,
                memory,
                self.config.mode,
                len(env_seeds),
                0,
                log,
                keep_episodes=True,
                env_seeds=env_seeds,
                policy_seeds=policy_seeds,
                explore=explore,
                on_episode=self.on_episode if progress else None,
                log_info_exclude=("procmem",),
            ).episodes
        finally:
            if saved is not None:
                self.policy.temperature = saved

    def collect(self, i: int, log: Any) -> list[Episode]:
        """Play iteration ``i``'s rollouts with the current memory, exploring."""
        env_seeds, policy_seeds = self.rollout_plan(i)
        return self.play(log, self.memory, env_seeds, policy_seeds, self.config.explore)

    def improve(self, iteration: int, episodes: Sequence[Episode]) -> None:
        """Propose, gate, confirm; record the skills' gains; every decision is an event."""
        cfg = self.config
        self.gate_numbers = None
        advantage = group_advantages(episodes)
        self._record_gains(episodes, advantage)
        tasks = sorted({e.record.seed for e in episodes}, key=str)
        propose_tasks = set(tasks[0::2])
        all_decisions = decisions(episodes, advantage)
        propose = [d for d in all_decisions if d.task in propose_tasks]
        held_out = [d for d in all_decisions if d.task not in propose_tasks]
        candidates = self._propose(propose)
        if not candidates:
            # nothing to gate: say why, so that a short run still tells the user what happened
            self.memory.record("reject", None, {"stage": "propose", "reason": self._why_nothing(propose)})
        passed: list[tuple[float, Skill, Skill | None, GateDecision]] = []
        for (skill, parent), decision in zip(candidates, self._gate_all(candidates, held_out), strict=True):
            if not cfg.gate:  # the "gate off" ablation: every candidate is admitted as it comes
                self._admit(skill, parent, decision, None)
            elif decision.accepted:
                # screen: the proposal's own order (best separation first); strict PPO: the surrogate's gain
                key = -len(passed) if cfg.gate_rule == "screen" else decision.surrogate_new - decision.surrogate_old
                passed.append((key, skill, parent, decision))
            else:
                self._reject(skill, parent, "gate", decision)
        passed.sort(key=lambda p: -p[0])
        confirmed: set[tuple[str, ...]] = set()
        for rank, (_, skill, parent, decision) in enumerate(passed):
            situation = tuple(skill.activation.patterns)
            if not cfg.confirm:
                self._admit(skill, parent, decision, None)
            elif situation in confirmed:
                self._reject(
                    skill, parent, "confirmation", decision, "a better candidate for this situation was admitted"
                )
            elif rank >= cfg.max_parents:
                self._reject(skill, parent, "confirmation", decision, "not among the best candidates this iteration")
            else:
                confirmation, gains = self._confirm(iteration, rank, skill, parent)
                if confirmation.accepted:
                    self._admit(skill, parent, decision, confirmation, gains)
                    confirmed.add(situation)
                else:
                    self._reject(skill, parent, "confirmation", decision, confirmation=confirmation)

    def _reject(
        self,
        skill: Skill,
        parent: Skill | None,
        stage: str,
        decision: GateDecision,
        reason: str | None = None,
        confirmation: Confirmation | None = None,
    ) -> None:
        """Record a rejected candidate with the numbers that rejected it."""
        detail: dict[str, Any] = {"name": skill.name, "parent": parent.id if parent else None, "stage": stage}
        if reason is not None:
            detail["reason"] = reason
        detail["gate"] = decision.to_dict()
        if confirmation is not None:
            detail["confirmation"] = confirmation.to_dict()
        detail["candidate"] = skill.to_dict()
        self.memory.record("reject", skill.id, detail)

    # the gate and the confirmation
    def _relevant(self, skill: Skill, held_out: list[Decision]) -> list[int]:
        """Return the held-out decisions the candidate's activation covers (a seeded sample of ``max_samples``)."""
        relevant = [
            k
            for k, d in enumerate(held_out)
            if d.info is not None and any(search(p, d.observation) is not None for p in skill.activation.patterns)
        ]
        if len(relevant) > self.config.max_samples:
            rng = np.random.default_rng([self.config.seed, self.memory.iteration, len(relevant)])
            relevant = [relevant[k] for k in sorted(rng.choice(len(relevant), self.config.max_samples, replace=False))]
        return relevant

    def _gate_all(self, candidates: list[tuple[Skill, Skill | None]], held_out: list[Decision]) -> list[GateDecision]:
        """Return the gate's decision for each candidate, on the held-out decisions its activation covers.

        The exact constrained log-probabilities of every candidate come from one pass over the
        decisions any candidate covers: each prompt is encoded once, and the behaviour's and all
        candidates' constraints are renormalised over the same logits.
        """
        covers = [self._relevant(skill, held_out) for skill, _ in candidates]
        log_ratios: list[np.ndarray] = [np.zeros(len(c)) for c in covers]
        # data whose advantages are all 0 (every task's episodes scored alike) cannot judge: the
        # gate says so without the model's numbers, which are the expensive part
        informative = any(held_out[k].advantage != 0 for c in covers for k in c)
        numbers = self._policy_numbers()
        if numbers is not None and informative:
            self.gate_numbers = "validation rollouts"
            return [PPOGate.without_numbers(len(c), numbers) for c in covers]
        if informative:
            rows = sorted(set().union(*map(set, covers)))
            where = {k: r for r, k in enumerate(rows)}
            cover_sets = [set(c) for c in covers]
            constraints: list[list[Any]] = []
            for k in rows:
                d = held_out[k]
                row = [self._behaviour_constraint(d)]
                for (skill, _), cover in zip(candidates, cover_sets, strict=True):
                    bound = None
                    if skill.execution.constraint is not None and k in cover:
                        bound = skill.execution.constraint.bind(
                            d.observation, SkillTracker._capture(skill, d.observation)
                        )
                    row.append(bound)
                constraints.append(row)
            try:
                values = self.policy.action_logprobs(
                    [held_out[k].observation for k in rows],
                    [held_out[k].info for k in rows],
                    [held_out[k].action for k in rows],
                    constraints,
                )
            except LogprobsUnavailableError as err:  # a served model without them, or free-text actions
                self.gate_numbers = "validation rollouts"
                return [PPOGate.without_numbers(len(c), str(err)) for c in covers]
            self.gate_numbers = "exact log-probabilities"
            for c, ((skill, _), cover) in enumerate(zip(candidates, covers, strict=True)):
                idx = [where[k] for k in cover]
                log_ratio = values[idx, c + 1] - values[idx, 0]
                if skill.execution.guidance and not skill.execution.constraint and cover:
                    log_ratio = log_ratio + self._guidance_log_ratio(skill, [held_out[k] for k in cover])
                log_ratios[c] = log_ratio
        return [
            self.gate.decide(log_ratio, np.array([held_out[k].advantage for k in cover]))
            for log_ratio, cover in zip(log_ratios, covers, strict=True)
        ]

    def _policy_numbers(self) -> str | None:
        """Return why the policy gives the gate no log-probabilities, or None when it does."""
        if not hasattr(self.policy, "action_logprobs"):
            return f"the {getattr(self.policy, 'name', 'policy')} policy gives none"
        supports = getattr(self.policy, "supports_logprobs", None)
        if supports is not None and not supports():
            return "the server returns none for given text"
        return None

    def _guidance_log_ratio(self, skill: Skill, relevant: list[Decision]) -> np.ndarray:
        """Return how a text candidate's guidance moves each logged action: scored under both prompts."""
        prompt = self.policy.prompt
        old = [prompt(d.observation, {**(d.info or {}), "procmem": self._procmem_of(d)}, slot=-1) for d in relevant]
        new = [
            prompt(d.observation, {**(d.info or {}), "procmem": _guidance(skill, d.observation)}, slot=-1)
            for d in relevant
        ]
        actions = [d.action for d in relevant]
        return self.policy.logprob(new, actions) - self.policy.logprob(old, actions)

    def _behaviour_constraint(self, d: Decision) -> Any:
        """Return the constraint that applied when the decision was made (None: none)."""
        if d.skill is None or d.step.get("constraint") != "applied":
            return None
        skill = self.memory.find(d.skill)
        if skill is None or skill.execution.constraint is None:
            return None
        return skill.execution.constraint.bind(d.observation, SkillTracker._capture(skill, d.observation))

    def _procmem_of(self, d: Decision) -> dict[str, Any]:
        skill = self.memory.find(d.skill) if d.skill else None
        return _guidance(skill, d.observation) if skill is not None else {}

    def _confirm(
        self, iteration: int, rank: int, skill: Skill, parent: Skill | None
    ) -> tuple[Confirmation, list[float]]:
        """Play fresh tasks with and without the candidate on the same seeds; return the verdict and paired gains."""
        cfg = self.config
        n = cfg.confirm_episodes
        env_seeds = [cfg.seed + 500_000 + 1000 * iteration + 100 * rank + k for k in range(n)]
        policy_seeds = [20_000_000 + 100_000 * iteration + 1000 * rank + k for k in range(n)]
        folder = self.out / f"iter-{iteration:03d}" / "confirm"
        make_folder(folder)
        trial = ProceduralMemory.from_dict(self.memory.to_dict(), embedder=self.memory.embedder)
        trial.add(skill)
        results = {}
        for name, memory in (("without", self.memory), ("with", trial)):
            played = self.rollouts.play(
                self.policy,
                memory,
                cfg.mode,
                n,
                0,
                folder / f"{rank}-{name}.jsonl",
                update_memory=False,
                keep_episodes=False,
                env_seeds=env_seeds,
                policy_seeds=policy_seeds,
            )
            results[name] = {r.seed: r.return_ for r in played.records}
        seeds = [s for s in env_seeds if s in results["with"] and s in results["without"]]
        gains = [results["with"][s] - results["without"][s] for s in seeds]
        with_, without = [results["with"][s] for s in seeds], [results["without"][s] for s in seeds]
        return self.confirmation.decide(with_, without), gains

    def _admit(
        self,
        skill: Skill,
        parent: Skill | None,
        decision: GateDecision,
        confirmation: Confirmation | None,
        gains: Sequence[float] = (),
    ) -> None:
        detail = {
            "source": "contrast" if skill.execution.constraint else "semantic gradient",
            "name": skill.name,
            "parent": parent.id if parent else None,
            "gate": decision.to_dict(),
        }
        if confirmation is not None:
            detail["confirmation"] = confirmation.to_dict()
            skill = skill.with_(score=confirmation.lower_bound)
        self.memory.add(skill, detail)
        for gain in gains:  # the confirmation's paired gains, measured against the memory without it
            self.memory.record_gain(skill.id, gain)

    def _record_gains(self, episodes: Sequence[Episode], advantage: Sequence[float]) -> None:
        """Add each skill's gains over the no-skill baseline to its stats (the maintenance score reads them).

        Within a task group, an episode that used a skill gains its return minus the mean return
        of the group's episodes that did not use it (exploration leaves skills out). A group in
        which every episode, or none, used the skill says nothing about it and adds nothing.
        """
        groups: dict[object, list[Episode]] = {}
        for e in episodes:
            groups.setdefault(e.record.seed, []).append(e)
        for members in groups.values():
            for sid in {s for e in members for s in e.record.skills_used}:
                without = [e.return_ for e in members if sid not in e.record.skills_used]
                if not without or len(without) == len(members):
                    continue
                base = sum(without) / len(without)
                for e in members:
                    if sid in e.record.skills_used:
                        self.memory.record_gain(sid, e.return_ - base)


def _guidance(skill: Skill | None, observation: str) -> dict[str, Any]:
    if skill is None:
        return {}
    values = SkillTracker._capture(skill, observation)
    return {"guidance": fill(skill.execution.guidance, values), "skill_name": skill.name}


def describe_pool(memory: ProceduralMemory) -> list[str]:
    """Return one plain line per skill: its name, what it does, its gain bound."""
    lines = []
    for s in sorted(memory.skills, key=lambda s: -s.score):
        what = s.execution.constraint.describe() if s.execution.constraint else s.execution.guidance
        lines.append(f"{s.name}: {first_line(what)[:160]} (score {s.score:+.3f}, {s.stats.episodes} episodes)")
    return lines
