"""ProceduralMemory: operations, retrievers, activation, maintenance, the file format and atomic saves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from procmem_gym import MemoryFormatError, ProceduralMemory, Skill
from procmem_gym.skills.scoring import ScoreConfig


def make_skill(name: str, activation: str = "", guidance: str = "", **kw) -> Skill:
    return Skill.create(name, activation or f"when {name}", guidance or f"do {name}", **kw)


def sample_memory(**kwargs) -> ProceduralMemory:
    m = ProceduralMemory(embedder="hashing", **kwargs)
    m.add(make_skill("heat food", "the task asks to heat an object", "take it to the microwave and heat it"))
    m.add(make_skill("cool food", "the task asks to cool an object", "take it to the fridge and cool it"))
    m.add(
        make_skill(
            "open with spread",
            "no guess has been made in mastermind",
            "guess four different digits",
            patterns=["^You are playing Mastermind"],
            steps=["[1 2 3 4]"],
            max_steps=1,
        )
    )
    return m


def test_add_get_update_remove_and_events():
    m = sample_memory()
    heat = m.skills[0]
    assert m.get(heat.id) == heat and heat.id in m and len(m) == 3
    with pytest.raises(ValueError, match="already"):
        m.add(heat)
    with pytest.raises(KeyError, match="no skill"):
        m.get("sk-missing")
    m.iteration = 2
    v2 = m.update(heat.id, execution=heat.execution.__class__("use the stove", ()))
    assert v2.id == heat.id and v2.lineage.version == 2 and v2.execution.guidance == "use the stove"
    m.remove(heat.id)
    assert heat.id not in m
    kinds = [(e["kind"], e["iteration"]) for e in m.events]
    assert kinds == [("add", 0), ("add", 0), ("add", 0), ("update", 2), ("prune", 2)]


@pytest.mark.parametrize("retriever", ["keyword", "embedding"])
def test_retrievers_find_the_relevant_skill(retriever):
    m = sample_memory(retriever=retriever)
    top = m.retrieve("heat the apple in the microwave", k=2)
    assert top[0][0].name == "heat food" and len(top) <= 2
    assert m.retrieve("cool a tomato in the fridge", k=1)[0][0].name == "cool food"


def test_random_retriever_is_seeded():
    a = [s.id for s, _ in sample_memory(retriever="random", seed=3).retrieve("x", k=2)]
    b = [s.id for s, _ in sample_memory(retriever="random", seed=3).retrieve("x", k=2)]
    assert a == b and len(a) == 2


def test_retrieval_sees_changes():
    m = sample_memory()
    m.retrieve("heat", k=1)
    new = m.add(make_skill("clean food", "the task asks to clean an object", "rinse it in the sinkbasin"))
    assert m.retrieve("clean the apple in the sinkbasin", k=1)[0][0].id == new.id
    m.remove(new.id)
    assert all(s.id != new.id for s, _ in m.retrieve("clean the apple in the sinkbasin", k=3))


def test_activation_patterns_first_then_embedding():
    m = sample_memory()
    opener = m.skills[2]
    assert m.activation_candidates("You are playing Mastermind.\nFind the code")[0][0] == opener.id
    hits = m.activation_candidates("the task asks to heat an object: a potato")
    assert hits and m.get(hits[0][0]).name == "heat food" and hits[0][1] >= m.activation_threshold
    assert m.activation_candidates("zzz qqq") == []


def test_record_episode_updates_stats_and_score():
    m = sample_memory()
    sid = m.skills[0].id
    m.record_episode({sid: (2, 1, 5)}, success=True, episode_return=1.0)
    s = m.get(sid)
    assert (s.stats.activations, s.stats.completions, s.stats.episodes, s.stats.successes) == (2, 1, 1, 1)
    assert s.stats.return_sum == 1.0 and s.score > 0 and m.clock == 1


def test_maintain_prunes_low_scores_merges_duplicates_and_enforces_capacity():
    m = sample_memory(capacity=3, score_config=ScoreConfig(prune_below=0.3, min_episodes=3))
    bad = m.skills[1]
    for _ in range(4):
        m.record_episode({bad.id: (1, 0, 1)}, success=False, episode_return=0.0)
    twin = m.add(
        Skill.create("heat food", "the task asks to heat an object", "take it to the microwave and heat it up")
    )
    extra = [m.add(make_skill(f"skill {n}", f"situation number {n} about lamps", f"do thing {n}")) for n in range(3)]
    report = m.maintain()
    assert bad.id in report.pruned
    assert any(twin.id in pair for pair in report.merged)
    assert len(m) == 3 and report.skills == 3 and report.over_capacity
    kinds = [e["kind"] for e in m.events]
    assert {"prune", "merge"} <= set(kinds)
    assert m.history[-1]["skills"] == 3
    assert all(e.id not in m or e.id in [s.id for s in m.skills] for e in extra)


def test_stats_counts_tokens():
    m = sample_memory()
    st = m.stats()
    assert st["skills"] == 3 and st["tokens"] == m.tokens() > 20 and st["events"]["add"] == 3


def test_save_load_round_trip(tmp_path):
    m = sample_memory()
    m.record_episode({m.skills[0].id: (1, 1, 2)}, True, 1.0)
    m.maintain()
    path = tmp_path / "memory.json"
    m.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "procmem-gym/memory" and doc["version"] == 1
    assert {"created", "env_id", "agent", "embedder"} <= set(doc["meta"])
    loaded = ProceduralMemory.load(path)
    assert loaded.skills == m.skills and loaded.events == m.events and loaded.clock == m.clock
    assert loaded.history == m.history
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"format": "procmem-gym/memory", "version": 1, "skills": [', "not a JSON memory file"),
        (b"\x00\xff garbage", "not a JSON memory file"),
        (b"[1, 2]", "JSON object"),
        (b'{"format": "other/thing", "version": 1, "skills": []}', "format"),
        (b'{"format": "procmem-gym/memory", "version": 2, "skills": []}', "version 2"),
        (b'{"format": "procmem-gym/memory", "version": 1, "skills": [{"name": "x", "execution": {}}]}', "activation"),
        (
            b'{"format": "procmem-gym/memory", "version": 1, "skills": [{"name": "x", "activation": {"patterns": ["(a)\\\\1"]}}]}',
            "RE2",
        ),
        (b'{"format": "procmem-gym/memory", "version": 1, "skills": {}}', "lists"),
    ],
)
def test_bad_files_raise_and_stay_byte_identical(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    before = os.stat(path).st_mtime_ns
    with pytest.raises(MemoryFormatError, match=message) as err:
        ProceduralMemory.load(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == content and os.stat(path).st_mtime_ns == before


def test_truncated_real_file_raises(tmp_path):
    path = tmp_path / "m.json"
    sample_memory().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MemoryFormatError):
        ProceduralMemory.load(path)
    assert path.read_bytes() == data[: len(data) // 2]


WRITER = r"""
import sys
from procmem_gym import ProceduralMemory, Skill
path = sys.argv[1]
memories = []
for variant in range(2):
    m = ProceduralMemory(embedder="hashing")
    for n in range(300):
        m.add(Skill.create(f"skill {variant} {n}", f"activation {variant} {n} " * 5, f"guidance {n} " * 40))
    memories.append(m)
print("ready", flush=True)
k = 0
while True:
    memories[k % 2].save(path)
    k += 1
"""


@pytest.mark.slow
def test_sigkill_during_save_leaves_old_or_new_file(tmp_path):
    path = tmp_path / "memory.json"
    names = set()
    for trial in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + 0.037 * trial)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if path.exists():
            m = ProceduralMemory.load(path, embedder="hashing")  # never a partial file
            assert len(m) == 300
            names.add(m.skills[0].name)
    assert names <= {"skill 0 0", "skill 1 0"} and names


def test_two_stage_search_of_large_memories_matches_the_exact_scan():
    from procmem_gym.memory.embedding import HashingEmbedder
    from procmem_gym.memory.retrieval import VectorIndex, top_k

    texts = [
        f"skill {n}: {' '.join(['heat', 'cool', 'clean', 'lamp', 'fridge', 'guess'][k % 6] for k in range(n % 7, n % 7 + 4))} item{n}"
        for n in range(3000)
    ]
    index = VectorIndex(HashingEmbedder(), exact_limit=500)
    index.fit([(str(n), t) for n, t in enumerate(texts)])
    assert index._sketch is not None
    recall = []
    for n in range(0, 3000, 60):
        v = index.vector(texts[n])
        rows, sims = index.search(v, 5)
        assert rows[0] == n and abs(sims[0] - 1.0) < 1e-5  # a skill's own text finds it first, exactly scored
        recall.append(len(set(rows.tolist()) & set(top_k(index.scores(v), 5).tolist())) / 5)
    assert sum(recall) / len(recall) >= 0.9


def test_similar_rules_that_act_differently_are_not_merged():
    m = ProceduralMemory(embedder="hashing", merge_threshold=0.5)
    a = m.add(
        Skill.create(
            "after [1 2 4 6] scored 0 black play [3 5 1 2]",
            "the observation starts with: [1 2 4 6]",
            "play [3 5 1 2]",
            patterns=[r"^Submitted \[1 2 4 6\]"],
            steps=["[3 5 1 2]"],
            max_steps=1,
        )
    )
    b = m.add(
        Skill.create(
            "after [1 2 6 4] scored 0 black play [3 5 2 1]",
            "the observation starts with: [1 2 6 4]",
            "play [3 5 2 1]",
            patterns=[r"^Submitted \[1 2 6 4\]"],
            steps=["[3 5 2 1]"],
            max_steps=1,
        )
    )
    assert m.maintain().merged == () and {a.id, b.id} <= {s.id for s in m.skills}
