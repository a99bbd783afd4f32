"""The README's Python examples and the docstring examples run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)

MODULES = [
    "procmem_gym.skills.skill",
    "procmem_gym.memory.store",
    "procmem_gym.memory.events",
    "procmem_gym.rollouts.runner",
    "procmem_gym.envs.families",
    "procmem_gym.skills.patterns",
    "procmem_gym.memory.retrieval",
    "procmem_gym.memory.embedding",
    "procmem_gym.wrappers.single",
    "procmem_gym.envs.mastermind.env",
    "procmem_gym.envs.mastermind.vector",
    "procmem_gym.envs.mastermind.rules",
    "procmem_gym.agents.mastermind_solver",
    "procmem_gym.agents.random_policy",
    "procmem_gym.agents.prompts",
    "procmem_gym.skills.constraint",
    "procmem_gym.analysis.evaluation",
    "procmem_gym.learning.gate",
    "procmem_gym.files.reading",
    "procmem_gym.agents.openai_policy",
    "procmem_gym.agents.hf_policy",
    "procmem_gym.wrappers.episode",
    "procmem_gym.wrappers.info",
]


@pytest.mark.parametrize("number", range(len(README_BLOCKS)))
def test_readme_example_runs(number, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(README_BLOCKS[number], f"README.md block {number}", "exec"), {"__name__": "readme"})


def test_readme_has_examples():
    assert len(README_BLOCKS) >= 2


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
