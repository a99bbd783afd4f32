"""Constraint candidates mined from contrast: statements that hold for better actions and fail for worse ones.

In one situation class (:mod:`procmem_gym.learning.situations`) the search space is the
constraint language itself (:mod:`procmem_gym.skills.constraint`): for every list slot of the class —
of its first line, or of each line of a listing (``for_each``) — every count (``same_position``,
``in_common``, ``member_of``), every comparison (``==``, ``<=``, ``>=``) and every value (a number
slot of the same line, a sum of two, or a small constant). Each statement is checked on the
better actions (a teacher's actions in the same states, or the actions that won) and on the
worse ones (the agent's other actions); conjunctions are grown greedily while they keep at
least ``coverage`` of the better actions and exclude more of the worse. Nothing here knows
what the env is; the statements are what the data supports.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from procmem_gym.skills.constraint import KINDS, Constraint
from procmem_gym.skills.patterns import search
from procmem_gym.skills.skill import LIMITS, Skill

from .situations import Situation, listing_classes, situation_of

__all__ = ["Labelled", "Candidate", "mine_constraints", "mine_by_advantage", "candidate_skill"]

#: Constants tried as values (besides the number slots and their sums).
CONSTANTS = (0, 1, 2, 3, 4)
OPS = ("==", "<=", ">=")


@dataclass(frozen=True)
class Labelled:
    """One action in one state, labelled better (True) or worse (False), with its advantage when known."""

    observation: str
    action: str
    better: bool
    advantage: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """A mined constraint for a situation class, with how well it separates better from worse actions."""

    situation: Situation
    constraint: Constraint
    keeps_better: float  # share of the better actions the constraint allows
    keeps_worse: float  # share of the worse actions it allows
    support: int  # labelled actions in the class
    strength: float = 0.0  # how sure the contrast is: separation, or the z of the advantage difference

    @property
    def separation(self) -> float:
        """Return ``keeps_better - keeps_worse`` (1: keeps every better action, drops every worse one)."""
        return self.keeps_better - self.keeps_worse


def _statements(situation: Situation, listing: Sequence[Situation]) -> list[tuple[dict, bool]]:
    """Return ``(statement, general)`` for every statement of the search space of one class."""
    out = []
    contexts = [(None, situation.lists, situation.numbers)]
    contexts += [(s.pattern, s.lists, s.numbers) for s in listing]
    for for_each, lists, numbers in contexts:
        values: list[tuple[object, bool]] = [("{" + n + "}", True) for n in numbers]
        values += [(["{" + a + "}", "{" + b + "}"], True) for a, b in itertools.combinations(numbers, 2)]
        values += [(c, False) for c in CONSTANTS]
        for ref, kind, op, (value, general) in itertools.product(lists, KINDS, OPS, values):
            statement = {"count": kind, "with": "{" + ref + "}", "op": op, "value": value}
            if for_each is not None:
                statement["for_each"] = for_each
            out.append((statement, general))
    return out


def _holds(statements: list[dict], samples: Sequence[Labelled], pattern: str) -> np.ndarray:
    """Return a ``(statements, samples)`` truth table."""
    table = np.zeros((len(statements), len(samples)), dtype=bool)
    compiled = [Constraint.from_dict({"all": [s]}) for s in statements]
    for j, sample in enumerate(samples):
        captures = search(pattern, sample.observation) or {}
        for i, c in enumerate(compiled):
            table[i, j] = c.bind(sample.observation, captures).allows(sample.action)
    return table


def _by_class(samples: Sequence[Labelled]) -> tuple[dict[str, Situation], dict[str, list[Labelled]]]:
    """Return the situation classes of the samples (those with a list slot) and each class's samples."""
    by_class: dict[str, list[Labelled]] = {}
    situations: dict[str, Situation] = {}
    for sample in samples:
        s = situation_of(sample.observation)
        if s is None or not s.lists:
            continue
        situations.setdefault(s.pattern, s)
        by_class.setdefault(s.pattern, []).append(sample)
    return situations, by_class


def _search_space(
    situation: Situation, members: Sequence[Labelled], listed: Labelled
) -> tuple[list[tuple[dict, bool]], np.ndarray, np.ndarray]:
    """Return a class's statements (with whether each is general), their truth table and the general mask.

    ``listed`` is the sample whose observation's listing lines give the ``for_each`` shapes.
    """
    space = _statements(situation, listing_classes(listed.observation))
    table = _holds([st for st, _ in space], members, situation.pattern)
    return space, table, np.array([g for _, g in space])


def mine_constraints(
    samples: Sequence[Labelled],
    coverage: float = 0.9,
    min_better: int = 3,
    max_statements: int = 4,
    k: int = 3,
    max_per_class: int = 400,
) -> list[Candidate]:
    """Return up to ``k`` candidates per situation class, best separation first, over all classes.

    A class needs ``min_better`` better and one worse action. Candidates: the greedy conjunction
    over all statements, the same over statements about the first line only, and the best
    single statement; each keeps at least ``coverage`` of the better actions. A class with more
    than ``max_per_class`` labelled actions is judged on a seeded sample of that many (the truth
    table is statements x actions, checked in Python).
    """
    situations, by_class = _by_class(samples)
    out: list[Candidate] = []
    for pattern, members in by_class.items():
        members = _sample(members, max_per_class)
        better = np.array([m.better for m in members])
        if better.sum() < min_better or (~better).sum() < 1:
            continue
        space, table, general = _search_space(situations[pattern], members, next(m for m in members if m.better))
        found = _greedy(table, better, general, coverage, max_statements, list(range(len(space))))
        first_line_only = [i for i, (s, _) in enumerate(space) if "for_each" not in s]
        found += _greedy(table, better, general, coverage, max_statements, first_line_only)
        found += _greedy(table, better, general, coverage, 1, list(range(len(space))))
        seen = set()
        for chosen in found:
            key = tuple(sorted(chosen))
            if not chosen or key in seen:
                continue
            seen.add(key)
            holds = table[list(chosen)].all(axis=0)
            constraint = Constraint.from_dict({"all": [space[i][0] for i in chosen]})
            out.append(
                Candidate(
                    situations[pattern],
                    constraint,
                    float(holds[better].mean()),
                    float(holds[~better].mean()),
                    len(members),
                    float(holds[better].mean() - holds[~better].mean()),
                )
            )
    out.sort(key=lambda c: (-c.separation, -c.keeps_better, len(c.constraint.statements)))
    return out[: max(k, 0) * max(len(by_class), 1)]


def _sample(members: list[Labelled], limit: int) -> list[Labelled]:
    """Return at most ``limit`` members in their original order: a seeded sample, half better where it can."""
    if len(members) <= limit:
        return members
    rng = np.random.default_rng(len(members))
    better = [i for i, m in enumerate(members) if m.better]
    worse = [i for i, m in enumerate(members) if not m.better]
    n_better = min(len(better), max(limit // 2, limit - len(worse)))
    keep = list(rng.choice(better, n_better, replace=False)) if n_better else []
    keep += list(rng.choice(worse, min(len(worse), limit - n_better), replace=False)) if worse else []
    return [members[i] for i in sorted(keep)]


def mine_by_advantage(
    samples: Sequence[Labelled],
    k: int = 3,
    min_each: int = 8,
    max_statements: int = 4,
    min_z: float = 2.0,
    max_per_class: int = 400,
) -> list[Candidate]:
    """Return candidates whose statements split a class's actions into higher and lower advantage.

    Without a teacher and with too few wins, the better actions are those of the episodes that
    went better: a statement (or conjunction) is scored by the ``z`` of the difference between
    the mean advantage of the actions it allows and of those it excludes; candidates need
    ``z >= min_z`` and ``min_each`` actions on each side.
    """
    situations, by_class = _by_class(samples)
    out: list[Candidate] = []
    for pattern, members in by_class.items():
        members = _sample(members, 2 * max_per_class)
        if len(members) < 2 * min_each:
            continue
        adv = np.array([m.advantage for m in members])
        longest = max(members, key=lambda m: len(m.observation))
        space, table, general = _search_space(situations[pattern], members, longest)
        everything = list(range(len(space)))
        first_line_only = [i for i, (s, _) in enumerate(space) if "for_each" not in s]
        found = [
            _greedy_z(table, adv, general, everything, min_each, max_statements),
            _greedy_z(table, adv, general, first_line_only, min_each, max_statements),
            _greedy_z(table, adv, general, everything, min_each, 1),
        ]
        seen = set()
        for chosen, z in found:
            key = tuple(sorted(chosen))
            if not chosen or key in seen or z < min_z:
                continue
            seen.add(key)
            holds = table[list(chosen)].all(axis=0)
            constraint = Constraint.from_dict({"all": [space[i][0] for i in chosen]})
            up, down = adv > 0, adv < 0
            out.append(
                Candidate(
                    situations[pattern],
                    constraint,
                    float(holds[up].mean()) if up.any() else 0.0,
                    float(holds[down].mean()) if down.any() else 0.0,
                    len(members),
                    z,
                )
            )
    out.sort(key=lambda c: -c.strength)
    return out[: max(k, 0) * max(len(by_class), 1)]


def _z(holds: np.ndarray, adv: np.ndarray, min_each: int) -> float:
    """Return the z of (mean advantage of allowed actions - of excluded ones); -inf with too few of either."""
    n, m = int(holds.sum()), int((~holds).sum())
    if n < min_each or m < min_each:
        return -np.inf
    a, b = adv[holds], adv[~holds]
    se = np.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / m) + 1e-9
    return float((a.mean() - b.mean()) / se)


def _greedy_z(
    table: np.ndarray, adv: np.ndarray, general: np.ndarray, pool: list[int], min_each: int, size: int
) -> tuple[list[int], float]:
    """Return the greedy conjunction whose allowed actions have the most significantly higher advantage."""
    chosen: list[int] = []
    holds = np.ones(table.shape[1], dtype=bool)
    best = -np.inf
    for _ in range(size):
        top, top_z = None, best
        for i in pool:
            if i in chosen:
                continue
            z = _z(holds & table[i], adv, min_each) + (1e-6 if general[i] else 0.0)
            if z > top_z + 1e-9:
                top, top_z = i, z
        if top is None:
            break
        chosen.append(top)
        holds &= table[top]
        best = top_z
    return chosen, best


def _greedy(
    table: np.ndarray, better: np.ndarray, general: np.ndarray, coverage: float, size: int, pool: list[int]
) -> list[list[int]]:
    """Return the greedy conjunction (as one list) that best separates, keeping ``coverage`` of the better."""
    chosen: list[int] = []
    holds = np.ones(table.shape[1], dtype=bool)
    best = 0.0
    for _ in range(size):
        top, top_score = None, best
        for i in pool:
            if i in chosen:
                continue
            both = holds & table[i]
            keep = both[better].mean()
            if keep < coverage:
                continue
            score = keep - both[~better].mean() + (1e-6 if general[i] else 0.0)  # ties: slots over constants
            if score > top_score + 1e-9:
                top, top_score = i, score
        if top is None:
            break
        chosen.append(top)
        holds &= table[top]
        best = top_score
    return [chosen] if chosen else []


def candidate_skill(
    candidate: Candidate,
    method: str = "npppo",
    env: str | None = None,
    agent: str | None = None,
    parent: Skill | None = None,
) -> Skill:
    """Return the one-step constraint skill of a candidate (a child of ``parent`` when it revises one)."""
    shape = _readable(candidate.situation)
    kinds = sorted({s.kind.replace("_", " ") for s in candidate.constraint.statements})
    name = f"{' and '.join(kinds)} after '{shape}'"[: LIMITS["name"]]
    guidance = "Choose only actions with: " + candidate.constraint.describe()
    skill = Skill.create(
        name,
        f"the observation starts like: {candidate.situation.example}"[: LIMITS["text"]],
        guidance[: LIMITS["guidance"]],
        patterns=[candidate.situation.pattern],
        termination="one step later",
        max_steps=1,
        constraint=candidate.constraint.to_dict(),
        method=method,
        env=env,
        agent=agent,
    )
    if parent is not None:
        skill = skill.with_(lineage=skill.lineage.__class__(parent.id, parent.lineage.version + 1, method, env, agent))
    return skill


def _readable(situation: Situation, limit: int = 60) -> str:
    """Return the class's line with its slots shown as ``[..]`` and ``#``."""
    import re

    text = re.sub(r"\[[^\[\]]*\d[^\[\]]*\]", "[..]", situation.example)
    text = re.sub(r"\d+", "#", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
