"""OpenAIPolicy: any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) as a policy.

Same prompts and parsing as :class:`HFPolicy`; standard library HTTP only (no SDK dependency).
Such servers give no exact log-probabilities of arbitrary continuations, so ``logprob`` raises
and learners fall back to validation rollouts. With ``constrain=True`` an answer is snapped to
the closest admissible command, and a Mastermind answer is reduced to its ``[...]`` group; a
server that supports ``guided_regex`` (vLLM) also gets the guess grammar as a regex.
"""

from __future__ import annotations

import difflib
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from procmem_gym.errors import ProcMemError, UsageError

from .policy import BasePolicy
from .prompts import PromptTemplate, SlotHistory, build_messages, mastermind_variant, parse_action, template_for

__all__ = ["OpenAIPolicy", "ServerError", "parse_openai_agent"]


class ServerError(ProcMemError, RuntimeError):
    """The server could not be reached or answered with an error; the message has the URL and reason."""


def parse_openai_agent(spec: str) -> tuple[str, str]:
    """Return ``(model, base_url)`` from ``MODEL@URL`` (the part after ``openai:`` in ``--agent``)."""
    model, sep, url = spec.rpartition("@")
    if not sep or not model or not url.startswith(("http://", "https://")):
        raise UsageError(f"expected openai:MODEL@URL, e.g. openai:qwen2.5-7b@http://127.0.0.1:8000/v1, got {spec!r}")
    return model, url.rstrip("/")


class OpenAIPolicy(BasePolicy):
    """Chat completions from an OpenAI-compatible server at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``)."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        env_id: str | None = None,
        template: PromptTemplate | None = None,
        api_key: str | None = None,
        max_tokens: int = 32,
        timeout: float = 60.0,
        concurrency: int = 8,
        constrain: bool = True,
        seed: int = 0,
        retries: int = 4,
        max_response_bytes: int = 8 << 20,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.template = template or template_for(env_id)
        self.api_key = api_key
        self.max_tokens = max_tokens
        if not timeout > 0 or not 0 <= retries <= 100:
            raise UsageError(f"the server timeout must be > 0 s and retries in 0..100, got {timeout}, {retries}")
        #: The whole of one request (connect, send, every byte of the answer) must end within this many seconds.
        self.timeout = float(timeout)
        #: Requests that fail with 429, 5xx or a network error are sent again this many times (backoff, Retry-After).
        self.retries = int(retries)
        self.max_response_bytes = max_response_bytes
        self.concurrency = concurrency
        self.constrain = constrain
        self.seed = seed
        self.model_calls = 0
        self.generated_tokens = 0
        self.history = SlotHistory(self.template.history)

    def reset(self, seed: int | None = None, index: int | None = None) -> None:
        """Forget one slot's history (or all); remember the seed sent with requests."""
        self.history.clear(index)
        if seed is not None:
            self.seed = seed

    def observe(self, observation: Any, info: dict[str, Any], action: Any, slot: int = 0) -> None:
        """Add a step a skill chose to the slot's history, so later prompts show it."""
        self.history.add(slot, observation, str(action))

    def _complete(self, messages: list[dict[str, str]], regex: str | None) -> str:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        if regex:
            body["guided_regex"] = regex
        payload = json.dumps(body).encode()
        data = self._request(payload)
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise ServerError(f"{self.base_url}: unexpected answer {str(data)[:200]!r}") from None
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else ""  # anything else is an empty (invalid) answer
        self.model_calls += 1
        usage = data.get("usage") if isinstance(data, dict) else None
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(tokens, int) and not isinstance(tokens, bool) and 0 <= tokens < 10**7:
            self.generated_tokens += tokens
        return text

    def _request(self, payload: bytes) -> Any:
        """POST to ``/chat/completions``; retry what may pass (429, 5xx, network); one clear error otherwise."""
        url = self.base_url + "/chat/completions"
        headers = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
        }
        last = ""
        for attempt in range(self.retries + 1):
            wait = min(30.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)
            try:
                return self._post_once(url, payload, headers)
            except urllib.error.HTTPError as err:
                body = _read_some(err)
                last = f"HTTP {err.code} {err.reason}: {body!r}"
                if err.code != 429 and err.code < 500:
                    raise ServerError(f"{url}: {last}") from None
                wait = max(wait, _retry_after(err.headers.get("Retry-After") if err.headers else None))
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                reason = getattr(err, "reason", None) or err
                if isinstance(err, TimeoutError) or isinstance(reason, TimeoutError):
                    last = f"no complete answer within {self.timeout:g} s"
                else:
                    last = f"cannot reach the server ({reason})"
            except _BadAnswer as err:
                last = str(err)
            if attempt < self.retries:
                time.sleep(wait)
        raise ServerError(f"{url}: {last} (after {self.retries + 1} attempts)")

    def _post_once(self, url: str, payload: bytes, headers: dict[str, str]) -> Any:
        deadline = time.monotonic() + self.timeout
        request = urllib.request.Request(url, data=payload, headers=headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
            chunks, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no complete answer within {self.timeout:g} s")
                if sock is not None:
                    sock.settimeout(max(0.05, min(left, self.timeout)))
                chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise _BadAnswer(f"the answer is larger than {self.max_response_bytes:,} bytes")
                chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _BadAnswer(f"the answer is not JSON ({b''.join(chunks)[:80]!r})") from None

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        """Return one action (slot 0)."""
        return self.act_batch_slots([observation], [info], [0])[0]

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None
    ) -> list[str]:
        """Return one action per observation; requests run concurrently."""
        return self.act_batch_slots(
            observations, infos, list(slots) if slots is not None else list(range(len(observations)))
        )

    def act_batch_slots(
        self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: list[int]
    ) -> list[str]:
        """Return actions for observations whose histories live in ``slots``."""
        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        jobs = []
        for o, i, s in zip(observations, infos, slots, strict=False):
            regex = _guess_regex(mastermind_variant(i)) if self.constrain else None
            jobs.append((build_messages(self.template, str(o), i, self.history.get(s)), regex))
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(jobs)))) as pool:
            texts = list(pool.map(lambda job: self._complete(*job), jobs))
        actions = []
        for text, info, obs, slot in zip(texts, infos, observations, slots, strict=False):
            action = parse_action(text, self.template)
            commands = info.get("admissible_commands")
            if self.constrain and commands:
                action = snap(action, [str(c) for c in commands])
            actions.append(action)
            self.history.add(slot, obs, action)
        return actions

    def logprob(self, prompts: Sequence[str], continuations: Sequence[str]) -> Any:
        """Not available from chat servers: learners use validation rollouts instead."""
        raise NotImplementedError(
            "OpenAI-compatible chat servers give no exact log-probabilities of given continuations; "
            "the PPO gate falls back to paired validation rollouts for this backend"
        )


class _BadAnswer(Exception):
    """A reply that arrived but is not a chat completion (cut, not JSON, too large): worth one more try."""


def _read_some(err: urllib.error.HTTPError) -> bytes:
    try:
        return err.read(300)
    except Exception:  # noqa: BLE001 - the body of an error is a courtesy
        return b""


def _retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks for (a number of seconds; dates and nonsense count as 0), at most 60."""
    try:
        return min(60.0, max(0.0, float(value))) if value is not None else 0.0
    except ValueError:
        return 0.0


def snap(answer: str, commands: list[str]) -> str:
    """Return the admissible command closest to ``answer`` (exact, then case-insensitive, then most similar)."""
    if answer in commands:
        return answer
    lowered = {c.lower(): c for c in commands}
    if answer.lower() in lowered:
        return lowered[answer.lower()]
    return max(
        commands, key=lambda c: (difflib.SequenceMatcher(None, answer.lower(), c.lower()).ratio(), -commands.index(c))
    )


def _guess_regex(variant: tuple | None) -> str | None:
    if variant is None:
        return None
    length, digits = variant[0], variant[1]
    number = "(" + "|".join(str(n) for n in range(digits, 0, -1)) + ")"
    return r"\[" + " ".join([number] * length) + r"\]"
