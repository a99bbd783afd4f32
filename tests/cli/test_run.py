"""`procmem-gym run`: summary.json contract, determinism, resume, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from procmem_gym.cli.main import main
from procmem_gym.rollouts.transitions import EpisodeRecord, read_log

SUMMARY_KEYS = [
    "env",
    "agent",
    "episodes",
    "success_rate",
    "mean_return",
    "mean_steps",
    "reuse_rate",
    "step_reuse_rate",
    "skills",
    "memory_tokens",
    "model_calls",
    "generated_tokens",
    "seconds",
]


def run(tmp_path, name, *extra):
    out = tmp_path / name
    code = main(["run", "--env", "procmem_gym/Mastermind-v0", "--out", str(out), *extra])
    return code, out


def test_solver_run_writes_summary_and_log(tmp_path):
    code, out = run(tmp_path, "s", "--agent", "solver", "--episodes", "12")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == SUMMARY_KEYS
    assert summary["episodes"] == 12 and summary["success_rate"] == 1.0 and summary["mean_return"] == 1.0
    assert 3 <= summary["mean_steps"] <= 5 and summary["model_calls"] == 0 and summary["reuse_rate"] == 0.0
    episodes = [r for r in read_log(out / "transitions.jsonl") if isinstance(r, EpisodeRecord)]
    assert [e.episode for e in episodes] == list(range(12))
    assert summary["mean_steps"] == pytest.approx(sum(e.length for e in episodes) / 12)


def test_same_seed_same_run_and_other_seed_differs(tmp_path):
    _, a = run(tmp_path, "a", "--agent", "random", "--episodes", "5", "--seed", "7")
    _, b = run(tmp_path, "b", "--agent", "random", "--episodes", "5", "--seed", "7")
    _, c = run(tmp_path, "c", "--agent", "random", "--episodes", "5", "--seed", "8")
    log = lambda d: (d / "transitions.jsonl").read_bytes()  # noqa: E731
    assert log(a) == log(b) != log(c)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    sa.pop("seconds"), sb.pop("seconds")
    assert sa == sb and 0 <= sa["mean_return"] < 1


def test_resume_continues_an_interrupted_run_identically(tmp_path):
    _, full = run(tmp_path, "full", "--agent", "random", "--episodes", "8", "--seed", "2")
    _, part = run(tmp_path, "part", "--agent", "random", "--episodes", "5", "--seed", "2")
    with open(part / "transitions.jsonl", "a") as f:
        f.write('{"episode": 5, "t": 0, "observ')  # the process died mid-write
    code, _ = run(tmp_path, "part", "--agent", "random", "--episodes", "8", "--seed", "2", "--resume")
    assert code == 0
    assert (part / "transitions.jsonl").read_bytes() == (full / "transitions.jsonl").read_bytes()
    assert json.loads((part / "summary.json").read_text())["episodes"] == 8


def test_resume_of_a_batched_run_plays_the_episodes_it_lacks_not_the_count(tmp_path):
    """Batched episodes end out of order: a resumed run plays the missing numbers, each episode once."""
    args = ("--agent", "solver", "--episodes", "12", "--seed", "4", "--num-envs", "3")
    _, full = run(tmp_path, "full", *args)
    lines = (full / "transitions.jsonl").read_text().splitlines(keepends=True)
    ends = [n for n, line in enumerate(lines) if '"return"' in line]
    done, cut = set(), None
    for n in ends:
        done.add(json.loads(lines[n])["episode"])
        if done != set(range(len(done))):  # an episode finished before an earlier one: the case
            cut = n + 1
            break
    assert cut is not None and cut < len(lines), "the solver's episodes should end out of order"
    part = tmp_path / "part"
    part.mkdir()
    (part / "config.json").write_text((full / "config.json").read_text())
    (part / "transitions.jsonl").write_text("".join(lines[:cut]))
    code, _ = run(tmp_path, "part", *args, "--resume")
    assert code == 0
    episodes = lambda d: sorted(  # noqa: E731
        (r.episode, r.seed, r.length, r.return_)
        for r in read_log(d / "transitions.jsonl")
        if isinstance(r, EpisodeRecord)
    )
    assert episodes(part) == episodes(full) and [e[0] for e in episodes(part)] == list(range(12))
    steps = lambda d: sorted(line for line in (d / "transitions.jsonl").read_text().splitlines() if '"t":' in line)  # noqa: E731
    assert steps(part) == steps(full)
    assert json.loads((part / "summary.json").read_text())["episodes"] == 12


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    run(tmp_path, "r", "--agent", "random", "--episodes", "2")
    code, _ = run(tmp_path, "r", "--agent", "solver", "--episodes", "4", "--resume")
    assert code == 1 and "agent" in capsys.readouterr().err


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    run(tmp_path, "r", "--agent", "random", "--episodes", "2")
    code, _ = run(tmp_path, "r", "--agent", "random", "--episodes", "2")
    assert code == 1 and "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--env", "procmem_gym/Nope-v0", "--agent", "random"], "procmem_gym/Mastermind-v0"),
        (["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "genius"], "unknown agent"),
        (["run", "--env", "CartPole-v1", "--agent", "solver"], "Mastermind only"),
        (["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--mode", "inject"], "--memory"),
    ],
)
def test_bad_arguments_give_one_line_errors(tmp_path, capsys, argv, message):
    code = main(argv + ["--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


def test_an_option_out_of_its_range_is_a_usage_error_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "0"])
    assert stop.value.code == 2 and "--episodes" in capsys.readouterr().err


def test_console_script_runs(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "procmem_gym.cli.main",
            "run",
            "--env",
            "procmem_gym/Mastermind-hard-v0",
            "--agent",
            "solver",
            "--episodes",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "success_rate" in proc.stdout and "1.000" in proc.stdout
