"""The layout's rules, checked on the source: the library never imports the CLI, env facts live in envs/,
design references resolve, every exception is listed, and old import paths still work."""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from procmem_gym.envs.families import COMMANDS_KEY, FAMILIES

import procmem_gym
from procmem_gym.errors import ProcMemError
from procmem_gym.moved import MOVED

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> package name.
PACKAGES = {"procmem_gym": "procmem_gym", "agents": "procmem_gym.agents", "envs": "procmem_gym.envs"}
#: An env's own agents: they may name the env's info keys.
ENV_AGENTS = {"agents/mastermind_solver.py", "agents/guess_grammar.py", "agents/alfworld_expert.py"}
#: procmem-gym's own vocabulary that is an env's info key too (the log's "success", a skill's "max_steps",
#: the memory file's "history" of iterations).
OWN_WORDS = {"success", "max_steps", "step", "procmem", "history", COMMANDS_KEY}


def sources():
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def docstrings(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def strings(tree):
    skip = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node


def test_no_library_module_imports_the_cli():
    offenders = []
    for rel, tree in sources():
        if rel.startswith("procmem_gym/cli/"):
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "procmem_gym.cli" or n.startswith("procmem_gym.cli.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def env_only_keys(alfworld_info):
    keys = set(alfworld_info)
    for env_id in (k for k in gym.registry if k.startswith("procmem_gym/Mastermind")):
        env = gym.make(env_id)
        _, info = env.reset(seed=0)
        keys |= set(info)
        for action in ("[1 2 3 4]", "not a guess", "not a guess"):
            _, _, term, trunc, info = env.step(action)
            keys |= set(info)
            if term or trunc:
                break
    for family in FAMILIES.values():
        keys |= set(family.success_keys) | set(family.unlogged_keys)
        keys |= {k for k in (family.task_info_key, family.source_info_key, family.invalid_key) if k}
    return keys - OWN_WORDS


@pytest.fixture(scope="module")
def alfworld_info(tmp_path_factory):
    pytest.importorskip("alfworld")
    from procmem_gym.cli.main import main

    data = tmp_path_factory.mktemp("alfworld")
    assert main(["alfworld", "prepare", str(data), "--sample"]) == 0
    env = gym.make("procmem_gym/ALFWorld-v0", data_dir=str(data), split="train")
    _, info = env.reset(seed=0)
    keys = set(info)
    _, _, _, _, info = env.step("look")
    env.close()
    return keys | set(info)


def test_no_module_outside_envs_names_an_env_id_or_an_env_only_info_key(alfworld_info):
    keys = env_only_keys(alfworld_info)
    assert {"code_length", "gamefile", "won", "goal", "expert_action"} <= keys  # the check sees the envs
    ids = [k for k in gym.registry if k.startswith("procmem_gym/")]
    offenders = []
    for rel, tree in sources():
        if rel.startswith("envs/") or rel in ENV_AGENTS:
            continue
        for node in strings(tree):
            if node.value in keys or any(i in node.value for i in ids):
                offenders.append(f"{rel}:{node.lineno} {node.value!r}")
    assert offenders == []


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_design_doc_exists_and_every_reference_resolves():
    design = (ROOT / "docs" / "design.md").read_text()
    anchors = {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", design, re.M)}
    refs = []
    for folder in [*PACKAGES, "tests", "benchmarks"]:
        for path in (ROOT / folder).rglob("*.py"):
            refs += [(path.name, m.group(1)) for m in re.finditer(r"docs/design\.md#([\w\-]+)", path.read_text())]
    refs += [
        ("setup.cfg", m.group(1)) for m in re.finditer(r"docs/design\.md#([\w\-]+)", (ROOT / "setup.cfg").read_text())
    ]
    assert len(refs) >= 8
    assert [r for r in refs if r[1] not in anchors] == []
    for folder in [*PACKAGES, "tests", "benchmarks"]:
        for path in (ROOT / folder).rglob("*.py"):
            assert "DESIGN" + ".md" not in path.read_text(), path  # the first brief is not the project's design


def project_exceptions():
    seen = {}
    for rel, _ in sources():
        if rel.endswith("__main__.py"):
            continue
        folder = rel.split("/")[0]
        name = PACKAGES[folder] + "." + rel.split("/", 1)[1][:-3].replace("/", ".")
        name = name.removesuffix(".__init__")
        try:
            module = importlib.import_module(name)
        except ImportError:  # an extra that is not installed
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ProcMemError) and obj.__module__ == module.__name__:
                seen[obj.__name__] = obj
    return seen


def test_every_exception_ends_in_error_and_is_listed_in_errors_py():
    listed = set(re.findall(r"^``(\w+)``\s{2,}``", procmem_gym.errors.__doc__, re.M))
    found = project_exceptions()
    assert len(found) >= 20
    assert sorted(n for n in found if not n.endswith("Error")) == []
    assert sorted(set(found) - listed) == []
    assert sorted(listed - set(found)) == []


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_import_paths_give_the_moved_module(old):
    module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_old_names_of_renamed_things_still_import_with_a_warning():
    from procmem_gym.runner import Rollouts  # noqa: F401  (an old path, as scripts wrote it)

    with pytest.warns(DeprecationWarning, match="LogprobsUnavailableError"):
        from procmem_gym.errors import LogprobsUnavailable
    assert LogprobsUnavailable is procmem_gym.errors.LogprobsUnavailableError
    with pytest.warns(DeprecationWarning, match="InvalidGuessError"):
        from procmem_gym.envs.mastermind import InvalidGuess  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.import_module("procmem_gym.tracking")  # moved modules import without a warning
