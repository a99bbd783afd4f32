"""Rollouts: playing seeded, logged episodes, and the files a run leaves behind.

- :mod:`.runner`: :class:`Rollouts` plays N seeded episodes of a policy in a wrapped (vector)
  env; :class:`RunSummary` is what ``summary.json`` holds;
- :mod:`.ray_backend`: the same rollouts with each env a Ray actor (``--backend ray``);
- :mod:`.transitions`: the transition log (``transitions.jsonl``), written and read back;
- :mod:`.runfolder`: the settings a run folder recorded, checked on ``--resume``.

The names below are imported on first use: the wrappers write the transition log, and the
runner uses the wrappers, so importing the runner here would make a cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Rollouts": "runner",
    "RunSummary": "runner",
    "summarize": "runner",
    "Episode": "transitions",
    "EpisodeRecord": "transitions",
    "Transition": "transitions",
    "TransitionLog": "transitions",
    "read_log": "transitions",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
