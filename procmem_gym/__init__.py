"""procmem-gym: procedural memory for LLM agents as a Gymnasium wrapper.

``import procmem_gym`` registers the ``procmem_gym/`` environments and imports no heavy
dependency (torch, transformers, alfworld, matplotlib).
"""

from procmem_gym import envs as _envs  # noqa: F401  (registers the environment ids)
from procmem_gym.memory import MemoryFormatError, ProceduralMemory
from procmem_gym.skill import Skill, SkillError
from procmem_gym.wrapper import ProceduralMemoryWrapper

__version__ = "0.1.0"

__all__ = ["Skill", "SkillError", "ProceduralMemory", "ProceduralMemoryWrapper", "MemoryFormatError", "__version__"]
