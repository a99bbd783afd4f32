"""`procmem-gym memory show|diff|plot|export|import` and `run --memory`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from procmem_gym import ProceduralMemory
from procmem_gym.cli.main import main
from procmem_gym.skills.skillmd import import_skills, skill_from_markdown, skill_to_markdown

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mastermind-v0-memory.json"


def test_show_lists_every_skill(capsys):
    assert main(["memory", "show", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    for skill in ProceduralMemory.load(EXAMPLE).skills:
        assert skill.id in out


def test_run_with_memory_and_diff(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--env",
                "procmem_gym/Mastermind-v0",
                "--agent",
                "random",
                "--episodes",
                "20",
                "--memory",
                str(EXAMPLE),
                "--mode",
                "inject",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reuse_rate"] == 1.0 and summary["skills"] == 5 and summary["memory_tokens"] > 100
    assert 0 < summary["step_reuse_rate"] < 1
    before = EXAMPLE.read_bytes()
    assert main(["memory", "diff", str(EXAMPLE), str(out / "memory.json")]) == 0
    assert "changed" in capsys.readouterr().out
    assert EXAMPLE.read_bytes() == before  # the input memory is never written by a run


def test_export_import_round_trip(tmp_path):
    folder = tmp_path / "skills"
    assert main(["memory", "export", str(EXAMPLE), "--out", str(folder)]) == 0
    files = sorted(folder.glob("*/SKILL.md"))
    assert len(files) == 5
    text = files[0].read_text()
    assert text.startswith("---\nname: ") and "\ndescription: " in text
    assert main(["memory", "import", str(folder), "--out", str(tmp_path / "back.json")]) == 0
    original = {s.id: s for s in ProceduralMemory.load(EXAMPLE).skills}
    back = {s.id: s for s in ProceduralMemory.load(tmp_path / "back.json").skills}
    assert original.keys() == back.keys()
    for sid, s in original.items():
        b = back[sid]
        assert (b.name, b.activation, b.execution, b.termination) == (s.name, s.activation, s.execution, s.termination)


def test_import_a_foreign_skill_folder(tmp_path):
    skill_dir = tmp_path / "pdf-forms"
    skill_dir.mkdir()
    (skill_dir / "SKILL.md").write_text(
        "---\nname: pdf-forms\ndescription: Use when the user asks to fill a PDF form.\n---\n"
        "# Filling PDF forms\n\nRead the fields first, then fill them one by one.\n"
    )
    [skill] = import_skills(tmp_path)
    assert skill.activation.text == "Use when the user asks to fill a PDF form."
    assert skill.execution.guidance.startswith("Read the fields") and skill.name == "Filling PDF forms"


def test_people_can_edit_the_markdown():
    skill = ProceduralMemory.load(EXAMPLE).skills[0]
    edited = skill_to_markdown(skill).replace(skill.execution.guidance, "Open with [1 2 5 6] instead.")
    assert skill_from_markdown(edited).execution.guidance == "Open with [1 2 5 6] instead."


@pytest.mark.parametrize(
    "text, message", [("no front matter", "front matter"), ("---\nname: x\n---\nbody", "description")]
)
def test_bad_skill_md(tmp_path, capsys, text, message):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "SKILL.md").write_text(text)
    assert main(["memory", "import", str(tmp_path), "--out", str(tmp_path / "m.json")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_corrupt_memory_is_reported_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "procmem-gym/memory", "version": 1, "skills": [')
    for argv in (
        ["memory", "show", str(bad)],
        [
            "run",
            "--env",
            "procmem_gym/Mastermind-v0",
            "--agent",
            "random",
            "--memory",
            str(bad),
            "--out",
            str(tmp_path / "r"),
        ],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "bad.json" in err and "Traceback" not in err
    assert bad.read_text().endswith("[")


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "m.png"
    assert main(["memory", "plot", str(EXAMPLE), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
