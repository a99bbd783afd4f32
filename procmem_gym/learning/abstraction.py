"""Turn logged decisions into skills without a model: situation patterns and action templates.

A decision ``(observation, action)`` becomes a candidate rule "when the observation starts
with this line, play this action". Numbers of the line that the action reuses become named
groups of the activation pattern and slots of the action template, so one rule covers every
game where the same situation arises with other digits (``[{n2} {n1} {n4} {n3}]``). Rules mined
from many episodes are kept when they are supported often enough and consistent: the same
situation must lead to the same action in most of its occurrences. Each rule is a one-step
skill of the Skill-MDP (activation, execution, termination after one step).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from procmem_gym.envs.families import GENERIC, EnvFamily
from procmem_gym.learning.experience import Episode
from procmem_gym.learning.situations import first_line
from procmem_gym.skills.skill import LIMITS, Skill

__all__ = ["Rule", "abstract_step", "mine_rules", "rule_skill"]

_NUMBER = re.compile(r"\d+")
_BRACKETED = re.compile(r"\[[^\[\]]*\]")


def _literal(text: str) -> str:
    return re.escape(text)


def abstract_step(observation: str, action: str, generalize: bool = True) -> tuple[str, str]:
    """Return ``(activation pattern, action template)`` for one decision.

    With ``generalize``, the numbers of the observation's first line that the action reuses
    become named groups and slots; otherwise the line and the action are kept literally.
    """
    line = first_line(observation)[: LIMITS["pattern"] - 40]
    literal_template = action.replace("{", "{{").replace("}", "}}")
    if not generalize:
        return "^" + _literal(line), literal_template
    spots = list(_NUMBER.finditer(line))
    # When the line lists values in brackets (a guess, coordinates), only those are slots:
    # counts such as "2 black" stay literal, they define the situation.
    groups = [(m.start(), m.end()) for m in _BRACKETED.finditer(line)]
    first_at: dict[str, int] = {}
    for k, m in enumerate(spots):
        if not groups or any(a <= m.start() < b for a, b in groups):
            first_at.setdefault(m.group(0), k)
    used = _NUMBER.findall(action)
    if not used or any(n not in first_at for n in used):
        return "^" + _literal(line), literal_template
    captured = {first_at[n] for n in used}
    pattern, last = "^", 0
    for k, m in enumerate(spots):
        pattern += _literal(line[last : m.start()])
        pattern += f"(?P<n{k}>\\d+)" if k in captured else _literal(m.group(0))
        last = m.end()
    pattern += _literal(line[last:])
    template, last = "", 0
    for m in _NUMBER.finditer(action):
        template += action[last : m.start()].replace("{", "{{").replace("}", "}}") + f"{{n{first_at[m.group(0)]}}}"
        last = m.end()
    template += action[last:].replace("{", "{{").replace("}", "}}")
    return pattern, template


@dataclass(frozen=True)
class Rule:
    """A mined situation -> action rule with its support."""

    line: str
    pattern: str
    template: str
    support: int
    consistency: float
    mean_return: float


def mine_rules(
    decisions: Iterable[tuple[str, str, float]],
    min_support: int = 2,
    min_consistency: float = 0.8,
) -> list[Rule]:
    """Return consistent rules from ``(observation, action, episode return)`` decisions, most supported first.

    Each situation is tried generalised first (slots); when its generalised form is not
    consistent enough, its literal form is tried.
    """
    decisions = list(decisions)
    rules: list[Rule] = []
    covered: set[str] = set()  # literal patterns of situations a generalised rule already covers
    for generalize in (True, False):
        by_pattern: dict[str, Counter] = defaultdict(Counter)
        returns: dict[tuple[str, str], list[float]] = defaultdict(list)
        lines: dict[str, str] = {}
        literal_of: dict[str, set[str]] = defaultdict(set)
        for obs, action, ret in decisions:
            pattern, template = abstract_step(obs, action, generalize)
            literal = pattern if not generalize else abstract_step(obs, action, False)[0]
            if not generalize and literal in covered:
                continue
            by_pattern[pattern][template] += 1
            returns[(pattern, template)].append(ret)
            lines.setdefault(pattern, first_line(obs))
            literal_of[pattern].add(literal)
        for pattern, counts in by_pattern.items():
            if generalize and "(?P<" not in pattern:
                continue  # a literal situation: handled in the literal pass
            template, count = counts.most_common(1)[0]
            total = sum(counts.values())
            if count >= min_support and count / total >= min_consistency:
                rs = returns[(pattern, template)]
                rules.append(Rule(lines[pattern], pattern, template, count, count / total, sum(rs) / len(rs)))
                covered |= literal_of[pattern]
    rules.sort(key=lambda r: (-r.support, r.pattern))
    return rules


def rule_skill(rule: Rule, method: str, env: str | None = None, agent: str | None = None) -> Skill:
    """Return the one-step skill of a rule."""
    short = rule.line if len(rule.line) <= 60 else rule.line[:57] + "..."
    return Skill.create(
        f"after '{short}' play {rule.template}"[: LIMITS["name"]],
        f"the observation starts with: {rule.line}"[: LIMITS["text"]],
        f"In this situation play {rule.template} (seen {rule.support} times, mean return {rule.mean_return:.2f}).",
        patterns=[rule.pattern],
        steps=[rule.template],
        termination="one step later",
        max_steps=1,
        method=method,
        env=env,
        agent=agent,
    )


def decisions_of(
    episodes: Sequence[Episode], min_return: float | None = None, free_only: bool = True, family: EnvFamily = GENERIC
) -> list[tuple[str, str, float]]:
    """Return ``(observation, action, return)`` of the logged decisions (of episodes above ``min_return``).

    With ``free_only`` only steps no skill was steering count (what memory does not cover yet).
    Decisions that the env rejected as invalid are left out.
    """
    out = []
    for e in episodes:
        if min_return is not None and e.return_ < min_return:
            continue
        for tr in e.transitions:
            if free_only and tr.skill is not None:
                continue
            if family.invalid_key and tr.info.get(family.invalid_key):
                continue
            out.append((tr.observation, tr.action, e.return_))
    return out
