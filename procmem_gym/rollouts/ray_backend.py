"""Rollouts on Ray: each sub-env of a vector env is a Ray actor; the policy and the memory stay in the driver.

``RayVectorEnv`` is Gymnasium's :class:`~gymnasium.vector.SyncVectorEnv` whose sub-envs are
proxies of Ray actors (:class:`EnvWorker`, each holding one ``gymnasium.make(env_id)``). Before
the synchronous loop asks each sub-env in turn, every actor has been sent its call, so the
sub-envs step in parallel across the cluster, and batching, infos and resets are Gymnasium's
own: a run on Ray logs the same episodes as the local backend on the same seeds.

What runs where:

- **Workers** (any node): the env only. ALFWorld's engine, the slow part, runs there.
- **Driver**: the memory wrapper (activation, retrieval, tracking, the transition log: one
  memory, one event record, nothing to merge) and the loop, one batched policy call per step
  across all workers. The policy itself runs in the driver, in a Ray actor with a GPU when the
  cluster has one (:class:`RayPolicy`, ``--policy-on ray``), or on a server
  (``--agent openai:MODEL@URL``).

A worker that dies (its process or node lost) is replaced by a new actor, which replays the
unfinished episode from its seed and the actions already taken (the envs are deterministic
given both), then answers the call that failed; the driver never sees the loss, so no episode
is lost or counted twice. ``max_restarts`` bounds the replacements per worker.

Ray is an optional extra: ``pip install "procmem-gym[ray]"``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import iterate

from procmem_gym.errors import MissingExtraError, ProcMemError

__all__ = [
    "RayVectorEnv",
    "EnvWorker",
    "RayPolicy",
    "PolicyWorker",
    "WorkerLostError",
    "RayStartError",
    "ray_module",
    "init_ray",
]


class WorkerLostError(ProcMemError, RuntimeError):
    """A Ray worker died more often than ``max_restarts`` allows; the message names it and the last error."""


def ray_module() -> Any:
    """Return the ``ray`` module, or raise :class:`MissingExtraError` naming the extra."""
    try:
        import ray
    except ImportError as err:
        raise MissingExtraError('--backend ray needs Ray: pip install "procmem-gym[ray]"') from err
    return ray


def init_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect to the Ray cluster at ``address``, or start a local one (``num_cpus``: default all cores).

    An already initialised Ray is used as it is.
    """
    ray = ray_module()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            if address not in ("auto", "local") and not address.startswith("ray://"):
                _check_reachable(address)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise RayStartError(
                    f"--ray-address {address}: cannot join the Ray cluster ({str(err)[:160]})"
                ) from None
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    return ray


#: Seconds to wait for a Ray head to accept a connection before giving up.
CONNECT_DEADLINE = 10.0


class RayStartError(ProcMemError, ConnectionError):
    """Ray could not be started or joined (no cluster at the address, a bad address); the message names it."""


def _check_reachable(address: str) -> None:
    """Raise :class:`RayStartError` unless ``HOST:PORT`` accepts a TCP connection within :data:`CONNECT_DEADLINE`.

    Ray itself retries a missing head for minutes; this answers at once for a closed port or a bad address.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayStartError(f"--ray-address {address}: expected HOST:PORT (e.g. 10.0.0.1:6379), 'auto' or ray://...")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_DEADLINE):
            pass
    except OSError as err:
        raise RayStartError(
            f"--ray-address {address}: no Ray head answers there ({err.strerror or err}); start one with "
            "`ray start --head` or fix the address"
        ) from None


class EnvWorker:
    """One env in a Ray actor (the class is wrapped by ``ray.remote`` when a vector env is built)."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]) -> None:
        import procmem_gym  # noqa: F401 - registers the envs in the worker's process

        self.env = gym.make(env_id, **env_kwargs)

    def spaces(self) -> tuple[Any, Any, dict[str, Any], Any]:
        """Return the env's observation and action spaces, metadata and render mode."""
        return self.env.observation_space, self.env.action_space, dict(self.env.metadata), self.env.render_mode

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        """Reset the env."""
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the env."""
        return self.env.step(action)

    def replay(self, seed: int | None, options: dict[str, Any] | None, actions: list[Any]) -> int:
        """Reset with ``seed`` and take ``actions``: the state of an unfinished episode, rebuilt; return the steps."""
        self.env.reset(seed=seed, options=options)
        for a in actions:
            self.env.step(a)
        return len(actions)

    def pid(self) -> int:
        """Return the worker's process id (tests kill it)."""
        return os.getpid()

    def close(self) -> None:
        """Close the env."""
        self.env.close()


class _RemoteEnv(gym.Env):
    """A sub-env of :class:`RayVectorEnv`: calls go to its actor; calls sent ahead are collected here."""

    def __init__(self, owner: RayVectorEnv, index: int, actor: Any, spaces: tuple[Any, Any, dict[str, Any], Any]):
        self.owner, self.index, self.actor = owner, index, actor
        self.observation_space, self.action_space, self.metadata, self.render_mode = spaces
        self._pending: tuple[str, Any, Any] | None = None  # (kind, arguments, object ref)
        self._episode: tuple[int | None, dict[str, Any] | None, list[Any]] | None = None
        self.restarts = 0

    # the calls SyncVectorEnv makes, answered from what was sent ahead when it matches
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self._call("reset", (seed, options))
        self._episode = (seed, dict(options) if options is not None else None, [])
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        out = self._call("step", action)
        if self._episode is not None:
            self._episode[2].append(action)
        return out

    def send(self, kind: str, arguments: Any) -> None:
        """Send a call ahead (the vector env does this for every sub-env before collecting any)."""
        self._pending = (kind, arguments, self._submit(kind, arguments))

    def _submit(self, kind: str, arguments: Any) -> Any:
        if kind == "reset":
            seed, options = arguments
            return self.actor.reset.remote(seed, options)
        return self.actor.step.remote(arguments)

    def _call(self, kind: str, arguments: Any) -> Any:
        ray = self.owner.ray
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == kind and _same(pending[1], arguments):
            ref = pending[2]
        else:
            ref = self._submit(kind, arguments)
        lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError)
        while True:
            try:
                return ray.get(ref)
            except lost as err:
                error: Exception = err
                while True:  # a replacement that dies while replaying is replaced too (up to max_restarts)
                    try:
                        self._replace(error)
                        break
                    except lost as again:
                        error = again
                ref = self._submit(kind, arguments)

    def _replace(self, err: Exception) -> None:
        """Start a new actor for this sub-env and rebuild the unfinished episode there."""
        if self.restarts >= self.owner.max_restarts:
            raise WorkerLostError(
                f"Ray worker {self.index} of {self.owner.env_id} died {self.restarts + 1} times "
                f"(max_restarts={self.owner.max_restarts}); last error: {str(err).splitlines()[0][:200]}"
            ) from None
        self.restarts += 1
        self.owner.restarts += 1
        self.actor = self.owner.new_actor()
        if self._episode is not None:
            seed, options, actions = self._episode
            self.owner.ray.get(self.actor.replay.remote(seed, options, list(actions)))

    def close(self) -> None:
        try:
            self.owner.ray.get(self.actor.close.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - a worker already gone has nothing left to close
            pass
        self.owner.ray.kill(self.actor)


def _same(a: Any, b: Any) -> bool:
    try:
        same = a == b
        return bool(same) if not isinstance(same, np.ndarray) else bool(same.all())
    except Exception:  # noqa: BLE001 - incomparable arguments are simply not the call sent ahead
        return False


class RayVectorEnv(SyncVectorEnv):
    """``num_envs`` copies of ``env_id``, each in a Ray actor, stepped in parallel, batched as ``SyncVectorEnv``.

    ``address``: a running cluster (``ray start --head`` on one node, ``ray start --address`` on
    the others); default: an already initialised Ray, else a local one. ``worker_cpus``: CPUs
    each actor reserves (default: the cluster's CPUs shared among the workers, at most 1).
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        env_kwargs: dict[str, Any] | None = None,
        *,
        address: str | None = None,
        worker_cpus: float | None = None,
        max_restarts: int = 3,
        autoreset_mode: str | AutoresetMode = AutoresetMode.DISABLED,
        copy: bool = True,
    ) -> None:
        self.ray = init_ray(address)
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.max_restarts, self.restarts = max_restarts, 0
        cpus = float(self.ray.cluster_resources().get("CPU", 1.0))
        self.worker_cpus = worker_cpus if worker_cpus is not None else min(1.0, cpus / max(1, num_envs))
        self._actor_class = self.ray.remote(EnvWorker)
        actors = [self.new_actor() for _ in range(num_envs)]  # all start at once
        spaces = self.ray.get([a.spaces.remote() for a in actors])
        fns = [lambda i=i: _RemoteEnv(self, i, actors[i], spaces[i]) for i in range(num_envs)]
        super().__init__(fns, copy=copy, autoreset_mode=autoreset_mode)

    def new_actor(self) -> Any:
        """Start one worker actor (a replacement, too)."""
        return self._actor_class.options(num_cpus=self.worker_cpus).remote(self.env_id, self.env_kwargs)

    @property
    def workers(self) -> list[Any]:
        """Return the current actor of each sub-env."""
        return [env.actor for env in self.envs]

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset (the masked) sub-envs in parallel; the same arguments and results as ``SyncVectorEnv.reset``."""
        n = self.num_envs
        seeds = [None] * n if seed is None else [seed + i for i in range(n)] if isinstance(seed, int) else list(seed)
        rest = dict(options) if options else {}
        mask = rest.pop("reset_mask", None)
        sent_options = rest if options is not None else None
        for i, env in enumerate(self.envs):
            if mask is None or mask[i]:
                env.send("reset", (seeds[i], sent_options))
        return super().reset(seed=seed, options=options)

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env in parallel; the same results as ``SyncVectorEnv.step``."""
        if self.autoreset_mode != AutoresetMode.NEXT_STEP:  # there every sub-env is stepped: send all ahead
            for env, action in zip(self.envs, iterate(self.action_space, actions), strict=True):
                env.send("step", action)
        return super().step(actions)


class PolicyWorker:
    """A policy built inside a Ray actor from the arguments of :func:`procmem_gym.agents.factory.make_policy`."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import procmem_gym  # noqa: F401 - registers the envs in the worker's process
        from procmem_gym.agents.factory import make_policy

        self.policy = make_policy(**spec)

    def describe(self) -> tuple[str, list[str]]:
        """Return the policy's name and the methods it has (of those a proxy forwards)."""
        return getattr(self.policy, "name", "policy"), [m for m in RayPolicy.METHODS if hasattr(self.policy, m)]

    def call(self, method: str, args: tuple, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Call a method; return its result and the counters the driver mirrors."""
        result = getattr(self.policy, method)(*args, **kwargs)
        return result, self.counters()

    def counters(self) -> dict[str, Any]:
        """Return ``model_calls``, ``generated_tokens`` and ``last_details``."""
        return {
            "model_calls": getattr(self.policy, "model_calls", 0),
            "generated_tokens": getattr(self.policy, "generated_tokens", 0),
            "last_details": list(getattr(self.policy, "last_details", []) or []),
        }

    def get(self, name: str) -> Any:
        """Return an attribute of the policy."""
        return getattr(self.policy, name)

    def set(self, name: str, value: Any) -> None:
        """Set an attribute of the policy (a learner's temperature, a transfer's prompt template)."""
        setattr(self.policy, name, value)


class RayPolicy:
    """A policy that runs in a Ray actor (with a GPU when the cluster has one), used like the policy itself.

    The driver keeps the loop; each batched call (``act_batch``, ``logprob``, the gate's
    ``action_logprobs``, ...) runs in the actor, and ``model_calls``, ``generated_tokens`` and
    ``last_details`` are mirrored after each. Other attributes are read and set in the actor.
    """

    METHODS = (
        "act",
        "act_batch",
        "observe",
        "reset",
        "logprob",
        "logprob_tokens",
        "action_logprobs",
        "command_scores",
        "choose",
        "prompt",
        "generate",
        "supports_logprobs",
    )
    _LOCAL = ("actor", "ray", "name", "model_calls", "generated_tokens", "last_details", "_methods")

    def __init__(self, spec: dict[str, Any], num_gpus: float | None = None, address: str | None = None) -> None:
        ray = init_ray(address)
        gpus = num_gpus if num_gpus is not None else (1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0)
        actor = ray.remote(PolicyWorker).options(num_gpus=gpus, num_cpus=0).remote(spec)
        name, methods = ray.get(actor.describe.remote())
        for key, value in {"ray": ray, "actor": actor, "name": name, "_methods": set(methods)}.items():
            object.__setattr__(self, key, value)
        self._mirror(ray.get(actor.counters.remote()))

    def _mirror(self, counters: dict[str, Any]) -> None:
        for key, value in counters.items():
            object.__setattr__(self, key, value)

    def __getattr__(self, name: str) -> Any:
        if name in RayPolicy.METHODS:
            if name not in self._methods:
                raise AttributeError(name)

            def remote(*args: Any, **kwargs: Any) -> Any:
                result, counters = self.ray.get(self.actor.call.remote(name, args, kwargs))
                self._mirror(counters)
                return result

            return remote
        if name.startswith("__"):
            raise AttributeError(name)
        return self.ray.get(self.actor.get.remote(name))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RayPolicy._LOCAL:
            object.__setattr__(self, name, value)
        else:
            self.ray.get(self.actor.set.remote(name, value))

    def close(self) -> None:
        """Stop the actor."""
        self.ray.kill(self.actor)
