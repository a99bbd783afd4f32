"""Hostile inputs, one test per cause: each command answers in one line naming the file, URL or option.

Every case runs the command line in a fresh process under a 1 GB address-space limit and a 10 s
deadline, and checks the exit status, that stderr is one line with no traceback, that it names
what was wrong, and that every input file is byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 1 << 30


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def cli(*args, cwd=None, timeout=10.0):
    """Run ``procmem-gym ARGS`` in a fresh process under the limits; return (status, stderr, seconds)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    start = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "procmem_gym.cli.main", *map(str, args)],
        preexec_fn=_limits,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=env,
    )
    return p.returncode, p.stderr, time.monotonic() - start


def digest(*paths):
    """Return the bytes of every regular file under ``paths`` (symlinks and FIFOs by their target name)."""
    out = {}
    for root in paths:
        root = Path(root)
        items = [root] if not root.is_dir() or root.is_symlink() else sorted(root.rglob("*"))
        for p in items:
            if p.name == ".lock":  # the writer's lock: made by any command that opens the folder for writing
                continue
            if p.is_symlink():
                out[str(p)] = "-> " + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.exists() and not p.is_dir():
                out[str(p)] = "special"
    return out


def refused(status, stderr, seconds, *names, code=1):
    """Assert the one-line refusal: status, one line, no traceback, each of ``names`` in it, in time."""
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert status == code, stderr
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 or code == 2, stderr  # argparse prints its usage, then one error line
    for name in names:
        assert str(name) in lines[-1], (name, lines[-1])
    assert seconds < 10


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert (
        cli("run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "3", "--out", out)[0] == 0
    )
    return out


@pytest.fixture(scope="module")
def learn_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("learns") / "learn"
    args = ["learn", "--agent", "random", "--episodes", "4", "--iterations", "1", "--eval-episodes", "2"]
    assert cli(*args, "--num-envs", "2", "--out", out, timeout=60)[0] == 0
    return out


def copy_run(run_dir, tmp_path, name="run"):
    import shutil

    target = tmp_path / name
    shutil.copytree(run_dir, target)
    (target / ".lock").unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------- A: every log reader is bounded


@pytest.mark.parametrize("kind", ["fifo", "zero", "full"])
def test_a_resume_and_compare_refuse_a_log_that_is_not_a_regular_file(run_dir, tmp_path, kind):
    run = copy_run(run_dir, tmp_path)
    log = run / "transitions.jsonl"
    log.unlink()
    if kind == "fifo":
        os.mkfifo(log)
    else:
        log.symlink_to(f"/dev/{kind}")
    before = digest(run)
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "3", "--out", run]
    refused(*cli(*argv, "--resume"), log)
    refused(*cli("compare", run, run_dir), log)
    assert digest(run) == before


def test_a_report_and_build_refuse_a_device_as_log(learn_dir, tmp_path):
    run = copy_run(learn_dir, tmp_path, "learn")
    log = run / "iter-000" / "transitions.jsonl"
    log.unlink()
    log.symlink_to("/dev/zero")
    before = digest(run)
    refused(*cli("report", run, "--out", tmp_path / "report"), log)
    refused(*cli("build", "--trajectories", log, "--strategy", "script", "--memory", tmp_path / "m.json"), log)
    assert digest(run) == before and not (tmp_path / "m.json").exists()


# ---------------------------------------------------------------- B: log records are typed


@pytest.mark.parametrize(
    "line",
    [
        '{"episode": 9, "return": 1.0, "length": Infinity, "success": true, "skills_used": []}',
        '{"episode": 9, "return": 1.0, "length": 3, "success": true, "skills_used": [], "seed": [1, 2]}',
        b'{"episode": 9, "t": 0, "observation": "\xff\xfe", "action": "x"}',
    ],
)
def test_b_resume_refuses_a_log_line_with_bad_values(run_dir, tmp_path, line):
    run = copy_run(run_dir, tmp_path)
    log = run / "transitions.jsonl"
    with open(log, "ab") as f:
        f.write((line if isinstance(line, bytes) else line.encode()) + b"\n")
    before = digest(run)
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "5", "--out", run]
    refused(*cli(*argv, "--resume"), log)
    assert digest(run) == before


# ---------------------------------------------------------------- C: folders the CLI makes


def test_c_an_output_folder_under_a_file_is_one_line(tmp_path, learn_dir):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    memory = ROOT / "examples" / "mastermind-v0-memory.json"
    refused(*cli("learn", "--agent", "random", "--episodes", "2", "--out", blocker / "sub"), blocker)
    refused(*cli("memory", "export", memory, "--out", blocker / "sub"), blocker)
    refused(*cli("report", learn_dir, "--out", blocker), blocker)
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "1"]
    refused(*cli(*argv, "--out", blocker / "sub"), blocker)
    assert blocker.read_text() == "keep me"


def test_c_alfworld_generate_into_a_file_is_one_line(tmp_path):
    pytest.importorskip("alfworld")
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    refused(*cli("alfworld", "generate", blocker, "--train", "1", "--valid-seen", "0", "--valid-unseen", "0"), blocker)
    assert blocker.read_text() == "keep me"


# ---------------------------------------------------------------- D and I: every option has a range


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["alfworld", "prepare", "DIR", "--human-goal-prob", "2"], "--human-goal-prob"),
        (["alfworld", "generate", "DIR", "--train", "-1"], "--train"),
        (["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--num-envs", "100000"], "--num-envs"),
        (["learn", "--group", "0"], "--group"),
        (["learn", "--temperature", "-1"], "--temperature"),
        (["learn", "--explore", "5"], "--explore"),
        (["learn", "--trust", "nan"], "--trust"),
        (["run", "--env", "x", "--agent", "random", "--server-timeout", "inf"], "--server-timeout"),
        (
            ["build", "--trajectories", "t", "--strategy", "script", "--memory", "m", "--min-support", "-5"],
            "--min-support",
        ),
        (["run", "--env", "x", "--agent", "random", "--episodes", "0"], "--episodes"),
    ],
)
def test_d_i_out_of_range_options_are_usage_errors(argv, option, tmp_path):
    argv = [str(tmp_path) if a == "DIR" else a for a in argv]
    refused(*cli(*argv), option, code=2)


def test_d_memory_plot_names_the_figure_format(tmp_path):
    memory = ROOT / "examples" / "mastermind-v0-memory.json"
    before = digest(memory)
    refused(*cli("memory", "plot", memory, "--out", tmp_path / "x.json"), "x.json")
    assert digest(memory) == before and not (tmp_path / "x.json").exists()


def test_i_num_envs_is_capped_at_the_episodes(tmp_path):
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "2", "--num-envs", "1024"]
    status, stderr, seconds = cli(*argv, "--out", tmp_path / "r")
    assert status == 0 and seconds < 10, stderr
    assert json.loads((tmp_path / "r" / "config.json").read_text())["num_envs"] == 2


def test_i_deep_json_and_infinite_numbers_are_one_line(tmp_path):
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "1"]
    refused(*cli(*argv, "--env-kwarg", "code_length=" + "[" * 5000, "--out", tmp_path / "r"), "--env-kwarg")
    skills = tmp_path / "skills"
    for name, meta in [("inf", "  max-steps: .inf\n"), ("deep", "  constraint: '" + "[" * 5000 + "'\n")]:
        (skills / name).mkdir(parents=True)
        (skills / name / "SKILL.md").write_text(f"---\nname: {name}\ndescription: when\nmetadata:\n{meta}---\nDo it.\n")
        before = digest(skills)
        refused(*cli("memory", "import", skills, "--out", tmp_path / f"{name}.json"), "SKILL.md")
        assert digest(skills) == before and not (tmp_path / f"{name}.json").exists()
        (skills / name / "SKILL.md").unlink()
        (skills / name).rmdir()


# ---------------------------------------------------------------- E: outputs never overwrite inputs


@pytest.mark.parametrize("name", ["config.json", "summary.json", "transitions.jsonl"])
def test_e_run_refuses_an_out_holding_its_input_memory_under_a_name_it_writes(tmp_path, name):
    out = tmp_path / "D"
    out.mkdir()
    memory = out / name
    memory.write_bytes((ROOT / "examples" / "mastermind-v0-memory.json").read_bytes())
    before = digest(out)
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "2", "--memory", memory]
    refused(*cli(*argv, "--out", out), memory, out)
    assert digest(out) == before


def test_e_learn_refuses_a_memory_named_like_its_outputs(tmp_path):
    out = tmp_path / "D"
    out.mkdir()
    memory = out / "evaluation.json"
    memory.write_bytes((ROOT / "examples" / "mastermind-v0-memory.json").read_bytes())
    before = digest(out)
    refused(*cli("learn", "--agent", "random", "--episodes", "2", "--memory", memory, "--out", out), memory)
    assert digest(out) == before


# ---------------------------------------------------------------- F: run-folder files are typed


def test_f_resume_refuses_a_summary_of_the_wrong_shape(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "seconds": "abc"}))
    before = digest(run)
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "5", "--out", run]
    refused(*cli(*argv, "--resume"), run / "summary.json", "seconds")
    assert digest(run) == before


@pytest.mark.parametrize(
    ("name", "edit", "field"),
    [
        ("evaluation.json", lambda d: {**d, "against_no_memory": {"learned": {"ci_low": "abc"}}}, "ci_low"),
        ("iter-000/report.json", lambda d: {**d, "skills": [1]}, "skills"),
        ("memory.json", lambda d: {**d, "skills": [{"name": 3}]}, "memory.json"),
        ("state.json", lambda d: {**d, "iterations_done": "two"}, "iterations_done"),
    ],
)
def test_f_report_and_resume_refuse_run_files_of_the_wrong_shape(learn_dir, tmp_path, name, edit, field):
    run = copy_run(learn_dir, tmp_path, "learn")
    path = run / name
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    before = digest(run)
    if name == "state.json":
        argv = ["learn", "--agent", "random", "--episodes", "4", "--iterations", "2", "--eval-episodes", "2"]
        refused(*cli(*argv, "--num-envs", "2", "--out", run, "--resume"), path, field)
    else:
        refused(*cli("report", run, "--out", tmp_path / "report"), path.name, field)
    assert digest(run) == before


# ---------------------------------------------------------------- G: report --out never collides


def test_g_report_never_writes_into_a_run_it_reads(learn_dir, tmp_path):
    run = copy_run(learn_dir, tmp_path, "learn")
    before = digest(run)
    refused(*cli("report", run, "--out", run / "iter-000"), "iter-000")
    refused(*cli("report", run, "--out", run), "--out")
    assert digest(run) == before


def test_g_two_runs_of_one_name_get_two_subfolders(learn_dir, tmp_path):
    a = copy_run(learn_dir, tmp_path / "x", "learn")
    b = copy_run(learn_dir, tmp_path / "x" / "y", "learn")  # same folder name, and the same parent name too
    status, stderr, _ = cli("report", a, b, a, "--out", tmp_path / "report", timeout=60)
    assert status == 0, stderr
    subs = sorted(p.name for p in (tmp_path / "report").iterdir() if p.is_dir())
    assert len(subs) == 3 and len(set(subs)) == 3


# ---------------------------------------------------------------- H: one deadline, protocol errors


class _RawServer:
    """A TCP server on 127.0.0.1 that sends what ``reply(sock)`` writes, then closes."""

    def __init__(self, reply):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.reply = reply
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        try:
            conn.recv(65536)
            self.reply(conn)
        except OSError:
            pass
        finally:
            conn.close()


def _trickle_headers(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(600):  # a header byte every 0.1 s: each read is quick, the whole never ends
        conn.sendall(b"X")
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("reply", "seconds"),
    [
        (_trickle_headers, 8),
        (lambda c: c.sendall(b"NOT HTTP AT ALL\r\n\r\n"), 8),
        (lambda c: c.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"), 8),
        (lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n"), 8),
        (lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 8),
    ],
)
def test_h_served_model_errors_are_one_line_within_the_deadline(tmp_path, reply, seconds):
    server = _RawServer(reply)
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", f"openai:m@{server.url}", "--episodes", "1"]
    status, stderr, took = cli(*argv, "--server-timeout", "3", "--server-retries", "0", "--out", tmp_path / "r")
    refused(status, stderr, took, "127.0.0.1")
    assert took < seconds


# ---------------------------------------------------------------- J: bounded constraint checks


def test_j_regex_and_unrepeated_constraints_on_extreme_are_bounded():
    from procmem_gym.agents.guess_grammar import allowed_guesses

    from procmem_gym.skills.constraint import Constraint

    variant = (6, 12, True, frozenset())
    for spec, taken in [
        ({"all": [{"matches": r"\[1 .*"}]}, ()),
        ({"all": [{"unrepeated": True}]}, ("[1 2 3 4 5 6]",)),
        ({"all": [{"count": "same_position", "with": "{g}", "op": "==", "value": 2}, {"matches": r"\[1 .*"}]}, ()),
    ]:
        bound = Constraint.from_dict(spec).bind("", {"g": "[1 2 3 4 5 6]"}, taken)
        allowed_guesses(variant, bound)  # warm the code table
        start = time.monotonic()
        allowed = allowed_guesses(variant, bound)
        assert time.monotonic() - start < 5
        if allowed is not None:
            assert all(bound.allows("[" + " ".join(map(str, c)) + "]") for c in allowed.codes[:200].tolist())


# ---------------------------------------------------------------- K: Ray start-up


@pytest.mark.parametrize("address", ["127.0.0.1:1", "auto", "not an address"])
def test_k_ray_start_up_is_bounded_and_one_line(tmp_path, address):
    pytest.importorskip("ray")
    argv = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "1", "--backend", "ray"]
    status, stderr, took = cli(*argv, "--ray-address", address, "--out", tmp_path / "r", timeout=30)
    refused(status, stderr, min(took, 9.9), "--ray-address")
    assert took < 10 and not (tmp_path / "r").exists()


# ---------------------------------------------------------------- still open from the last round


def test_old_a_skill_folder_linked_outside_the_import_folder_is_refused(tmp_path):
    outside = tmp_path / "outside" / "secret"
    outside.mkdir(parents=True)
    (outside / "SKILL.md").write_text("---\nname: secret\ndescription: when\n---\nDo it.\n")
    folder = tmp_path / "skills"
    folder.mkdir()
    (folder / "secret").symlink_to(outside)
    refused(*cli("memory", "import", folder, "--out", tmp_path / "m.json"), "outside")
    assert not (tmp_path / "m.json").exists()


def test_old_export_onto_a_file_named_like_the_skill_folder_is_one_line(tmp_path):
    from procmem_gym import ProceduralMemory

    memory = ProceduralMemory.load(ROOT / "examples" / "mastermind-v0-memory.json", embedder="hashing")
    from procmem_gym.skills.skillmd import slug

    out = tmp_path / "out"
    out.mkdir()
    (out / slug(memory.skills[0].name)).write_text("a file, not a folder")
    before = digest(out)
    refused(*cli("memory", "export", ROOT / "examples" / "mastermind-v0-memory.json", "--out", out), out)
    assert digest(out) == before


def test_old_alfworld_reset_on_a_file_that_is_no_game_is_one_clear_error(tmp_path):
    pytest.importorskip("alfworld")
    import gymnasium as gym
    from procmem_gym.envs.alfworld import ALFWorldDataError
    from procmem_gym.envs.alfworld.prepare import copy_sample_games, prepare_games

    data = copy_sample_games(tmp_path / "data")
    prepare_games(data)
    env = gym.make("procmem_gym/ALFWorld-v0", data_dir=str(data), split="train")
    for bad in ("/etc/passwd", "/dev/zero", str(tmp_path)):
        with pytest.raises(ALFWorldDataError, match="options\\['game'\\]") as err:
            env.reset(options={"game": bad})
        assert "\n" not in str(err.value)
    env.close()
