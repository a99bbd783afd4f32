"""Memory scale: activation + retrieval time per observation as memory grows, and the wrapper's per-step cost.

1. For 10, 1,000, 10,000 and 100,000 skills (half decided by patterns, half by embedding
   similarity of their activation text), the time per observation of
   ``activation_candidates`` (one RE2::Set pass, the observation's embedding, one matrix
   product) plus ``retrieve(k=5)`` (embedding retriever: one more matrix product; the
   observation's embedding is cached), over distinct Mastermind observations.
2. The wrapper's overhead per step over the bare env (same actions, same episodes), with
   1,000 skills and the transition log on: pattern-only skills, and the half/half mix.
3. A 100,000-skill memory saved (with its vectors beside it) and loaded again in a fresh
   process (imports, the embedder's model and the indexes all count): the load, and its first
   query, which must not embed the skills again.

Each retrieval row also splits a query into the observation's own embedding (a fixed cost of
the embedder, by the observation's length) and the search (what grows with the memory).

The default embedder is the library's default (MiniLM when installed). Prints JSON. Absolute
times vary by machine; the baseline (the bare env) is measured in the run.

    python benchmarks/memory_scale.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np

import procmem_gym  # noqa: F401
from procmem_gym import ProceduralMemory, ProceduralMemoryWrapper, Skill
from procmem_gym.memory.embedding import make_embedder
from procmem_gym.memory.retrieval import top_k

WORDS = (
    "guess digit peg black white code secret position swap keep drop repeat open fridge apple heat cool "
    "clean lamp drawer cabinet shelf microwave sink counter table bowl mug knife plate towel"
).split()


def synthetic_skills(n: int, seed: int = 0, pattern_share: float = 0.5) -> list[Skill]:
    """Return ``n`` distinct skills; a share of them carry a pattern that rarely matches."""
    rng = np.random.default_rng(seed)
    skills = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, size=8))
        patterns = [rf"token{i}\b"] if rng.random() < pattern_share else []
        skills.append(
            Skill.from_dict(
                {
                    "id": f"sk-{i:08x}",
                    "name": f"skill {i}",
                    "activation": {"text": f"when {words} {i}", "patterns": patterns},
                    "execution": {"guidance": f"do {words}", "steps": []},
                    "termination": {"max_steps": 3},
                }
            )
        )
    return skills


def observations(count: int) -> list[str]:
    """Return distinct Mastermind observations from random play."""
    env = gym.make("procmem_gym/Mastermind-v0")
    rng = np.random.default_rng(1)
    out: list[str] = []
    obs, _ = env.reset(seed=0)
    while len(out) < count:
        out.append(obs)
        obs, _, done, _, _ = env.step("[" + " ".join(map(str, rng.permutation(6)[:4] + 1)) + "]")
        if done:
            obs, _ = env.reset(seed=len(out))
    return out


def bench_retrieval(n: int, embedder_name: str, queries: list[str]) -> dict:
    """Return build and per-query times for a memory of ``n`` skills."""
    embedder = make_embedder(embedder_name)
    skills = synthetic_skills(n)
    start = time.perf_counter()
    memory = ProceduralMemory(embedder=embedder)
    for s in skills:
        memory._skills[s.id] = s  # bulk load, as ProceduralMemory.load does
    memory._version += 1
    memory.activation_candidates("warm up")
    memory.retrieve("warm up", k=5)
    build = time.perf_counter() - start
    times, searches, embeds = [], [], []
    for q in queries:
        t = time.perf_counter()
        memory.activation_candidates(q, k=5)
        memory.retrieve(q, k=5)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()  # again, the observation's embedding now cached: the search alone
        memory.activation_candidates(q, k=5)
        memory.retrieve(q, k=5)
        searches.append(time.perf_counter() - t)
    cache = getattr(embedder, "_recent", None)
    for q in queries:  # the observation's embedding alone, uncached
        if cache is not None:
            cache.pop(q, None)
        t = time.perf_counter()
        embedder.embed([q])
        embeds.append(time.perf_counter() - t)
    # the two-stage search of large memories against the exact scan: recall of the top 5
    index = memory.retriever.index
    recall = []
    for q in queries[:50] + [s.text for s in skills[:50]]:
        v = index.vector(q)
        exact = set(top_k(index.scores(v), 5).tolist())
        recall.append(len(exact & set(index.search(v, 5)[0].tolist())) / 5)
    return {
        "skills": n,
        "two_stage": index._sketch is not None,
        "recall_at_5_vs_exact": round(float(np.mean(recall)), 4),
        "build_s": round(build, 3),
        "query_ms_median": round(float(np.median(times)) * 1e3, 4),
        "query_ms_p95": round(float(np.percentile(times, 95)) * 1e3, 4),
        "search_ms_median": round(float(np.median(searches)) * 1e3, 4),
        "query_embedding_ms_median": round(float(np.median(embeds)) * 1e3, 4),
    }


def bench_reload(n: int, embedder_name: str, queries: list[str]) -> dict:
    """Return the times to save a memory of ``n`` skills, load it again and answer its first query."""
    memory = ProceduralMemory(embedder=make_embedder(embedder_name))
    for s in synthetic_skills(n):
        memory._skills[s.id] = s
    memory._version += 1
    start = time.perf_counter()
    memory.activation_candidates("warm up")
    memory.retrieve("warm up", k=5)
    embed_all = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "memory.json")
        start = time.perf_counter()
        memory.save(path)
        save = time.perf_counter() - start
        # a fresh process, as a user's next run: nothing imported, no model loaded, nothing cached
        out = subprocess.run(
            [sys.executable, "-c", FRESH_LOAD, path, queries[0]], capture_output=True, text=True, check=True
        )
        fresh = json.loads(out.stdout.strip().splitlines()[-1])
        load, first_query = fresh["load_s"], fresh["first_query_s"]
        expected = [
            [[i, round(s, 6)] for i, s in memory.activation_candidates(queries[0], k=5)],
            [[sk.id, round(s, 6)] for sk, s in memory.retrieve(queries[0], k=5)],
        ]
        same = fresh["answer"] == expected
        # and in this process, where the embedder is already loaded (a run whose policy or memory loaded it)
        start = time.perf_counter()
        loaded = ProceduralMemory.load(path)
        warm_load = time.perf_counter() - start
        start = time.perf_counter()
        loaded.activation_candidates(queries[0], k=5), loaded.retrieve(queries[0], k=5)
        warm_first = time.perf_counter() - start
        sizes = {name: os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)}
    return {
        "skills": n,
        "embed_all_s": round(embed_all, 2),
        "save_s": round(save, 2),
        "fresh_process": True,
        "load_s": round(load, 2),
        "first_query_s": round(first_query, 3),
        "load_and_first_query_s": round(load + first_query, 2),
        "same_answer_as_before_saving": bool(same),
        "embedder_loaded": {
            "load_s": round(warm_load, 2),
            "first_query_s": round(warm_first, 3),
            "load_and_first_query_s": round(warm_load + warm_first, 2),
        },
        "file_bytes": sizes,
    }


FRESH_LOAD = """
import json, sys, time
start = time.perf_counter()
from procmem_gym import ProceduralMemory
memory = ProceduralMemory.load(sys.argv[1])
load = time.perf_counter() - start
start = time.perf_counter()
answer = [
    [[i, round(s, 6)] for i, s in memory.activation_candidates(sys.argv[2], k=5)],
    [[sk.id, round(s, 6)] for sk, s in memory.retrieve(sys.argv[2], k=5)],
]
first = time.perf_counter() - start
print(json.dumps({"load_s": load, "first_query_s": first, "answer": answer}))
"""


def run_env(env, actions: list[str], episodes: int) -> tuple[float, int]:
    """Return (seconds, steps) of playing ``episodes`` episodes with the given actions in turn."""
    steps, k = 0, 0
    start = time.perf_counter()
    for ep in range(episodes):
        env.reset(seed=ep)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(actions[k % len(actions)])
            done = terminated or truncated
            k += 1
            steps += 1
    return time.perf_counter() - start, steps


def bench_wrapper(n: int, pattern_share: float, embedder_name: str, episodes: int, repeats: int) -> dict:
    """Return the wrapper's overhead per step over the bare env (guide mode, log on)."""
    rng = np.random.default_rng(2)
    actions = ["[" + " ".join(map(str, rng.permutation(6)[:4] + 1)) + "]" for _ in range(50_000)]
    memory = ProceduralMemory(embedder=make_embedder(embedder_name))
    for s in synthetic_skills(n, pattern_share=pattern_share):
        memory.add(s)
    # one real skill so that activation, tracking and termination run too
    memory.add(Skill.create("open", "no guess yet", "open with [1 2 3 4]", patterns=["^You are playing"], max_steps=1))
    bare_times, wrapped_times, steps = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            bare = gym.make("procmem_gym/Mastermind-v0")
            t, steps = run_env(bare, actions, episodes)
            bare_times.append(t)
            wrapped = ProceduralMemoryWrapper(
                gym.make("procmem_gym/Mastermind-v0"),
                memory,
                mode="guide",
                log_path=os.path.join(tmp, f"t{r}.jsonl"),
                update_memory=False,
            )
            cache = getattr(memory.embedder, "_recent", None)
            if cache is not None:
                cache.clear()  # each repeat embeds its observations afresh (the minimum must not be a cached rerun)
            t, _ = run_env(wrapped, actions, episodes)
            wrapped.close()
            wrapped_times.append(t)
    bare_s, wrapped_s = min(bare_times), min(wrapped_times)
    return {
        "skills": n + 1,
        "pattern_share": pattern_share,
        "steps": steps,
        "bare_us_per_step": round(bare_s / steps * 1e6, 2),
        "wrapped_us_per_step": round(wrapped_s / steps * 1e6, 2),
        "overhead_us_per_step": round((wrapped_s - bare_s) / steps * 1e6, 2),
    }


def main() -> None:
    """Measure retrieval and wrapper overhead; print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000,100000")
    parser.add_argument(
        "--embedder", default="auto", help="auto (the default: MiniLM when installed), hashing or minilm"
    )
    parser.add_argument(
        "--reload-size", type=int, default=100_000, help="skills of the save/load/first-query test (0: none)"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    queries = observations(args.queries)
    retrieval = [bench_retrieval(int(n), args.embedder, queries) for n in args.sizes.split(",")]
    wrapper = [
        bench_wrapper(1000, 1.0, args.embedder, args.episodes, args.repeats),
        bench_wrapper(1000, 0.5, args.embedder, args.episodes, args.repeats),
    ]
    largest = retrieval[-1]
    reload = bench_reload(args.reload_size, args.embedder, queries) if args.reload_size else None
    report = {
        "benchmark": "memory_scale",
        "embedder": make_embedder(args.embedder).name,
        "python": platform.python_version(),
        "retrieval": retrieval,
        "wrapper": wrapper,
        "reload": reload,
        "targets": {
            f"query_ms_at_{largest['skills']}<=10": largest["query_ms_median"] <= 10.0,
            f"search_ms_at_{largest['skills']}<=10": largest["search_ms_median"] <= 10.0,
            # load + first query, in a process whose embedder is loaded; a fresh process adds torch's import
            "reloaded_first_query_s<5": None
            if reload is None
            else reload["embedder_loaded"]["load_and_first_query_s"] < 5,
            "fresh_process_reloaded_first_query_s<5": None if reload is None else reload["load_and_first_query_s"] < 5,
            # pattern-only skills: the wrapper's own cost; with skills decided by embedding, every new
            # observation is embedded once (query_embedding_ms_median above) on top of it
            "wrapper_overhead_us_1000_pattern_skills<=50": wrapper[0]["overhead_us_per_step"] <= 50,
        },
    }
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
