"""Runs whose logs must not change: sha256 of ``transitions.jsonl`` as the code before the architecture change wrote them.

These digests were taken from the code as it stood before the per-episode loop was reorganised
(issue 10, commit 0761d9b); the reorganised code reproduces them byte for byte. A change that
alters what these runs log must say why and update the digest. (LLM runs are checked the same
way by hand: float rounding differs between CPUs, so their digests do not belong in CI.)
"""

from __future__ import annotations

import hashlib
import json

import pytest

from procmem_gym.cli.main import main

EXAMPLE = "examples/mastermind-v0-memory.json"

GOLDEN = {
    "random": (
        ["--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "30", "--seed", "3"],
        "dcf3150e118f4cd2c323deb110fdd0eb1b5c281f35e9ffd41c8a89c3340c9b8f",
    ),
    "solver": (
        ["--env", "procmem_gym/Mastermind-hard-v0", "--agent", "solver", "--episodes", "20", "--seed", "1"],
        "3ec932c37a4a483eccd268ae3a534550e7588e2be1ccbe8dbd0b3cdba3cd24df",
    ),
    "random-inject": (
        [
            "--env",
            "procmem_gym/Mastermind-v0",
            "--agent",
            "random",
            "--episodes",
            "40",
            "--memory",
            EXAMPLE,
            "--mode",
            "inject",
            "--seed",
            "5",
        ],
        "762b884733402997ad52915f95aa409c3bdeca7b2a22b005eacfd5f949b2f530",
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_logs_are_byte_identical_to_the_recorded_ones(name, tmp_path, monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[1])
    argv, digest = GOLDEN[name]
    assert main(["run", *argv, "--out", str(tmp_path / name)]) == 0
    log = (tmp_path / name / "transitions.jsonl").read_bytes()
    assert hashlib.sha256(log).hexdigest() == digest
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    assert summary["episodes"] == int(argv[argv.index("--episodes") + 1])
