"""Shared test settings: offline, and the ids procmem-gym registers."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import socket  # noqa: E402

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402

import procmem_gym  # noqa: E402,F401  (registers the ids)

_connect = socket.socket.connect


def _loopback_only(sock, address):
    """Fail any test that opens a connection off this machine (a model download, say)."""
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (
        host.startswith("127.") or host in ("localhost", "::1") or sock.family == socket.AF_UNIX
    ):
        raise RuntimeError(f"tests must not reach the network: connection to {address!r} attempted")
    return _connect(sock, address)


socket.socket.connect = _loopback_only

MASTERMIND_IDS = sorted(k for k in gym.registry if k.startswith("procmem_gym/Mastermind"))


CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "You are playing Mastermind. Submitted [1 2 3 4]. Feedback: 2 black peg(s), 1 white peg(s).",
    "go to countertop 1. take apple 1 from countertop 1. open fridge 1. put apple 1 in/on fridge 1.",
    "Observation: you see a cabinet, a drawer and a microwave. Answer with the action only.",
] * 20


def build_tiny_model(path, seed: int = 0):
    """Save a random 2-layer Llama and a trained byte-level BPE tokenizer with a chat template to ``path``."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|im_start|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    config = transformers.LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Folder of a tiny random model (same weights in every run)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(params=MASTERMIND_IDS)
def mastermind_id(request) -> str:
    """Every registered Mastermind id."""
    return request.param
