"""Files the project writes: atomic, and with the permissions the user's umask gives."""

from __future__ import annotations

import os
import stat

from procmem_gym.atomic import write_json_atomic


def test_files_written_atomically_get_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        write_json_atomic(tmp_path / "state.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o640
