"""Prompt caching equals the plain path: same greedy actions, same log-probabilities, with far fewer tokens run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from procmem_gym.agents import RandomPolicy  # noqa: E402
from procmem_gym.agents.hf_policy import HFPolicy  # noqa: E402
from procmem_gym.agents.kvcache import PrefixStore  # noqa: E402
from procmem_gym.agents.prompts import template_for  # noqa: E402


@pytest.fixture()
def pair(tiny_model_dir):
    """The same tiny model, cached and plain."""
    return (
        HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/Mastermind-v0", batch_size=4, cache=True),
        HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/Mastermind-v0", batch_size=4, cache=False),
    )


def mastermind_states(env_id, n, seed=0):
    env = gym.make(env_id)
    rng = RandomPolicy(seed=seed)
    states = []
    for game in range(n):
        obs, info = env.reset(seed=game)
        for _ in range(game % 5):
            obs, *_, info = env.step(rng.act(obs, info))
        states.append((obs, info))
    return states


@pytest.mark.parametrize("env_id", ["procmem_gym/Mastermind-v0", "procmem_gym/Mastermind-extreme-v0"])
def test_constrained_guesses_are_identical(pair, env_id):
    cached, plain = pair
    cached.template = plain.template = template_for(env_id)
    states = mastermind_states(env_id, 12)
    obs, infos = [o for o, _ in states], [i for _, i in states]
    assert cached.act_batch(obs, infos) == plain.act_batch(obs, infos)
    assert cached.generated_tokens == plain.generated_tokens and cached.model_calls == plain.model_calls


def test_free_generation_is_identical_and_reuses_prefixes(pair):
    cached, plain = pair
    prompts = [cached.prompt(f"observation number {n} " + "x " * (n * 5), {}) for n in range(6)]
    assert cached.generate(prompts, max_new_tokens=10) == plain.generate(prompts, max_new_tokens=10)
    reused = cached._engine.reused_tokens
    assert cached.generate(prompts, max_new_tokens=10) == plain.generate(prompts, max_new_tokens=10)
    assert cached._engine.reused_tokens > reused  # the second time, each prompt is served from the store


def test_log_probabilities_equal_the_plain_path(pair):
    cached, plain = pair
    states = mastermind_states("procmem_gym/Mastermind-v0", 6)
    prompts = [cached.prompt(o, i) for o, i in states for _ in range(3)]
    conts = ["[1 2 3 4]", "[5 6 1 2]", "take apple 1 from countertop 1"] * 6
    fast, slow = cached.logprob_tokens(prompts, conts), plain.logprob_tokens(prompts, conts)
    assert all(a.shape == b.shape for a, b in zip(fast, slow, strict=True))
    assert max(float(np.abs(a - b).max()) for a, b in zip(fast, slow, strict=True)) < 1e-4


def test_admissible_command_choice_runs_each_prompt_once(tiny_model_dir):
    cached = HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/ALFWorld-v0", cache=True)
    plain = HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/ALFWorld-v0", cache=False)
    commands = [f"go to {r} {k}" for r in ("cabinet", "drawer", "shelf", "countertop") for k in range(1, 6)]
    infos = [
        {"goal": "put a clean apple in fridge", "admissible_commands": commands[i:] + commands[:i]} for i in range(5)
    ]
    obs = [f"You arrive at cabinet {i}. On the cabinet {i}, you see nothing." for i in range(5)]
    prompt_tokens = sum(len(cached._tokens(cached.prompt(o, i))) for o, i in zip(obs, infos, strict=True))
    assert cached.act_batch(obs, infos) == plain.act_batch(obs, infos)
    # every prompt once and each command's tokens once: far below the plain path's prompt x commands
    assert cached._engine.encoded_tokens < 2 * prompt_tokens


def test_forced_tokens_need_no_decoding_pass(pair, monkeypatch):
    cached, _ = pair
    passes = []
    run = cached._engine.run
    monkeypatch.setattr(cached._engine, "run", lambda *a, **k: passes.append(1) or run(*a, **k))
    obs, info = mastermind_states("procmem_gym/Mastermind-v0", 1)[0]
    guess = cached.act(obs, info)
    assert guess.startswith("[") and guess.endswith("]")
    # '[', the spaces, ']' and the end are forced on v0: 1 prefill + 3 passes for digits 2-4 at most
    assert len(passes) <= 4


def test_prefix_store_keeps_the_longest_match_and_its_capacity():
    store = PrefixStore(capacity=12, minimum=2)
    store.add((1, 2, 3, 4, 5), None)
    store.add((1, 2, 9, 9), None)
    entry, shared = store.match((1, 2, 3, 4, 7, 7))
    assert shared == 4 and list(entry.tokens) == [1, 2, 3, 4, 5]
    assert store.match((1, 2, 3, 4, 5))[1] == 4  # one token is always left to encode
    store.add((7, 7, 7, 7, 7), None)  # 14 tokens > 12: the least recently used goes
    assert (1, 2, 9, 9) not in store and (1, 2, 3, 4, 5) in store
    assert store.match((5, 5, 5))[0] is None


def test_the_prefix_store_is_sized_by_the_models_keys_and_values():
    from types import SimpleNamespace

    import torch
    from procmem_gym.agents.kvcache import default_capacity

    class Fake(torch.nn.Module):
        def __init__(self, layers, heads, dim, dtype):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, dtype=dtype))
            self.config = SimpleNamespace(
                num_hidden_layers=layers, num_key_value_heads=heads, num_attention_heads=heads, head_dim=dim
            )

    # SmolLM2-135M in float32: 30 layers x 3 heads x 64 -> 46 KB a token, about 23,000 tokens in 1 GiB
    assert default_capacity(Fake(30, 3, 64, torch.float32)) == (1 << 30) // (2 * 30 * 3 * 64 * 4)
    assert default_capacity(Fake(80, 8, 128, torch.float32)) == 8192  # big models: the floor
    assert default_capacity(Fake(2, 1, 8, torch.float32)) == 65536  # tiny models: the ceiling
    assert default_capacity(object()) == 8192


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_wide_groups_attend_without_a_mask_to_the_masked_numbers(monkeypatch, dtype):
    """A long prefill's groups (held tokens + causal new runs) take the unmasked kernel and give the masked numbers."""
    from procmem_gym.agents import packed

    gen = torch.Generator().manual_seed(0)
    past, count, heads, kv_heads, dim = 40, 420, 6, 2, 16
    groups = [
        (list(range(0, 25)), [(0, 150)]),  # a row's tail after its cached head
        ([], [(150, 130)]),  # a row with nothing held
        (list(range(10, 40)), [(280, 70), (350, 70)]),  # two rows sharing a held head, each with its own run
        (list(range(0, 40)), [(420, 0)]),  # a row whose whole prompt is held: no new token (the kernel's 0/0)
    ]
    layout = packed.Layout(torch, past, count, groups)
    query = torch.randn((1, heads, count, dim), generator=gen).to(dtype)
    key = torch.randn((1, kv_heads, past + count, dim), generator=gen).to(dtype)
    value = torch.randn((1, kv_heads, past + count, dim), generator=gen).to(dtype)
    fast, _ = layout.attend(query, key, value, 0.25)
    monkeypatch.setattr(packed, "_flash_with_lse", lambda torch, device: None)
    masked, _ = layout.attend(query, key, value, 0.25)
    # and both equal plain attention over the dense mask of the whole pass
    dense = layout.dense()
    keys, values = key.repeat_interleave(3, 1).float(), value.repeat_interleave(3, 1).float()
    plain = torch.nn.functional.scaled_dot_product_attention(query.float(), keys, values, attn_mask=dense, scale=0.25)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert fast.shape == masked.shape == (1, count, heads, dim)
    assert torch.allclose(fast.float(), masked.float(), atol=tol)
    assert torch.allclose(fast.float(), plain.transpose(1, 2), atol=tol)
