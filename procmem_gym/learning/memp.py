"""MemP: build procedural memory from trajectories, retrieve it, and update it as episodes come in.

Build strategies (MemP's Build):

- ``trajectory``: one memory per successful episode, keyed by the task (its first observation),
  holding the condensed trajectory as guidance and its actions as steps.
- ``script``: abstract procedures. Decisions of successful episodes are mined into consistent
  situation -> action rules (:mod:`procmem_gym.learning.abstraction`); with an LLM
  (``writer.generate``) each task's procedure is also written as numbered steps.
- ``proceduralization``: both.

Update (MemP's Update) after every episode that used memories: each use counts a hit, each
success a success; a memory with ``hit >= 3`` and ``success / hit < 0.5`` is deprecated
(removed, with a ``prune`` event). Then ``vanilla`` adds every new trajectory, ``validation``
only successful ones, ``adjustment`` adds successful ones and, for a failure, asks the LLM to
correct the guidance of the memory that was used (without an LLM a failure only counts).
Retrieval uses the memory's retriever (``random``, ``keyword``, ``embedding`` = MemP's
``query``) or :func:`retrieve_avg_fact` (MemP's ``ave_fact``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from procmem_gym.envs.families import GENERIC, EnvFamily, family_of
from procmem_gym.errors import ProcMemError, UsageError
from procmem_gym.files.reading import InputFileError, loads_strict, read_bytes
from procmem_gym.learning.abstraction import decisions_of, mine_rules, rule_skill
from procmem_gym.learning.experience import Episode, group_episodes
from procmem_gym.learning.procedures import procedure_skills, task_scripts
from procmem_gym.learning.situations import first_line
from procmem_gym.memory import ProceduralMemory
from procmem_gym.rollouts.transitions import EpisodeRecord, Transition
from procmem_gym.skills.skill import LIMITS, Skill
from procmem_gym.wrappers.tracking import task_of

__all__ = ["STRATEGIES", "UPDATES", "build_memory", "trajectory_skill", "apply_update", "load_eto", "retrieve_avg_fact"]

STRATEGIES = ("trajectory", "script", "proceduralization")
#: The largest ETO/MemP trajectory file read.
TRAJECTORY_LIMIT = 1 << 30


class TrajectoryFormatError(ProcMemError, ValueError):
    """A trajectory file that is not what its format says; the message names the file and the problem."""


UPDATES = ("vanilla", "validation", "adjustment")


def task_query(episode: Episode, family: EnvFamily = GENERIC) -> str:
    """Return the task of an episode: the task its first observation states, else that observation (cut).

    MemP keys a memory by its task; a text game's first observation describes the room, then
    states the task, and keying by the whole of it would retrieve by room rather than by task.
    """
    if not episode.transitions:
        return ""
    first = episode.transitions[0].observation
    return task_of(first, family)[: LIMITS["text"]]


def states_task(episode: Episode, family: EnvFamily = GENERIC) -> bool:
    """Return whether an episode's first observation states its task (as the env's family phrases it)."""
    if not episode.transitions:
        return False
    first = episode.transitions[0].observation
    return task_of(first, family) != first


def episode_source(episode: Episode, family: EnvFamily = GENERIC) -> list[str]:
    """Return the game an episode played (location-independent), if its info says."""
    for tr in episode.transitions[:1] + episode.transitions[-1:]:
        source = family.source_in(tr.info or {})
        if source is not None:
            return [source]
    return []


def trajectory_skill(episode: Episode, env: str | None = None, agent: str | None = None) -> Skill:
    """Return MemP's trajectory memory of one episode (activated by its task, by embedding similarity)."""
    lines, budget = [], LIMITS["guidance"] - 200
    for tr in episode.transitions:
        line = f"{tr.t + 1}. {tr.action}  ->  {first_line(_next_observation(episode, tr))[:120]}"
        if sum(len(x) + 1 for x in lines) + len(line) > budget:
            lines.append("...")
            break
        lines.append(line)
    verdict = "succeeded" if episode.record.success else f"ended with return {episode.return_:.2f}"
    # Guidance only, for one step at a time: a replayed action sequence fits no other game, and a
    # long-running skill would keep the situation rules (checked first) from firing.
    return Skill.create(
        f"trajectory of episode {episode.record.episode} ({verdict})",
        task_query(episode, family_of(env)),
        "A past attempt at this task that " + verdict + ":\n" + "\n".join(lines),
        termination="one step later",
        max_steps=1,
        method="memp:trajectory",
        env=env,
        agent=agent,
        sources=episode_source(episode, family_of(env)),
    )


def _next_observation(episode: Episode, tr: Transition) -> str:
    k = tr.t + 1
    return episode.transitions[k].observation if k < len(episode.transitions) else "(end)"


SCRIPT_PROMPT = (
    "Below is a successful attempt at a task. Write the general procedure that solved it as short "
    "numbered steps that would also work for similar tasks. Write only the steps.\n\nTask:\n{task}\n\n"
    "Attempt:\n{steps}\n\nProcedure:\n1."
)


def script_skills(
    episodes: Sequence[Episode],
    writer: Any = None,
    env: str | None = None,
    agent: str | None = None,
    min_support: int = 2,
    min_consistency: float = 0.8,
) -> list[Skill]:
    """Return abstract procedures: mined situation -> action rules, plus LLM-written procedures with ``writer``."""
    family = family_of(env)
    good = [e for e in episodes if e.record.success]
    tasked = [e for e in good if states_task(e, family)]
    # Tasks stated in text get procedures with slots (rules over concrete names would not transfer).
    skills = procedure_skills(tasked, env, agent, min_support) + task_scripts(tasked, env, agent)
    skills += [
        rule_skill(r, "memp:script", env, agent)
        for r in mine_rules(
            decisions_of([e for e in good if not states_task(e, family)], False, family=family),
            min_support,
            min_consistency,
        )
    ]
    if writer is not None and good:
        by_task: dict[str, Episode] = {}
        for e in good:
            by_task.setdefault(task_query(e, family), e)
        prompts = [
            SCRIPT_PROMPT.format(task=task[:1500], steps="\n".join(f"- {tr.action}" for tr in e.transitions)[:2000])
            for task, e in by_task.items()
        ]
        for task, text in zip(by_task, writer.generate(prompts, max_new_tokens=160), strict=True):
            procedure = ("1." + text).strip()[: LIMITS["guidance"]]
            if len(procedure) < 8:
                continue
            skills.append(
                Skill.create(
                    f"procedure for: {first_line(task)[:80]}",
                    task,
                    procedure,
                    termination="the task is done",
                    max_steps=50,
                    method="memp:script",
                    env=env,
                    agent=agent,
                )
            )
    return skills


def build_memory(
    episodes: Sequence[Episode],
    strategy: str,
    memory: ProceduralMemory | None = None,
    writer: Any = None,
    env: str | None = None,
    agent: str | None = None,
    successful_only: bool = True,
    min_support: int = 2,
) -> ProceduralMemory:
    """Build (or extend) a memory from episodes with one of :data:`STRATEGIES`; every skill is an ``add`` event."""
    if strategy not in STRATEGIES:
        raise UsageError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    memory = memory if memory is not None else ProceduralMemory(meta={"env_id": env, "agent": agent})
    chosen = [e for e in episodes if e.record.success or not successful_only]
    skills: list[Skill] = []
    if strategy in ("script", "proceduralization"):
        skills += script_skills(episodes, writer, env, agent, min_support)
    if strategy in ("trajectory", "proceduralization"):
        skills += [trajectory_skill(e, env, agent) for e in chosen]
    if any(states_task(e, family_of(env)) for e in chosen) and "retrieval" not in memory.meta:
        # MemP's retrieval, as published: by the task, top 10, squared L2 distance <= 0.5 (cosine >= 0.75),
        # once per episode, kept in the prompt for the whole episode
        memory.meta["retrieval"] = {"scope": "episode", "top_k": 10, "threshold": 0.75}
    for skill in skills:
        if strategy == "proceduralization":
            skill = skill.with_(lineage=replace(skill.lineage, parent=None, version=1, method="memp:proceduralization"))
        if skill.id not in memory:
            memory.add(skill, {"source": "build", "strategy": strategy, "name": skill.name})
    return memory


REFLECT_PROMPT = (
    "A procedure from memory was followed and the attempt failed.\n\nProcedure:\n{guidance}\n\n"
    "Failed attempt:\n{steps}\n\nRewrite the procedure so that it avoids this failure. Write only the "
    "corrected procedure.\n\nCorrected procedure:\n"
)


def apply_update(
    memory: ProceduralMemory,
    episode: Episode,
    mode: str,
    writer: Any = None,
    env: str | None = None,
    agent: str | None = None,
    baseline: float | None = None,
) -> None:
    """MemP's Update after one episode: deprecate memories that keep failing, then add or correct.

    A memory with ``hit >= 3`` is deprecated when its success rate ``success / hit`` is below
    ``baseline`` — the success rate without memory, since a small model starts near 0 and
    MemP's absolute 50 % would deprecate every memory it uses — or below 0.5 when no baseline is
    known (MemP's rule).
    """
    if mode not in UPDATES:
        raise UsageError(f"update must be one of {UPDATES}, got {mode!r}")
    floor = 0.5 if baseline is None else float(baseline)
    for skill_id in episode.record.skills_used:
        skill = memory.find(skill_id)
        if skill is None:
            continue
        hits, successes = skill.stats.episodes, skill.stats.successes
        if hits >= 3 and successes / hits < floor:
            detail = {"reason": "deprecated", "hit": hits, "success": successes, "baseline": round(floor, 4)}
            memory.remove(skill_id, "prune", detail)
    success = episode.record.success
    if mode == "vanilla" or success:
        skill = trajectory_skill(episode, env, agent)
        if skill.id not in memory:
            memory.add(skill, {"source": "update", "mode": mode})
    elif mode == "adjustment" and writer is not None:
        for skill_id in episode.record.skills_used:
            skill = memory.find(skill_id)
            if skill is None or not skill.execution.guidance:
                continue
            steps = "\n".join(
                f"- {tr.action} -> {first_line(_next_observation(episode, tr))[:100]}" for tr in episode.transitions
            )
            text = writer.generate(
                [REFLECT_PROMPT.format(guidance=skill.execution.guidance[:2000], steps=steps[:2000])],
                max_new_tokens=200,
            )[0]
            corrected = text.strip()[: LIMITS["guidance"]]
            if len(corrected) < 8:
                memory.record("reject", skill_id, {"reason": "empty reflection"})
                continue
            memory.update(
                skill_id,
                execution=skill.execution.__class__(corrected, skill.execution.steps),
                detail={"source": "reflection", "episode": episode.record.episode},
            )


_FACT = re.compile(r"^\s*([A-Za-z][\w \-]{0,40}?)\s*[:=]\s*(.+?)\s*$", re.M)


def facts(text: str) -> dict[str, str]:
    """Return ``key: value`` facts stated in a task text (MemP's per-task facts)."""
    return {k.strip().lower(): v for k, v in _FACT.findall(text)}


def retrieve_avg_fact(
    memory: ProceduralMemory, query: str, k: int = 5, threshold: float = 0.4
) -> list[tuple[Skill, float]]:
    """MemP's ``ave_fact``: mean cosine over the shared keys of the query's and each memory's facts."""
    q = facts(query)
    if not q:
        return []
    embed = memory.embedder.embed
    scored = []
    for skill in memory.skills:
        f = facts(skill.activation.text)
        shared = sorted(set(q) & set(f))
        if not shared:
            continue
        a, b = embed([q[key] for key in shared]), embed([f[key] for key in shared])
        score = float(np.mean(np.sum(a * b, axis=1)))
        if score >= threshold:
            scored.append((skill, score))
    scored.sort(key=lambda p: (-p[1], p[0].id))
    return scored[:k]


def load_eto(path: str | Path) -> list[Episode]:
    """Read ETO/MemP ALFWorld trajectories (``conversations`` of ``Thought:`` / ``Action:`` turns) as episodes.

    Each item is ``{"id", "conversations": [{"from": "human"|"gpt", "value": ...}, ...], "reward"?}``:
    human turns are observations, gpt turns hold ``Action: ...``. The first human turn (the
    instructions and the task) is the first observation.
    """
    path = Path(path)
    try:
        data = loads_strict(read_bytes(path, TRAJECTORY_LIMIT, "trajectory file"))
    except InputFileError as err:
        raise TrajectoryFormatError(str(err)) from None
    except ValueError as err:
        raise TrajectoryFormatError(f"{path}: not a JSON trajectory file ({str(err)[:200]})") from None
    if isinstance(data, dict):
        data = [data]
    items: list[Transition | EpisodeRecord] = []
    for n, item in enumerate(data):
        turns = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(turns, list):
            raise TrajectoryFormatError(f"{path}: item {n} has no 'conversations' list")
        observation, t = None, 0
        for turn in turns:
            who, value = turn.get("from"), str(turn.get("value", ""))
            if who in ("human", "user"):
                observation = value if observation is None or t > 0 else observation + "\n" + value
            elif who in ("gpt", "assistant") and observation is not None:
                m = re.search(r"Action:\s*(.+)", value)
                if not m:
                    continue
                items.append(
                    Transition(
                        episode=n,
                        t=t,
                        observation=observation,
                        action=m.group(1).strip(),
                        info={"thought": value.split("Action:")[0].replace("Thought:", "").strip()[:500]},
                    )
                )
                t += 1
                observation = ""
        reward = float(item.get("reward", 1.0))
        items.append(EpisodeRecord(episode=n, return_=reward, length=t, success=reward >= 1.0))
    return group_episodes(items)
