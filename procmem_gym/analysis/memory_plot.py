"""The memory's evolution as a picture: skills and mean score per iteration, uses per skill."""

from __future__ import annotations

import os
from typing import Any

from procmem_gym.analysis.report_figures import pyplot
from procmem_gym.memory import ProceduralMemory


def evolution(memory: ProceduralMemory) -> list[dict[str, Any]]:
    """Return per-iteration skills and mean score: the maintain() history, or counts rebuilt from events."""
    if memory.history:
        return list(memory.history)
    count, rows, by_iteration = 0, [], {}
    for e in memory.events:
        count += {"add": 1, "prune": -1, "merge": -1}.get(e["kind"], 0)
        by_iteration[e["iteration"]] = count
    for iteration in sorted(by_iteration):
        rows.append({"iteration": iteration, "skills": by_iteration[iteration], "mean_score": None})
    if not rows:
        scores = [s.score for s in memory.skills]
        rows.append(
            {
                "iteration": memory.iteration,
                "skills": len(scores),
                "mean_score": sum(scores) / len(scores) if scores else 0.0,
            }
        )
    return rows


def plot_memory(memory: ProceduralMemory, path: str | os.PathLike, title: str = "procedural memory") -> None:
    """Write a two-panel PNG: skill count and mean score per iteration; uses per skill."""
    plt = pyplot("memory plot")
    rows = evolution(memory)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    its = [r["iteration"] for r in rows]
    left.plot(its, [r["skills"] for r in rows], marker="o", color="tab:blue", label="skills")
    left.set_xlabel("iteration")
    left.xaxis.get_major_locator().set_params(integer=True)
    left.set_ylabel("skills", color="tab:blue")
    scores = [(r["iteration"], r["mean_score"]) for r in rows if r.get("mean_score") is not None]
    if scores:
        twin = left.twinx()
        twin.plot([i for i, _ in scores], [s for _, s in scores], marker="s", color="tab:orange", label="mean score")
        twin.set_ylabel("mean score", color="tab:orange")
    left.set_title("memory size and quality")
    skills = sorted(memory.skills, key=lambda s: -s.stats.activations)[:30]
    from procmem_gym.analysis.report import short_label

    names = [f"{short_label(s.name, 22)} ({s.id[3:7]})" for s in skills]
    right.barh(range(len(skills)), [s.stats.activations for s in skills], color="tab:green")
    right.set_yticks(range(len(skills)), names, fontsize=7)
    right.invert_yaxis()
    right.set_xlabel("activations")
    right.set_title("uses per skill")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
