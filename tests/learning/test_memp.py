"""MemP: build strategies, update with deprecation, ETO trajectories, avg-fact retrieval."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from procmem_gym.agents import MastermindSolver

from procmem_gym import ProceduralMemory, ProceduralMemoryWrapper
from procmem_gym.learning.experience import load_episodes
from procmem_gym.learning.memp import apply_update, build_memory, load_eto, retrieve_avg_fact, trajectory_skill
from procmem_gym.rollouts.runner import run_episodes


@pytest.fixture(scope="module")
def solver_episodes(tmp_path_factory):
    log = tmp_path_factory.mktemp("solver") / "t.jsonl"
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), log_path=log)
    run_episodes(env, MastermindSolver(), range(30))
    env.close()
    return load_episodes(log)


def test_build_strategies(solver_episodes):
    trajectory = build_memory(solver_episodes, "trajectory", ProceduralMemory(embedder="hashing"))
    assert len(trajectory) == 30 and all(s.lineage.method == "memp:trajectory" for s in trajectory)
    assert all(not s.activation.patterns and s.execution.guidance.startswith("A past attempt") for s in trajectory)
    script = build_memory(solver_episodes, "script", ProceduralMemory(embedder="hashing"))
    opening = [s for s in script if s.execution.steps == ("[1 2 3 4]",)]
    assert opening and opening[0].stats.episodes == 0 and all(s.activation.patterns for s in script)
    both = build_memory(solver_episodes, "proceduralization", ProceduralMemory(embedder="hashing"))
    assert len(both) == len(trajectory) + len(script)
    assert {s.lineage.method for s in both} == {"memp:proceduralization"}
    assert [e["kind"] for e in both.events] == ["add"] * len(both)
    with pytest.raises(ValueError, match="strategy"):
        build_memory(solver_episodes, "magic")


def test_update_modes_and_deprecation(solver_episodes):
    memory = ProceduralMemory(embedder="hashing")
    skill = memory.add(trajectory_skill(solver_episodes[0]))
    for _ in range(3):  # three uses, one success: success/hit < 0.5 -> deprecated on the next update
        memory.record_episode({skill.id: (1, 0, 1)}, success=False, episode_return=0.0)
    failed = solver_episodes[1].__class__(
        solver_episodes[1].record.__class__(99, 0.2, 3, False, (skill.id,)), solver_episodes[1].transitions
    )
    apply_update(memory, failed, "validation")
    assert skill.id not in memory and memory.events[-1]["detail"]["reason"] == "deprecated"
    assert len(memory) == 0  # validation adds only successful episodes
    apply_update(memory, failed, "vanilla")
    assert len(memory) == 1
    apply_update(memory, solver_episodes[2], "validation")
    assert len(memory) == 2
    with pytest.raises(ValueError, match="update"):
        apply_update(memory, failed, "yolo")


def test_eto_trajectories_convert(tmp_path):
    data = [
        {
            "id": "pick_apple",
            "reward": 1.0,
            "conversations": [
                {"from": "human", "value": "Interact with a household. Your task is to: put an apple in the fridge."},
                {"from": "gpt", "value": "Thought: the apple may be on the counter.\nAction: go to countertop 1"},
                {"from": "human", "value": "Observation: On the countertop 1, you see a apple 1."},
                {"from": "gpt", "value": "Thought: take it.\nAction: take apple 1 from countertop 1"},
                {"from": "human", "value": "Observation: You pick up the apple 1."},
            ],
        }
    ]
    path = tmp_path / "eto.json"
    path.write_text(json.dumps(data))
    [episode] = load_eto(path)
    assert episode.record.success and [t.action for t in episode.transitions] == [
        "go to countertop 1",
        "take apple 1 from countertop 1",
    ]
    assert episode.transitions[1].observation.startswith("Observation: On the countertop 1")
    assert episode.transitions[0].info["thought"] == "the apple may be on the counter."
    memory = build_memory([episode], "trajectory", ProceduralMemory(embedder="hashing"))
    assert "put an apple in the fridge" in memory.skills[0].activation.text
    (tmp_path / "bad.json").write_text('[{"conversations": 3}]')
    with pytest.raises(ValueError, match="conversations"):
        load_eto(tmp_path / "bad.json")


def test_avg_fact_retrieval():
    from procmem_gym import Skill

    memory = ProceduralMemory(embedder="hashing")
    a = memory.add(Skill.create("heat", "task: heat an apple\nroom: kitchen", "use the microwave"))
    memory.add(Skill.create("lamp", "task: examine a book under the lamp\nroom: bedroom", "turn on the lamp"))
    hits = retrieve_avg_fact(memory, "task: heat a potato\nroom: kitchen", k=2, threshold=0.0)
    assert hits[0][0].id == a.id
    assert retrieve_avg_fact(memory, "no facts here") == []


def test_deprecation_is_relative_to_the_no_memory_baseline(solver_episodes):
    from dataclasses import replace

    memory = ProceduralMemory()
    build_memory(solver_episodes[:1], "trajectory", memory)
    skill = memory.skills[0]
    failed = replace(
        solver_episodes[0], record=replace(solver_episodes[0].record, success=False, skills_used=(skill.id,))
    )
    again = replace(failed, record=replace(failed.record, episode=1))  # another failure, no baseline
    # 1 success in 3 uses (33 %): below MemP's 50 %, above a 10 % no-memory baseline
    memory.record_episode({skill.id: (1, 1, 1)}, True, 1.0)
    memory.record_episode({skill.id: (1, 1, 1)}, False, 0.0)
    memory.record_episode({skill.id: (1, 1, 1)}, False, 0.0)
    kept = ProceduralMemory.from_dict(memory.to_dict())
    apply_update(kept, failed, "validation", baseline=0.1)
    assert skill.id in kept
    apply_update(memory, again, "validation")  # no baseline: MemP's absolute 50 % deprecates it
    assert skill.id not in memory and memory.events[-1]["detail"]["baseline"] == 0.5
