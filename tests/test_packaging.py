"""Packaging: envs/ and agents/ install as procmem_gym.envs and procmem_gym.agents, normal and editable.

Each install is unpacked into its own site dir; a fresh interpreter drops every other copy of the project
from its import machinery (the editable install the tests run from, the checkout itself), adds
the prefix as a site dir, and imports from there.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import site, sys
root, prefix_site = sys.argv[1], sys.argv[2]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path[:] = [p for p in sys.path if p and p not in (root, "") and "__editable__" not in p]
site.addsitedir(prefix_site)
import gymnasium, procmem_gym, procmem_gym.envs, procmem_gym.agents
from procmem_gym.agents import MastermindSolver
env = gymnasium.make("procmem_gym/Mastermind-v0")
obs, info = env.reset(seed=0)
print(procmem_gym.__file__)
print(procmem_gym.envs.__file__)
print(procmem_gym.agents.__file__)
print(MastermindSolver().act(obs, info))
from procmem_gym.envs.alfworld import bundled_games_dir
games = bundled_games_dir()
print(games)
print(len(list(games.rglob("traj_data.json"))), len(list(games.rglob("initial_state.pddl"))))
"""


def install(tmp_path: Path, editable: bool) -> Path:
    """Build the (editable) wheel with the PEP 517/660 backend and unpack it, as pip would.

    Calling the backend directly keeps pip away from the environment the tests run in: pip
    uninstalls an installed copy of the project even when told to install into a --prefix.
    """
    wheels = tmp_path / "wheels"
    hook = "build_editable" if editable else "build_wheel"
    code = f"import sys, setuptools.build_meta as b; print(b.{hook}(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(wheels)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    site_dir = tmp_path / ("editable" if editable else "normal")
    with zipfile.ZipFile(wheels / proc.stdout.strip().splitlines()[-1]) as wheel:
        wheel.extractall(site_dir)
    return site_dir


def probe(tmp_path: Path, site_dir: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT), str(site_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.slow
def test_normal_install_ships_envs_and_agents(tmp_path):
    site_dir = install(tmp_path, editable=False)
    pkg, envs, agents, action, games, counts = probe(tmp_path, site_dir)
    assert Path(pkg).is_relative_to(site_dir)
    # the bundled ALFWorld sample games are package data of the wheel
    assert Path(games) == site_dir / "procmem_gym" / "envs" / "alfworld" / "games"
    assert counts == "18 18"
    assert Path(envs) == site_dir / "procmem_gym" / "envs" / "__init__.py"
    assert Path(agents) == site_dir / "procmem_gym" / "agents" / "__init__.py"
    assert action.startswith("[")
    assert (site_dir / "procmem_gym" / "envs" / "mastermind" / "vector.py").exists()


@pytest.mark.slow
def test_editable_install_maps_envs_and_agents_to_the_checkout(tmp_path):
    site_dir = install(tmp_path, editable=True)
    pkg, envs, agents, action, games, counts = probe(tmp_path, site_dir)
    assert Path(pkg) == ROOT / "procmem_gym" / "__init__.py"
    assert Path(games) == ROOT / "envs" / "alfworld" / "games"
    assert counts == "18 18"
    assert Path(envs) == ROOT / "envs" / "__init__.py"
    assert Path(agents) == ROOT / "agents" / "__init__.py"
    assert action.startswith("[")


def test_import_is_light():
    code = (
        "import sys, procmem_gym, gymnasium\n"
        "heavy = [m for m in ('torch', 'transformers', 'alfworld', 'matplotlib', 'textworld') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'procmem_gym/Mastermind-v0' in gymnasium.registry\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_tests_cannot_reach_the_network():
    """The guard in conftest refuses non-loopback connections before any packet is sent."""
    import os
    import socket

    class NotASocket:  # if the guard were missing, socket's own connect would reject this object
        family = socket.AF_INET

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(RuntimeError, match="must not reach the network"):
        socket.socket.connect(NotASocket(), ("192.0.2.1", 443))  # a documentation-only address
