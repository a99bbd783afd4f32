"""The figures of a learning report (matplotlib, the ``plot`` extra): learning curve, lineage, forest plots.

:func:`pyplot` is the one loader: it returns ``matplotlib.pyplot`` on the Agg backend, or
None without matplotlib (a report then has tables only), or with ``required=True`` raises
:class:`~procmem_gym.errors.MissingExtraError` naming the extra (``memory plot``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from procmem_gym.errors import MissingExtraError

__all__ = ["pyplot", "forest_figure", "curve_figure", "lineage_figure", "run_figures", "runs_figure"]


def pyplot(required: str | None = None) -> Any:
    """Return ``matplotlib.pyplot`` (Agg backend); without matplotlib None, or with ``required`` raise."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        if required:
            raise MissingExtraError(f'{required} needs matplotlib: pip install "procmem-gym[plot]"') from err
        return None
    return plt


def forest_figure(plt: Any, path: Path, rows: list[dict], label: str, xlabel: str, title: str | None = None) -> None:
    """Draw differences with their 95 % intervals, one line per row (a row without a number is left blank)."""
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.2))
    for k, r in enumerate(rows):
        if not math.isnan(r["difference"]):
            low, high = r["difference"] - r["ci_low"], r["ci_high"] - r["difference"]
            ax.errorbar([r["difference"]], [k], xerr=[[low], [high]], fmt="o", capsize=4)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(rows)), [r[label] for r in rows], fontsize=8)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def curve_figure(plt: Any, path: Path, name: str, curve: list[dict]) -> None:
    """Draw the learning curve (mean return with 95 % band, the no-memory band) and the candidates per iteration."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    it = [r["iteration"] for r in curve]
    ax.plot(it, [r["mean_return"] for r in curve], "o-", label="learning rollouts")
    ax.fill_between(it, [r["return_low"] for r in curve], [r["return_high"] for r in curve], alpha=0.25)
    if not math.isnan(curve[0]["baseline_return"]):
        ax.axhspan(curve[0]["baseline_low"], curve[0]["baseline_high"], color="grey", alpha=0.2, label="no memory")
        ax.axhline(curve[0]["baseline_return"], color="grey", lw=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean return (95 % CI)")
    ax.legend(loc="lower right", fontsize=8)
    width = 0.2
    for k, key in enumerate(("admitted", "rejected", "pruned", "merged")):
        bx.bar([i + (k - 1.5) * width for i in it], [r[key] or 0 for r in curve], width, label=key)
    bx2 = bx.twinx()
    bx2.plot(it, [r["skills"] for r in curve], "k.-", label="pool size")
    bx.set_xlabel("iteration")
    bx.set_ylabel("candidates")
    bx2.set_ylabel("skills in memory")
    bx2.set_ylim(0, max([r["skills"] or 0 for r in curve] + [1]) * 1.15)
    for axis in (ax, bx):
        axis.set_xticks(it)
    bx.legend(loc="upper left", fontsize=8)
    fig.suptitle(name)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def lineage_figure(plt: Any, path: Path, name: str, nodes: list[dict]) -> None:
    """Draw the skill pool's lineage: one column per iteration, parent -> child, rejected candidates faint."""
    last = max([m["iteration"] or 0 for m in nodes] + [0])
    columns = last + 1 + any(n["iteration"] is None for n in nodes)
    rows_used = max(
        sum(1 for m in nodes if (m["iteration"] if m["iteration"] is not None else last + 1) == k)
        for k in range(columns)
    )
    fig, ax = plt.subplots(figsize=(max(8, 4.6 * columns), max(2.5, 0.62 * rows_used + 1.2)))
    place = {}
    by_iteration: dict[Any, int] = {}
    for n in nodes:
        it = n["iteration"] if n["iteration"] is not None else last + 1
        y = by_iteration.get(it, 0)
        by_iteration[it] = y + 1
        place[n["id"]] = (4 * it, -y)  # a column of width 4 per iteration leaves room for the labels
    for n in nodes:
        if n["parent"] in place:
            (x0, y0), (x1, y1) = place[n["parent"]], place[n["id"]]
            ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "color": "#555", "lw": 1})
    colors = {"in memory": "#1b7837", "admitted": "#5aae61", "rejected": "#bbbbbb", "merged": "#9970ab"}
    for n in nodes:
        x, y = place[n["id"]]
        faint = n["status"] == "rejected"
        ax.scatter([x], [y], s=80, color=colors.get(n["status"], "#2166ac"), alpha=0.4 if faint else 1, zorder=3)
        ax.text(x + 0.12, y + 0.12, f"{n['label']} [{n['kind']}]", fontsize=7, va="center", alpha=0.55 if faint else 1)
        if faint and n["reason"]:
            ax.text(x + 0.12, y - 0.22, n["reason"][:60], fontsize=6, va="center", style="italic", alpha=0.6)
    ax.set_xlabel("iteration")
    ax.set_xticks([4 * k for k in range(columns)], [str(k) for k in range(columns)])
    ax.set_yticks([])
    ax.set_title(f"{name}: skill lineage (green: in memory, grey: rejected, purple: merged)", fontsize=9)
    ax.set_xlim(-0.5, 4 * columns - 0.2)
    ax.set_ylim(-rows_used + 0.4, 0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_figures(out: Path, name: str, curve: list[dict], nodes: list[dict], rows: list[dict]) -> list[str]:
    """Write one run's figures into ``out``; return the file names written (none without matplotlib)."""
    plt = pyplot()
    if plt is None:
        return []
    written = []
    if curve:
        curve_figure(plt, out / "learning_curve.png", name, curve)
        written.append("learning_curve.png")
    if nodes:
        lineage_figure(plt, out / "lineage.png", name, nodes)
        written.append("lineage.png")
    if rows:
        xlabel = "difference in mean return vs no memory (95 % CI)"
        forest_figure(plt, out / "forest.png", rows, "row", xlabel, name)
        written.append("forest.png")
    return written


def runs_figure(path: Path, table: list[dict]) -> bool:
    """Draw several runs' learned-memory differences as one forest plot; return whether it was written."""
    plt = pyplot()
    if plt is None:
        return False
    forest_figure(plt, path, table, "run", "learned memory vs no memory: difference in mean return (95 % CI)")
    return True
