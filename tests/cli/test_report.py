"""`procmem-gym report`: tables and figures from learn run folders, every number recomputed from the logs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from procmem_gym.analysis.evaluation import bootstrap_ci
from procmem_gym.analysis.report import ReportError, short_label, write_report
from procmem_gym.cli.main import main
from procmem_gym.rollouts.transitions import EpisodeRecord, read_log

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    common = ["learn", "--agent", "random", "--teacher", "solver", "--episodes", "12", "--iterations", "2"]
    common += ["--eval-episodes", "12"]
    assert main([*common, "--no-gate", "--out", str(root / "no-gate")]) == 0
    assert main([*common, "--out", str(root / "gate")]) == 0
    return root / "no-gate", root / "gate"


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_one_run_report_writes_every_table_and_figure_from_the_logs(runs, tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(runs[0]), "--out", str(out)]) == 0
    for name in ("report.md", "tables.tex", "learning_curve.csv", "skills.csv", "lineage.csv", "comparison.csv"):
        assert (out / name).stat().st_size > 0, name
    for name in ("learning_curve.png", "lineage.png", "forest.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    curve = rows(out / "learning_curve.csv")
    assert [int(r["iteration"]) for r in curve] == [0, 1]
    for r in curve:
        records = [x for x in read_log(runs[0] / f"iter-{int(r['iteration']):03d}" / "transitions.jsonl")]
        returns = [x.return_ for x in records if isinstance(x, EpisodeRecord)]
        assert float(r["mean_return"]) == pytest.approx(np.mean(returns))
        low, high = bootstrap_ci(returns)
        assert float(r["return_low"]) == pytest.approx(low) and float(r["return_high"]) == pytest.approx(high)
        report = json.loads((runs[0] / f"iter-{int(r['iteration']):03d}" / "report.json").read_text())
        assert int(r["admitted"]) == report["admitted"] and int(r["skills"]) == report["skills"]
    baseline = [x.return_ for x in read_log(runs[0] / "eval-before.jsonl") if isinstance(x, EpisodeRecord)]
    assert float(curve[0]["baseline_return"]) == pytest.approx(np.mean(baseline))
    evaluation = json.loads((runs[0] / "evaluation.json").read_text())
    table = {r["row"]: r for r in rows(out / "comparison.csv")}
    assert set(table) == set(evaluation["against_no_memory"])
    for name, c in evaluation["against_no_memory"].items():
        assert float(table[name]["difference"]) == pytest.approx(c["mean_difference"])
        assert float(table[name]["ci_low"]) == pytest.approx(c["ci_low"])
    memory = json.loads((runs[0] / "memory.json").read_text())
    skills = rows(out / "skills.csv")
    assert sorted(r["id"] for r in skills) == sorted(s["id"] for s in memory["skills"])
    for r in skills:
        stats = next(s["stats"] for s in memory["skills"] if s["id"] == r["id"])
        assert int(r["activations"]) == stats["activations"] and int(r["episodes"]) == stats["episodes"]
    lineage = rows(out / "lineage.csv")
    assert {r["id"] for r in lineage} >= {s["id"] for s in memory["skills"]}
    assert all(len(r["label"]) <= 48 for r in lineage)
    md = (out / "report.md").read_text()
    assert "![lineage](lineage.png)" in md and "Final evaluation" in md


def test_several_runs_get_one_comparison_table(runs, tmp_path):
    out = tmp_path / "ablation"
    write_report(list(runs), out)
    table = rows(out / "runs.csv")
    assert [r["run"] for r in table] == ["no-gate", "gate"]
    for r, folder in zip(table, runs, strict=True):
        learned = json.loads((folder / "evaluation.json").read_text())["against_no_memory"]
        first = next(v for k, v in learned.items() if k.startswith("learned"))
        assert float(r["difference"]) == pytest.approx(first["mean_difference"])
        assert (out / folder.name / "learning_curve.png").exists()
    assert (out / "runs.png").exists() and "Runs compared" in (out / "report.md").read_text()


def test_a_folder_that_is_not_a_learning_run_is_one_clear_error(tmp_path):
    with pytest.raises(ReportError, match="not a learning run"):
        write_report([tmp_path], tmp_path / "out")
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 1


def test_short_labels():
    assert short_label("x" * 100, 20).endswith("…") and len(short_label("x" * 100, 20)) == 20
