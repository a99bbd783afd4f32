"""Roll out a policy in a wrapped env for N seeded episodes and summarise the run.

Episode ``i`` resets the env with seed ``seed + i`` and the policy with the same seed, so each
episode is reproducible on its own: a run that is interrupted and resumed gives the same
episodes as one that never stopped.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from procmem_gym.transitions import EpisodeRecord
from procmem_gym.wrapper import ProceduralMemoryWrapper


@dataclass(frozen=True)
class RunSummary:
    """What ``summary.json`` holds (DESIGN.md section 8); keys are a contract with users' scripts."""

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
    def from_dict(cls, data: dict[str, Any]) -> "RunSummary":
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


def _reset_policy(policy: Any) -> Callable[[int], None]:
    """Return a function that resets ``policy`` for an episode seed, whether or not it takes one."""
    try:
        takes_seed = "seed" in inspect.signature(policy.reset).parameters
    except (TypeError, ValueError):
        takes_seed = False
    if takes_seed:
        return lambda seed: policy.reset(seed=seed)
    return lambda seed: policy.reset()


def run_episodes(
    env: ProceduralMemoryWrapper,
    policy: Any,
    episodes: Sequence[int],
    seed: int = 0,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    max_steps: int = 10_000,
) -> list[EpisodeRecord]:
    """Play the given episode indices and return their records (also kept in ``env.episodes``).

    ``max_steps`` guards against an env that never ends; hitting it raises ``RuntimeError``.
    A ``KeyboardInterrupt`` propagates after the finished episodes are on disk.
    """
    reset_policy = _reset_policy(policy)
    inject = getattr(env, "mode", None) == "inject"
    records = []
    for index in episodes:
        episode_seed = seed + index
        reset_policy(episode_seed)
        obs, info = env.reset(seed=episode_seed)
        for _ in range(max_steps):
            procmem = info.get("procmem") or {}
            if inject and procmem.get("next_action") is not None:
                action = procmem["next_action"]  # the wrapper sends the skill's action: spend no policy call
            else:
                action = policy.act(obs, info)
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


def _accepts(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def run_vector_episodes(
    env: Any,
    policy: Any,
    episodes: int,
    seed: int = 0,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    max_steps: int = 100_000,
) -> list[EpisodeRecord]:
    """Play ``episodes`` episodes on a memory-wrapped vector env, one batched policy call per step.

    ``env`` is a :class:`~procmem_gym.vector_wrapper.ProceduralMemoryVectorWrapper` built with
    ``episode_limit=episodes``. Sub-env ``i`` keeps its history in the policy's slot ``i``;
    steps where the skill acts (inject mode) or the sub-env is idle spend no policy call.
    """
    from procmem_gym.vector_wrapper import env_info

    n = env.num_envs
    slots_ok = _accepts(policy.act_batch, "slots")
    reset_slot = _accepts(policy.reset, "index")
    if _accepts(policy.reset, "seed"):
        policy.reset(seed=seed)
    else:
        policy.reset()
    inject = env.mode == "inject"
    obs, info = env.reset(seed=seed)
    seen = 0
    for _ in range(max_steps):
        if len(env.episodes) >= episodes:
            break
        infos = [env_info(info, i) for i in range(n)]
        actions: list[Any] = [""] * n
        ask = []
        resetting = env.resetting
        for i in range(n):
            procmem = infos[i].get("procmem") or {}
            if not env.active[i] or resetting[i]:  # idle, or about to be reset (the action would be ignored)
                continue
            if inject and procmem.get("next_action") is not None:
                actions[i] = procmem["next_action"]
            else:
                ask.append(i)
        if ask:
            observations, sub_infos = [obs[i] for i in ask], [infos[i] for i in ask]
            chosen = policy.act_batch(observations, sub_infos, slots=ask) if slots_ok else policy.act_batch(observations, sub_infos)
            for i, a in zip(ask, chosen):
                actions[i] = a
        obs, _, terminated, truncated, info = env.step(actions)
        for i in range(n):
            if (terminated[i] or truncated[i]) and reset_slot:
                policy.reset(index=i)
        while seen < len(env.episodes):
            if on_episode is not None:
                on_episode(env.episodes[seen])
            seen += 1
    else:
        raise RuntimeError(f"{episodes} episodes did not end within {max_steps} vector steps")
    return env.episodes[:episodes]


def make_env(env_id: str, num_envs: int = 1, **kwargs: Any) -> Any:
    """Return ``gymnasium.make(env_id)``, or a vector env of ``num_envs`` (its own vector entry point where it has one).

    Mastermind's vector env is asked for each game's history and variant in ``info``, as the
    single env gives them (agents read them). ``vectorization_mode="async"`` runs each env in its
    own process (ALFWorld: 1.6x the steps/s of the default sync mode on 2 cores).
    """
    import gymnasium as gym

    if num_envs == 1:
        return gym.make(env_id, **kwargs)
    if "mastermind" in str(gym.spec(env_id).vector_entry_point or "").lower():
        kwargs.setdefault("info_history", True)
    if kwargs.get("vectorization_mode") == "async":
        # Observations travel through pipes, not gymnasium's shared memory, which stores a Text
        # observation as a fixed-size code array and reads it back padded.
        kwargs["vector_kwargs"] = {"shared_memory": False, **(kwargs.get("vector_kwargs") or {})}
    return gym.make_vec(env_id, num_envs=num_envs, **kwargs)


def play_logged(
    env_id: str,
    policy: Any,
    memory: Any,
    mode: str,
    episodes: int,
    seed: int,
    log_path: Any,
    num_envs: int = 1,
    update_memory: bool = True,
    env_kwargs: dict[str, Any] | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Play ``episodes`` episodes with ``memory`` in ``mode`` (``off`` without memory), logged to a fresh file."""
    from pathlib import Path

    log_path = Path(log_path)
    if log_path.exists():
        log_path.unlink()
    mode = mode if memory is not None else "off"
    env = make_env(env_id, num_envs, **(env_kwargs or {}))
    extra = {"episode_limit": episodes} if num_envs > 1 else {}
    wrapped = ProceduralMemoryWrapper(env, memory, mode=mode, log_path=log_path, update_memory=update_memory, **extra)
    try:
        if num_envs > 1:
            return run_vector_episodes(wrapped, policy, episodes, seed=seed, on_episode=on_episode)
        return run_episodes(wrapped, policy, range(episodes), seed=seed, on_episode=on_episode)
    finally:
        wrapped.close()
