"""The learner base: iteration folders, reports, state and resume, without the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from procmem_gym.agents import RandomPolicy

from procmem_gym import ProceduralMemory, Skill
from procmem_gym.learning.loop import Learner, LearnError, resume_point
from procmem_gym.rollouts.transitions import EpisodeRecord, read_log


@dataclass(frozen=True)
class Config:
    iterations: int = 2
    episodes: int = 3
    num_envs: int = 1
    mode: str = "inject"
    seed: int = 0


class OneSkillPerIteration(Learner):
    """Adds one opening skill per iteration and remembers what it was handed."""

    seen: list

    def improve(self, iteration, episodes):
        self.seen = list(getattr(self, "seen", [])) + [episodes]
        guess = f"[{iteration + 1} {iteration + 2} {iteration + 3} {iteration + 4}]"
        self.memory.add(
            Skill.create(
                f"open {guess}",
                "start",
                f"open with {guess}",
                patterns=["^You are playing"],
                steps=[guess],
                max_steps=1,
            )
        )


def test_a_learner_runs_checkpoints_and_reports_without_the_cli(tmp_path):
    memory = ProceduralMemory(embedder="hashing")
    with OneSkillPerIteration("procmem_gym/Mastermind-v0", RandomPolicy(seed=0), memory, tmp_path, Config()) as learner:
        assert learner.start({"env": "procmem_gym/Mastermind-v0"}, resume=False) == 0
        reports = learner.run()
    assert [r.iteration for r in reports] == [0, 1] and reports[1].skills == 2 and reports[0].admitted == 1
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["iterations_done"] == 2 and state["config"]["episodes"] == 3
    report = json.loads((tmp_path / "iter-001" / "report.json").read_text())
    assert [e["kind"] for e in report["events"]] == ["add"]
    # the episodes handed to the learner are those the iteration's log holds
    logged = [r for r in read_log(tmp_path / "iter-001" / "transitions.jsonl") if isinstance(r, EpisodeRecord)]
    assert [e.record for e in learner.seen[1]] == logged
    assert all(e.transitions[0].skill is not None for e in learner.seen[1])  # iteration 0's skill acted
    assert ProceduralMemory.load(tmp_path / "memory.json").iteration == 1


def test_resume_point_refuses_what_does_not_fit(tmp_path):
    settings = {"env": "procmem_gym/Mastermind-v0", "seed": 0}
    assert resume_point(tmp_path, settings, resume=False) == 0
    with pytest.raises(LearnError, match="no state.json"):
        resume_point(tmp_path, settings, resume=True)
    (tmp_path / "state.json").write_text(json.dumps({"iterations_done": 1, "settings": settings}))
    with pytest.raises(LearnError, match="--resume"):
        resume_point(tmp_path, settings, resume=False)
    assert resume_point(tmp_path, settings, resume=True) == 1
    with pytest.raises(Exception, match="seed=0, not 1"):
        resume_point(tmp_path, {**settings, "seed": 1}, resume=True)
