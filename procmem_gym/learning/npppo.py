"""Non-Parametric PPO (ProcMEM): evolve the skill pool from rollouts, semantic gradients and the PPO gate.

One iteration:

1. Roll out ``episodes`` episodes with the current memory (``mode``: inject or guide), logged.
2. Advantages per skill use: episode return minus a baseline (:func:`advantages`).
3. For every skill that was used: the semantic gradient (the model's critique and ``k``
   revisions, :mod:`semantic`), each revision through the PPO gate; the first admitted one
   becomes the skill's next version.
4. New skills: decisions of the better-than-average episodes that no skill steered are mined
   into situation -> action rules (:mod:`abstraction`); each rule goes through the gate
   against acting without a skill, on the logged decisions its activation covers.
5. Maintenance (score, prune, merge, capacity); the memory is saved atomically and the
   iteration is checkpointed, so ``resume`` continues from the last finished iteration.

Every admitted, rejected (with the gate's numbers or the parse error), pruned or merged
candidate is an event of the memory file.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from procmem_gym.atomic import write_json_atomic
from procmem_gym.learning.abstraction import decisions_of, mine_rules, rule_skill
from procmem_gym.learning.experience import Sample, advantages, load_episodes, samples_for
from procmem_gym.learning.gate import GateDecision, PPOGate, RolloutGate
from procmem_gym.learning.semantic import gradient_prompt, parse_candidates
from procmem_gym.memory import ProceduralMemory
from procmem_gym.patterns import search
from procmem_gym.runner import play_logged
from procmem_gym.skill import Skill
from procmem_gym.tracking import SkillTracker, fill

__all__ = ["NPPOConfig", "IterationReport", "NPPOLearner"]


@dataclass(frozen=True)
class NPPOConfig:
    """Settings of a learning run (saved with its checkpoint)."""

    iterations: int = 3
    episodes: int = 8
    num_envs: int = 1
    mode: str = "inject"
    k: int = 2
    eps: float = 0.2
    margin: float = 0.01
    trust: float = 4.0  # see PPOGate
    baseline: str = "mean"
    semantic: bool = True
    max_new_skills: int = 8
    max_samples: int = 32
    min_support: int = 2
    rollout_episodes: int = 8  # paired validation episodes per candidate when the policy has no log-probabilities
    seed: int = 0


@dataclass(frozen=True)
class IterationReport:
    """What one iteration did."""

    iteration: int
    episodes: int
    mean_return: float
    success_rate: float
    reuse_rate: float
    admitted: int
    rejected: int
    pruned: int
    merged: int
    skills: int

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a dict."""
        return asdict(self)


def _guidance_info(skill: Skill | None, observation: str) -> dict[str, Any]:
    if skill is None:
        return {}
    values = SkillTracker._capture(skill, observation)
    return {"procmem": {"guidance": fill(skill.execution.guidance, values), "skill_name": skill.name}}


class NPPOLearner:
    """Learn procedural memory online with Non-Parametric PPO."""

    def __init__(
        self,
        env_id: str,
        policy: Any,
        memory: ProceduralMemory,
        out_dir: str | Path,
        config: NPPOConfig = NPPOConfig(),
        env_kwargs: dict[str, Any] | None = None,
        on_iteration: Callable[[IterationReport], None] | None = None,
        on_episode: Callable[[Any], None] | None = None,
    ) -> None:
        self.env_id, self.policy, self.memory, self.config = env_id, policy, memory, config
        self.out = Path(out_dir)
        self.env_kwargs = env_kwargs or {}
        self.on_iteration = on_iteration
        self.on_episode = on_episode  # called after every rollout episode (progress bars)
        self.gate = PPOGate(eps=config.eps, margin=config.margin, trust=config.trust)
        self.memory_path = self.out / "memory.json"
        self.state_path = self.out / "state.json"

    # ------------------------------------------------------------------ checkpoints
    def finished_iterations(self) -> int:
        """Return how many iterations a previous run in ``out`` finished (0 when none)."""
        if not self.state_path.exists():
            return 0
        return int(json.loads(self.state_path.read_text()).get("iterations_done", 0))

    def run(self, start: int = 0) -> list[IterationReport]:
        """Run iterations ``start .. config.iterations - 1``; return their reports."""
        reports = []
        for i in range(start, self.config.iterations):
            report = self.iteration(i)
            reports.append(report)
            if self.on_iteration is not None:
                self.on_iteration(report)
        return reports

    # ------------------------------------------------------------------ one iteration
    def rollouts(self, log: Path, seed: int, memory: ProceduralMemory | None, mode: str, episodes: int) -> list:
        """Play ``episodes`` logged episodes and return them as :class:`Episode` objects."""
        play_logged(self.env_id, self.policy, memory, mode, episodes, seed, log, self.config.num_envs,
                    env_kwargs=self.env_kwargs, on_episode=self.on_episode)
        return load_episodes(log)

    def iteration(self, i: int) -> IterationReport:
        """Run iteration ``i`` and checkpoint it."""
        cfg = self.config
        folder = self.out / f"iter-{i:03d}"
        if folder.exists():
            shutil.rmtree(folder)  # an unfinished earlier attempt at this iteration
        folder.mkdir(parents=True)
        self.memory.iteration = i
        episodes = self.rollouts(folder / "transitions.jsonl", cfg.seed + 1000 * i, self.memory, cfg.mode, cfg.episodes)
        events_before = len(self.memory.events)
        adv = advantages(episodes, cfg.baseline)
        admitted = rejected = 0
        if cfg.semantic and hasattr(self.policy, "generate"):
            a, r = self._revise(adv)
            admitted, rejected = admitted + a, rejected + r
        a, r = self._extract(episodes)
        admitted, rejected = admitted + a, rejected + r
        maintenance = self.memory.maintain()
        self.memory.save(self.memory_path)
        returns = [e.return_ for e in episodes]
        report = IterationReport(
            iteration=i,
            episodes=len(episodes),
            mean_return=float(np.mean(returns)) if returns else 0.0,
            success_rate=float(np.mean([e.record.success for e in episodes])) if episodes else 0.0,
            reuse_rate=float(np.mean([bool(e.record.skills_used) for e in episodes])) if episodes else 0.0,
            admitted=admitted,
            rejected=rejected,
            pruned=len(maintenance.pruned) + len(maintenance.over_capacity),
            merged=len(maintenance.merged),
            skills=len(self.memory),
        )
        write_json_atomic(folder / "report.json", {**report.to_dict(), "events": [e.to_dict() for e in self.memory.events[events_before:]]})
        state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        write_json_atomic(self.state_path, {**state, "iterations_done": i + 1, "config": asdict(cfg), "env": self.env_id})
        return report

    # ------------------------------------------------------------------ candidates
    def _logprob(self) -> Callable | None:
        fn = getattr(self.policy, "logprob", None)
        prompt = getattr(self.policy, "prompt", None)
        return fn if callable(fn) and callable(prompt) else None

    def _gate(self, samples: list[Sample], old: Skill | None, new: Skill) -> GateDecision:
        logprob = self._logprob()
        if logprob is None:
            return self._rollout_gate(old, new)
        rng = np.random.default_rng([self.config.seed, len(self.memory.events)])
        if len(samples) > self.config.max_samples:
            samples = [samples[k] for k in sorted(rng.choice(len(samples), self.config.max_samples, replace=False))]
        prompt = self.policy.prompt
        try:
            return self.gate.evaluate(
                samples,
                logprob,
                lambda obs: prompt(obs, _guidance_info(old, obs), slot=-1),
                lambda obs: prompt(obs, _guidance_info(new, obs), slot=-1),
            )
        except NotImplementedError:  # e.g. an OpenAI-compatible server
            return self._rollout_gate(old, new)

    def _rollout_gate(self, old: Skill | None, new: Skill) -> GateDecision:
        """Paired validation rollouts (same seeds) with the current memory and with the candidate in it."""
        cfg = self.config
        gate = RolloutGate(episodes=cfg.rollout_episodes, margin=cfg.margin)
        folder = self.out / f"iter-{self.memory.iteration:03d}" / "gate"
        count = len(self.memory.events)

        def run_with(use_candidate: bool, seeds: list[int]) -> list[float]:
            trial = ProceduralMemory.from_dict(self.memory.to_dict(), embedder=self.memory.embedder)
            if use_candidate:
                if old is not None and old.id in trial:
                    trial.update(old.id, new)
                elif new.id not in trial:
                    trial.add(new)
            log = folder / f"{count}-{'new' if use_candidate else 'old'}.jsonl"
            folder.mkdir(parents=True, exist_ok=True)
            records = play_logged(self.env_id, self.policy, trial, cfg.mode, len(seeds), seeds[0], log, cfg.num_envs,
                                  update_memory=False, env_kwargs=self.env_kwargs)
            return [r.return_ for r in records]

        return gate.evaluate(run_with, [cfg.seed + 500_000 + 1000 * self.memory.iteration + k for k in range(cfg.rollout_episodes)])

    def _revise(self, adv: dict) -> tuple[int, int]:
        """Semantic gradient and gate for every skill that was used."""
        admitted = rejected = 0
        used = [(sid, pairs) for sid, pairs in adv.items() if self.memory.find(sid) is not None]
        if not used:
            return 0, 0
        prompts = [gradient_prompt(self.memory.get(sid), pairs, self.config.k) for sid, pairs in used]
        answers = self.policy.generate(prompts, max_new_tokens=320)
        for (sid, pairs), answer in zip(used, answers):
            skill = self.memory.get(sid)
            critique, candidates, errors = parse_candidates(answer, skill, self.config.k)
            for error in errors:
                self.memory.record("reject", sid, {"reason": error, "critique": critique[:300]})
                rejected += 1
            samples = samples_for(pairs)
            for candidate in candidates:
                decision = self._gate(samples, skill, candidate)
                if decision.accepted:
                    self.memory.update(sid, candidate, detail={"gate": decision.to_dict(), "critique": critique[:300]})
                    admitted += 1
                    break
                self.memory.record("reject", sid, {"candidate": candidate.to_dict(), "gate": decision.to_dict()})
                rejected += 1
        return admitted, rejected

    def _extract(self, episodes: list) -> tuple[int, int]:
        """Mine new skills from the better-than-average episodes and gate each against acting without a skill."""
        if not episodes:
            return 0, 0
        mean = float(np.mean([e.return_ for e in episodes]))
        good = [e for e in episodes if e.return_ > mean or e.record.success]
        rules = mine_rules(decisions_of(good), self.config.min_support)
        admitted = rejected = 0
        for rule in rules[: self.config.max_new_skills]:
            skill = rule_skill(rule, "npppo", env=self.env_id, agent=getattr(self.policy, "name", None))
            if skill.id in self.memory:
                continue
            # the logged decisions in the situations the new skill covers, good and bad episodes alike
            samples = [
                Sample(tr.observation, tr.action, e.return_ - mean)
                for e in episodes
                for tr in e.transitions
                if tr.skill is None and search(rule.pattern, tr.observation) is not None
            ]
            decision = self._gate(samples, None, skill)
            if decision.accepted:
                self.memory.add(skill, {"source": "extraction", "support": rule.support, "gate": decision.to_dict()})
                admitted += 1
            else:
                self.memory.record("reject", skill.id, {"name": skill.name, "source": "extraction", "gate": decision.to_dict()})
                rejected += 1
        return admitted, rejected
