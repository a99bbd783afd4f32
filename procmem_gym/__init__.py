"""procmem-gym: procedural memory for LLM agents as a Gymnasium wrapper.

``import procmem_gym`` registers the ``procmem_gym/`` environments and imports no heavy
dependency (torch, transformers, alfworld, matplotlib).
"""

__version__ = "0.1.0"

from procmem_gym import envs as _envs  # noqa: E402,F401  (registers the environment ids)
from procmem_gym.errors import ProcMemError  # noqa: E402
from procmem_gym.memory import MemoryFormatError, ProceduralMemory  # noqa: E402
from procmem_gym.skill import Skill, SkillError  # noqa: E402
from procmem_gym.vector_wrapper import ProceduralMemoryVectorWrapper  # noqa: E402
from procmem_gym.wrapper import ProceduralMemoryWrapper  # noqa: E402

__all__ = [
    "Skill",
    "SkillError",
    "ProceduralMemory",
    "ProceduralMemoryWrapper",
    "ProceduralMemoryVectorWrapper",
    "MemoryFormatError",
    "ProcMemError",
    "__version__",
]
