"""Prompts for LLM policies: per-environment templates, chat messages, and parsing answers into actions.

A template gives the system text and how to turn an observation, the active skill's guidance
(``info["procmem"]``) and the recent history into the user message. The same messages go to
every backend (local transformers models, OpenAI-compatible servers), so the backends differ
only in how they generate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from procmem_gym.envs.families import GENERIC
from procmem_gym.envs.mastermind.rules import variant_of as mastermind_variant

__all__ = [
    "PromptTemplate",
    "template_for",
    "build_messages",
    "static_head",
    "parse_action",
    "TEMPLATES",
    "mastermind_variant",
]

#: Longest observation text put into a prompt (characters, the most recent part is kept).
MAX_OBSERVATION_CHARS = 6000


@dataclass(frozen=True)
class PromptTemplate:
    """How one family of environments is put to the model."""

    name: str
    system: str
    answer_hint: str
    history: int = 4  # previous (observation, action) pairs shown
    #: Put a growing listing of the observation (a board of earlier moves) first, so that the prompt
    #: of the next step starts with this one's text and a local model reuses its encoding.
    listing_first: bool = False


TEMPLATES = {
    "mastermind": PromptTemplate(
        "mastermind",
        "You play Mastermind. Use the feedback of every earlier guess to find the secret code. "
        "Never repeat a guess and never use a digit the feedback ruled out.",
        "Answer with your next guess only, in square brackets, for example [1 2 3 4].",
        history=0,  # the observation already lists every earlier guess and its feedback
        listing_first=True,
    ),
    "alfworld": PromptTemplate(
        "alfworld",
        "You are an agent in a household text game. Reach the goal of the task in as few steps as you can.",
        "Answer with exactly one of the admissible commands, nothing else.",
    ),
    "default": PromptTemplate(
        "default",
        "You are an agent acting in an environment. Read the observation and choose the next action.",
        "Answer with the action only.",
    ),
}


def template_for(env_id: str | None) -> PromptTemplate:
    """Return the template of an env id's family (``procmem_gym/Mastermind-v0`` -> mastermind)."""
    from procmem_gym.envs.families import family_of

    return TEMPLATES[family_of(env_id).prompt]


def build_messages(
    template: PromptTemplate,
    observation: str,
    info: dict[str, Any],
    history: Sequence[tuple[str, str]] = (),
) -> list[dict[str, str]]:
    """Return chat messages: system text, then the task (``info["goal"]``), history, guidance and observation.

    The user message starts with :func:`static_head` (the same text on every step of an episode),
    so a local model can encode it once.
    """
    parts = []
    steps = [
        f"Observation: {_tail(obs, 600)}\nYour action: {action}"
        for obs, action in (list(history)[-template.history :] if template.history else [])
    ]
    if steps:
        parts.append("Earlier steps:\n" + "\n\n".join(steps))
    procmem = info.get("procmem") if isinstance(info, dict) else None
    if isinstance(procmem, dict) and procmem.get("guidance"):
        name = procmem.get("skill_name") or "skill"
        parts.append(f"Procedure from memory ({name}): {procmem['guidance']}")
    commands = info.get("admissible_commands") if isinstance(info, dict) else None
    if commands:
        parts.append("Admissible commands: " + ", ".join(map(str, commands)))
    if template.listing_first:
        observation = listing_first(observation)
    parts.append(f"Observation:\n{_tail(observation, MAX_OBSERVATION_CHARS)}")
    parts.append(template.answer_hint)
    content = static_head(info) + "\n\n".join(parts)
    return [{"role": "system", "content": template.system}, {"role": "user", "content": content}]


_LISTED = re.compile(r"^\d+\. ")


def listing_first(observation: str) -> str:
    r"""Return the observation with its numbered listing (and the line that heads it) moved to the front.

    A Mastermind observation is the step's message, then ``Guesses so far:`` and one numbered
    line per guess: the listing only grows, the message changes every step. With the listing
    first, each step's text starts with the previous step's listing. Nothing is dropped.

    >>> listing_first("Submitted [2 1]. Feedback: 1 black.\nGuesses so far:\n1. [1 2] -> 0 black\nYou have 3 left.")
    'Guesses so far:\n1. [1 2] -> 0 black\nSubmitted [2 1]. Feedback: 1 black.\nYou have 3 left.'
    """
    lines = observation.split("\n")
    for k, line in enumerate(lines):
        if k > 0 and line.endswith(":") and k + 1 < len(lines) and _LISTED.match(lines[k + 1]):
            end = k + 1
            while end < len(lines) and _LISTED.match(lines[end]):
                end += 1
            return "\n".join(lines[k:end] + lines[:k] + lines[end:])
    return observation


#: Characters of episode memories (MemP's retrieval) a prompt holds, shared among them.
MEMORY_CHARS = 2400


def static_head(info: dict[str, Any]) -> str:
    """Return the start of the user message that stays the same for a whole episode.

    That is the task, if any, and the memories retrieved for it when the episode began
    (``info["procmem"]["memories"]``, episode-scope retrieval), which stay for the whole episode.
    """
    if not isinstance(info, dict):
        return ""
    goal = GENERIC.task_in(info)
    # a text game states the task in the first observation only; the history window loses it
    head = f"Your task: {goal}\n\n" if goal else ""
    procmem = info.get("procmem")
    memories = procmem.get("memories") if isinstance(procmem, dict) else None
    if memories:
        share = max(120, MEMORY_CHARS // len(memories))
        texts = [str(m.get("guidance") or m.get("name") or "") for m in memories if isinstance(m, dict)]
        lines = [_head(t, share) for t in texts if t][: max(1, MEMORY_CHARS // share)]
        if lines:
            head += "Memories of similar tasks:\n" + "\n\n".join(f"[{k + 1}] {t}" for k, t in enumerate(lines)) + "\n\n"
    return head


def _head(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tail(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else "..." + text[-limit:]


_BRACKETS = re.compile(r"\[[^\[\]]{0,200}\]")
_ACTION_LINE = re.compile(r"^\s*(?:action|command)\s*:\s*(.+)$", re.I | re.M)


def parse_action(text: str, template: PromptTemplate) -> str:
    """Return the action in a model's answer; an unparsable answer is returned as it is.

    Mastermind: the first ``[...]`` group. Others: an ``Action: ...`` line, else the first
    non-empty line. The env decides what is valid; nothing is invented here.
    """
    answer = text.strip()
    if template.name == "mastermind":
        m = _BRACKETS.search(answer)
        return m.group(0) if m else answer
    m = _ACTION_LINE.search(answer)
    if m:
        return m.group(1).strip()
    for line in answer.splitlines():
        if line.strip():
            return line.strip().rstrip(".")
    return answer


class SlotHistory:
    """Recent ``(observation, action)`` pairs per batch slot, as the prompts show them.

    >>> h = SlotHistory(keep=2)
    >>> for n in range(3):
    ...     h.add(0, f"obs {n}", f"act {n}")
    >>> h.get(0)
    [('obs 1', 'act 1'), ('obs 2', 'act 2')]
    """

    def __init__(self, keep: int) -> None:
        self.keep = max(keep, 1)
        self._slots: dict[int, list[tuple[str, str]]] = {}

    def get(self, slot: int) -> list[tuple[str, str]]:
        """Return the pairs of a slot, oldest first."""
        return self._slots.get(slot, [])

    def add(self, slot: int, observation: Any, action: str) -> None:
        """Append a pair to a slot, keeping the last ``keep``."""
        pairs = self._slots.setdefault(slot, [])
        pairs.append((str(observation), action))
        del pairs[: -self.keep]

    def clear(self, slot: int | None = None) -> None:
        """Forget one slot, or every slot."""
        if slot is None:
            self._slots = {}
        else:
            self._slots.pop(slot, None)
