"""SkillTracker: the option state machine of one episode (which skill is active, for how long, why it ended).

Shared by the single-env and the vector-env wrapper. For every observation the tracker first
checks the active skill's termination (its patterns on the new text, its ``max_steps``, the
end of the episode), then, with no skill active, asks the memory for a skill whose activation
holds and activates the best one. Slots of the skill's action templates are filled from the
named groups of the activation patterns that matched (``(?P<obj>[a-z]+)`` fills ``{obj}``).

With ``scope="episode"`` (MemP's retrieval, as published) the memories of the task are
retrieved once, when the episode starts: up to ``top_k`` skills without patterns whose
activation text (the task they were built for) is within MemP's threshold of this episode's
task, never one built from this episode's own game. They stay in ``info["procmem"]["memories"]``
for the whole episode; skills with patterns (rules, constraints) still activate step by step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from procmem_gym.envs.families import GENERIC, EnvFamily
from procmem_gym.errors import UsageError
from procmem_gym.memory import ProceduralMemory
from procmem_gym.memory.retrieval import SCOPES
from procmem_gym.rollouts.transitions import EpisodeRecord
from procmem_gym.skills.patterns import search
from procmem_gym.skills.skill import Skill
from procmem_gym.wrappers.info import ProcmemInfo

_SLOT = re.compile(r"\{(\w+)\}")
#: The line of the tracker's context that names the task (docs/design.md#the-trackers-context).
CONTEXT_TASK = "Your task is to: "


def task_of(text: str, family: EnvFamily = GENERIC) -> str:
    r"""Return the task an observation states (as the env's family phrases it), else the text.

    >>> task_of("You are in a room.\n\nYour task is to: put a clean mug in cabinet.")
    'put a clean mug in cabinet.'
    """
    stated = family.stated_task(text)
    return text if stated is None else stated


_THING = re.compile(r"\b([a-z]+) \d+\b")


def in_view(text: str, task: str) -> str:
    """Return the positions of the task's words that ``text`` names as things (a word, then a number).

    >>> in_view("On the desk 1, you see a mug 2 and a pen 1.", "put a clean mug in desk")
    '3 5'
    """
    named = {m.group(1) for m in _THING.finditer(text.lower())}
    return " ".join(str(k) for k, w in enumerate(task.split()) if w in named)


def changed(before: frozenset[str] | None, after: frozenset[str] | None) -> bool:
    """Return whether a step counts as done: unless both command sets are known and equal (a look, a help)."""
    return before is None or after is None or before != after


def context_text(text: str, task: str, done: set[str] | frozenset[str]) -> str:
    """Return the text conditions read under a stated task (see :meth:`SkillTracker.context`)."""
    return f"{text}\n\n{CONTEXT_TASK}{task}\nDone so far: {' '.join(sorted(done))}\nIn view: {in_view(text, task)}"


def task_key(task: str) -> str:
    """Return a task as conditions read it: lower case, single spaces, no final period.

    >>> task_key("Put a clean Mug in cabinet. ")
    'put a clean mug in cabinet'
    """
    return " ".join(task.lower().split()).rstrip(".")


def fill(text: str, values: dict[str, str]) -> str:
    """Return ``text`` with each ``{name}`` that has a value replaced by it (others left as they are)."""
    if not values or "{" not in text:
        return text
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass
class SkillUse:
    """How one skill was used in one episode."""

    activations: int = 0
    completions: int = 0
    steps: int = 0


@dataclass
class SkillTracker:
    """Tracks the active skill through one episode and reports it as a :class:`ProcmemInfo`."""

    memory: ProceduralMemory
    candidates_k: int = 5
    active: Skill | None = None
    step_in_skill: int = 0
    slots: dict[str, str] = field(default_factory=dict)
    uses: dict[str, SkillUse] = field(default_factory=dict)
    candidates: list[tuple[str, float]] = field(default_factory=list)
    skill_steps: int = 0
    #: Probability of leaving a skill whose activation holds inactive for a step (Skill-Pro: 0.3 in learning).
    explore: float = 0.0
    #: The skill left inactive on the current step by exploration, if any.
    explored: str | None = None
    text: str = ""
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    #: ``step`` or ``episode`` (see the module doc).
    scope: str = "step"
    #: Episode scope: memories retrieved per episode (MemP: 10), and the cosine they need (MemP: 0.75).
    top_k: int = 10
    task_threshold: float = 0.75
    #: Episode scope: the memories of this episode's task, with their cosines.
    memories: list[tuple[Skill, float]] = field(default_factory=list)
    #: The episode's task, when it states one, and the verbs of the actions taken so far (see :meth:`context`).
    task: str = ""
    done_verbs: set[str] = field(default_factory=set)
    #: The actions taken so far in this episode (constraints that forbid repeating one read them).
    taken: list[str] = field(default_factory=list)
    #: The env's admissible commands after the last step, when it lists them.
    commands: frozenset[str] | None = None
    #: The episode's source (its game): skills built from it are not activated.
    source: str | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise UsageError(f"scope must be one of {SCOPES}, got {self.scope!r}")

    def start(self, seed: int | None = None) -> None:
        """Forget the previous episode (``seed`` seeds the exploration of this one)."""
        self.active, self.step_in_skill, self.slots = None, 0, {}
        self.uses, self.candidates, self.skill_steps, self.explored = {}, [], 0, None
        self.memories, self.task, self.done_verbs, self.source, self.taken = [], "", set(), None, []
        self.commands = None
        self.rng = np.random.default_rng([0 if seed is None else seed, 0x5EED])

    def begin(
        self, text: str, seed: int | None = None, task: str | None = None, source: str | None = None
    ) -> ProcmemInfo:
        """Start an episode on its first observation; return what the wrapper reports for it.

        ``task`` is the episode's task in words (the one the observation states, else the one
        the env's info names): episode-scope retrieval looks it up; ``source`` (the episode's
        game, say) excludes skills built from it.
        """
        self.start(seed)
        self.task = task_key(task or "")
        self.source = source
        if self.scope == "episode":
            found = self.memory.task_memories(
                self.task or text, self.top_k, self.task_threshold, (source,) if source else ()
            )
            for skill_id, sim in found:
                skill = self.memory.find(skill_id)
                if skill is not None:
                    self.memories.append((skill, sim))
                    self.uses.setdefault(skill_id, SkillUse()).activations += 1
        self.select(text)
        return self.info()

    def context(self, text: str) -> str:
        """Return what activation patterns and constraints read: ``text``, then the task, what was done and is seen.

        With a stated task the text is followed by three lines: ``Your task is to: TASK``,
        ``Done so far:`` with the sorted first words of the actions taken (``go open take``;
        an action after which the env's admissible commands stayed the same changed nothing
        and is left out), and
        ``In view:`` with the positions (0-based) of the task's words that ``text`` names as
        things ("mug 2"), so a skill can hold for one stage of one kind of task. Without a
        stated task it is ``text`` itself.
        """
        if not self.task:
            return text
        return context_text(text, self.task, self.done_verbs)

    def step(
        self, text: str, episode_over: bool, action: str | None = None, commands: Sequence[str] | None = None
    ) -> tuple[str | None, str | None, ProcmemInfo]:
        """Account for one env step (``action``) that led to ``text``; return (skill, event) and the new report.

        The event is ``terminate`` when the skill ended on this step; otherwise, with no skill
        active, a skill whose activation holds for ``text`` is activated for the next step.
        """
        if action is not None and len(self.taken) < 10_000:
            self.taken.append(action)
        after = frozenset(commands) if commands is not None else None
        if action and changed(self.commands, after):
            verb = action.split(maxsplit=1)[0].lower()[:20] if action.strip() else ""
            if verb.isalpha():
                self.done_verbs.add(verb)
        self.commands = after
        skill_id, event = self.advance()
        if self.check_termination(text, episode_over):
            event = "terminate"
        if not episode_over:
            self.select(text)
        return skill_id, event, self.info()

    def select(self, text: str) -> None:
        """With no skill active, activate the best skill whose activation holds for ``text``.

        With ``explore`` > 0 the skill is left inactive for this step with that probability
        (seeded per episode), so that situations a skill covers also yield data without it.
        """
        self.text, self.explored = text, None
        if self.active is not None:
            self.candidates = []
            return
        context = self.context(text)
        self.candidates = self.memory.activation_candidates(context, self.candidates_k, self.scope == "episode")
        for skill_id, _ in self.candidates:
            skill = self.memory.find(skill_id)
            if skill is None or (self.source is not None and self.source in skill.lineage.sources):
                continue
            if self.explore > 0 and self.rng.random() < self.explore:
                self.explored = skill_id
                return
            self.active, self.step_in_skill = skill, 0
            self.slots = self._capture(skill, context)
            self.uses.setdefault(skill_id, SkillUse()).activations += 1
            return

    def advance(self) -> tuple[str | None, str | None]:
        """Account for one env step; return the (skill id, event) to log for it.

        A step under episode memories only is logged with the first memory's id.
        """
        for skill, _ in self.memories:
            self.uses[skill.id].steps += 1
        if self.active is None:
            if not self.memories:
                return None, None
            self.skill_steps += 1
            first = self.memories[0][0].id
            return first, "activate" if self.uses[first].steps == 1 else "continue"
        event = "activate" if self.step_in_skill == 0 else "continue"
        self.step_in_skill += 1
        self.uses[self.active.id].steps += 1
        self.skill_steps += 1
        return self.active.id, event

    def check_termination(self, text: str, episode_over: bool) -> bool:
        """End the active skill if its condition holds on ``text`` (or the budget/episode is spent)."""
        skill = self.active
        if skill is None:
            return False
        term = skill.termination
        completed = self.step_in_skill >= term.max_steps or any(search(p, text) is not None for p in term.patterns)
        if completed or episode_over:
            if completed:
                self.uses[skill.id].completions += 1
            self.active, self.step_in_skill, self.slots = None, 0, {}
            return True
        return False

    def info(self) -> ProcmemInfo:
        """Return the report of this observation: the active skill, its guidance and next action, the candidates."""
        skill = self.active
        memories = tuple(
            {"id": m.id, "name": m.name, "guidance": m.execution.guidance, "similarity": round(sim, 4)}
            for m, sim in self.memories
        )
        if skill is None:
            return ProcmemInfo(candidates=tuple(self.candidates), memories=memories or None)
        constraint = None
        if skill.execution.constraint is not None:
            # the constraint filled in for this observation: the policy chooses among what it allows
            constraint = skill.execution.constraint.bind(self.context(self.text), self.slots, self.taken)
        return ProcmemInfo(
            active_skill=skill.id,
            guidance=fill(skill.execution.guidance, self.slots) or None,
            next_action=skill.action(self.step_in_skill, self.slots),
            candidates=tuple(self.candidates),
            skill_name=skill.name,
            memories=memories or None,
            constraint=constraint,
        )

    @staticmethod
    def _capture(skill: Skill, text: str) -> dict[str, str]:
        """Return the named groups captured by the skill's matching activation patterns."""
        values: dict[str, str] = {}
        for p in skill.activation.patterns:
            groups = search(p, text)
            if groups:
                for k, v in groups.items():
                    values.setdefault(k, v)
        return values

    def record(
        self, episode: int, episode_return: float, length: int, success: bool, seed: int | None, update_memory: bool
    ) -> EpisodeRecord:
        """Return the episode's record; with ``update_memory`` the used skills' stats are updated too."""
        usage = self.usage()
        if update_memory:
            self.memory.record_episode(usage, success, episode_return)
        return EpisodeRecord(episode, episode_return, length, success, tuple(usage), self.skill_steps, seed)

    def usage(self) -> dict[str, tuple[int, int, int]]:
        """Return ``{id: (activations, completions, steps)}`` for the episode so far."""
        return {k: (u.activations, u.completions, u.steps) for k, u in self.uses.items()}
