"""The interface every agent implements: text observation and info in, text action out."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Policy(Protocol):
    """An agent: ``act`` picks one action, ``act_batch`` picks one per environment of a batch.

    Policies know nothing about procedural memory; guidance reaches them through
    ``info["procmem"]`` like any other information.
    """

    name: str

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        """Return the action for one observation."""
        ...

    def act_batch(self, observations: Sequence[Any], infos: Sequence[dict[str, Any]]) -> list[str]:
        """Return one action per observation (``infos[i]`` belongs to ``observations[i]``)."""
        ...

    def reset(self) -> None:
        """Forget per-episode state; called before every episode.

        Policies that sample may also accept ``reset(seed=...)``: the runner then passes each
        episode's seed, which makes every episode reproducible on its own.
        """
        ...


class BasePolicy:
    """Implements ``act_batch`` by calling ``act`` and ``reset`` as a no-op; subclasses batch where it pays."""

    name = "policy"

    #: Counted by LLM policies; 0 for algorithmic agents (``summary.json``'s ``model_calls``).
    model_calls = 0
    generated_tokens = 0

    def act(self, observation: Any, info: dict[str, Any]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def act_batch(self, observations: Sequence[Any], infos: Sequence[dict[str, Any]]) -> list[str]:
        """Return ``[act(o, i) for o, i in zip(observations, infos)]``."""
        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        return [self.act(o, i) for o, i in zip(observations, infos)]

    def reset(self, seed: int | None = None) -> None:
        """Nothing to forget by default."""
