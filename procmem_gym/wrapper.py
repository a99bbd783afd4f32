"""ProceduralMemoryWrapper: watches every step of any Gymnasium env and logs it.

This is the loop every mode shares (DESIGN.md section 4). In ``mode="off"`` it only logs, so
the no-memory baseline runs exactly the same code as a run with memory.
"""

from __future__ import annotations

import os
from typing import Any, Callable, SupportsFloat

import gymnasium as gym

from procmem_gym.transitions import EpisodeRecord, Transition, TransitionLog, loggable_info

MODES = ("guide", "inject", "off")


def describe_default(observation: Any, info: dict[str, Any]) -> str:
    """Return the text that conditions and retrieval read for an observation.

    Text observations are used as they are; ``info["text_observation"]`` wins when present;
    anything else is rendered compactly (numbers rounded, arrays flattened).
    """
    if isinstance(observation, str):
        return observation
    text = info.get("text_observation") if isinstance(info, dict) else None
    if isinstance(text, str):
        return text
    try:
        import numpy as np

        arr = np.asarray(observation, dtype=float).ravel()
        return " ".join(f"{x:.3g}" for x in arr)
    except (TypeError, ValueError):
        return str(observation)


class ProceduralMemoryWrapper(gym.Wrapper):
    """Log every transition of ``env`` and expose ``info["procmem"]``.

    >>> import gymnasium, procmem_gym, tempfile, os
    >>> env = gymnasium.make("procmem_gym/Mastermind-v0")
    >>> path = os.path.join(tempfile.mkdtemp(), "transitions.jsonl")
    >>> env = ProceduralMemoryWrapper(env, mode="off", log_path=path)
    >>> obs, info = env.reset(seed=0)
    >>> info["procmem"]["active_skill"] is None
    True
    >>> env.close()
    """

    def __init__(
        self,
        env: gym.Env,
        memory: Any = None,
        mode: str = "off",
        log_path: str | os.PathLike | None = None,
        describe: Callable[[Any, dict[str, Any]], str] = describe_default,
        append: bool = False,
        episode_offset: int = 0,
        log_info_exclude: tuple[str, ...] = ("history", "procmem"),
    ) -> None:
        super().__init__(env)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "off" and memory is None:
            raise ValueError(f"mode={mode!r} needs a memory; pass memory=... or use mode='off'")
        self.memory = memory
        self.mode = mode
        self.describe = describe
        self.log = TransitionLog(log_path, append=append) if log_path is not None else None
        self.log_info_exclude = frozenset(log_info_exclude)
        #: Records of the episodes finished through this wrapper, in order.
        self.episodes: list[EpisodeRecord] = []
        self._episode = episode_offset - 1
        self._seed: int | None = None
        self._obs: Any = None
        self._buffer: list[Transition] = []
        self._return = 0.0
        self._steps = 0
        self._in_episode = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env and start a new episode in the log."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode += 1
        self._seed = seed
        self._obs = obs
        self._buffer = []
        self._return = 0.0
        self._steps = 0
        self._in_episode = True
        info = dict(info)
        info["procmem"] = self._procmem_info()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env, log the transition, and close the episode when it ends."""
        if not self._in_episode:
            raise RuntimeError("step() before reset(): call reset() to start an episode")
        source = "policy"
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        self._return += float(reward)
        if self.log is not None:
            self._buffer.append(
                Transition(
                    episode=self._episode,
                    t=self._steps,
                    observation=self.describe(self._obs, info),
                    action=action if isinstance(action, str) else repr(action),
                    action_source=source,
                    reward=float(reward),
                    terminated=bool(terminated),
                    truncated=bool(truncated),
                    info=loggable_info(info, self.log_info_exclude),
                )
            )
        self._steps += 1
        self._obs = obs
        info["procmem"] = self._procmem_info()
        if terminated or truncated:
            self._finish(info)
        return obs, reward, terminated, truncated, info

    def _finish(self, info: dict[str, Any]) -> None:
        success = bool(info.get("success", info.get("won", False)))
        record = EpisodeRecord(
            episode=self._episode,
            return_=self._return,
            length=self._steps,
            success=success,
            seed=self._seed,
        )
        self.episodes.append(record)
        if self.log is not None:
            self.log.write_episode(self._buffer, record)
        self._buffer = []
        self._in_episode = False

    def _procmem_info(self) -> dict[str, Any]:
        return {"active_skill": None, "guidance": None, "next_action": None, "candidates": []}

    def close(self) -> None:
        """Close the log (finished episodes are already on disk) and the env."""
        if self.log is not None:
            self.log.close()
        super().close()
