r"""Procedures with slots, abstracted from successful episodes of tasks stated in text ("Your task is to: ...").

This is MemP's script abstraction for tasks whose goal names the things to act on, as ALFWorld's
do ("put a clean mug in cabinet."). Nothing here knows ALFWorld; it reads three regularities of
such text environments:

- **Slots from the goal.** A word of the goal that also names an entity the episode acted on
  (a word followed by an instance number in the actions: "take mug 1 from countertop 2") is a
  slot: ``obj``, ``place``, ``tool`` in the order the goal names them. The goal with its slots
  cut out is the *task pattern* ("put a clean (?P<obj>[a-z]+) in (?P<place>[a-z]+)\."), so one
  procedure serves every object and receptacle of that kind of task.
- **Situations from the observation and the stage.** What an action answered is the start of the
  observation before its first named entity ("You arrive at", "You pick up the"); the stage is the
  set of verbs done so far ("go open take"), which :meth:`~procmem_gym.wrappers.tracking.SkillTracker.context`
  puts after the observation with the task.
- **Actions as templates.** Slot words become ``{obj}``, ``{place}``, ...; instance numbers
  any number; an entity word the expert used with several different words in the same
  situation becomes any word, one it always used stays as it is ("go to microwave" after
  picking up the object of a heating task).

:func:`procedure_skills` returns one constraint skill per (task pattern, situation) seen in at
least ``min_support`` successful episodes: activated by the situation and the task, it allows
only the action templates that successful episodes took there (and, where none of them repeated
an earlier action, no repeated action). :func:`task_scripts` returns
one script per task pattern, the numbered steps of its shortest successful episode with the
slots put in, keyed by the task text (MemP's retrieval by task).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from procmem_gym.envs.families import COMMANDS_KEY, EnvFamily, family_of
from procmem_gym.learning.experience import Episode
from procmem_gym.skills.skill import LIMITS, Skill
from procmem_gym.wrappers.tracking import CONTEXT_TASK, changed, in_view, task_key, task_of

__all__ = ["SLOT_NAMES", "abstract_task", "procedure_skills", "opening_words", "task_scripts"]

#: Names of the goal's slots, in the order the goal names them.
SLOT_NAMES = ("obj", "place", "tool")
_ENTITY = re.compile(r"\b([a-z][a-z]*) (\d+)\b")
_WORD = re.compile(r"[a-z]+")
#: Distinct words an action took at one place in one situation before that place becomes "any word".
GENERALISE_AT = 2
#: At most this many words of an observation name its situation.
SITUATION_WORDS = 6


def _entity_words(actions: Sequence[str]) -> set[str]:
    return {m.group(1) for a in actions for m in _ENTITY.finditer(a.lower())}


def abstract_task(goal: str, actions: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    r"""Return (task regex with named slot groups, {slot: word}) for a goal, or None without slots.

    >>> pattern, slots = abstract_task("put a clean mug in cabinet.", ["take mug 1", "go to cabinet 2"])
    >>> print(pattern, slots)
    put\ a\ clean\ (?P<obj>[a-z]+)\ in\ (?P<place>[a-z]+) {'obj': 'mug', 'place': 'cabinet'}
    """
    goal = task_key(goal)
    entities = _entity_words(actions)
    slots: dict[str, str] = {}
    parts: list[str] = []
    last = 0
    for m in _WORD.finditer(goal):
        word = m.group(0)
        if word in entities and word not in slots.values() and len(slots) < len(SLOT_NAMES):
            name = SLOT_NAMES[len(slots)]
            slots[name] = word
            parts += [re.escape(goal[last : m.start()]), f"(?P<{name}>[a-z]+)"]
            last = m.end()
    if not slots:
        return None
    parts.append(re.escape(goal[last:]))
    return "".join(parts), slots


def opening_words(observation: str) -> str:
    """Return the words that start an observation, before the first named entity (at most six).

    >>> opening_words("You arrive at countertop 1. On the countertop 1, you see a mug 2.")
    'You arrive at'
    >>> opening_words("You pick up the mug 2 from the countertop 1.")
    'You pick up the'
    """
    first = observation.strip().split("\n", 1)[0]
    words = first.split()
    out: list[str] = []
    for k, word in enumerate(words[:SITUATION_WORDS]):
        if k + 1 < len(words) and words[k + 1].strip(".,").isdigit():
            break
        out.append(word)
    return " ".join(out)


def _template(action: str, slots: dict[str, str]) -> tuple[str, ...]:
    """An action as tokens: slot words as ``{slot}``, instance numbers as ``#``, other words kept."""
    by_word = {w: name for name, w in slots.items()}
    out = []
    tokens = action.lower().split()
    for k, tok in enumerate(tokens):
        if tok.isdigit():
            out.append("#")
        elif tok in by_word and k + 1 < len(tokens) and tokens[k + 1].isdigit():
            out.append("{" + by_word[tok] + "}")
        else:
            out.append(tok)
    return tuple(out)


def _generalise(templates: Counter) -> list[tuple[str, ...]]:
    """Merge templates that differ only in an entity word used with several words: that place takes any word."""
    shapes: dict[tuple, set[tuple[str, ...]]] = defaultdict(set)
    for t in templates:
        entity_at = tuple(k for k in range(len(t) - 1) if t[k + 1] == "#" and not t[k].startswith("{"))
        shapes[(len(t), entity_at, tuple(t[k] for k in range(len(t)) if k not in entity_at))].add(t)
    out: list[tuple[str, ...]] = []
    for (_, entity_at, _), group in shapes.items():
        merged = list(min(group))
        for k in entity_at:
            if len({t[k] for t in group}) >= GENERALISE_AT:
                merged[k] = "*"
        rest = [t for t in group if any(merged[k] != "*" and t[k] != merged[k] for k in entity_at)]
        out.append(tuple(merged))
        out += sorted(rest)
    return sorted(set(out))


def _regex(template: tuple[str, ...]) -> str:
    parts = []
    for tok in template:
        if tok == "#":
            parts.append(r"\d+")
        elif tok == "*":
            parts.append(r"[a-z]+")
        elif tok.startswith("{") and tok.endswith("}"):
            parts.append(tok)
        else:
            parts.append(re.escape(tok))
    return " ".join(parts)


def _readable(template: tuple[str, ...]) -> str:
    words = {"#": "N", "*": "X"}
    return " ".join(words.get(t, t) for t in template)


@dataclass
class _Group:
    templates: Counter = field(default_factory=Counter)
    episodes: set[int] = field(default_factory=set)
    repeats: int = 0  # actions that an episode had already taken
    sources: set[str] = field(default_factory=set)


def _commands(tr) -> frozenset[str] | None:
    commands = (tr.info or {}).get(COMMANDS_KEY)
    return frozenset(str(c) for c in commands) if isinstance(commands, (list, tuple)) else None


def _tasks(episodes: Sequence[Episode], family: EnvFamily) -> list[tuple[Episode, str, dict[str, str], str]]:
    out = []
    for e in episodes:
        if not e.record.success or not e.transitions:
            continue
        first = e.transitions[0].observation
        goal = task_of(first, family)
        if goal == first:
            continue  # the observation states no task
        found = abstract_task(goal, [tr.action for tr in e.transitions])
        if found is None:
            continue
        pattern, slots = found
        game = family.source_in(e.transitions[0].info or {}) or family.source_in(e.transitions[-1].info or {})
        out.append((e, pattern, slots, game if game is not None else f"episode {e.record.episode}"))
    return out


def procedure_skills(
    episodes: Sequence[Episode],
    env: str | None = None,
    agent: str | None = None,
    min_support: int = 2,
    method: str = "memp:script",
) -> list[Skill]:
    """Return constraint skills: in each situation of each kind of task, only what successful episodes did there."""
    groups: dict[tuple[str, str, str, str], _Group] = defaultdict(_Group)
    family = family_of(env)
    for e, pattern, slots, source in _tasks(episodes, family):
        done: set[str] = set()
        taken: set[str] = set()
        goal = task_key(task_of(e.transitions[0].observation, family))
        before: frozenset[str] | None = None  # as the tracker counts what was done (SkillTracker.step)
        for tr in e.transitions:
            after = _commands(tr)
            action = " ".join(tr.action.lower().split())
            repeated = action in taken
            taken.add(action)
            situation = opening_words(tr.observation)
            stage = " ".join(sorted(done))
            seen = in_view(tr.observation, goal)
            verb = tr.action.split(maxsplit=1)[0].lower() if tr.action.strip() else ""
            if verb.isalpha() and changed(before, after):
                done.add(verb[:20])
            before = after
            if not situation:
                continue
            g = groups[(pattern, situation, stage, seen)]
            g.templates[_template(tr.action, slots)] += 1
            g.repeats += repeated
            g.episodes.add(e.record.episode)
            g.sources.add(source)
    skills = []
    for (pattern, situation, stage, seen), g in sorted(groups.items()):
        if len(g.episodes) < min_support:
            continue
        templates = _generalise(g.templates)
        allowed = "(?:" + "|".join(_regex(t) for t in templates) + ")"
        if len(allowed) > 300:  # the constraint format's bound on one template
            continue
        task_words = re.sub(r"\(\?P<(\w+)>\[a-z\]\+\)", r"{\1}", pattern).replace("\\", "")
        goal_words = dict(enumerate(task_words.split()))
        # what the tracker reads: the observation, the task, the verbs done, the task's things in view
        activation = (
            f"(?s)^{re.escape(situation)}.*\\n\\n{CONTEXT_TASK}{pattern}\\n"
            f"Done so far: {re.escape(stage)}\\nIn view: {re.escape(seen)}$"
        )
        shown = " ".join(goal_words.get(int(k), k) for k in seen.split()) if seen else "none of them"
        skills.append(
            Skill.create(
                f"{situation[:36]} | {task_words[:50]} | done: {stage[:30] or '-'} | seen: {shown[:20]}",
                f"{situation} ... while the task is: {task_words} "
                f"(done so far: {stage or 'nothing'}; in view: {shown})",
                "Here successful attempts did one of: " + "; ".join(_readable(t) for t in templates) + ".",
                patterns=[activation],
                termination="one step later",
                max_steps=1,
                # where successful episodes never went back, neither does the skill
                constraint={"all": [{"matches": allowed}] + ([] if g.repeats else [{"unrepeated": True}])},
                method=method,
                env=env,
                agent=agent,
                sources=sorted(g.sources),
            )
        )
    return skills


def task_scripts(
    episodes: Sequence[Episode], env: str | None = None, agent: str | None = None, method: str = "memp:script"
) -> list[Skill]:
    """Return one script per kind of task: the shortest successful episode's steps, its slots put in.

    The skill is keyed by the task's text (retrieved by task, MemP's way) and its guidance is
    written with the slot names, so it reads right for any object and receptacle.
    """
    best: dict[str, tuple[Episode, dict[str, str], set[str]]] = {}
    sources: dict[str, set[str]] = defaultdict(set)
    family = family_of(env)
    for e, pattern, slots, source in _tasks(episodes, family):
        sources[pattern].add(source)
        if pattern not in best or len(e.transitions) < len(best[pattern][0].transitions):
            best[pattern] = (e, slots, sources[pattern])
    skills = []
    for pattern, (e, slots, srcs) in sorted(best.items()):
        goal = task_key(task_of(e.transitions[0].observation, family))
        steps, seen = [], set()
        for tr in e.transitions:
            step = _readable(_template(tr.action, slots))
            if steps and steps[-1] == step:
                continue
            steps.append(step)
            seen.add(step)
        task_words = re.sub(r"\(\?P<(\w+)>\[a-z\]\+\)", r"{\1}", pattern).replace("\\", "")
        names = ", ".join(f"{{{k}}} = the {k} the task names" for k in slots)
        text = f"For tasks like '{task_words}' ({names}; N = any number, X = any place):\n" + "\n".join(
            f"{k + 1}. {s}" for k, s in enumerate(steps)
        )
        skills.append(
            Skill.create(
                f"script: {task_words[:70]}",
                goal,
                text[: LIMITS["guidance"]],
                termination="the task is done",
                max_steps=50,
                method=method,
                env=env,
                agent=agent,
                sources=sorted(srcs),
            )
        )
    return skills
