"""Semantic gradients: the LLM critiques a skill from its high- and low-advantage segments and proposes revisions.

The prompt shows the skill and its segments with their advantages; the model answers with a
critique and up to K revised skills, each a JSON object between ``<skill>`` and ``</skill>``.
Parsing is strict: anything that is not a valid skill is returned as an error (and recorded as
a rejected candidate), never raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from procmem_gym.learning.experience import Segment
from procmem_gym.learning.situations import first_line
from procmem_gym.skills.skill import Lineage, Skill, SkillError

__all__ = ["gradient_prompt", "parse_candidates"]

_SKILL_BLOCK = re.compile(r"<skill>(.*?)</skill>", re.S)


def _describe(pairs: Sequence[tuple[Segment, float]], limit: int) -> str:
    lines = []
    for seg, adv in pairs[:limit]:
        steps = "; ".join(f"'{first_line(t.observation)[:80]}' -> {t.action}" for t in seg.steps[:4])
        lines.append(f"- advantage {adv:+.2f} (episode return {seg.episode_return:.2f}): {steps}")
    return "\n".join(lines) or "- (none)"


def gradient_prompt(skill: Skill, pairs: Sequence[tuple[Segment, float]], k: int, limit: int = 4) -> str:
    """Return the semantic-gradient prompt for a skill and its scored segments."""
    ranked = sorted(pairs, key=lambda p: -p[1])
    high = [p for p in ranked if p[1] > 0]
    low = [p for p in reversed(ranked) if p[1] <= 0]
    current = {k_: v for k_, v in skill.to_dict().items() if k_ in ("name", "activation", "execution", "termination")}
    return (
        "You improve the skills of an agent. A skill has an activation condition (text and regex patterns over the "
        "observation), an execution (guidance and action templates), and a termination condition.\n\n"
        f"Current skill:\n{json.dumps(current, ensure_ascii=False)}\n\n"
        f"Uses that went better than average:\n{_describe(high, limit)}\n\n"
        f"Uses that went worse than average:\n{_describe(low, limit)}\n\n"
        "First write 'Critique:' and one paragraph on what to change. Then write up to "
        f"{k} improved skills, each as one JSON object with the same keys between <skill> and </skill>."
    )


def parse_candidates(text: str, parent: Skill, k: int) -> tuple[str, list[Skill], list[str]]:
    """Return ``(critique, candidate skills, errors)`` from the model's answer (at most ``k`` candidates)."""
    critique = text.split("<skill>")[0].replace("Critique:", "").strip()[:1000]
    candidates, errors = [], []
    blocks = _SKILL_BLOCK.findall(text)
    if not blocks:
        errors.append("no <skill>...</skill> block in the answer")
    for block in blocks[:k]:
        try:
            data = json.loads(block)
            if not isinstance(data, dict):
                raise SkillError("a candidate must be a JSON object")
            data = {key: data[key] for key in ("name", "activation", "execution", "termination") if key in data}
            candidate = Skill.from_dict(data)
        except (json.JSONDecodeError, SkillError) as err:
            errors.append(f"malformed candidate: {err}"[:300])
            continue
        lineage = Lineage(
            parent=parent.id,
            version=parent.lineage.version,
            method="npppo",
            env=parent.lineage.env,
            agent=parent.lineage.agent,
        )
        candidates.append(candidate.with_(lineage=lineage))
    return critique, candidates, errors


def guidance_prompt(skill: Skill, uses: Sequence, variant: int) -> str:
    """Return a writer's prompt for revised guidance of a skill, from its best and worst uses (decisions).

    The writer writes only the guidance text; the rest of the skill is kept, so its answer always
    makes a valid skill. ``variant`` picks which uses are shown, so K prompts give K different candidates.
    """
    ranked = list(uses)
    best = ranked[variant : variant + 3]
    worst = list(reversed(ranked))[variant : variant + 3]

    def show(items: Sequence) -> str:
        return (
            "\n".join(
                f"- in '{first_line(d.observation)[:100]}' the action {d.action} (advantage {d.advantage:+.2f})"
                for d in items
            )
            or "- (none)"
        )

    return (
        "An agent follows this procedure when the situation below arises.\n"
        f"Situation: {skill.activation.text[:300]}\nProcedure: {skill.execution.guidance[:600]}\n\n"
        f"Actions that went better than average:\n{show(best)}\n\nActions that went worse:\n{show(worst)}\n\n"
        "Rewrite the procedure in one or two sentences so that the agent takes actions like the better ones.\n"
        "Procedure:"
    )
