"""A report of learning runs, built from their folders alone: tables (Markdown, CSV, LaTeX) and figures.

``procmem-gym report RUN_DIR [RUN_DIR ...] --out DIR`` reads what ``procmem-gym learn`` wrote
(``iter-*/report.json`` and ``iter-*/transitions.jsonl``, ``eval-before.jsonl``,
``evaluation.json``, ``memory.json``) and writes into ``DIR``:

- ``learning_curve.csv`` / ``.png``: per iteration, mean return and success with 95 % bootstrap
  intervals, the no-memory baseline (the evaluation before learning) as a band, the pool size, and
  the candidates admitted, rejected, pruned and merged;
- ``lineage.csv`` / ``.png``: every skill and candidate as a node (short label, kind of execution,
  iteration), edges parent → child; rejected candidates drawn faintly with the gate's reason;
- ``skills.csv``: per skill, uses, episodes, success, and its gain over the no-skill baseline with a
  one-sided 95 % lower bound (where the learner measured it);
- ``comparison.csv`` / ``forest.png``: each evaluated row against no memory, episode by episode
  (difference in mean return with its bootstrap interval, exact McNemar p);
- with several runs, ``runs.csv`` / ``runs.png``: one line per run (an ablation table);
- ``report.md`` with every table, and ``tables.tex`` with the same tables for a paper.

No model is loaded; every number comes from the logs (the tests recompute them).
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from procmem_gym.analysis.evaluation import bootstrap_ci
from procmem_gym.analysis.report_figures import run_figures, runs_figure
from procmem_gym.errors import ProcMemError
from procmem_gym.files.folders import make_folder, refuse_overwrite
from procmem_gym.memory import MemoryFormatError, ProceduralMemory
from procmem_gym.rollouts.runfolder import check_fields, read_json
from procmem_gym.rollouts.transitions import EpisodeRecord, read_log

__all__ = ["ReportError", "RunData", "load_run", "short_label", "write_report"]


class ReportError(ProcMemError, ValueError):
    """A folder that is not a learning run (or lacks what the report reads)."""


_QUOTED = re.compile(r"'[^']{12,}'")


def short_label(name: str, limit: int = 48) -> str:
    """Return a skill's name short enough for a table or a plot: quoted observations elided, then cut.

    >>> short_label("same position after 'Submitted [..]. Feedback: # black peg(s), # white peg(s).'")
    "same position after '…'"
    """
    text = " ".join(_QUOTED.sub("'…'", name).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _labelled(name: Any, skill_id: Any) -> str:
    """A short label that tells skills apart: the short name and the id's first hex digits."""
    tag = str(skill_id or "")[3:7]
    return f"{short_label(str(name or skill_id), 40)} ({tag})" if tag else short_label(str(name or ""), 40)


def _kind(skill: dict[str, Any]) -> str:
    execution = skill.get("execution") or {}
    if execution.get("constraint"):
        return "constraint"
    if execution.get("steps"):
        return "steps"
    return "guidance"


@dataclass
class RunData:
    """What a learning run's folder holds, read once."""

    folder: Path
    name: str
    iterations: list[dict[str, Any]] = field(default_factory=list)
    iteration_records: list[list[EpisodeRecord]] = field(default_factory=list)
    baseline: list[EpisodeRecord] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None
    memory: dict[str, Any] = field(default_factory=dict)


def _records(path: Path) -> list[EpisodeRecord]:
    return [r for r in read_log(path) if isinstance(r, EpisodeRecord)] if path.exists() else []


def load_run(folder: str | Path, name: str | None = None) -> RunData:
    """Read a learning run's folder; raise :class:`ReportError` when it is not one."""
    folder = Path(folder)
    reports = sorted(folder.glob("iter-*/report.json"))
    if not folder.is_dir() or not reports:
        raise ReportError(f"{folder}: not a learning run folder (no iter-*/report.json; run procmem-gym learn)")
    run = RunData(folder, name or folder.name)
    for path in reports:
        run.iterations.append(read_json(path, ITERATION_FIELDS))
        run.iteration_records.append(_records(path.parent / "transitions.jsonl"))
    run.baseline = _records(folder / "eval-before.jsonl")
    if (folder / "evaluation.json").exists():
        run.evaluation = _evaluation(folder / "evaluation.json")
    if (folder / "memory.json").exists():
        run.memory = read_json(folder / "memory.json")
        try:  # the memory file's own validation: skills, stats and events typed, one error naming the file
            ProceduralMemory.from_dict(run.memory, source=str(folder / "memory.json"), embedder="hashing")
        except MemoryFormatError as err:
            raise ReportError(str(err)) from None
    return run


#: ``iter-*/report.json``: the fields the report reads.
ITERATION_FIELDS = {f: "int" for f in ("iteration", "episodes", "skills", "admitted", "rejected", "pruned", "merged")}
#: One row of ``evaluation.json``'s ``against_no_memory``.
COMPARISON_FIELDS = {
    "pairs": "int",
    "mean_a": "number",
    "mean_b": "number",
    "mean_difference": "number",
    "ci_low": "number",
    "ci_high": "number",
    "success_a": "number",
    "success_b": "number",
    "success_p": "number",
}


def _evaluation(path: Path) -> dict[str, Any]:
    """Return ``evaluation.json`` with every row that the report reads checked (one error naming the field)."""
    data = read_json(path, {"against_no_memory": "dict"})
    for name, row in (data.get("against_no_memory") or {}).items():
        check_fields(row, path, COMPARISON_FIELDS, where=f"against_no_memory.{name}.")
    return data


def _ci(values: list[float]) -> tuple[float, float]:
    if not values:
        return (math.nan, math.nan)
    return bootstrap_ci(values)


def learning_curve(run: RunData) -> list[dict[str, Any]]:
    """One row per iteration: return and success with 95 % intervals, the baseline, pool size, events."""
    base = [r.return_ for r in run.baseline]
    base_low, base_high = _ci(base)
    rows = []
    for report, records in zip(run.iterations, run.iteration_records, strict=True):
        returns = [r.return_ for r in records]
        wins = [float(r.success) for r in records]
        low, high = _ci(returns)
        s_low, s_high = _ci(wins)
        rows.append(
            {
                "iteration": report.get("iteration"),
                "episodes": len(records),
                "mean_return": float(np.mean(returns)) if returns else math.nan,
                "return_low": low,
                "return_high": high,
                "success_rate": float(np.mean(wins)) if wins else math.nan,
                "success_low": s_low,
                "success_high": s_high,
                "baseline_return": float(np.mean(base)) if base else math.nan,
                "baseline_low": base_low,
                "baseline_high": base_high,
                "skills": report.get("skills"),
                "admitted": report.get("admitted"),
                "rejected": report.get("rejected"),
                "pruned": report.get("pruned"),
                "merged": report.get("merged"),
            }
        )
    return rows


def _gain(stats: dict[str, Any]) -> tuple[float, float, int]:
    """Mean gain and its one-sided 95 % Student-t lower bound (normal quantile past 30 samples)."""
    n = int(stats.get("gain_n") or 0)
    if n == 0:
        return (math.nan, math.nan, 0)
    mean = float(stats["gain_sum"]) / n
    if n == 1:
        return (mean, math.nan, 1)
    var = max(0.0, (float(stats["gain_sq"]) - n * mean * mean) / (n - 1))
    t = {2: 6.314, 3: 2.920, 4: 2.353, 5: 2.132, 6: 2.015, 8: 1.895, 10: 1.833, 16: 1.753, 30: 1.699}
    quantile = next((v for k, v in sorted(t.items()) if n - 1 <= k), 1.645)
    return (mean, mean - quantile * math.sqrt(var / n), n)


def skill_table(run: RunData) -> list[dict[str, Any]]:
    """One row per skill of the final memory: kind, uses, success, gain with its lower bound."""
    rows = []
    for skill in run.memory.get("skills", []):
        stats = skill.get("stats") or {}
        mean, low, n = _gain(stats)
        episodes = int(stats.get("episodes") or 0)
        rows.append(
            {
                "id": skill.get("id"),
                "label": _labelled(skill.get("name"), skill.get("id")),
                "kind": _kind(skill),
                "method": (skill.get("lineage") or {}).get("method"),
                "parent": (skill.get("lineage") or {}).get("parent"),
                "activations": int(stats.get("activations") or 0),
                "episodes": episodes,
                "success_rate": (int(stats.get("successes") or 0) / episodes) if episodes else math.nan,
                "gain": mean,
                "gain_lower_bound": low,
                "gain_samples": n,
                "score": skill.get("score"),
            }
        )
    return rows


def lineage(run: RunData) -> list[dict[str, Any]]:
    """Every skill and candidate the memory's events name: status, parent, iteration, and why if rejected."""
    nodes: dict[str, dict[str, Any]] = {}
    final = {s.get("id"): s for s in run.memory.get("skills", [])}
    for event in run.memory.get("events", []):
        sid, kind = event.get("skill"), event.get("kind")
        detail = event.get("detail") or {}
        if not sid:
            continue
        node = nodes.setdefault(
            sid,
            {
                "id": sid,
                "label": _labelled(detail.get("name") or (final.get(sid) or {}).get("name"), sid),
                "iteration": event.get("iteration"),
                "parent": detail.get("parent"),
                "kind": _kind(detail.get("candidate") or final.get(sid) or {}),
                "status": "",
                "reason": "",
            },
        )
        if kind == "add":
            node["status"] = "admitted"
        elif kind == "reject":
            node["status"] = node["status"] or "rejected"
            gate = detail.get("gate") or {}
            node["reason"] = str(detail.get("reason") or gate.get("reason") or detail.get("stage") or "")[:120]
        elif kind in ("prune", "merge"):
            node["status"] = "merged" if kind == "merge" else "pruned"
    for sid, skill in final.items():
        node = nodes.setdefault(
            sid,
            {
                "id": sid,
                "label": _labelled(skill.get("name"), sid),
                "iteration": None,
                "parent": (skill.get("lineage") or {}).get("parent"),
                "kind": _kind(skill),
                "status": "",
                "reason": "",
            },
        )
        node["status"] = "in memory"
    return list(nodes.values())


def comparison(run: RunData) -> list[dict[str, Any]]:
    """Each evaluated row against no memory (from ``evaluation.json``)."""
    if not run.evaluation:
        return []
    out = []
    for name, c in (run.evaluation.get("against_no_memory") or {}).items():
        out.append(
            {
                "row": name,
                "pairs": c.get("pairs"),
                "no_memory_return": c.get("mean_a"),
                "row_return": c.get("mean_b"),
                "difference": c.get("mean_difference"),
                "ci_low": c.get("ci_low"),
                "ci_high": c.get("ci_high"),
                "no_memory_success": c.get("success_a"),
                "row_success": c.get("success_b"),
                "mcnemar_p": c.get("success_p"),
            }
        )
    return out


# ------------------------------------------------------------------ writing


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
    return "" if v is None else str(v)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        if not rows:
            f.write("")
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})


def _markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)\n"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(_fmt(r.get(c)).replace("|", "/") for c in columns) + " |\n" for r in rows)


def _latex(rows: list[dict[str, Any]], columns: list[str], caption: str) -> str:
    def esc(text: str) -> str:
        return re.sub(r"([&%$#_{}])", r"\\\1", text).replace("…", r"\ldots{}")

    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + "l" * len(columns) + "}", r"\hline"]
    lines.append(" & ".join(esc(c) for c in columns) + r" \\ \hline")
    lines += [" & ".join(esc(_fmt(r.get(c))) for c in columns) + r" \\" for r in rows]
    lines += [r"\hline", r"\end{tabular}", r"\caption{" + esc(caption) + "}", r"\end{table}", ""]
    return "\n".join(lines)


def _runs_table(runs: list[RunData]) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        learned = next((r for r in comparison(run) if r["row"].startswith("learned")), None)
        out.append(
            {
                "run": run.name,
                "iterations": len(run.iterations),
                "skills": len(run.memory.get("skills", [])),
                "no_memory_return": learned["no_memory_return"] if learned else math.nan,
                "learned_return": learned["row_return"] if learned else math.nan,
                "difference": learned["difference"] if learned else math.nan,
                "ci_low": learned["ci_low"] if learned else math.nan,
                "ci_high": learned["ci_high"] if learned else math.nan,
                "mcnemar_p": learned["mcnemar_p"] if learned else math.nan,
            }
        )
    return out


def write_report(folders: list[str | Path], out: str | Path) -> Path:
    """Write the report of one or more learning runs into ``out``; return the path of ``report.md``."""
    out = Path(out)
    for folder in folders:  # never into a run it reads: not the folder itself, nor anything the run holds
        held = [p.name for p in Path(folder).iterdir()] if Path(folder).is_dir() else []
        refuse_overwrite(folder, held, {"--out": out}, "part of a run the report reads")
    runs = [load_run(f) for f in folders]
    if len({r.name for r in runs}) < len(runs):
        runs = [load_run(f, name=f"{Path(f).parent.name}/{Path(f).name}") for f in folders]
    seen: dict[str, int] = {}
    for run in runs:  # still the same name (the same folder twice, say): number them
        n = seen[run.name] = seen.get(run.name, 0) + 1
        if n > 1:
            run.name = f"{run.name}-{n}"
    make_folder(out)
    md = ["# procmem-gym report", ""]
    tex = []
    for run in runs:
        sub = out / run.name.replace("/", "_") if len(runs) > 1 else out
        make_folder(sub)
        curve, skills, nodes, rows = learning_curve(run), skill_table(run), lineage(run), comparison(run)
        _write_csv(sub / "learning_curve.csv", curve)
        _write_csv(sub / "skills.csv", skills)
        _write_csv(sub / "lineage.csv", nodes)
        _write_csv(sub / "comparison.csv", rows)
        figures = run_figures(sub, run.name, curve, nodes, rows)
        prefix = "" if sub == out else f"{sub.name}/"
        md += [f"## {run.name}", "", f"Run folder: `{run.folder}`", ""]
        md += ["### Learning curve", ""]
        md.append(
            _markdown(
                curve,
                ["iteration", "episodes", "mean_return", "return_low", "return_high", "success_rate", "baseline_return"]
                + ["skills", "admitted", "rejected", "pruned", "merged"],
            )
        )
        md += [f"![learning curve]({prefix}learning_curve.png)", ""] if "learning_curve.png" in figures else []
        md += ["### Skills", ""]
        md.append(
            _markdown(
                skills,
                ["label", "kind", "method", "activations", "episodes", "success_rate", "gain", "gain_lower_bound"],
            )
        )
        md += ["### Lineage", ""]
        md.append(_markdown(nodes, ["label", "kind", "iteration", "status", "parent", "reason"]))
        md += [f"![lineage]({prefix}lineage.png)", ""] if "lineage.png" in figures else []
        md += ["### Final evaluation, paired by seed", ""]
        md.append(
            _markdown(rows, ["row", "pairs", "no_memory_return", "row_return", "difference", "ci_low", "ci_high"])
        )
        md += [f"![forest plot]({prefix}forest.png)", ""] if "forest.png" in figures else []
        tex.append(_latex(rows, ["row", "pairs", "difference", "ci_low", "ci_high", "mcnemar_p"], f"{run.name}: rows"))
    if len(runs) > 1:
        table = _runs_table(runs)
        _write_csv(out / "runs.csv", table)
        md += ["## Runs compared", ""]
        md.append(_markdown(table, list(table[0])))
        tex.append(_latex(table, list(table[0]), "runs compared"))
        if runs_figure(out / "runs.png", table):
            md += ["![runs](runs.png)", ""]
    (out / "tables.tex").write_text("\n".join(tex), encoding="utf-8")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.json").write_text(json.dumps({"runs": [str(r.folder) for r in runs]}, indent=1), encoding="utf-8")
    return out / "report.md"
