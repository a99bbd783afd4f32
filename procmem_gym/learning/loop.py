"""The loop every online learner shares: rollouts, iteration folders, reports, checkpoints and resume.

A learner's run folder holds::

    state.json           settings (checked on resume), iterations done, the learner's config
    memory.json          the memory after the last finished iteration
    iter-000/            transitions.jsonl (the iteration's rollouts), report.json (numbers and events)
    iter-001/ ...

One iteration: roll out ``episodes`` episodes with the current memory (logged, and handed to
the learner in memory), let the learner propose and admit changes (:meth:`Learner.improve`),
run maintenance, save the memory atomically, and checkpoint. An interrupted run continues from
its last finished iteration (:meth:`Learner.prepare`); an unfinished iteration is redone.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from procmem_gym.agents.policy import Policy
from procmem_gym.errors import ProcMemError
from procmem_gym.files.atomic import write_json_atomic
from procmem_gym.files.folders import make_folder
from procmem_gym.memory import ProceduralMemory
from procmem_gym.rollouts.runfolder import STATE_FIELDS, check_resume, read_json
from procmem_gym.rollouts.runner import Rollouts
from procmem_gym.rollouts.transitions import Episode, EpisodeRecord

__all__ = ["Learner", "IterationReport", "LearnError", "resume_point"]


class LearnError(ProcMemError, RuntimeError):
    """A learning run that cannot start or continue as asked; the message says what to change."""


@dataclass(frozen=True)
class IterationReport:
    """What one iteration did."""

    iteration: int
    episodes: int
    mean_return: float
    success_rate: float
    reuse_rate: float
    admitted: int
    rejected: int
    pruned: int
    merged: int
    skills: int

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a dict."""
        return asdict(self)


def resume_point(out: Path, settings: dict[str, Any], resume: bool) -> int:
    """Return the first iteration to run in ``out``; raise when the folder does not fit the request.

    A new run refuses a folder that holds one; a resume refuses a folder without one, or whose
    recorded settings differ (the error names the setting). Nothing is written.
    """
    state_path = out / "state.json"
    if state_path.exists() and not resume:
        raise LearnError(f"{out} already holds a learning run; pass --resume to continue it or choose another --out")
    if not resume:
        return 0
    if not state_path.exists():
        raise LearnError(f"--resume: {out} holds no learning run (no state.json)")
    state = read_json(state_path, STATE_FIELDS)
    previous = state.get("settings", {})
    check_resume(out, previous, settings, sorted(set(previous) | set(settings)))
    return int(state.get("iterations_done", 0))


class Learner:
    """Base of the online learners: subclasses implement :meth:`improve` (and set ``config``).

    ``config`` is a frozen dataclass with at least ``iterations``, ``episodes``, ``mode`` and
    ``seed``; it is recorded in ``state.json``.
    """

    def __init__(
        self,
        env_id: str,
        policy: Policy,
        memory: ProceduralMemory,
        out_dir: str | Path,
        config: Any,
        rollouts: Rollouts | None = None,
        on_iteration: Callable[[IterationReport], None] | None = None,
        on_episode: Callable[[EpisodeRecord], None] | None = None,
        env_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.env_id, self.policy, self.memory, self.config = env_id, policy, memory, config
        # the env is reused by every rollout; without one given, the learner makes and owns it
        self._own_rollouts = rollouts is None
        self.rollouts = rollouts if rollouts is not None else Rollouts(env_id, config.num_envs, env_kwargs)
        self.out = Path(out_dir)
        self.on_iteration = on_iteration
        self.on_episode = on_episode  # called after every rollout episode (progress bars)
        self.memory_path = self.out / "memory.json"
        self.state_path = self.out / "state.json"

    def close(self) -> None:
        """Close the env the learner made (one given to it stays open)."""
        if self._own_rollouts:
            self.rollouts.close()

    def __enter__(self) -> Learner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        """Return ``state.json`` ({} when there is none)."""
        return read_json(self.state_path, STATE_FIELDS) if self.state_path.exists() else {}

    def finished_iterations(self) -> int:
        """Return how many iterations a previous run in ``out`` finished (0 when none)."""
        return int(self.state().get("iterations_done", 0))

    def start(self, settings: dict[str, Any], resume: bool) -> int:
        """Check the run folder (:func:`resume_point`), record ``settings`` of a new run; return the first iteration."""
        start = resume_point(self.out, settings, resume)
        if not resume:
            make_folder(self.out)
            write_json_atomic(self.state_path, {"iterations_done": 0, "settings": settings})
        return start

    def run(self, start: int = 0) -> list[IterationReport]:
        """Run iterations ``start .. config.iterations - 1``; return their reports."""
        reports = []
        for i in range(start, self.config.iterations):
            report = self.iteration(i)
            reports.append(report)
            if self.on_iteration is not None:
                self.on_iteration(report)
        return reports

    # ------------------------------------------------------------------ one iteration
    def rollout(
        self,
        log: Path,
        seed: int,
        memory: ProceduralMemory | None,
        mode: str,
        episodes: int,
        update_memory: bool = True,
        progress: bool = True,
    ) -> list[Episode]:
        """Play ``episodes`` logged episodes and return them with their transitions."""
        return self.rollouts.play(
            self.policy,
            memory,
            mode,
            episodes,
            seed,
            log,
            update_memory=update_memory,
            keep_episodes=True,
            on_episode=self.on_episode if progress else None,
        ).episodes

    def collect(self, iteration: int, log: Path) -> list[Episode]:
        """Play the iteration's rollouts with the current memory (seeds ``seed + 1000 * iteration + k``)."""
        cfg = self.config
        return self.rollout(log, cfg.seed + 1000 * iteration, self.memory, cfg.mode, cfg.episodes)

    def improve(self, iteration: int, episodes: Sequence[Episode]) -> None:
        """Propose, gate and apply changes to the memory from an iteration's episodes (events record them)."""
        raise NotImplementedError

    def iteration(self, i: int) -> IterationReport:
        """Run iteration ``i`` and checkpoint it."""
        cfg = self.config
        folder = self.out / f"iter-{i:03d}"
        if folder.exists():
            shutil.rmtree(folder)  # an unfinished earlier attempt at this iteration
        folder.mkdir(parents=True)
        self.memory.iteration = i
        episodes = self.collect(i, folder / "transitions.jsonl")
        events_before = len(self.memory.events)
        self.improve(i, episodes)
        changes = [e.kind for e in self.memory.events[events_before:]]
        maintenance = self.memory.maintain()
        self.memory.save(self.memory_path)
        returns = [e.return_ for e in episodes]
        report = IterationReport(
            iteration=i,
            episodes=len(episodes),
            mean_return=float(np.mean(returns)) if returns else 0.0,
            success_rate=float(np.mean([e.record.success for e in episodes])) if episodes else 0.0,
            reuse_rate=float(np.mean([bool(e.record.skills_used) for e in episodes])) if episodes else 0.0,
            admitted=sum(k in ("add", "update") for k in changes),
            rejected=sum(k == "reject" for k in changes),
            pruned=len(maintenance.pruned) + len(maintenance.over_capacity),
            merged=len(maintenance.merged),
            skills=len(self.memory),
        )
        events = [e.to_dict() for e in self.memory.events[events_before:]]
        gate = getattr(self, "gate_numbers", None)  # the PPO learner: which numbers its gate ran on
        write_json_atomic(
            folder / "report.json", {**report.to_dict(), **({"gate_numbers": gate} if gate else {}), "events": events}
        )
        write_json_atomic(
            self.state_path, {**self.state(), "iterations_done": i + 1, "config": asdict(cfg), "env": self.env_id}
        )
        return report
