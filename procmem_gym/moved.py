"""Import paths of modules that moved when the core was grouped by concept; old paths keep working.

Scripts written against the flat layout (``from procmem_gym.runner import Rollouts``,
``import procmem_gym.transitions``) keep running: an import of an old path returns the module
at its new path, the same module object (so classes, ``isinstance`` and monkeypatching agree).
:data:`MOVED` is the whole table; docs/design.md#layout says where everything lives now.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__ = ["MOVED", "install"]

#: Old module path -> new module path.
MOVED: dict[str, str] = {
    "procmem_gym.skill": "procmem_gym.skills.skill",
    "procmem_gym.constraint": "procmem_gym.skills.constraint",
    "procmem_gym.patterns": "procmem_gym.skills.patterns",
    "procmem_gym.skillmd": "procmem_gym.skills.skillmd",
    "procmem_gym.scoring": "procmem_gym.skills.scoring",
    "procmem_gym.embedding": "procmem_gym.memory.embedding",
    "procmem_gym.sentence_encoder": "procmem_gym.memory.sentence_encoder",
    "procmem_gym.vectors": "procmem_gym.memory.vectors",
    "procmem_gym.retrieval": "procmem_gym.memory.retrieval",
    "procmem_gym.wrapper": "procmem_gym.wrappers.single",
    "procmem_gym.vector_wrapper": "procmem_gym.wrappers.vector",
    "procmem_gym.episode": "procmem_gym.wrappers.episode",
    "procmem_gym.tracking": "procmem_gym.wrappers.tracking",
    "procmem_gym.runner": "procmem_gym.rollouts.runner",
    "procmem_gym.raybackend": "procmem_gym.rollouts.ray_backend",
    "procmem_gym.transitions": "procmem_gym.rollouts.transitions",
    "procmem_gym.runfolder": "procmem_gym.rollouts.runfolder",
    "procmem_gym.evaluation": "procmem_gym.analysis.evaluation",
    "procmem_gym.report": "procmem_gym.analysis.report",
    "procmem_gym.plotting": "procmem_gym.analysis.memory_plot",
    "procmem_gym.atomic": "procmem_gym.files.atomic",
    "procmem_gym.safeio": "procmem_gym.files.reading",
    "procmem_gym.locking": "procmem_gym.files.locking",
    "procmem_gym.agents.constraints": "procmem_gym.agents.guess_grammar",
    "procmem_gym.cli.agents": "procmem_gym.agents.factory",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and loads it as the module at the new path."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """Return a spec for an old module path, None for any other."""
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        """Return the module at the new path (imported now if it was not yet)."""
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module at the new path is already imported."""


def install() -> None:
    """Make the old import paths resolve (once per process)."""
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules())
