"""ProceduralMemoryVectorWrapper: the memory wrapper for ``gymnasium.vector`` envs (next-step autoreset).

Each sub-env has its own skill tracker and episode buffer; all share one memory and one log.
``ProceduralMemoryWrapper(vector_env, ...)`` returns this wrapper, so users need not pick.
``info["procmem"]`` is an object array with one ``procmem`` dict per sub-env.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from procmem_gym.memory import ProceduralMemory
from procmem_gym.tracking import SkillTracker
from procmem_gym.transitions import EpisodeRecord, TransitionLog
from procmem_gym.wrapper import _EMPTY, MODES, EpisodeLogger, _action_text, action_from_text, describe_default, episode_record


def env_info(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Return sub-env ``i``'s part of a vector info dict (keys whose ``_key`` mask is set for it)."""
    out = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get("_" + key)
        if mask is not None and not mask[i]:
            continue
        try:
            out[key] = value[i]
        except (TypeError, IndexError, KeyError):
            continue
    return out


class ProceduralMemoryVectorWrapper(VectorWrapper):
    """Procedural memory and transition logging for N sub-envs stepped together."""

    def __init__(
        self,
        env: VectorEnv,
        memory: ProceduralMemory | None = None,
        mode: str | None = None,
        log_path: str | os.PathLike | None = None,
        describe: Callable[[Any, dict[str, Any]], str] = describe_default,
        append: bool = False,
        episode_offset: int = 0,
        update_memory: bool = True,
        log_info_exclude: tuple[str, ...] = ("history", "procmem"),
        episode_limit: int | None = None,
        **unsupported: Any,
    ) -> None:
        super().__init__(env)
        if unsupported:
            raise TypeError(f"not supported for vector envs: {', '.join(unsupported)}")
        autoreset = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if autoreset != AutoresetMode.NEXT_STEP:
            raise ValueError(f"the memory wrapper needs next-step autoreset, the vector env uses {autoreset}")
        mode = mode or ("off" if memory is None else "guide")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "off" and memory is None:
            raise ValueError(f"mode={mode!r} needs a memory; pass memory=... or use mode='off'")
        n = env.num_envs
        self.memory, self.mode, self.describe, self.update_memory = memory, mode, describe, update_memory
        self.log = TransitionLog(log_path, append=append) if log_path is not None else None
        exclude = frozenset(log_info_exclude)
        self.loggers = [EpisodeLogger(self.log, exclude) for _ in range(n)]
        self.trackers = [SkillTracker(memory) for _ in range(n)] if memory is not None and mode != "off" else None
        self.episodes: list[EpisodeRecord] = []
        self._next_episode = episode_offset
        self._episode = [0] * n
        self._seed: list[int | None] = [None] * n
        self._text = [""] * n
        self._procmem: list[dict[str, Any]] = [dict(_EMPTY) for _ in range(n)]
        self._return = [0.0] * n
        self._steps = [0] * n
        self._resetting = np.zeros(n, dtype=bool)
        #: After ``episode_limit`` episodes have started, sub-envs that reset go idle: nothing is logged for them.
        self.episode_limit = None if episode_limit is None else episode_offset + episode_limit
        self.active = np.ones(n, dtype=bool)

    @property
    def resetting(self) -> np.ndarray:
        """Return which sub-envs will be reset by the next step (their action is ignored)."""
        return self._resetting.copy()

    def _begin(self, i: int, obs: Any, info: dict[str, Any], seed: int | None) -> None:
        if self.episode_limit is not None and self._next_episode >= self.episode_limit:
            self.active[i] = False
            self._procmem[i] = dict(_EMPTY)
            return
        self.active[i] = True
        self._episode[i] = self._next_episode
        self._next_episode += 1
        self._seed[i], self._return[i], self._steps[i] = seed, 0.0, 0
        self.loggers[i].buffer = []
        self._text[i] = self.describe(obs, info)
        if self.trackers is not None:
            self._procmem[i] = self.trackers[i].begin(self._text[i])

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env and start N episodes."""
        obs, info = self.env.reset(seed=seed, options=options)
        seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(self.num_envs)]
        for i in range(self.num_envs):
            self._begin(i, obs[i], env_info(info, i), seeds[i])
        self._resetting[:] = False
        return obs, self._with_procmem(info)

    def step(self, actions: Sequence[Any]) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs (skill actions replace the policy's in inject mode) and log each transition."""
        n = self.num_envs
        sent = list(actions)
        sources = ["policy"] * n
        if self.mode == "inject":
            for i in range(n):
                nxt = self._procmem[i].get("next_action")
                if nxt is not None and not self._resetting[i] and self.active[i]:
                    skill_action = action_from_text(self.single_action_space, nxt)
                    if skill_action is not None:  # as in the single-env wrapper: no action of this env, ignored
                        sent[i], sources[i] = skill_action, "skill"
        if isinstance(actions, np.ndarray):
            try:  # keep the batch an array when every skill action fits it
                sent = np.stack([np.asarray(a, dtype=actions.dtype) for a in sent])
            except (TypeError, ValueError):
                pass
        obs, rewards, terminated, truncated, info = self.env.step(sent)
        for i in range(n):
            sub_info = env_info(info, i)
            if self._resetting[i]:  # this step reset sub-env i: a new episode starts, nothing to log
                self._begin(i, obs[i], sub_info, None)
                continue
            if not self.active[i]:
                continue
            done = bool(terminated[i] or truncated[i])
            self._return[i] += float(rewards[i])
            text = self.describe(obs[i], sub_info)
            skill_id = event = None
            if self.trackers is not None:
                skill_id, event, self._procmem[i] = self.trackers[i].step(text, done)
            extra = {"policy_action": actions[i]} if sources[i] == "skill" else {}
            self.loggers[i].add(
                episode=self._episode[i], t=self._steps[i], observation=self._text[i],
                action=sent[i] if isinstance(sent[i], str) else _action_text(sent[i]), action_source=sources[i],
                reward=float(rewards[i]), terminated=bool(terminated[i]), truncated=bool(truncated[i]),
                skill=skill_id, skill_event=event, info={**sub_info, **extra},
            )
            self._steps[i] += 1
            self._text[i] = text
            if done:
                self._finish(i, sub_info)
        self._resetting = np.logical_or(terminated, truncated)
        return obs, rewards, terminated, truncated, self._with_procmem(info)

    def _finish(self, i: int, info: dict[str, Any]) -> None:
        tracker = self.trackers[i] if self.trackers is not None else None
        record = episode_record(tracker, self._episode[i], self._return[i], self._steps[i], info, self._seed[i], self.update_memory)
        self.episodes.append(record)
        self.loggers[i].finish(record)
        self._procmem[i] = dict(_EMPTY)

    def _with_procmem(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        procmem = np.empty(self.num_envs, dtype=object)
        for i, p in enumerate(self._procmem):
            procmem[i] = p
        info["procmem"] = procmem
        info["_procmem"] = np.ones(self.num_envs, dtype=bool)
        return info

    def close(self, **kwargs: Any) -> None:
        """Write unfinished episodes' transitions (no episode line), close the log and the vector env."""
        for logger in self.loggers:
            logger.finish(None)
        if self.log is not None:
            self.log.close()
        super().close(**kwargs)
