"""Hostile and careless inputs: one clear line, exit code 1 or 2, no traceback, files left as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from procmem_gym import ProceduralMemory
from procmem_gym.cli.main import main
from procmem_gym.files.locking import exclusive
from procmem_gym.memory.fileformat import MemoryFormatError
from procmem_gym.skills.skill import Skill

CLI = [sys.executable, "-m", "procmem_gym.cli.main"]


def cli(args, timeout=120, **kwargs):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def one_clear_line(proc):
    assert proc.returncode in (1, 2), (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    assert lines and len(lines) <= 3, lines
    assert len(proc.stderr) < 2000
    return proc.stderr + proc.stdout


def memory_file(path: Path, n: int = 3, prefix: str = "skill") -> Path:
    memory = ProceduralMemory(embedder="hashing")
    for k in range(n):
        memory.add(Skill.create(f"{prefix} {k}", f"when {prefix} {k}", f"do {k}"))
    memory.save(path)
    return path


# ------------------------------------------------------------------ unbounded and odd reads


def test_a_fifo_as_memory_file_is_refused_at_once(tmp_path):
    fifo = tmp_path / "memory.json"
    os.mkfifo(fifo)
    out = one_clear_line(cli(["memory", "show", str(fifo)], timeout=30))
    assert "FIFO" in out and str(fifo) in out


def test_a_symlink_to_dev_zero_is_refused(tmp_path):
    link = tmp_path / "memory.json"
    link.symlink_to("/dev/zero")
    out = one_clear_line(cli(["memory", "show", str(link)], timeout=30))
    assert "character device" in out


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"format": "procmem-gym/memory", "version": 1, "meta": {"clock": ' + "9" * 5000 + "}}", "JSON"),
        ('{"a": ' * 70 + "1" + "}" * 70, "nested"),
    ],
)
def test_deep_nesting_and_huge_numbers_are_format_errors_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(MemoryFormatError, match=needle) as err:
        ProceduralMemory.load(path)
    assert str(path) in str(err.value) and len(str(err.value)) < 400
    assert path.read_text() == content


def test_a_lone_surrogate_is_rejected_at_load_not_at_the_first_save(tmp_path):
    path = memory_file(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    doc["skills"][0]["name"] = "bad \ud800 name"
    raw = json.dumps(doc)  # \ud800 escaped: valid JSON, not encodable text
    path.write_text(raw)
    with pytest.raises(MemoryFormatError, match="surrogate"):
        ProceduralMemory.load(path)
    with pytest.raises(ValueError, match="surrogate"):
        Skill.create("x\udfff", "a", "b")
    assert path.read_text() == raw


def test_a_huge_skill_name_is_not_echoed_whole(tmp_path):
    path = memory_file(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    doc["skills"][0]["name"] = "n" * 2_000_000
    path.write_text(json.dumps(doc))
    out = one_clear_line(cli(["memory", "show", str(path)]))
    assert "characters" in out and len(out) < 1000


def test_yaml_aliases_in_a_skill_md_are_refused_with_bounded_memory(tmp_path):
    folder = tmp_path / "skills" / "bomb"
    folder.mkdir(parents=True)
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[k]
        laughs.append(
            f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]"
        )
    front = "name: bomb\ndescription: when\nmetadata:\n" + textwrap.indent("\n".join(laughs), "  ")
    (folder / "SKILL.md").write_text(f"---\n{front}\n---\n# bomb\nbody\n")
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
    code = limit + "from procmem_gym.cli.main import main; import sys; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "memory", "import", str(tmp_path / "skills"), "--out", str(tmp_path / "m.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = one_clear_line(proc)
    assert "anchors" in out or "aliases" in out
    assert not (tmp_path / "m.json").exists()


# ------------------------------------------------------------------ one writer per output


def test_export_never_overwrites_an_edited_skill_md_or_writes_through_a_symlink(tmp_path):
    path = memory_file(tmp_path / "m.json")
    out = tmp_path / "skills"
    assert main(["memory", "export", str(path), "--out", str(out)]) == 0
    edited = next(out.glob("*/SKILL.md"))
    edited.write_text(edited.read_text() + "\nmy edit\n")
    assert main(["memory", "export", str(path), "--out", str(out)]) == 1
    assert edited.read_text().endswith("my edit\n")
    assert main(["memory", "export", str(path), "--out", str(out), "--force"]) == 0
    assert not edited.read_text().endswith("my edit\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / edited.parent.name).symlink_to(elsewhere, target_is_directory=True)
    assert main(["memory", "export", str(path), "--out", str(fresh), "--force"]) == 1
    assert list(elsewhere.iterdir()) == []


def test_a_second_writer_of_a_memory_file_is_refused_and_changes_nothing(tmp_path):
    skills = tmp_path / "skills"
    assert main(["memory", "export", str(memory_file(tmp_path / "src.json", 5)), "--out", str(skills)]) == 0
    target = memory_file(tmp_path / "target.json", 2, prefix="other")
    before = target.read_bytes()
    with exclusive(target, "memory file"):
        proc = cli(["memory", "import", str(skills), "--out", str(target)])
        out = one_clear_line(proc)
        assert "another procmem-gym process" in out
    assert target.read_bytes() == before
    assert main(["memory", "import", str(skills), "--out", str(target)]) == 0
    assert len(ProceduralMemory.load(target)) == 7


def test_two_imports_at_once_end_with_one_whole_result(tmp_path):
    folders = []
    for k in range(2):
        folder = tmp_path / f"skills{k}"
        memory = ProceduralMemory(embedder="hashing")
        for j in range(20):
            memory.add(Skill.create(f"set {k} skill {j}", f"when {k} {j}", f"do {k} {j}"))
        memory.save(tmp_path / f"src{k}.json")
        assert main(["memory", "export", str(tmp_path / f"src{k}.json"), "--out", str(folder)]) == 0
        folders.append(folder)
    target = tmp_path / "same.json"
    procs = [
        subprocess.Popen([*CLI, "memory", "import", str(f), "--out", str(target)], stderr=subprocess.PIPE, text=True)
        for f in folders
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    ok = [code == 0 for code, _ in results]
    assert any(ok)
    for code, err in results:
        assert code == 0 or ("another procmem-gym process" in err and "Traceback" not in err)
    assert len(ProceduralMemory.load(target)) == 20 * sum(ok)  # nothing half-merged


def test_a_second_run_into_a_locked_folder_is_refused_and_changes_nothing(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    args = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "2", "--out", str(out)]
    with exclusive(out, "run folder", folder=True):
        one_clear_line(cli(args))
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
    assert main(args) == 0 and (out / "transitions.jsonl").exists()


def test_a_run_that_cannot_start_leaves_no_folder(tmp_path):
    out = tmp_path / "never"
    assert main(["run", "--env", "procmem_gym/NoSuchEnv-v0", "--agent", "random", "--out", str(out)]) != 0
    assert not out.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--out", str(a_file)]) != 0
    assert a_file.read_text() == "x"


def test_two_runs_into_one_folder_at_once_leave_one_whole_run(tmp_path):
    out = tmp_path / "run"
    procs = [
        subprocess.Popen(
            [*CLI, "run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "30"]
            + ["--seed", str(seed), "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (0, 1000)
    ]
    results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
    assert sorted(code == 0 for code, _ in results) == [False, True], results
    refused = next(err for code, err in results if code != 0)
    assert "Traceback" not in refused and ("another procmem-gym process" in refused or "already holds" in refused)
    from procmem_gym.rollouts.transitions import EpisodeRecord, read_log

    seed = json.loads((out / "config.json").read_text())["seed"]
    records = [r for r in read_log(out / "transitions.jsonl") if isinstance(r, EpisodeRecord)]
    assert [r.seed for r in records] == [seed + k for k in range(30)]
    assert json.loads((out / "summary.json").read_text())["episodes"] == 30


def test_a_run_whose_server_is_down_says_so_in_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    proc = cli(
        ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "openai:m@http://127.0.0.1:9/v1"]
        + ["--server-retries", "0", "--episodes", "1", "--out", str(out)]
    )
    assert "http://127.0.0.1:9/v1" in one_clear_line(proc)
    assert not out.exists()


def test_an_action_that_is_not_text_is_an_invalid_move_and_the_log_stays_whole(tmp_path):
    import gymnasium as gym

    from procmem_gym import ProceduralMemoryWrapper
    from procmem_gym.rollouts.transitions import Transition, read_log

    log = tmp_path / "t.jsonl"
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), log_path=log)
    env.reset(seed=0)
    _, _, _, _, info = env.step("[1 2 3 4]\ud800")
    assert "surrogate" in info["invalid_reason"]
    env.step("[1 2 3 4]")
    env.step("[5 6 1 2] " + "x" * 50_000)  # too long: invalid, and logged as an excerpt
    env.step("[5 6 1 2]")
    env.close()
    steps = [x for x in read_log(log) if isinstance(x, Transition)]
    assert len(steps) == 4 and all(len(x.action) <= 4096 for x in steps)
    assert "characters)" in steps[2].action


def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "3", "--out", str(out)]
    assert main(args) == 0
    before = (out / "transitions.jsonl").read_bytes()
    assert main([*args, "--resume", "--num-envs", "2"]) == 1
    assert main([*args, "--resume", "--seed", "5"]) == 1
    assert (out / "transitions.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda out: (out / "transitions.jsonl").open("a").write("42\n"), "corrupt line"),
        (lambda out: (out / "config.json").write_text("[1, 2]"), "JSON object"),
        (lambda out: (out / "config.json").write_text("[" * 100_000), "not JSON"),
    ],
)
def test_a_damaged_run_folder_is_one_clear_line_on_resume(tmp_path, damage, needle):
    out = tmp_path / "run"
    args = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "2", "--out", str(out)]
    assert main(args) == 0
    damage(out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert needle in one_clear_line(cli([*args, "--resume"]))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_negative_seed_is_a_usage_error():
    proc = cli(["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--seed", "-1"])
    assert proc.returncode == 2 and "--seed" in proc.stderr and "Traceback" not in proc.stderr


def test_alfworld_prepare_skips_malformed_games_with_their_reason_and_goes_on(tmp_path):
    pytest.importorskip("alfworld")
    from procmem_gym.envs.alfworld import copy_sample_games, prepare_games

    root = copy_sample_games(tmp_path / "data")
    trajs = sorted((root / "json_2.1.1" / "train").rglob("traj_data.json"))
    doc = json.loads(trajs[0].read_text())
    trajs[0].write_text(json.dumps({**doc, "pddl_params": []}))
    trajs[1].write_text("[" * 100_000)
    trajs[2].unlink()
    trajs[2].symlink_to("/dev/zero")
    report = prepare_games(root)
    skipped = {g.folder: g.reason for g in report.games if g.status == "skipped"}
    assert len(skipped) == 3 and report.count("solvable") == 15
    reasons = " ".join(skipped.values())
    assert "pddl_params" in reasons and "not JSON" in reasons and "character device" in reasons


def test_a_full_disk_stops_with_one_line_and_keeps_every_finished_episode(tmp_path, monkeypatch, capsys):
    import errno

    from procmem_gym.rollouts.transitions import EpisodeRecord, TransitionLog, read_log

    original = TransitionLog.write_episode
    written = {"episodes": 0}

    def full_after_three(self, transitions, record):
        if record is not None and written["episodes"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, transitions, record)
        written["episodes"] += record is not None

    monkeypatch.setattr(TransitionLog, "write_episode", full_after_three)
    out = tmp_path / "run"
    args = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "10", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "No space left" in err and "--resume" in err and "Traceback" not in err and err.count("error") == 1
    assert len([r for r in read_log(out / "transitions.jsonl") if isinstance(r, EpisodeRecord)]) == 3
    monkeypatch.setattr(TransitionLog, "write_episode", original)
    assert main([*args, "--resume"]) == 0
    assert len([r for r in read_log(out / "transitions.jsonl") if isinstance(r, EpisodeRecord)]) == 10
