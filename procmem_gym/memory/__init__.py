"""Procedural memory: the store of skills and everything it is made of.

The skill store (:mod:`.store`), its activation index (:mod:`.activation`), the file format
(:mod:`.fileformat`) and the evolution record (:mod:`.events`).
"""

from procmem_gym.memory.events import EVENT_KINDS, Event
from procmem_gym.memory.fileformat import FORMAT, VERSION, MemoryFormatError
from procmem_gym.memory.store import MaintenanceReport, ProceduralMemory, count_tokens

__all__ = [
    "ProceduralMemory",
    "MemoryFormatError",
    "MaintenanceReport",
    "Event",
    "EVENT_KINDS",
    "FORMAT",
    "VERSION",
    "count_tokens",
]
