"""Files the project writes: atomic, and with the permissions the user's umask gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from procmem_gym.files.atomic import write_json_atomic


def test_files_written_atomically_get_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        write_json_atomic(tmp_path / "state.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o640


def test_run_never_writes_its_input_memory_even_inside_out(tmp_path):
    import shutil

    from procmem_gym.cli.main import main

    out = tmp_path / "run"
    out.mkdir()
    example = Path(__file__).resolve().parents[1] / "examples" / "mastermind-v0-memory.json"
    shutil.copy(example, out / "memory.json")
    before = (out / "memory.json").read_bytes()
    args = ["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "3"]
    assert main([*args, "--memory", str(out / "memory.json"), "--mode", "inject", "--out", str(out)]) == 0
    assert (out / "memory.json").read_bytes() == before  # the input is left as it was
    assert (out / "memory.run.json").exists()  # the run's copy, with the skills' stats
