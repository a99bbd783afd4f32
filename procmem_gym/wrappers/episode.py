"""EpisodeSlot: one episode seen through the memory wrapper — who acts, which skill is active, what is logged.

The single-env wrapper is a shell over one :class:`EpisodeSlot`, the vector wrapper over N of
them; everything that happens in one episode happens here, once:

- the **inject decision**: in ``inject`` mode, when the active skill has a concrete next action
  that is an action of the env, the skill acts and the policy is not needed this step
  (:attr:`EpisodeSlot.policy_needed` says so; runners ask the policy only when it is);
- **skill tracking** (:class:`~procmem_gym.wrappers.tracking.SkillTracker`): termination, then activation;
- **env facts** (:class:`~procmem_gym.envs.families.EnvFamily`): the task an episode states,
  the game it plays, whether it succeeded, the commands the env lists;
- **step accounting** (return, steps) and **logging**: the episode's transitions are buffered
  and written with the episode line when it ends (:class:`~procmem_gym.rollouts.transitions.TransitionLog`).

Text for conditions and retrieval comes from ``describe(observation, info)``
(:func:`describe_default`), so the loop works for any env.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium as gym
import numpy as np

from procmem_gym.envs.families import COMMANDS_KEY, GENERIC, EnvFamily, family_of_env
from procmem_gym.errors import UsageError
from procmem_gym.memory import ProceduralMemory
from procmem_gym.memory.retrieval import retrieval_settings
from procmem_gym.rollouts.transitions import (
    Episode,
    EpisodeRecord,
    Transition,
    TransitionLog,
    loggable_action,
    loggable_info,
)
from procmem_gym.wrappers.info import KEY, ProcmemInfo
from procmem_gym.wrappers.tracking import SkillTracker

__all__ = [
    "MODES",
    "Bookkeeping",
    "EpisodeSettings",
    "EpisodeNumbers",
    "EpisodeSlot",
    "describe_default",
    "action_from_text",
    "action_text",
    "augment",
    "check_mode",
    "memory_from",
    "check_info",
]

MODES = ("guide", "inject", "off")


def check_info(info: dict[str, Any]) -> dict[str, Any]:
    """Return ``info`` unless the env's own info already holds ``info["procmem"]`` (raise :class:`UsageError`)."""
    if KEY in info:
        raise UsageError(
            f'the env\'s info already holds a "{KEY}" key (an env wrapped twice in the memory wrapper?); '
            "the wrapper will not overwrite it: wrap the env once, or rename the env's key"
        )
    return info


@dataclass(frozen=True)
class Bookkeeping:
    """How a runner numbers, seeds and keeps the episodes a wrapper plays (the runner's plumbing, in one object).

    Users wrapping an env by hand need none of it; :class:`~procmem_gym.rollouts.runner.Rollouts`
    sets it for resumed, batched and learning runs.

    Attributes:
        append: continue the log at ``log_path`` instead of writing it afresh (a resumed run).
        episode_offset: the count of the first episode begun (later ones count on from it).
        episode_ids: the numbers the episodes take in turn, instead of their counts (a resumed
            run's missing episodes).
        keep_episodes: keep finished episodes with their transitions in ``wrapper.finished``
            until a runner takes them.
        episode_seeds: vector envs with autoreset disabled: the env seed of each episode, by
            count from ``episode_offset`` (default: the reset's seed plus the count).
        episode_limit: vector envs: sub-envs whose next episode would be past this many go idle.
    """

    append: bool = False
    episode_offset: int = 0
    episode_ids: tuple[int, ...] | None = None
    keep_episodes: bool = False
    episode_seeds: tuple[int, ...] | None = None
    episode_limit: int | None = None

    #: The constructor keywords of earlier versions that this object now carries.
    LEGACY = ("append", "episode_offset", "episode_ids", "keep_episodes", "episode_seeds", "episode_limit")

    @classmethod
    def from_legacy(cls, bookkeeping: Bookkeeping | None, legacy: dict[str, Any], where: str) -> Bookkeeping:
        """Return ``bookkeeping`` with the fields that old-style keyword arguments set (warned as deprecated)."""
        import warnings

        unknown = set(legacy) - set(cls.LEGACY)
        if unknown:
            raise TypeError(f"{where}() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        base = bookkeeping or cls()
        if not legacy:
            return base
        warnings.warn(
            f"{where}({', '.join(f'{k}=' for k in legacy)}...) is deprecated: pass bookkeeping=Bookkeeping(...)",
            DeprecationWarning,
            stacklevel=3,
        )
        values = {
            k: tuple(v) if k in ("episode_ids", "episode_seeds") and v is not None else v for k, v in legacy.items()
        }
        return replace(base, **values)


@dataclass(frozen=True)
class EpisodeSettings:
    """What every episode of a wrapper shares: the env's facts and how episodes are logged and scored."""

    family: EnvFamily = GENERIC
    #: ``info`` keys left out of the log.
    exclude: frozenset[str] = field(default_factory=frozenset)
    update_memory: bool = True
    #: ``info`` keys that say the episode succeeded (default: the family's).
    keep_transitions: bool = False
    explore: float = 0.0
    retrieval: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def for_env(
        cls,
        env: Any,
        family: EnvFamily | None,
        log_info_exclude: tuple[str, ...] | None,
        update_memory: bool,
        success_key: str | None,
        keep_episodes: bool,
        explore: float,
        retrieval: dict[str, Any] | None,
    ) -> EpisodeSettings:
        """Return the settings a wrapper's episodes share (the env's family from its spec unless given)."""
        family = family or family_of_env(env)
        if success_key is not None:  # the caller's key decides instead of the family's
            family = replace(family, success_keys=(success_key,))
        exclude = ("procmem", *family.unlogged_keys) if log_info_exclude is None else log_info_exclude
        return cls(
            family=family,
            exclude=frozenset(exclude),
            update_memory=update_memory,
            keep_transitions=keep_episodes,
            explore=explore,
            retrieval=dict(retrieval) if retrieval else None,
        )

    def succeeded(self, info: dict[str, Any]) -> bool:
        """Return whether the final ``info`` says the episode succeeded (the family's success keys)."""
        return self.family.succeeded(info)


def memory_from(memory: ProceduralMemory | str | os.PathLike | dict | None) -> ProceduralMemory | None:
    """Return a memory given as an object, a file path (loaded) or a file document (a dict)."""
    if memory is None or isinstance(memory, ProceduralMemory):
        return memory
    if isinstance(memory, dict):
        return ProceduralMemory.from_dict(memory)
    if isinstance(memory, (str, os.PathLike)):
        return ProceduralMemory.load(memory)
    raise UsageError(
        f"memory must be a ProceduralMemory, a memory file path or a memory document, got {type(memory).__name__}"
    )


def check_mode(mode: str | None, memory: ProceduralMemory | None) -> str:
    """Return the mode to use (default: ``guide`` with a memory, ``off`` without); raise :class:`UsageError`."""
    if mode is None:
        mode = "off" if memory is None else "guide"
    if mode not in MODES:
        raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
    if mode != "off" and memory is None:
        raise UsageError(f"mode={mode!r} needs a memory; pass memory=... or use mode='off'")
    return mode


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


def action_text(action: Any) -> str:
    """Return an action as the log writes it (text as it is; numbers as the env takes them)."""
    if isinstance(action, str):
        return action
    if isinstance(action, np.ndarray):
        return " ".join(str(x) for x in action.ravel().tolist())
    return str(action)


def augment(observation: Any, procmem: dict[str, Any]) -> Any:
    """Return a text observation with the active skill's guidance in front of it."""
    if not isinstance(observation, str) or not procmem.get("guidance"):
        return observation
    return f"[Skill: {procmem.get('skill_name', procmem['active_skill'])}] {procmem['guidance']}\n\n{observation}"


class EpisodeNumbers:
    """The numbers a wrapper logs its episodes under, in the order they begin.

    By default the ``k``-th episode begun (counting from ``offset``) is number ``k``; a resumed
    run passes ``ids``, the numbers it still lacks, which the episodes take in turn (past the end
    of them, an episode keeps its count).

    >>> numbers = EpisodeNumbers(0, [2, 5])
    >>> [numbers.number_of(k) for k in range(2)], numbers.count_of(5)
    ([2, 5], 1)
    """

    def __init__(self, offset: int = 0, ids: Sequence[int] | None = None) -> None:
        self.offset = offset
        self.ids = list(ids) if ids is not None else None
        self._index: dict[int, int] = {}
        for k, n in enumerate(self.ids or ()):
            self._index.setdefault(n, k)

    def number_of(self, count: int) -> int:
        """Return the number logged for the ``count``-th episode begun (counted from the offset)."""
        k = count - self.offset
        return self.ids[k] if self.ids is not None and 0 <= k < len(self.ids) else count

    def count_of(self, number: int) -> int:
        """Return which episode begun (counted from the offset) was logged as ``number``."""
        return self.offset + self._index[number] if self.ids is not None else number


class EpisodeSlot:
    """The state of one episode in one (sub-)env: active skill, who acts, return, steps, buffered log lines.

    One object serves the episodes of one env slot in turn (:meth:`begin` starts the next).
    """

    def __init__(
        self,
        mode: str,
        action_space: gym.Space,
        tracker: SkillTracker | None,
        log: TransitionLog | None,
        settings: EpisodeSettings | None = None,
    ) -> None:
        self.mode = mode
        self.action_space = action_space
        self.tracker = tracker if mode != "off" else None
        self.log = log
        self.settings = settings = settings or EpisodeSettings()
        self.family = settings.family
        self.exclude = settings.exclude
        self.update_memory = settings.update_memory
        self.keep_transitions = settings.keep_transitions
        self.episode = -1
        self.seed: int | None = None
        self.text = ""
        self.return_ = 0.0
        self.steps = 0
        self.in_episode = False
        self.transitions: list[Transition] = []
        self._procmem = ProcmemInfo()
        #: The concrete env action the active skill takes this step (inject mode), else None.
        self.skill_action: Any = None
        #: What the policy said about this step's action (behaviour log-probability, constraint use), logged with it.
        self.detail: dict[str, Any] = {}

    # ------------------------------------------------------------------ who acts
    @property
    def policy_needed(self) -> bool:
        """Return whether the policy must choose this step's action (False when a skill injects it)."""
        return self.skill_action is None

    @property
    def procmem(self) -> dict[str, Any]:
        """Return ``info["procmem"]`` for the current observation (a fresh dict on every call)."""
        return self._procmem.to_dict()

    @property
    def report(self) -> ProcmemInfo:
        """Return what the wrapper says about the current observation, as a typed record."""
        return self._procmem

    def _refresh(self, procmem: ProcmemInfo) -> None:
        self._procmem = procmem
        self.skill_action = None
        if self.mode == "inject" and procmem.next_action is not None:
            # a template that is no action of this env is ignored: the policy acts
            self.skill_action = action_from_text(self.action_space, procmem.next_action)

    # ------------------------------------------------------------------ the episode
    def begin(self, episode: int, seed: int | None, text: str, info: dict[str, Any] | None = None) -> None:
        """Start episode number ``episode`` on the text of its first observation (and the reset's ``info``).

        The env's family says the task (the one the text states, else the one ``info`` names),
        which episode-scope retrieval looks up, and the game played, whose own memories it
        leaves out (see :class:`~procmem_gym.wrappers.tracking.SkillTracker`).
        """
        self.episode, self.seed, self.text = episode, seed, text
        self.return_, self.steps, self.in_episode = 0.0, 0, True
        self.transitions = []
        self.detail = {}
        if self.tracker is None:
            self._refresh(ProcmemInfo())
            return
        info = info if isinstance(info, dict) else {}
        task = self.family.stated_task(text) or self.family.task_in(info)
        self._refresh(self.tracker.begin(text, seed, task=task, source=self.family.source_in(info)))

    def choose(self, policy_action: Any) -> tuple[Any, str]:
        """Return ``(action to send, source)``: the skill's action in inject mode when it has one."""
        if self.skill_action is not None:
            return self.skill_action, "skill"
        return policy_action, "policy"

    def advance(
        self,
        sent: Any,
        source: str,
        policy_action: Any,
        text: str,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any],
    ) -> Episode | None:
        """Account for one env step that led to ``text``; return the finished :class:`Episode` when it ended.

        When a skill acted instead of the policy, what the policy had passed is logged as
        ``info["policy_action"]``.
        """
        done = bool(terminated or truncated)
        self.return_ += float(reward)
        skill_id = event = None
        extra: dict[str, Any] = dict(self.detail)
        self.detail = {}
        if source == "skill":
            extra["policy_action"] = loggable_action(policy_action) if isinstance(policy_action, str) else policy_action
        if self.tracker is not None and self.tracker.explored is not None:
            extra["explored_skill"] = self.tracker.explored  # left inactive for this step by exploration
        if self.tracker is not None:
            commands = info.get(COMMANDS_KEY) if isinstance(info, dict) else None
            commands = [str(c) for c in commands] if isinstance(commands, (list, tuple)) else None
            skill_id, event, procmem = self.tracker.step(text, done, action_text(sent), commands)
        else:
            procmem = ProcmemInfo()
        if self.log is not None or self.keep_transitions:
            self.transitions.append(
                Transition(
                    episode=self.episode,
                    t=self.steps,
                    observation=self.text,
                    action=loggable_action(action_text(sent)),
                    action_source=source,
                    reward=float(reward),
                    terminated=bool(terminated),
                    truncated=bool(truncated),
                    skill=skill_id,
                    skill_event=event,
                    info=loggable_info({**info, **extra}, self.exclude),
                )
            )
        self.steps += 1
        self.text = text
        self._refresh(procmem)
        return self._finish(info) if done else None

    def _finish(self, info: dict[str, Any]) -> Episode:
        success = self.settings.succeeded(info)
        if self.tracker is None:
            record = EpisodeRecord(self.episode, self.return_, self.steps, success, (), 0, self.seed)
        else:
            record = self.tracker.record(self.episode, self.return_, self.steps, success, self.seed, self.update_memory)
        episode = Episode(record, tuple(self.transitions))
        self._write(record)
        self.in_episode = False
        self.skill_action = None  # info["procmem"] keeps showing the last observation's view
        return episode

    def annotate(self, detail: dict[str, Any]) -> None:
        """Keep what the policy said about the coming action, to log it with the step (``info``)."""
        self.detail = dict(detail)

    def abandon(self) -> None:
        """Write an unfinished episode's transitions without an episode line (a resumed run cuts them)."""
        if self.in_episode:
            self._write(None)
            self.in_episode = False

    def idle(self) -> None:
        """Leave the slot without an episode (a vector env whose episode budget is spent)."""
        self.in_episode = False
        self.transitions = []
        self._refresh(ProcmemInfo())

    def _write(self, record: EpisodeRecord | None) -> None:
        if self.log is not None and not self.log.closed:
            self.log.write_episode(self.transitions, record)
        self.transitions = []


def make_slots(
    n: int,
    memory: ProceduralMemory | None,
    mode: str,
    action_space: gym.Space,
    log: TransitionLog | None,
    settings: EpisodeSettings,
) -> list[EpisodeSlot]:
    """Return ``n`` episode runs sharing one memory and one log (one per env slot)."""
    retrieval = retrieval_settings(memory, settings.retrieval)
    tracked = memory is not None and mode != "off"
    return [
        EpisodeSlot(
            mode,
            action_space,
            SkillTracker(memory, explore=settings.explore, **retrieval) if tracked else None,
            log,
            settings,
        )
        for _ in range(n)
    ]
