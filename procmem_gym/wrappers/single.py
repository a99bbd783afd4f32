"""ProceduralMemoryWrapper: activates skills from memory on each observation and logs every step.

The loop every mode shares (docs/design.md#the-wrapper):

- ``mode="guide"``: the active skill's guidance reaches the policy through ``info["procmem"]``
  (and, with ``augment_observation=True``, is prefixed to a text observation).
- ``mode="inject"``: when the active skill has a concrete next action, the wrapper sends it to
  the env instead of the policy's action; the log marks ``action_source: "skill"``.
- ``mode="off"``: logging only, so the no-memory baseline runs exactly the same code.

The wrapper is a thin shell over one :class:`~procmem_gym.wrappers.episode.EpisodeSlot`, which
owns the episode's skill tracking, inject decision, accounting and log lines. It never changes
rewards or termination. Its sibling for ``gymnasium.vector`` envs is
:class:`~procmem_gym.wrappers.vector.ProceduralMemoryVectorWrapper`; :func:`wrap` picks the one
that fits an env.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from procmem_gym.envs.families import EnvFamily
from procmem_gym.memory import ProceduralMemory
from procmem_gym.rollouts.transitions import Episode, EpisodeRecord, TransitionLog
from procmem_gym.wrappers.episode import (
    MODES,
    Bookkeeping,
    EpisodeNumbers,
    EpisodeSettings,
    augment,
    check_info,
    check_mode,
    describe_default,
    make_slots,
    memory_from,
)
from procmem_gym.wrappers.info import ProcmemInfo
from procmem_gym.wrappers.vector import ProceduralMemoryVectorWrapper

__all__ = ["ProceduralMemoryWrapper", "wrap", "MODES", "describe_default"]

MemoryLike = ProceduralMemory | str | os.PathLike | dict | None


def wrap(env: gym.Env | gym.vector.VectorEnv, memory: MemoryLike = None, **kwargs: Any) -> Any:
    """Return ``env`` with procedural memory, wrapped by the wrapper that fits it.

    A :class:`ProceduralMemoryWrapper` for an env, a :class:`ProceduralMemoryVectorWrapper` for
    a vector env. Keyword arguments are the wrapper's (see each class's ``Args:``).

    >>> import gymnasium, procmem_gym
    >>> envs = gymnasium.make_vec("procmem_gym/Mastermind-v0", num_envs=2, vectorization_mode="sync")
    >>> type(procmem_gym.wrap(envs)).__name__
    'ProceduralMemoryVectorWrapper'
    """
    if isinstance(env, gym.vector.VectorEnv):
        return ProceduralMemoryVectorWrapper(env, memory, **kwargs)
    return ProceduralMemoryWrapper(env, memory, **kwargs)


class ProceduralMemoryWrapper(gym.Wrapper, RecordConstructorArgs):
    """Give an env's policy procedural memory, and log every transition.

    The wrapper records how to rebuild itself for ``env.spec`` (Gymnasium re-creates wrapped
    envs from it): the memory by its file path when it was loaded from or saved to one before
    wrapping, else by a snapshot of its content; logging is not re-created (a re-created env
    must not overwrite this env's log). A vector env is wrapped by
    :class:`ProceduralMemoryVectorWrapper` (or :func:`wrap`, which picks); passing one here still
    works but is deprecated, since the object returned is not an instance of this class.

    Args:
        env: the env to wrap (any observation and action space).
        memory: a :class:`ProceduralMemory`, the path of a memory file, or a memory document
            (dict); None for no memory (``mode="off"``).
        mode: ``guide``, ``inject`` or ``off`` (default: ``guide`` with a memory, else ``off``).
        log_path: where to write the transition log (``transitions.jsonl``); None: no log.
        describe: ``describe(observation, info) -> str``, the text conditions and retrieval read
            (default: text observations as they are, anything else rendered compactly).
        augment_observation: in ``guide`` mode, put the active skill's guidance in front of a
            text observation too.
        update_memory: update the used skills' stats when an episode ends.
        log_info_exclude: ``info`` keys left out of the log (default: ``procmem`` and the env
            family's bulky keys, such as Mastermind's ``history``).
        success_key: the ``info`` key that says an episode succeeded (default: the env family's).
        explore: probability of leaving a skill whose activation holds inactive for a step
            (learning rollouts; Skill-Pro's epsilon).
        retrieval: overrides of the memory's retrieval settings (``scope``, ``top_k``, ``threshold``).
        family: what procmem-gym knows about the env (default: from ``env.spec``, see
            :func:`~procmem_gym.envs.families.family_of`).
        bookkeeping: how a runner numbers and keeps episodes (:class:`Bookkeeping`); users
            wrapping an env by hand leave it out.

    >>> import gymnasium, procmem_gym, tempfile, os
    >>> from procmem_gym import ProceduralMemory, Skill
    >>> memory = ProceduralMemory(embedder="hashing")
    >>> _ = memory.add(Skill.create("open", "no guess yet", "Open with [1 2 3 4].", max_steps=1,
    ...                             patterns=["^You are playing Mastermind"], steps=["[1 2 3 4]"]))
    >>> env = ProceduralMemoryWrapper(gymnasium.make("procmem_gym/Mastermind-v0"), memory, mode="inject")
    >>> obs, info = env.reset(seed=0)
    >>> info["procmem"]["next_action"], env.policy_needed
    ('[1 2 3 4]', False)
    >>> obs, *_ = env.step("anything: the skill's action is sent instead")
    >>> obs.startswith("Submitted [1 2 3 4]")
    True
    """

    def __new__(cls, env: Any = None, *args: Any, **kwargs: Any) -> Any:  # noqa: D102  (the class docstring says it)
        if cls is ProceduralMemoryWrapper and isinstance(env, gym.vector.VectorEnv):
            warnings.warn(
                "ProceduralMemoryWrapper(vector_env) returns a ProceduralMemoryVectorWrapper, which is not an "
                "instance of ProceduralMemoryWrapper; use ProceduralMemoryVectorWrapper or procmem_gym.wrap",
                DeprecationWarning,
                stacklevel=2,
            )
            return ProceduralMemoryVectorWrapper(env, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        env: gym.Env,
        memory: MemoryLike = None,
        mode: str | None = None,
        log_path: str | os.PathLike | None = None,
        describe: Callable[[Any, dict[str, Any]], str] = describe_default,
        augment_observation: bool = False,
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
        books = Bookkeeping.from_legacy(bookkeeping, legacy, type(self).__name__)
        memory = memory_from(memory)
        mode = check_mode(mode, memory)
        recorded: Any = None
        if memory is not None:
            recorded = str(memory.path) if memory.path is not None else memory.to_dict()
        RecordConstructorArgs.__init__(
            self,
            memory=recorded,
            mode=mode,
            describe=describe,
            augment_observation=augment_observation,
            update_memory=update_memory,
            log_info_exclude=log_info_exclude,
            success_key=success_key,
            **({"retrieval": dict(retrieval)} if retrieval else {}),
        )
        gym.Wrapper.__init__(self, env)
        self.memory = memory
        self.mode = mode
        self.describe = describe
        self.augment_observation = augment_observation
        self.update_memory = update_memory
        self.bookkeeping = books
        self.settings = EpisodeSettings.for_env(
            env, family, log_info_exclude, update_memory, success_key, books.keep_episodes, explore, retrieval
        )
        self.log = TransitionLog(log_path, append=books.append) if log_path is not None else None
        self.slot = make_slots(1, memory, mode, env.action_space, self.log, self.settings)[0]
        #: Records of the episodes finished through this wrapper, in order.
        self.episodes: list[EpisodeRecord] = []
        #: With ``keep_episodes``: finished episodes with their transitions, until a runner takes them.
        self.finished: list[Episode] = []
        self.keep_episodes = books.keep_episodes
        self._next_episode = books.episode_offset
        #: The numbers the episodes get, in the order they begin (a resumed run's missing ones); default: counting.
        self.numbers = EpisodeNumbers(books.episode_offset, books.episode_ids)

    @property
    def episodes_begun(self) -> int:
        """Return the count of the next episode to begin (counted from the bookkeeping's offset)."""
        return self._next_episode

    @property
    def report(self) -> ProcmemInfo:
        """Return what the wrapper says about the current observation (``info["procmem"]``, typed)."""
        return self.slot.report

    @property
    def tracker(self) -> Any:
        """Return the skill tracker of the current episode (None in ``off`` mode)."""
        return self.slot.tracker

    @property
    def policy_needed(self) -> bool:
        """Return whether the policy must choose this step's action (False when a skill injects it)."""
        return self.slot.policy_needed

    def annotate(self, detail: dict[str, Any]) -> None:
        """Log what the policy says about its coming action (``behaviour_logprob``, ...) with the next step."""
        self.slot.annotate(detail)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env, start a new episode in the log, and activate a skill for the first observation."""
        obs, info = self.env.reset(seed=seed, options=options)
        info = check_info(dict(info))
        self.slot.begin(self.numbers.number_of(self._next_episode), seed, self.describe(obs, info), info)
        self._next_episode += 1
        info["procmem"] = self.slot.procmem
        return self._present(obs, info), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env (with the skill's action in inject mode), track the skill, log the transition."""
        slot = self.slot
        if not slot.in_episode:
            raise RuntimeError("step() before reset() or after the episode ended: call reset()")
        sent, source = slot.choose(action)
        obs, reward, terminated, truncated, info = self.env.step(sent)
        info = check_info(dict(info))
        episode = slot.advance(
            sent, source, action, self.describe(obs, info), float(reward), bool(terminated), bool(truncated), info
        )
        info["procmem"] = slot.procmem
        if episode is not None:
            self.episodes.append(episode.record)
            if self.keep_episodes:
                self.finished.append(episode)
        return self._present(obs, info), reward, terminated, truncated, info

    def _present(self, obs: Any, info: dict[str, Any]) -> Any:
        return augment(obs, info["procmem"]) if self.augment_observation else obs

    def finish_log(self) -> None:
        """Write the unfinished episode's transitions (no episode line) and close the log; the env stays open."""
        self.slot.abandon()
        if self.log is not None:
            self.log.close()

    def close(self) -> None:
        """Write the unfinished episode's transitions (no episode line), close the log and the env."""
        self.finish_log()
        super().close()
