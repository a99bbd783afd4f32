"""Procedures with slots from expert ALFWorld trajectories, and MemP's retrieval by task (episode scope)."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest
from procmem_gym.agents import ExpertPolicy, RandomPolicy
from procmem_gym.agents.prompts import static_head
from procmem_gym.envs.families import family_of

from procmem_gym import ProceduralMemory, ProceduralMemoryWrapper
from procmem_gym.learning.experience import load_episodes
from procmem_gym.learning.memp import build_memory
from procmem_gym.learning.procedures import abstract_task, opening_words
from procmem_gym.rollouts.runner import run_episodes
from procmem_gym.skills.constraint import Constraint
from procmem_gym.wrappers.tracking import SkillTracker, in_view, task_key

pytest.importorskip("alfworld")

ENV = "procmem_gym/ALFWorld-v0"


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    from procmem_gym.envs.alfworld.generate import generate_games

    root = tmp_path_factory.mktemp("alfworld-generated")
    generate_games(root, {"train": 24, "valid_unseen": 6}, seed=11, workers=2)
    return root


@pytest.fixture(scope="module")
def memory(games, tmp_path_factory):
    log = tmp_path_factory.mktemp("expert") / "t.jsonl"
    env = ProceduralMemoryWrapper(gym.make(ENV, data_dir=str(games), split="train"), log_path=log)
    run_episodes(env, ExpertPolicy(), range(24))
    env.close()
    return build_memory(load_episodes(log), "proceduralization", ProceduralMemory(embedder="hashing"), env=ENV)


def test_the_goal_gives_the_slots_and_the_observation_the_situation():
    pattern, slots = abstract_task(
        "heat some egg and put it in fridge.", ["take egg 1 from countertop 1", "go to fridge 1"]
    )
    assert slots == {"obj": "egg", "place": "fridge"}
    assert re.fullmatch(pattern, "heat some apple and put it in diningtable").groupdict() == {
        "obj": "apple",
        "place": "diningtable",
    }
    assert abstract_task("guess four digits", ["[1 2 3 4]"]) is None
    assert opening_words("You open the drawer 2. The drawer 2 is open.") == "You open the"
    assert (
        in_view("You arrive at sinkbasin 1. On it you see a egg 2.", task_key("Clean some egg and put it in fridge."))
        == "2"
    )


def test_build_on_alfworld_keys_memories_by_task_and_writes_constraint_procedures(memory):
    trajectories = [s for s in memory if s.name.startswith("trajectory")]
    assert len(trajectories) == 24
    # keyed by the task (the goal text), not by the room the first observation describes
    assert all(not s.activation.text.startswith("-=") and len(s.activation.text) < 80 for s in trajectories)
    assert all(len(s.lineage.sources) == 1 and s.lineage.sources[0].startswith("train/") for s in trajectories)
    procedures = [s for s in memory if s.execution.constraint is not None]
    assert len(procedures) >= 12
    # no concrete instance ("drawer 1"): numbers are any number, the goal's things are its slots
    assert not any(re.search("[0-9]", s.execution.constraint.statements[0].ref) for s in procedures)
    assert sum("{obj}" in s.execution.constraint.statements[0].ref for s in procedures) >= 6
    assert memory.meta["retrieval"] == {"scope": "episode", "top_k": 10, "threshold": 0.75}


def test_episode_scope_retrieves_by_task_once_keeps_memories_and_never_a_games_own(memory, games):
    # the hashing embedder scores tasks lower than MemP's embedding model: a lower threshold here
    env = ProceduralMemoryWrapper(
        gym.make(ENV, data_dir=str(games), split="train"),
        memory=memory,
        mode="guide",
        update_memory=False,
        retrieval={"threshold": 0.4, "top_k": 3},
    )
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        own = family_of("procmem_gym/ALFWorld-v0").source_name(info["gamefile"])
        memories = info["procmem"]["memories"]
        assert 1 <= len(memories) <= 3
        assert all(m["similarity"] >= 0.4 for m in memories)
        ranked = memory.task_memories(info["goal"], k=50, threshold=-1.0)
        assert any(own in memory.get(i).lineage.sources for i, _ in ranked)  # the game's own memory exists ...
        assert all(own not in memory.get(m["id"]).lineage.sources for m in memories)  # ... and is never retrieved
        head = static_head({**info, "procmem": info["procmem"]})
        assert "Memories of similar tasks" in head
        for command in ["look", "inventory", "go to nowhere"]:
            obs, _, _, _, info = env.step(command)
            assert [m["id"] for m in info["procmem"]["memories"]] == [m["id"] for m in memories]
            active = info["procmem"]["active_skill"]
            assert active is None or own not in memory.get(active).lineage.sources
    env.close()


def test_constraints_hold_on_unseen_rooms_and_objects(memory, games):
    env = ProceduralMemoryWrapper(
        gym.make(ENV, data_dir=str(games), split="valid_unseen"), memory=memory, mode="guide", update_memory=False
    )
    applied = 0
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        policy = RandomPolicy(seed=seed)
        done = False
        while not done:
            pm = info["procmem"]
            action = policy.act(obs, info)
            if pm.get("constraint") is not None and policy.last_details[0].get("constraint") == "applied":
                assert pm["constraint"].allows(action)
                assert not all(pm["constraint"].allows(c) for c in info["admissible_commands"])
                applied += 1
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
    env.close()
    assert applied >= 30


def test_a_tracker_without_a_stated_task_reads_the_text_as_it_is():
    tracker = SkillTracker(ProceduralMemory(embedder="hashing"))
    tracker.begin("You are playing Mastermind.", 0)
    assert tracker.context("Submitted [1 2 3 4].") == "Submitted [1 2 3 4]."


def test_unrepeated_forbids_what_the_episode_already_did():
    c = Constraint.from_dict({"all": [{"matches": "go to [a-z]+ \\d+"}, {"unrepeated": True}]})
    bound = c.bind("", {}, taken=["go to drawer 1", "open drawer 1"])
    assert not bound.allows("go to drawer 1") and not bound.allows("Go to  drawer 1")
    assert bound.allows("go to drawer 2") and not bound.allows("open drawer 2")
    assert Constraint.from_dict(c.to_dict()) == c
    assert "not taken before" in c.describe()
    with pytest.raises(ValueError, match="unrepeated"):
        Constraint.from_dict({"all": [{"unrepeated": 1}]})


def test_run_cli_chooses_the_retrieval_scope(memory, games, tmp_path):
    from procmem_gym.cli.main import main
    from procmem_gym.rollouts.transitions import Transition, read_log

    path = tmp_path / "memory.json"
    memory.save(path)
    common = ["run", "--env", ENV, "--agent", "random", "--episodes", "2", "--memory", str(path)]
    common += ["--env-kwarg", f"data_dir={games}", "--env-kwarg", "split=train"]
    assert main([*common, "--out", str(tmp_path / "episode"), "--retrieval-threshold", "0.4"]) == 0
    assert main([*common, "--out", str(tmp_path / "step"), "--retrieval", "step"]) == 0

    def first_skills(run):
        lines = [x for x in read_log(tmp_path / run / "transitions.jsonl") if isinstance(x, Transition) and x.t == 0]
        return [memory.get(x.skill).name.split(" ")[0] if x.skill else None for x in lines]

    # episode scope: the first step is logged under a retrieved memory or a procedure; step scope: only procedures
    assert all(name is not None for name in first_skills("episode"))
    assert "trajectory" not in first_skills("step")
    with pytest.raises(SystemExit):
        main(["run", "--env", ENV, "--agent", "random", "--retrieval", "sideways", "--memory", str(path)])
