"""Shared test settings: offline, and the ids procmem-gym registers."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import socket  # noqa: E402

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402

import procmem_gym  # noqa: E402,F401  (registers the ids)

_connect = socket.socket.connect


def _loopback_only(sock, address):
    """Fail any test that opens a connection off this machine (a model download, say)."""
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1") or sock.family == socket.AF_UNIX):
        raise RuntimeError(f"tests must not reach the network: connection to {address!r} attempted")
    return _connect(sock, address)


socket.socket.connect = _loopback_only

MASTERMIND_IDS = sorted(k for k in gym.registry if k.startswith("procmem_gym/Mastermind"))


@pytest.fixture(params=MASTERMIND_IDS)
def mastermind_id(request) -> str:
    """Every registered Mastermind id."""
    return request.param
