"""ProceduralMemoryVectorWrapper: the memory wrapper for ``gymnasium.vector`` envs (next-step autoreset).

A thin shell over one :class:`~procmem_gym.wrappers.episode.EpisodeSlot` per sub-env; all share one
memory and one log. ``info["procmem"]`` is an object array with one ``procmem`` dict per
sub-env, and :attr:`ProceduralMemoryVectorWrapper.policy_needed` says for which sub-envs the
policy must choose this step. The single-env sibling is
:class:`~procmem_gym.wrappers.single.ProceduralMemoryWrapper`; :func:`~procmem_gym.wrappers.single.wrap`
picks the one that fits an env.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from procmem_gym.envs.families import EnvFamily
from procmem_gym.errors import UsageError
from procmem_gym.memory import ProceduralMemory
from procmem_gym.rollouts.transitions import Episode, EpisodeRecord, TransitionLog
from procmem_gym.wrappers.episode import (
    Bookkeeping,
    EpisodeNumbers,
    EpisodeSettings,
    check_info,
    check_mode,
    describe_default,
    make_slots,
    memory_from,
)
from procmem_gym.wrappers.info import KEY, ProcmemInfo

__all__ = ["ProceduralMemoryVectorWrapper", "env_info"]


def splice_info(base: dict[str, Any], other: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """Return a vector info with sub-envs ``rows`` taken from ``other`` and the rest from ``base``."""
    out: dict[str, Any] = {}
    n = len(rows)
    keys = dict.fromkeys(k for d in (base, other) for k in d if not k.startswith("_"))
    for key in keys:
        values = np.empty(n, dtype=object)
        mask = np.zeros(n, dtype=bool)
        for source, take in ((base, ~rows), (other, rows)):
            if key not in source:
                continue
            have = source.get("_" + key)
            for i in np.flatnonzero(take):
                if have is None or have[i]:
                    try:
                        values[i], mask[i] = source[key][i], True
                    except (TypeError, IndexError, KeyError):
                        continue
        out[key], out["_" + key] = values, mask
    return out


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

    Sub-envs that reset after ``bookkeeping.episode_limit`` episodes have begun go idle:
    nothing is logged for them and the policy is not needed for them.

    Args:
        env: the vector env to wrap (next-step or disabled autoreset).
        memory: a :class:`ProceduralMemory`, the path of a memory file, or a memory document;
            None for no memory (``mode="off"``). All sub-envs share it.
        mode: ``guide``, ``inject`` or ``off`` (default: ``guide`` with a memory, else ``off``).
        log_path: where to write the transition log, shared by all sub-envs; None: no log.
        describe: ``describe(observation, info) -> str``, the text conditions and retrieval read.
        update_memory: update the used skills' stats when an episode ends.
        log_info_exclude: ``info`` keys left out of the log (default: ``procmem`` and the env
            family's bulky keys).
        success_key: the ``info`` key that says an episode succeeded (default: the env family's).
        explore: probability of leaving a skill whose activation holds inactive for a step.
        retrieval: overrides of the memory's retrieval settings (``scope``, ``top_k``, ``threshold``).
        family: what procmem-gym knows about the env (default: from ``env.spec``).
        bookkeeping: how a runner numbers, seeds and keeps episodes (:class:`Bookkeeping`).
    """

    def __init__(
        self,
        env: VectorEnv,
        memory: ProceduralMemory | str | os.PathLike | dict | None = None,
        mode: str | None = None,
        log_path: str | os.PathLike | None = None,
        describe: Callable[[Any, dict[str, Any]], str] = describe_default,
        *,
        update_memory: bool = True,
        log_info_exclude: tuple[str, ...] | None = None,
        success_key: str | None = None,
        explore: float = 0.0,
        retrieval: dict[str, Any] | None = None,
        family: EnvFamily | None = None,
        bookkeeping: Bookkeeping | None = None,
        **legacy: Any,
    ) -> None:
        super().__init__(env)
        unsupported = sorted(set(legacy) - set(Bookkeeping.LEGACY))
        if unsupported:
            raise UsageError(f"not supported for vector envs: {', '.join(unsupported)}")
        books = Bookkeeping.from_legacy(bookkeeping, legacy, type(self).__name__)
        autoreset = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if autoreset not in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
            raise UsageError(
                f"the memory wrapper needs next-step or disabled autoreset, the vector env uses {autoreset}"
            )
        #: With autoreset disabled the wrapper resets finished sub-envs itself, each episode with its own seed.
        self.seeded = autoreset == AutoresetMode.DISABLED
        self.episode_seeds = list(books.episode_seeds) if books.episode_seeds is not None else None
        self._reset_seed: int | None = None
        self._offset = books.episode_offset
        memory = memory_from(memory)
        self.mode = mode = check_mode(mode, memory)
        self.memory, self.describe, self.update_memory = memory, describe, update_memory
        self.bookkeeping = books
        self.settings = EpisodeSettings.for_env(
            env, family, log_info_exclude, update_memory, success_key, books.keep_episodes, explore, retrieval
        )
        self.log = TransitionLog(log_path, append=books.append) if log_path is not None else None
        self.slots = make_slots(env.num_envs, memory, mode, env.single_action_space, self.log, self.settings)
        self.episodes: list[EpisodeRecord] = []
        self.finished: list[Episode] = []
        self.keep_episodes = books.keep_episodes
        self._next_episode = books.episode_offset
        #: The numbers the episodes get, in the order they begin (a resumed run's missing ones); default: counting.
        self.numbers = EpisodeNumbers(books.episode_offset, books.episode_ids)
        self._resetting = np.zeros(env.num_envs, dtype=bool)
        limit = books.episode_limit
        self.episode_limit = None if limit is None else books.episode_offset + limit
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
            [
                bool(self.active[i] and not self._resetting[i] and slot.policy_needed)
                for i, slot in enumerate(self.slots)
            ]
        )

    @property
    def skill_acting(self) -> np.ndarray:
        """Return, per sub-env, whether its active skill sends this step's action (inject mode)."""
        return np.array(
            [
                bool(self.active[i] and not self._resetting[i] and not slot.policy_needed)
                for i, slot in enumerate(self.slots)
            ]
        )

    def annotate(self, i: int, detail: dict[str, Any]) -> None:
        """Log what the policy says about sub-env ``i``'s coming action with its next step."""
        self.slots[i].annotate(detail)

    def seed_of(self, episode: int) -> int | None:
        """Return the env seed of episode number ``episode`` (None when the run gave none)."""
        k = episode - self._offset
        if self.episode_seeds is not None:
            return self.episode_seeds[k] if 0 <= k < len(self.episode_seeds) else None
        return None if self._reset_seed is None else self._reset_seed + k

    def count_of(self, number: int) -> int:
        """Return which episode begun (counted from the offset) was logged as ``number``."""
        return self.numbers.count_of(number)

    def _begin(self, i: int, obs: Any, info: dict[str, Any], seed: int | None) -> None:
        if self.episode_limit is not None and self._next_episode >= self.episode_limit:
            self.active[i] = False
            self.slots[i].idle()
            return
        self.active[i] = True
        self.slots[i].begin(self.numbers.number_of(self._next_episode), seed, self.describe(obs, info), info)
        self._next_episode += 1

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env and start N episodes.

        With autoreset disabled, episode ``k`` (counted from ``episode_offset``) plays with seed
        ``seed + k`` (or ``episode_seeds[k]``), whichever sub-env plays it, as a single env would.
        """
        n = self.num_envs
        if self.seeded and not isinstance(seed, list):
            self._reset_seed = seed
            seeds = [self.seed_of(self._next_episode + i) for i in range(n)]
        else:
            seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(n)]
        obs, info = self.env.reset(seed=seeds if self.seeded else seed, options=options)
        check_info(info)
        for i in range(n):
            self._begin(i, obs[i], env_info(info, i), seeds[i])
        self._resetting[:] = False
        return obs, self._with_procmem(info)

    def step(self, actions: Sequence[Any]) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs (skill actions replace the policy's in inject mode) and log each transition.

        With autoreset disabled, sub-envs whose episode ended are reset at once with their next
        episode's seed: the returned observation is that episode's first one (the final
        observation is in ``info["final_obs"]``), as with Gymnasium's same-step autoreset.
        """
        n = self.num_envs
        sent, sources = list(actions), ["policy"] * n
        for i, slot in enumerate(self.slots):
            if self.active[i] and not self._resetting[i]:
                sent[i], sources[i] = slot.choose(actions[i])
        if isinstance(actions, np.ndarray):
            try:  # keep the batch an array when every skill action fits it
                sent = np.stack([np.asarray(a, dtype=actions.dtype) for a in sent])
            except (TypeError, ValueError):
                pass
        obs, rewards, terminated, truncated, info = self.env.step(sent)
        check_info(info)
        infos = [env_info(info, i) for i in range(n)]
        for i, slot in enumerate(self.slots):
            if self._resetting[i]:  # this step reset sub-env i: a new episode starts, nothing to log
                self._begin(i, obs[i], infos[i], None)
                continue
            if not self.active[i]:
                continue
            episode = slot.advance(
                sent[i],
                sources[i],
                actions[i],
                self.describe(obs[i], infos[i]),
                float(rewards[i]),
                bool(terminated[i]),
                bool(truncated[i]),
                infos[i],
            )
            if episode is not None:
                self.episodes.append(episode.record)
                if self.keep_episodes:
                    self.finished.append(episode)
        done = np.logical_or(terminated, truncated)
        if self.seeded:
            if done.any():
                obs, info = self._reset_finished(done, obs, info)
        else:
            self._resetting = done
        return obs, rewards, terminated, truncated, self._with_procmem(info)

    def _reset_finished(self, done: np.ndarray, obs: Any, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Reset the finished sub-envs with their next episodes' seeds; return the spliced obs and info."""
        n = self.num_envs
        rows = np.flatnonzero(done).tolist()
        seeds: list[int | None] = [None] * n
        for k, i in enumerate(rows):
            seeds[i] = self.seed_of(self._next_episode + k)
        new_obs, new_info = self.env.reset(seed=seeds, options={"reset_mask": done.copy()})
        check_info(new_info)
        final = np.empty(n, dtype=object)
        for i in rows:
            final[i] = obs[i]
        spliced = splice_info(info, new_info, done)
        spliced["final_obs"], spliced["_final_obs"] = final, done.copy()
        if isinstance(obs, np.ndarray):
            obs = obs.copy()
            obs[done] = new_obs[done]
        else:
            obs = tuple(new_obs[i] if done[i] else obs[i] for i in range(n))
        for i in rows:
            self._begin(i, obs[i], env_info(new_info, i), seeds[i])
        return obs, spliced

    @property
    def episodes_begun(self) -> int:
        """Return the count of the next episode to begin (counted from the bookkeeping's offset)."""
        return self._next_episode

    def report(self, i: int) -> ProcmemInfo:
        """Return what the wrapper says about sub-env ``i``'s current observation (``info["procmem"][i]``, typed)."""
        return self.slots[i].report

    def _with_procmem(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        procmem = np.empty(self.num_envs, dtype=object)
        for i, slot in enumerate(self.slots):
            procmem[i] = slot.procmem
        info[KEY] = procmem
        info["_" + KEY] = np.ones(self.num_envs, dtype=bool)
        return info

    def finish_log(self) -> None:
        """Write unfinished episodes' transitions (no episode line) and close the log; the env stays open."""
        for slot in self.slots:
            slot.abandon()
        if self.log is not None:
            self.log.close()

    def close(self, **kwargs: Any) -> None:
        """Write unfinished episodes' transitions (no episode line), close the log and the vector env."""
        self.finish_log()
        super().close(**kwargs)
