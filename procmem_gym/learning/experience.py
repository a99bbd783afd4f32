"""Experience from transition logs: episodes, skill segments, and advantages per skill use."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from procmem_gym.errors import UsageError
from procmem_gym.rollouts.transitions import Episode, Transition, group_episodes, read_log

__all__ = [
    "Episode",
    "Segment",
    "load_episodes",
    "split_segments",
    "advantages",
    "group_advantages",
    "Sample",
    "samples_for",
    "Decision",
    "decisions",
]


@dataclass(frozen=True)
class Segment:
    """Consecutive steps taken under one activation of a skill."""

    skill: str
    episode: int
    steps: tuple[Transition, ...]
    episode_return: float
    completed: bool


@dataclass(frozen=True)
class Sample:
    """One logged decision with its advantage: what the PPO gate scores."""

    observation: str
    action: str
    advantage: float


def load_episodes(path: str | os.PathLike) -> list[Episode]:
    """Return the finished episodes of a transition log."""
    return group_episodes(read_log(path))


def split_segments(episode: Episode) -> list[Segment]:
    """Return the skill segments of an episode: a new segment starts when the skill changes or ended."""
    segments: list[Segment] = []
    current: list[Transition] = []
    for tr in episode.transitions:
        if tr.skill is None:
            if current:
                segments.append(_segment(current, episode))
                current = []
            continue
        if current and (
            current[-1].skill != tr.skill or current[-1].skill_event == "terminate" or tr.skill_event == "activate"
        ):
            segments.append(_segment(current, episode))
            current = []
        current.append(tr)
    if current:
        segments.append(_segment(current, episode))
    return segments


def _segment(steps: list[Transition], episode: Episode) -> Segment:
    return Segment(
        steps[0].skill, episode.record.episode, tuple(steps), episode.return_, steps[-1].skill_event == "terminate"
    )


def advantages(episodes: Sequence[Episode], baseline: str = "mean") -> dict[str, list[tuple[Segment, float]]]:
    """Return ``{skill: [(segment, advantage), ...]}``: episode return minus a baseline.

    ``baseline="mean"``: the mean return of all the episodes; ``"without"``: the mean return of
    the episodes that did not use that skill (the mean of all when every episode used it).
    """
    if baseline not in ("mean", "without"):
        raise UsageError(f"baseline must be 'mean' or 'without', got {baseline!r}")
    if not episodes:
        return {}
    mean = sum(e.return_ for e in episodes) / len(episodes)
    out: dict[str, list[tuple[Segment, float]]] = {}
    for e in episodes:
        for seg in split_segments(e):
            out.setdefault(seg.skill, []).append((seg, 0.0))
    for skill, pairs in out.items():
        base = mean
        if baseline == "without":
            others = [e.return_ for e in episodes if skill not in e.record.skills_used]
            base = sum(others) / len(others) if others else mean
        out[skill] = [(seg, seg.episode_return - base) for seg, _ in pairs]
    return out


def samples_for(pairs: Sequence[tuple[Segment, float]], policy_only: bool = False) -> list[Sample]:
    """Return the gate samples of a skill's segments (with ``policy_only``, steps the policy chose)."""
    return [
        Sample(tr.observation, tr.action, adv)
        for seg, adv in pairs
        for tr in seg.steps
        if not policy_only or tr.action_source == "policy"
    ]


def group_advantages(episodes: Sequence[Episode]) -> list[float]:
    """Return each episode's group-relative advantage: its return minus the mean of its group.

    A group is the episodes of one task (the same env seed) played with different sampling
    seeds, as Skill-Pro and GRPO compute it; an episode alone in its group gets 0.
    """
    groups: dict[object, list[float]] = {}
    for e in episodes:
        groups.setdefault(e.record.seed, []).append(e.return_)
    means = {k: sum(v) / len(v) for k, v in groups.items()}
    return [e.return_ - means[e.record.seed] for e in episodes]


@dataclass(frozen=True)
class Decision:
    """One action the policy chose, with everything the learner reads about it.

    ``info`` is what the policy saw with the observation: the info of the step before (None for
    an episode's first step, whose reset info the log does not hold). ``step`` is the info logged
    with the step itself, which also carries what the policy said about its action
    (``behaviour_logprob``, ``constraint``, ``explored_skill``).
    """

    observation: str
    info: dict | None
    action: str
    advantage: float  # the episode's group-relative advantage, spread over its steps
    task: object  # the episode's env seed
    skill: str | None  # the skill active when it was chosen
    won: bool  # the step that won the episode
    explored: bool  # a skill's activation held but exploration left it inactive
    step: dict = field(default_factory=dict)


def decisions(episodes: Sequence[Episode], advantage: Sequence[float]) -> list[Decision]:
    """Return the decisions the policy made in the episodes (steps a skill injected are not the policy's)."""
    out = []
    for e, adv in zip(episodes, advantage, strict=True):
        before: dict | None = None
        for tr in e.transitions:
            if tr.action_source == "policy":
                won = bool(tr.reward > 0 and tr.terminated and e.record.success)
                explored = "explored_skill" in tr.info
                out.append(
                    Decision(tr.observation, before, tr.action, adv, e.record.seed, tr.skill, won, explored, tr.info)
                )
            before = tr.info
    return out
