"""ProceduralMemoryWrapper: activates skills from memory on each observation and logs every step.

The loop every mode shares (DESIGN.md section 4):

- ``mode="guide"``: the active skill's guidance reaches the policy through ``info["procmem"]``
  (and, with ``augment_observation=True``, is prefixed to a text observation).
- ``mode="inject"``: when the active skill has a concrete next action, the wrapper sends it to
  the env instead of the policy's action; the log marks ``action_source: "skill"``.
- ``mode="off"``: logging only, so the no-memory baseline runs exactly the same code.

The wrapper never changes rewards or termination. Non-text observations are turned into text
for conditions and retrieval by ``describe(observation, info)``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, SupportsFloat

import gymnasium as gym
import numpy as np

from procmem_gym.memory import ProceduralMemory
from procmem_gym.tracking import SkillTracker
from procmem_gym.transitions import EpisodeRecord, Transition, TransitionLog, loggable_info

MODES = ("guide", "inject", "off")
_EMPTY = {"active_skill": None, "guidance": None, "next_action": None, "candidates": []}


def describe_default(observation: Any, info: dict[str, Any]) -> str:
    """Return the text that conditions and retrieval read for an observation.

    Text observations are used as they are; ``info["text_observation"]`` wins when present;
    anything else is rendered compactly (numbers to 3 significant digits, arrays flattened).
    """
    if isinstance(observation, str):
        return observation
    text = info.get("text_observation") if isinstance(info, dict) else None
    if isinstance(text, str):
        return text
    try:
        arr = np.asarray(observation, dtype=float).ravel()
    except (TypeError, ValueError):
        return str(observation)
    return " ".join(f"{x:.3g}" for x in arr)


def action_from_text(space: gym.Space, text: str) -> Any:
    """Return a skill's action text as an action of ``space``, or None when it is not one.

    Text spaces take the text as it is (the env handles malformed text); ``Discrete`` takes an
    integer; ``Box`` and ``MultiDiscrete`` take numbers separated by spaces or commas.
    """
    if isinstance(space, gym.spaces.Text):
        return text
    try:
        if isinstance(space, gym.spaces.Discrete):
            value = int(text.strip().strip("[]"))
        elif isinstance(space, (gym.spaces.Box, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
            numbers = [float(x) for x in text.replace(",", " ").strip().strip("[]").split()]
            value = np.asarray(numbers, dtype=space.dtype).reshape(space.shape)
        else:
            return text
    except (ValueError, TypeError):
        return None
    return value if space.contains(value) else None


def augment(observation: Any, procmem: dict[str, Any]) -> Any:
    """Return a text observation with the active skill's guidance in front of it."""
    if not isinstance(observation, str) or not procmem.get("guidance"):
        return observation
    return f"[Skill: {procmem.get('skill_name', procmem['active_skill'])}] {procmem['guidance']}\n\n{observation}"


def _action_text(action: Any) -> str:
    """Return a non-text action as text for the log (numbers as the env takes them)."""
    if isinstance(action, np.ndarray):
        return " ".join(str(x) for x in action.ravel().tolist())
    return str(action)


def episode_record(
    tracker: SkillTracker | None, episode: int, episode_return: float, length: int, info: dict[str, Any],
    seed: int | None, update_memory: bool,
) -> EpisodeRecord:
    """Return a finished episode's record (success from ``info``); update the memory's stats if asked."""
    success = bool(info.get("success", info.get("won", False)))
    if tracker is None:
        return EpisodeRecord(episode, episode_return, length, success, (), 0, seed)
    return tracker.record(episode, episode_return, length, success, seed, update_memory)


class EpisodeLogger:
    """Buffers one episode's transitions and writes them with the episode line when it ends."""

    def __init__(self, log: TransitionLog | None, exclude: frozenset[str]) -> None:
        self.log = log
        self.exclude = exclude
        self.buffer: list[Transition] = []

    def add(self, **fields: Any) -> None:
        """Buffer one transition (only when logging)."""
        if self.log is not None:
            info = fields.pop("info")
            self.buffer.append(Transition(info=loggable_info(info, self.exclude), **fields))

    def finish(self, record: EpisodeRecord | None) -> None:
        """Write the buffered transitions and the episode line (None: an unfinished episode, no line)."""
        if self.log is not None and not self.log.closed:
            self.log.write_episode(self.buffer, record)
        self.buffer = []


class ProceduralMemoryWrapper(gym.Wrapper):
    """Give an env's policy procedural memory, and log every transition.

    >>> import gymnasium, procmem_gym, tempfile, os
    >>> from procmem_gym import ProceduralMemory, Skill
    >>> memory = ProceduralMemory(embedder="hashing")
    >>> _ = memory.add(Skill.create("open", "no guess yet", "Open with [1 2 3 4].", max_steps=1,
    ...                             patterns=["^You are playing Mastermind"], steps=["[1 2 3 4]"]))
    >>> env = ProceduralMemoryWrapper(gymnasium.make("procmem_gym/Mastermind-v0"), memory, mode="inject")
    >>> obs, info = env.reset(seed=0)
    >>> info["procmem"]["next_action"]
    '[1 2 3 4]'
    >>> obs, *_ = env.step("anything: the skill's action is sent instead")
    >>> obs.startswith("Submitted [1 2 3 4]")
    True
    """

    def __new__(cls, env: Any, *args: Any, **kwargs: Any) -> Any:
        """Return a :class:`ProceduralMemoryVectorWrapper` when ``env`` is a ``gymnasium.vector`` env."""
        if isinstance(env, gym.vector.VectorEnv):
            from procmem_gym.vector_wrapper import ProceduralMemoryVectorWrapper

            return ProceduralMemoryVectorWrapper(env, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        env: gym.Env,
        memory: ProceduralMemory | None = None,
        mode: str | None = None,
        log_path: str | os.PathLike | None = None,
        describe: Callable[[Any, dict[str, Any]], str] = describe_default,
        augment_observation: bool = False,
        append: bool = False,
        episode_offset: int = 0,
        update_memory: bool = True,
        log_info_exclude: tuple[str, ...] = ("history", "procmem"),
    ) -> None:
        super().__init__(env)
        if mode is None:
            mode = "off" if memory is None else "guide"
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "off" and memory is None:
            raise ValueError(f"mode={mode!r} needs a memory; pass memory=... or use mode='off'")
        self.memory = memory
        self.mode = mode
        self.describe = describe
        self.augment_observation = augment_observation
        self.update_memory = update_memory
        self.log = TransitionLog(log_path, append=append) if log_path is not None else None
        self._logger = EpisodeLogger(self.log, frozenset(log_info_exclude))
        self.tracker = SkillTracker(memory) if memory is not None and mode != "off" else None
        #: Records of the episodes finished through this wrapper, in order.
        self.episodes: list[EpisodeRecord] = []
        self._episode = episode_offset - 1
        self._seed: int | None = None
        self._text = ""
        self._procmem: dict[str, Any] = dict(_EMPTY)
        self._return = 0.0
        self._steps = 0
        self._in_episode = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env, start a new episode in the log, and activate a skill for the first observation."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode += 1
        self._seed = seed
        self._return, self._steps, self._in_episode = 0.0, 0, True
        self._logger.buffer = []
        info = dict(info)
        self._text = self.describe(obs, info)
        if self.tracker is not None:
            self._procmem = self.tracker.begin(self._text)
        info["procmem"] = self._procmem
        return self._present(obs), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env (with the skill's action in inject mode), track the skill, log the transition."""
        if not self._in_episode:
            raise RuntimeError("step() before reset() or after the episode ended: call reset()")
        source, sent = "policy", action
        if self.mode == "inject" and self._procmem.get("next_action") is not None:
            skill_action = action_from_text(self.action_space, self._procmem["next_action"])
            if skill_action is not None:  # a template that is no action of this env is ignored
                source, sent = "skill", skill_action
        obs, reward, terminated, truncated, info = self.env.step(sent)
        info = dict(info)
        done = bool(terminated or truncated)
        self._return += float(reward)
        skill_id = event = None
        text = self.describe(obs, info)
        if self.tracker is not None:
            skill_id, event, self._procmem = self.tracker.step(text, done)
        extra = {"policy_action": action} if source == "skill" and isinstance(action, str) else {}
        self._logger.add(
            episode=self._episode,
            t=self._steps,
            observation=self._text,
            action=sent if isinstance(sent, str) else _action_text(sent),
            action_source=source,
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            skill=skill_id,
            skill_event=event,
            info={**info, **extra},
        )
        self._steps += 1
        self._text = text
        info["procmem"] = self._procmem
        if done:
            self._finish(info)
        return self._present(obs), reward, terminated, truncated, info

    def _present(self, obs: Any) -> Any:
        return augment(obs, self._procmem) if self.augment_observation else obs

    def _finish(self, info: dict[str, Any]) -> None:
        record = episode_record(self.tracker, self._episode, self._return, self._steps, info, self._seed, self.update_memory)
        self.episodes.append(record)
        self._logger.finish(record)
        self._in_episode = False
        self._procmem = dict(_EMPTY)

    def close(self) -> None:
        """Write the unfinished episode's transitions (no episode line), close the log and the env."""
        self._logger.finish(None)
        if self.log is not None:
            self.log.close()
        super().close()
