"""The interface every agent implements: observation and info in, action out, batched, told every step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Policy", "BasePolicy", "mean_scores", "choice_logprobs"]


@runtime_checkable
class Policy(Protocol):
    """An agent.

    ``act`` picks one action, ``act_batch`` one per env of a batch (``slots[i]`` names the env
    slot whose history row ``i`` continues). ``observe`` tells the policy about a step it did
    not choose (a skill's injected action), so its history stays complete. ``reset`` starts an
    episode: ``seed`` makes a sampling policy reproducible episode by episode, ``index`` resets
    one slot of a batch (None: every slot).

    Policies know nothing about procedural memory; guidance reaches them through
    ``info["procmem"]`` like any other information.
    """

    name: str
    model_calls: int
    generated_tokens: int
    #: What the policy says about each action it returned last (one dict per action; may be empty):
    #: ``behaviour_logprob`` (the log-probability of the action under the distribution it was drawn
    #: from, constraints included) and ``constraint`` (``"applied"`` or ``"skipped"``). Logged with the step.
    last_details: list[dict[str, Any]]

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        """Return the action for one observation (slot 0)."""
        ...

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None
    ) -> list[Any]:
        """Return one action per observation (``infos[i]`` belongs to ``observations[i]``)."""
        ...

    def observe(self, observation: Any, info: dict[str, Any], action: Any, slot: int = 0) -> None:
        """Take note of a step whose action someone else chose (a skill in inject mode)."""
        ...

    def reset(self, seed: int | None = None, index: int | None = None) -> None:
        """Start an episode: forget slot ``index`` (None: all) and, with ``seed``, re-seed sampling."""
        ...


class BasePolicy:
    """The defaults of :class:`Policy`: ``act_batch`` calls ``act``; ``observe`` and ``reset`` do nothing."""

    name = "policy"

    #: Counted by LLM policies; 0 for algorithmic agents (``summary.json``'s ``model_calls``).
    model_calls = 0
    generated_tokens = 0
    last_details: list[dict[str, Any]] = []  # noqa: RUF012 - replaced, never mutated

    def act(self, observation: Any, info: dict[str, Any]) -> Any:  # pragma: no cover - abstract
        """Return the action for one observation."""
        raise NotImplementedError

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None
    ) -> list[Any]:
        """Return ``[act(o, i) for o, i in zip(observations, infos)]``."""
        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        actions, details = [], []
        for o, i in zip(observations, infos, strict=True):
            self.last_details = []
            actions.append(self.act(o, i))
            details.append(self.last_details[0] if self.last_details else {})
        self.last_details = details
        return actions

    def observe(self, observation: Any, info: dict[str, Any], action: Any, slot: int = 0) -> None:
        """Nothing to remember by default."""

    def reset(self, seed: int | None = None, index: int | None = None) -> None:
        """Nothing to forget by default."""


def mean_scores(per_token: Sequence[Any], candidates: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Return, per prompt, each candidate's mean log-probability per token, from the flat per-token arrays.

    ``per_token`` holds one array per (prompt, candidate) pair, prompts in order and each
    prompt's candidates in order (an empty array scores ``-inf``).
    """
    means = [float(np.mean(t)) if len(t) else -np.inf for t in per_token]
    out, start = [], 0
    for cands in candidates:
        out.append(np.asarray(means[start : start + len(cands)], dtype=np.float64))
        start += len(cands)
    return out


def choice_logprobs(
    scores: np.ndarray, commands: Sequence[str], action: str, bounds: Sequence[Any], t: float
) -> list[float]:
    """Return the log-probability of ``action`` among ``commands`` under each bound constraint (None: none).

    The choice distribution is the softmax of the commands' ``scores`` at temperature ``t``,
    renormalised over what each constraint allows (all commands where it allows none); an
    action outside ``commands`` or excluded gets ``-inf``.
    """
    out = []
    for bound in bounds:
        allowed = [c for c in commands if bound is None or bound.allows(c)] or list(commands)
        mask = np.array([c in allowed for c in commands])
        logits = np.where(mask, scores / t, -np.inf)
        lse = np.logaddexp.reduce(logits[mask])
        out.append(float(logits[list(commands).index(action)] - lse) if action in commands else -np.inf)
    return out
