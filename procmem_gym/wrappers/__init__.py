"""The memory wrappers: procedural memory for any Gymnasium env, single or vector.

As in Gymnasium, the two are sibling classes: :class:`ProceduralMemoryWrapper`
(:mod:`.single`, a ``gymnasium.Wrapper``) and :class:`ProceduralMemoryVectorWrapper`
(:mod:`.vector`, a ``gymnasium.vector.VectorWrapper``); :func:`wrap` picks the one that fits
the env. Both are shells over :class:`~procmem_gym.wrappers.episode.EpisodeSlot` (one episode:
who acts, accounting, log lines), which asks :class:`~procmem_gym.wrappers.tracking.SkillTracker`
which skill is active, and reports it as a :class:`~procmem_gym.wrappers.info.ProcmemInfo`.
"""

from procmem_gym.wrappers.info import ProcmemInfo
from procmem_gym.wrappers.single import ProceduralMemoryWrapper, wrap
from procmem_gym.wrappers.vector import ProceduralMemoryVectorWrapper

__all__ = ["ProceduralMemoryWrapper", "ProceduralMemoryVectorWrapper", "ProcmemInfo", "wrap"]
