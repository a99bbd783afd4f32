"""Roll out a policy in a wrapped env for N seeded episodes and summarise the run.

Episode ``i`` resets the env with seed ``seed + i`` and the policy with the same seed, so each
episode is reproducible on its own: a run that is interrupted and resumed gives the same
episodes as one that never stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from procmem_gym.agents.policy import Policy
from procmem_gym.envs.families import family_of
from procmem_gym.errors import UsageError
from procmem_gym.memory import ProceduralMemory
from procmem_gym.rollouts.transitions import Episode, EpisodeRecord
from procmem_gym.wrappers.episode import Bookkeeping
from procmem_gym.wrappers.single import ProceduralMemoryWrapper, wrap
from procmem_gym.wrappers.vector import ProceduralMemoryVectorWrapper, env_info


@dataclass(frozen=True)
class RunSummary:
    """What ``summary.json`` holds (docs/design.md#summaryjson); keys are a contract with users' scripts."""

    env: str
    agent: str
    episodes: int
    success_rate: float
    mean_return: float
    mean_steps: float
    reuse_rate: float
    step_reuse_rate: float
    skills: int
    memory_tokens: int
    model_calls: int
    generated_tokens: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Return the dict written to ``summary.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Return the summary a ``summary.json`` dict describes."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def summarize(
    records: Sequence[EpisodeRecord],
    env: str,
    agent: str,
    seconds: float,
    skills: int = 0,
    memory_tokens: int = 0,
    model_calls: int = 0,
    generated_tokens: int = 0,
) -> RunSummary:
    """Return the run's summary computed from its episode records."""
    n = len(records)
    steps = sum(r.length for r in records)
    return RunSummary(
        env=env,
        agent=agent,
        episodes=n,
        success_rate=sum(r.success for r in records) / n if n else 0.0,
        mean_return=sum(r.return_ for r in records) / n if n else 0.0,
        mean_steps=steps / n if n else 0.0,
        reuse_rate=sum(bool(r.skills_used) for r in records) / n if n else 0.0,
        step_reuse_rate=sum(r.skill_steps for r in records) / steps if steps else 0.0,
        skills=skills,
        memory_tokens=memory_tokens,
        model_calls=model_calls,
        generated_tokens=generated_tokens,
        seconds=seconds,
    )


def run_episodes(
    env: ProceduralMemoryWrapper,
    policy: Policy,
    episodes: Sequence[int],
    seed: int = 0,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    max_steps: int = 10_000,
    env_seeds: Sequence[int] | None = None,
    policy_seeds: Sequence[int] | None = None,
) -> list[EpisodeRecord]:
    """Play the given episode indices and return their records (also kept in ``env.episodes``).

    Episode ``i`` resets the env with seed ``seed + i`` (or ``env_seeds[i]``) and the policy
    with the same seed (or ``policy_seeds[i]``). The wrapper says who acts: the policy is asked
    only when no skill injects the action, and is told about the steps a skill took; what the
    policy says about its action (``last_details``) is logged with it. ``max_steps`` guards
    against an env that never ends; hitting it raises ``RuntimeError``. A ``KeyboardInterrupt``
    propagates after the finished episodes are on disk.
    """
    records = []
    for index in episodes:
        episode_seed = env_seeds[index] if env_seeds is not None else seed + index
        policy.reset(seed=policy_seeds[index] if policy_seeds is not None else episode_seed)
        obs, info = env.reset(seed=episode_seed)
        for _ in range(max_steps):
            if env.policy_needed:
                action = policy.act(obs, info)
                if policy.last_details:
                    env.annotate(policy.last_details[0])
            else:
                action = info["procmem"]["next_action"]  # the skill acts: no policy call
                policy.observe(obs, info, action)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        else:
            raise RuntimeError(f"episode {index} did not end within {max_steps} steps")
        records.append(env.episodes[-1])
        if on_episode is not None:
            on_episode(env.episodes[-1])
    return records


class Stopwatch:
    """Measure wall time across a resumed run: seconds already spent plus this process's time."""

    def __init__(self, already: float = 0.0) -> None:
        self.already = already
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Return the total seconds so far."""
        return self.already + time.perf_counter() - self.start


def run_vector_episodes(
    env: ProceduralMemoryVectorWrapper,
    policy: Policy,
    episodes: int,
    seed: int = 0,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    max_steps: int = 100_000,
    policy_seeds: Sequence[int] | None = None,
) -> list[EpisodeRecord]:
    """Play ``episodes`` episodes on a memory-wrapped vector env, one batched policy call per step.

    ``env`` is built with ``Bookkeeping(episode_limit=episodes)``. Sub-env ``i`` keeps its history in the
    policy's slot ``i``; the wrapper says which sub-envs need the policy this step (not the
    idle ones, not those about to be reset, not those whose skill acts), and the policy is
    told about the steps skills took. With a vector env whose autoreset is disabled (what
    :func:`make_env` makes), every episode has its own env seed and the policy's slot is
    re-seeded for it (``policy_seeds[k]`` for the ``k``-th episode, else its env seed), so each
    episode plays as it would in a single env.
    """
    n = env.num_envs
    offset = env.episodes_begun

    def reseed(i: int) -> None:
        if not env.seeded or not env.active[i]:
            policy.reset(index=i)
            return
        episode = env.count_of(env.slots[i].episode)
        s = policy_seeds[episode - offset] if policy_seeds is not None else env.seed_of(episode)
        policy.reset(seed=s, index=i)

    if not env.seeded:
        policy.reset(seed=seed)
    obs, info = env.reset(seed=seed)
    if env.seeded:
        for i in range(n):
            reseed(i)
    seen = 0
    for _ in range(max_steps):
        if len(env.episodes) >= episodes:
            break
        infos = [env_info(info, i) for i in range(n)]
        actions: list[Any] = [""] * n
        for i in np.flatnonzero(env.skill_acting).tolist():
            actions[i] = infos[i]["procmem"]["next_action"]
            policy.observe(obs[i], infos[i], actions[i], slot=i)
        ask = np.flatnonzero(env.policy_needed).tolist()
        if ask:
            chosen = policy.act_batch([obs[i] for i in ask], [infos[i] for i in ask], slots=ask)
            details = policy.last_details if len(policy.last_details) == len(ask) else [{}] * len(ask)
            for i, a, detail in zip(ask, chosen, details, strict=True):
                actions[i] = a
                if detail:
                    env.annotate(i, detail)
        obs, _, terminated, truncated, info = env.step(actions)
        for i in np.flatnonzero(np.logical_or(terminated, truncated)).tolist():
            reseed(i)
        while seen < len(env.episodes):
            if on_episode is not None:
                on_episode(env.episodes[seen])
            seen += 1
    else:
        raise RuntimeError(f"{episodes} episodes did not end within {max_steps} vector steps")
    return env.episodes[:episodes]


BACKENDS = ("local", "ray")


def make_env(
    env_id: str, num_envs: int = 1, *, backend: str = "local", ray_address: str | None = None, **kwargs: Any
) -> Any:
    """Return ``gymnasium.make(env_id)``, or a vector env of ``num_envs`` (its own vector entry point where it has one).

    The vector env gets its family's ``vector_kwargs`` (Mastermind: each game's history and
    variant in ``info``, as the single env gives them) and its autoreset disabled, so that the
    memory wrapper resets each finished sub-env with its next episode's own seed.
    ``vectorization_mode="async"`` runs each env in its own process (ALFWorld: 1.6x the steps/s
    of the default sync mode on 2 cores). ``backend="ray"`` makes each env a Ray actor
    (:class:`~procmem_gym.rollouts.ray_backend.RayVectorEnv`, on the cluster at ``ray_address`` or a
    local Ray), a vector env even for ``num_envs=1``.
    """
    import gymnasium as gym

    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        from procmem_gym.rollouts.ray_backend import RayVectorEnv

        single = {k: v for k, v in kwargs.items() if k not in ("vectorization_mode", "vector_kwargs")}
        return RayVectorEnv(env_id, num_envs, single, address=ray_address)
    if num_envs == 1:
        return gym.make(env_id, **kwargs)
    from gymnasium.vector import AutoresetMode

    for key, value in family_of(env_id).vector_kwargs.items():
        kwargs.setdefault(key, value)
    mode = kwargs.get("vectorization_mode")
    if gym.spec(env_id).vector_entry_point is not None and mode in (None, "vector_entry_point"):
        kwargs.setdefault("autoreset_mode", AutoresetMode.DISABLED)
    else:
        vector_kwargs = {"autoreset_mode": AutoresetMode.DISABLED, **(kwargs.get("vector_kwargs") or {})}
        if mode == "async":
            # Observations travel through pipes, not gymnasium's shared memory, which stores a Text
            # observation as a fixed-size code array and reads it back padded.
            vector_kwargs.setdefault("shared_memory", False)
        kwargs["vector_kwargs"] = vector_kwargs
    return gym.make_vec(env_id, num_envs=num_envs, **kwargs)


@dataclass(frozen=True)
class Played:
    """What :meth:`Rollouts.play` played: the episode records, and the episodes with transitions when kept."""

    records: list[EpisodeRecord]
    episodes: list[Episode]


class Rollouts:
    """Logged episodes of one env id (N at once as a vector env), on one env reused across calls.

    >>> import procmem_gym
    >>> from procmem_gym.agents import RandomPolicy
    >>> with Rollouts("procmem_gym/Mastermind-v0") as rollouts:
    ...     played = rollouts.play(RandomPolicy(seed=0), episodes=2, seed=0)
    >>> len(played.records)
    2
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int = 1,
        env_kwargs: dict[str, Any] | None = None,
        backend: str = "local",
        ray_address: str | None = None,
    ) -> None:
        self.env_id, self.num_envs, self.backend = env_id, num_envs, backend
        self.family = family_of(env_id)
        self.env = make_env(env_id, num_envs, backend=backend, ray_address=ray_address, **(env_kwargs or {}))
        #: Whether episodes play on a vector env (several envs, or workers on Ray).
        self.vector = num_envs > 1 or backend == "ray"

    @property
    def action_space(self) -> Any:
        """Return the action space of one env."""
        return self.env.single_action_space if self.vector else self.env.action_space

    def play(
        self,
        policy: Policy,
        memory: ProceduralMemory | None = None,
        mode: str = "off",
        episodes: int = 1,
        seed: int = 0,
        log_path: str | os.PathLike | None = None,
        *,
        start: int = 0,
        append: bool = False,
        update_memory: bool = True,
        keep_episodes: bool = False,
        on_episode: Callable[[EpisodeRecord], None] | None = None,
        env_seeds: Sequence[int] | None = None,
        policy_seeds: Sequence[int] | None = None,
        explore: float = 0.0,
        log_info_exclude: tuple[str, ...] | None = None,
        skip: Collection[int] = (),
    ) -> Played:
        """Play episodes ``start .. episodes - 1`` with ``memory`` in ``mode`` (``off`` without memory).

        Episode ``i`` uses env seed ``seed + i`` (or ``env_seeds[i]``) and policy seed the same
        (or ``policy_seeds[i]``), in a single env or a vector env alike, so rows played on the
        same seeds are paired episode by episode. The log at ``log_path`` is written afresh, or
        continued with ``append`` (a resumed run: ``skip`` holds the numbers of the episodes it
        has, which in a batched run need not be the first ones).
        With ``keep_episodes`` the finished episodes come back with their transitions; with
        ``explore`` skills are left inactive with that probability per step (learning rollouts).
        """
        mode = mode if memory is not None else "off"
        ids, books = self._bookkeeping(episodes, seed, start, skip, env_seeds, append, keep_episodes)
        wrapped = wrap(
            self.env,
            memory,
            mode=mode,
            log_path=log_path,
            update_memory=update_memory,
            explore=explore,
            log_info_exclude=log_info_exclude,
            family=self.family,
            bookkeeping=books,
        )
        try:
            if self.vector:
                # a resumed batched run starts its remaining episodes from seed + episodes done
                records = run_vector_episodes(
                    wrapped,
                    policy,
                    len(ids),
                    seed=seed + start,
                    on_episode=on_episode,
                    policy_seeds=None if policy_seeds is None else [policy_seeds[i] for i in ids],
                )
            else:
                records = run_episodes(
                    wrapped,
                    policy,
                    ids,
                    seed=seed,
                    on_episode=on_episode,
                    env_seeds=env_seeds,
                    policy_seeds=policy_seeds,
                )
        finally:
            wrapped.finish_log()
        return Played(records, wrapped.finished)

    def _bookkeeping(
        self,
        episodes: int,
        seed: int,
        start: int,
        skip: Collection[int],
        env_seeds: Sequence[int] | None,
        append: bool,
        keep_episodes: bool,
    ) -> tuple[list[int], Bookkeeping]:
        """Return the numbers of the episodes to play and how the wrapper numbers, seeds and keeps them.

        The episodes are ``start .. episodes - 1``, less those a resumed run already holds (a
        batched run finishes episodes out of order, so they need not be the first ones).
        """
        done = set(skip)
        ids = [i for i in range(start, episodes) if i not in done]
        contiguous = ids == list(range(start, episodes))
        seeds = None
        if self.vector and (env_seeds is not None or not contiguous):
            seeds = tuple(env_seeds[i] if env_seeds is not None else seed + i for i in ids)
        books = Bookkeeping(
            append=append,
            episode_offset=start,
            episode_ids=None if contiguous else tuple(ids),
            keep_episodes=keep_episodes,
            episode_seeds=seeds,
            episode_limit=len(ids) if self.vector else None,
        )
        return ids, books

    def close(self) -> None:
        """Close the env."""
        self.env.close()

    def __enter__(self) -> Rollouts:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
