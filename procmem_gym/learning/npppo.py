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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from procmem_gym.learning.abstraction import decisions_of, mine_rules, rule_skill
from procmem_gym.learning.experience import Sample, advantages, samples_for
from procmem_gym.learning.gate import GateDecision, PPOGate, RolloutGate
from procmem_gym.learning.loop import IterationReport, Learner
from procmem_gym.learning.semantic import gradient_prompt, parse_candidates
from procmem_gym.memory import ProceduralMemory
from procmem_gym.patterns import search
from procmem_gym.skill import Skill
from procmem_gym.tracking import SkillTracker, fill
from procmem_gym.transitions import Episode

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


def _guidance_info(skill: Skill | None, observation: str) -> dict[str, Any]:
    if skill is None:
        return {}
    values = SkillTracker._capture(skill, observation)
    return {"procmem": {"guidance": fill(skill.execution.guidance, values), "skill_name": skill.name}}


class NPPOLearner(Learner):
    """Learn procedural memory online with Non-Parametric PPO."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config
        self.gate = PPOGate(eps=cfg.eps, margin=cfg.margin, trust=cfg.trust)

    def improve(self, iteration: int, episodes: Sequence[Episode]) -> None:
        """Semantic gradients for the skills that were used, then new skills mined from the better episodes."""
        if self.config.semantic and hasattr(self.policy, "generate"):
            self._revise(advantages(episodes, self.config.baseline))
        self._extract(list(episodes))

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
            episodes = self.rollout(log, seeds[0], trial, cfg.mode, len(seeds), update_memory=False, progress=False)
            return [e.return_ for e in episodes]

        return gate.evaluate(
            run_with, [cfg.seed + 500_000 + 1000 * self.memory.iteration + k for k in range(cfg.rollout_episodes)]
        )

    def _revise(self, adv: dict) -> None:
        """Semantic gradient and gate for every skill that was used."""
        used = [(sid, pairs) for sid, pairs in adv.items() if self.memory.find(sid) is not None]
        if not used:
            return
        prompts = [gradient_prompt(self.memory.get(sid), pairs, self.config.k) for sid, pairs in used]
        answers = self.policy.generate(prompts, max_new_tokens=320)
        for (sid, pairs), answer in zip(used, answers, strict=False):
            skill = self.memory.get(sid)
            critique, candidates, errors = parse_candidates(answer, skill, self.config.k)
            for error in errors:
                self.memory.record("reject", sid, {"reason": error, "critique": critique[:300]})
            samples = samples_for(pairs)
            for candidate in candidates:
                decision = self._gate(samples, skill, candidate)
                if decision.accepted:
                    self.memory.update(sid, candidate, detail={"gate": decision.to_dict(), "critique": critique[:300]})
                    break
                self.memory.record("reject", sid, {"candidate": candidate.to_dict(), "gate": decision.to_dict()})

    def _extract(self, episodes: list[Episode]) -> None:
        """Mine new skills from the better-than-average episodes and gate each against acting without a skill."""
        if not episodes:
            return
        mean = float(np.mean([e.return_ for e in episodes]))
        good = [e for e in episodes if e.return_ > mean or e.record.success]
        rules = mine_rules(decisions_of(good), self.config.min_support)
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
            else:
                self.memory.record(
                    "reject", skill.id, {"name": skill.name, "source": "extraction", "gate": decision.to_dict()}
                )
