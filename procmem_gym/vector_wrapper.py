"""ProceduralMemoryVectorWrapper: the memory wrapper for ``gymnasium.vector`` envs (next-step autoreset).

A thin shell over one :class:`~procmem_gym.episode.EpisodeRun` per sub-env; all share one
memory and one log. ``info["procmem"]`` is an object array with one ``procmem`` dict per
sub-env, and :attr:`ProceduralMemoryVectorWrapper.policy_needed` says for which sub-envs the
policy must choose this step. ``ProceduralMemoryWrapper(vector_env, ...)`` builds this wrapper.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from procmem_gym.episode import check_mode, describe_default, make_runs, memory_from
from procmem_gym.errors import UsageError
from procmem_gym.memory import ProceduralMemory
from procmem_gym.transitions import Episode, EpisodeRecord, TransitionLog

__all__ = ["ProceduralMemoryVectorWrapper", "env_info"]


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
    """Procedural memory and transition logging for N sub-envs stepped together.

    With ``episode_limit``, sub-envs that reset after that many episodes have started go idle:
    nothing is logged for them and the policy is not needed for them.
    """

    def __init__(
        self,
        env: VectorEnv,
        memory: ProceduralMemory | str | os.PathLike | dict | None = None,
        mode: str | None = None,
        log_path: str | os.PathLike | None = None,
        describe: Callable[[Any, dict[str, Any]], str] = describe_default,
        append: bool = False,
        episode_offset: int = 0,
        update_memory: bool = True,
        log_info_exclude: tuple[str, ...] = ("history", "procmem"),
        episode_limit: int | None = None,
        success_key: str | None = None,
        keep_episodes: bool = False,
        **unsupported: Any,
    ) -> None:
        super().__init__(env)
        if unsupported:
            raise UsageError(f"not supported for vector envs: {', '.join(unsupported)}")
        autoreset = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if autoreset != AutoresetMode.NEXT_STEP:
            raise UsageError(f"the memory wrapper needs next-step autoreset, the vector env uses {autoreset}")
        memory = memory_from(memory)
        self.mode = mode = check_mode(mode, memory)
        self.memory, self.describe, self.update_memory = memory, describe, update_memory
        self.log = TransitionLog(log_path, append=append) if log_path is not None else None
        self.runs = make_runs(
            env.num_envs,
            memory,
            mode,
            env.single_action_space,
            self.log,
            frozenset(log_info_exclude),
            update_memory,
            success_key,
            keep_episodes,
        )
        self.episodes: list[EpisodeRecord] = []
        self.finished: list[Episode] = []
        self.keep_episodes = keep_episodes
        self._next_episode = episode_offset
        self._resetting = np.zeros(env.num_envs, dtype=bool)
        self.episode_limit = None if episode_limit is None else episode_offset + episode_limit
        #: Which sub-envs play an episode that is logged (False: idle after ``episode_limit``).
        self.active = np.ones(env.num_envs, dtype=bool)

    @property
    def resetting(self) -> np.ndarray:
        """Return which sub-envs will be reset by the next step (their action is ignored)."""
        return self._resetting.copy()

    @property
    def policy_needed(self) -> np.ndarray:
        """Return, per sub-env, whether the policy must choose its action this step.

        False for idle sub-envs, sub-envs the next step resets (their action is ignored), and
        sub-envs whose active skill injects the action.
        """
        return np.array(
            [bool(self.active[i] and not self._resetting[i] and run.policy_needed) for i, run in enumerate(self.runs)]
        )

    @property
    def skill_acting(self) -> np.ndarray:
        """Return, per sub-env, whether its active skill sends this step's action (inject mode)."""
        return np.array(
            [
                bool(self.active[i] and not self._resetting[i] and not run.policy_needed)
                for i, run in enumerate(self.runs)
            ]
        )

    def _begin(self, i: int, obs: Any, info: dict[str, Any], seed: int | None) -> None:
        if self.episode_limit is not None and self._next_episode >= self.episode_limit:
            self.active[i] = False
            self.runs[i].idle()
            return
        self.active[i] = True
        self.runs[i].begin(self._next_episode, seed, self.describe(obs, info))
        self._next_episode += 1

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env and start N episodes."""
        obs, info = self.env.reset(seed=seed, options=options)
        n = self.num_envs
        seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(n)]
        for i in range(n):
            self._begin(i, obs[i], env_info(info, i), seeds[i])
        self._resetting[:] = False
        return obs, self._with_procmem(info)

    def step(self, actions: Sequence[Any]) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs (skill actions replace the policy's in inject mode) and log each transition."""
        n = self.num_envs
        sent, sources = list(actions), ["policy"] * n
        for i, run in enumerate(self.runs):
            if self.active[i] and not self._resetting[i]:
                sent[i], sources[i] = run.choose(actions[i])
        if isinstance(actions, np.ndarray):
            try:  # keep the batch an array when every skill action fits it
                sent = np.stack([np.asarray(a, dtype=actions.dtype) for a in sent])
            except (TypeError, ValueError):
                pass
        obs, rewards, terminated, truncated, info = self.env.step(sent)
        for i, run in enumerate(self.runs):
            sub_info = env_info(info, i)
            if self._resetting[i]:  # this step reset sub-env i: a new episode starts, nothing to log
                self._begin(i, obs[i], sub_info, None)
                continue
            if not self.active[i]:
                continue
            episode = run.advance(
                sent[i],
                sources[i],
                actions[i],
                self.describe(obs[i], sub_info),
                float(rewards[i]),
                bool(terminated[i]),
                bool(truncated[i]),
                sub_info,
            )
            if episode is not None:
                self.episodes.append(episode.record)
                if self.keep_episodes:
                    self.finished.append(episode)
        self._resetting = np.logical_or(terminated, truncated)
        return obs, rewards, terminated, truncated, self._with_procmem(info)

    def _with_procmem(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        procmem = np.empty(self.num_envs, dtype=object)
        for i, run in enumerate(self.runs):
            procmem[i] = run.procmem
        info["procmem"] = procmem
        info["_procmem"] = np.ones(self.num_envs, dtype=bool)
        return info

    def finish_log(self) -> None:
        """Write unfinished episodes' transitions (no episode line) and close the log; the env stays open."""
        for run in self.runs:
            run.abandon()
        if self.log is not None:
            self.log.close()

    def close(self, **kwargs: Any) -> None:
        """Write unfinished episodes' transitions (no episode line), close the log and the vector env."""
        self.finish_log()
        super().close(**kwargs)
