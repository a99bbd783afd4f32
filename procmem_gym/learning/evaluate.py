"""The evaluation that ends a learning run: rows played on the same seeds, each against no memory.

Every row plays the same episodes (episode ``k``: env seed and sampling seed ``seed + k``, in a
single or a vector env alike) and decodes as a user would run it (the policy's own temperature;
greedy for LLM agents by default). Rows (docs/design.md#evaluation): no memory; the learned memory;
the random agent with the learned memory (how much comes from the memory executing rather than
the model); and the env's reference agent (the solver or the expert: the ceiling). Each row is
compared with no memory episode by episode (:mod:`procmem_gym.analysis.evaluation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procmem_gym.agents.policy import Policy
from procmem_gym.analysis.evaluation import PairedComparison, compare
from procmem_gym.memory import ProceduralMemory
from procmem_gym.rollouts.runner import Rollouts, summarize
from procmem_gym.rollouts.transitions import EpisodeRecord

__all__ = ["Row", "RowResult", "evaluate_rows"]


@dataclass(frozen=True)
class Row:
    """One evaluated configuration: a name, a policy, a memory (or None) and the mode it acts in."""

    name: str
    policy: Policy
    memory: ProceduralMemory | None
    mode: str
    log: str  # file name of its transitions in the run folder


@dataclass
class RowResult:
    """A row's summary numbers, its episodes, and its comparison with the baseline row."""

    row: Row
    summary: dict[str, Any]
    records: list[EpisodeRecord]
    against_baseline: PairedComparison | None = None


def evaluate_rows(rollouts: Rollouts, rows: list[Row], episodes: int, seed: int, folder: Path) -> list[RowResult]:
    """Play every row on the same seeds (memory stats untouched); compare each with the first row."""
    results = []
    for row in rows:
        calls, tokens = row.policy.model_calls, row.policy.generated_tokens
        start = time.perf_counter()
        records = rollouts.play(
            row.policy, row.memory, row.mode, episodes, seed, folder / row.log, update_memory=False
        ).records
        summary = summarize(
            records,
            rollouts.env_id,
            getattr(row.policy, "name", "policy"),
            round(time.perf_counter() - start, 3),
            skills=len(row.memory) if row.memory else 0,
            memory_tokens=row.memory.tokens() if row.memory else 0,
            model_calls=row.policy.model_calls - calls,
            generated_tokens=row.policy.generated_tokens - tokens,
        )
        results.append(RowResult(row, summary.to_dict(), records))
    for result in results[1:]:
        result.against_baseline = compare(results[0].records, result.records)
    return results
