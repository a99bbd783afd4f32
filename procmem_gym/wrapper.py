"""ProceduralMemoryWrapper: activates skills from memory on each observation and logs every step.

The loop every mode shares (DESIGN.md section 4):

- ``mode="guide"``: the active skill's guidance reaches the policy through ``info["procmem"]``
  (and, with ``augment_observation=True``, is prefixed to a text observation).
- ``mode="inject"``: when the active skill has a concrete next action, the wrapper sends it to
  the env instead of the policy's action; the log marks ``action_source: "skill"``.
- ``mode="off"``: logging only, so the no-memory baseline runs exactly the same code.

The wrapper is a thin shell over one :class:`~procmem_gym.episode.EpisodeRun`, which owns the
episode's skill tracking, inject decision, accounting and log lines. It never changes rewards
or termination. ``ProceduralMemoryWrapper(vector_env, ...)`` gives a
:class:`~procmem_gym.vector_wrapper.ProceduralMemoryVectorWrapper`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from procmem_gym.episode import (
    MODES,
    EpisodeNumbers,
    action_from_text,
    augment,
    check_mode,
    describe_default,
    make_runs,
    memory_from,
)
from procmem_gym.memory import ProceduralMemory
from procmem_gym.transitions import Episode, EpisodeRecord, TransitionLog
from procmem_gym.vector_wrapper import ProceduralMemoryVectorWrapper

__all__ = ["ProceduralMemoryWrapper", "MODES", "describe_default", "action_from_text", "augment"]


class _VectorDispatch(type):
    """Metaclass: ``ProceduralMemoryWrapper(vector_env, ...)`` builds a :class:`ProceduralMemoryVectorWrapper`.

    DESIGN.md section 4 documents one wrapper name for single and vector envs; the two are
    separate classes (a ``gymnasium.Wrapper`` and a ``gymnasium.vector.VectorWrapper``) and the
    choice is made here, before either is constructed.
    """

    def __call__(cls, env: Any, *args: Any, **kwargs: Any) -> Any:
        if cls is ProceduralMemoryWrapper and isinstance(env, gym.vector.VectorEnv):
            return ProceduralMemoryVectorWrapper(env, *args, **kwargs)
        return super().__call__(env, *args, **kwargs)


class ProceduralMemoryWrapper(gym.Wrapper, RecordConstructorArgs, metaclass=_VectorDispatch):
    """Give an env's policy procedural memory, and log every transition.

    ``memory`` is a :class:`ProceduralMemory`, the path of a memory file, or a memory document
    (dict). The wrapper records how to rebuild itself for ``env.spec`` (Gymnasium re-creates
    wrapped envs from it): the memory by its file path when it was loaded from or saved to one,
    else by a snapshot of its content; logging is not re-created (a re-created env must not
    overwrite this env's log).

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

    def __init__(
        self,
        env: gym.Env,
        memory: ProceduralMemory | str | os.PathLike | dict | None = None,
        mode: str | None = None,
        log_path: str | os.PathLike | None = None,
        describe: Callable[[Any, dict[str, Any]], str] = describe_default,
        augment_observation: bool = False,
        append: bool = False,
        episode_offset: int = 0,
        episode_ids: Sequence[int] | None = None,
        update_memory: bool = True,
        log_info_exclude: tuple[str, ...] = ("history", "procmem"),
        success_key: str | None = None,
        keep_episodes: bool = False,
        explore: float = 0.0,
        retrieval: dict[str, Any] | None = None,
    ) -> None:
        memory = memory_from(memory)
        mode = check_mode(mode, memory)
        gym.Wrapper.__init__(self, env)
        self.memory = memory
        self.mode = mode
        self.describe = describe
        self.augment_observation = augment_observation
        self.update_memory = update_memory
        self._rebuild = {
            "mode": mode,
            "describe": describe,
            "augment_observation": augment_observation,
            "update_memory": update_memory,
            "log_info_exclude": log_info_exclude,
            "success_key": success_key,
            **({"retrieval": dict(retrieval)} if retrieval else {}),
        }
        self.log = TransitionLog(log_path, append=append) if log_path is not None else None
        self.run = make_runs(
            1,
            memory,
            mode,
            env.action_space,
            self.log,
            frozenset(log_info_exclude),
            update_memory,
            success_key,
            keep_episodes,
            explore,
            retrieval,
        )[0]
        #: Records of the episodes finished through this wrapper, in order.
        self.episodes: list[EpisodeRecord] = []
        #: With ``keep_episodes=True``: finished episodes with their transitions, until a runner takes them.
        self.finished: list[Episode] = []
        self.keep_episodes = keep_episodes
        self._next_episode = episode_offset
        #: The numbers the episodes get, in the order they begin (a resumed run's missing ones); default: counting.
        self.numbers = EpisodeNumbers(episode_offset, episode_ids)

    @property
    def _saved_kwargs(self) -> dict[str, Any]:
        """The constructor arguments ``env.spec`` records (Gymnasium's ``RecordConstructorArgs``), built on demand."""
        memory: Any = None
        if self.memory is not None:
            memory = str(self.memory.path) if self.memory.path is not None else self.memory.to_dict()
        return {"memory": memory, **self._rebuild}

    @property
    def tracker(self) -> Any:
        """Return the skill tracker of the current episode (None in ``off`` mode)."""
        return self.run.tracker

    @property
    def policy_needed(self) -> bool:
        """Return whether the policy must choose this step's action (False when a skill injects it)."""
        return self.run.policy_needed

    def annotate(self, detail: dict[str, Any]) -> None:
        """Log what the policy says about its coming action (``behaviour_logprob``, ...) with the next step."""
        self.run.annotate(detail)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env, start a new episode in the log, and activate a skill for the first observation."""
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        self.run.begin(self.numbers.number_of(self._next_episode), seed, self.describe(obs, info), info)
        self._next_episode += 1
        info["procmem"] = self.run.procmem
        return self._present(obs, info), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env (with the skill's action in inject mode), track the skill, log the transition."""
        run = self.run
        if not run.in_episode:
            raise RuntimeError("step() before reset() or after the episode ended: call reset()")
        sent, source = run.choose(action)
        obs, reward, terminated, truncated, info = self.env.step(sent)
        info = dict(info)
        episode = run.advance(
            sent, source, action, self.describe(obs, info), float(reward), bool(terminated), bool(truncated), info
        )
        info["procmem"] = run.procmem
        if episode is not None:
            self.episodes.append(episode.record)
            if self.keep_episodes:
                self.finished.append(episode)
        return self._present(obs, info), reward, terminated, truncated, info

    def _present(self, obs: Any, info: dict[str, Any]) -> Any:
        return augment(obs, info["procmem"]) if self.augment_observation else obs

    def finish_log(self) -> None:
        """Write the unfinished episode's transitions (no episode line) and close the log; the env stays open."""
        self.run.abandon()
        if self.log is not None:
            self.log.close()

    def close(self) -> None:
        """Write the unfinished episode's transitions (no episode line), close the log and the env."""
        self.finish_log()
        super().close()
