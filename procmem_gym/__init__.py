"""procmem-gym: procedural memory for LLM agents as a Gymnasium wrapper.

``import procmem_gym`` registers the ``procmem_gym/`` environments and imports no heavy
dependency (torch, transformers, alfworld, matplotlib). The packages, one concept each
(docs/design.md#layout): :mod:`procmem_gym.skills`, :mod:`procmem_gym.memory`,
:mod:`procmem_gym.wrappers`, :mod:`procmem_gym.rollouts`, :mod:`procmem_gym.learning`,
:mod:`procmem_gym.analysis`, :mod:`procmem_gym.files`, the envs (:mod:`procmem_gym.envs`),
the agents (:mod:`procmem_gym.agents`) and the command line (:mod:`procmem_gym.cli`).
"""

__version__ = "0.1.0"

from procmem_gym import moved as _moved  # noqa: E402

_moved.install()  # old flat import paths (procmem_gym.runner, ...) resolve to the new modules

from procmem_gym import envs as _envs  # noqa: E402,F401  (registers the environment ids)
from procmem_gym.errors import ProcMemError  # noqa: E402
from procmem_gym.memory import MemoryFormatError, ProceduralMemory  # noqa: E402
from procmem_gym.skills import Skill, SkillError  # noqa: E402
from procmem_gym.wrappers import ProceduralMemoryVectorWrapper, ProceduralMemoryWrapper, ProcmemInfo, wrap  # noqa: E402

__all__ = [
    "Skill",
    "SkillError",
    "ProceduralMemory",
    "ProceduralMemoryWrapper",
    "ProceduralMemoryVectorWrapper",
    "ProcmemInfo",
    "wrap",
    "MemoryFormatError",
    "ProcMemError",
    "__version__",
]
