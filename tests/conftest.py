"""Shared test settings: offline, and the ids procmem-gym registers."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402

import procmem_gym  # noqa: E402,F401  (registers the ids)

MASTERMIND_IDS = sorted(k for k in gym.registry if k.startswith("procmem_gym/Mastermind"))


@pytest.fixture(params=MASTERMIND_IDS)
def mastermind_id(request) -> str:
    """Every registered Mastermind id."""
    return request.param
