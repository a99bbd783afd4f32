"""OpenAIPolicy: any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) as a policy.

Same prompts and parsing as :class:`HFPolicy`; standard library HTTP only (no SDK dependency).
With ``constrain=True`` an answer is snapped to the closest admissible command, and a Mastermind
answer is reduced to its ``[...]`` group; a server that supports ``guided_regex`` (vLLM) also
gets the guess grammar as a regex.

**Log-probabilities.** Servers that score a given text (the completions endpoint with ``echo``
and ``logprobs``, as vLLM and the OpenAI legacy API answer, or vLLM's ``prompt_logprobs``) give
``logprob`` / ``logprob_tokens`` exactly: the prompt is the chat rendered as text
(``prompt_format``: ``chatml`` for SmolLM2, Qwen and most open models, ``llama3``, ``plain``),
the continuation's tokens are those whose text lies after the prompt, and their log-probabilities
are summed. The PPO gate then runs on the served model's own numbers for command choices
(``action_logprobs``); :meth:`OpenAIPolicy.supports_logprobs` asks the server once, and where it
gives none, learners fall back to paired validation rollouts and their report says so.
"""

from __future__ import annotations

import contextlib
import difflib
import http.client
import io
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from procmem_gym.envs.actions import ActionSet, GuessGrammar, action_set_of, constrain

from procmem_gym.errors import LogprobsUnavailableError, ProcMemError, UsageError, renamed

from .guess_grammar import allowed_guesses
from .policy import BasePolicy, choice_logprobs, mean_scores
from .prompts import PromptTemplate, SlotHistory, build_messages, mastermind_variant, parse_action, template_for
from .random_policy import skill_constraint

__all__ = ["OpenAIPolicy", "ServerError", "ServerLogprobsError", "parse_openai_agent", "render_chat", "PROMPT_FORMATS"]


class ServerError(ProcMemError, RuntimeError):
    """The server could not be reached or answered with an error; the message has the URL and reason."""


def parse_openai_agent(spec: str) -> tuple[str, str]:
    """Return ``(model, base_url)`` from ``MODEL@URL`` (the part after ``openai:`` in ``--agent``)."""
    model, sep, url = spec.rpartition("@")
    if not sep or not model or not url.startswith(("http://", "https://")):
        raise UsageError(f"expected openai:MODEL@URL, e.g. openai:qwen2.5-7b@http://127.0.0.1:8000/v1, got {spec!r}")
    return model, url.rstrip("/")


#: Times a served model is asked again for a move a skill's constraint allows.
RETRIES = 2


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
        prompt_format: str = "chatml",
        score_batch: int = 16,
        action_space: Any = None,
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
        if prompt_format not in PROMPT_FORMATS:
            raise UsageError(f"prompt_format must be one of {', '.join(PROMPT_FORMATS)}, got {prompt_format!r}")
        #: How chat messages are written as one text for scoring (the model's own chat format).
        self.prompt_format = prompt_format
        #: Texts scored per completions request.
        self.score_batch = max(1, int(score_batch))
        self._logprobs: bool | None = None  # whether the server scores text (asked once)
        #: The env's action space: its moves are the choices where the env lists none.
        self.action_space = action_space

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

    def _request(self, payload: bytes, endpoint: str = "/chat/completions") -> Any:
        """POST to ``endpoint``; retry what may pass (429, 5xx, network); one clear error otherwise."""
        url = self.base_url + endpoint
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
        """POST once; one deadline covers everything from connect to the last byte of the answer.

        A timer shuts the socket down when the deadline passes, so a server that trickles its
        status line, headers or body a byte at a time cannot hold the request past it. Protocol
        errors (a bad status line, a bad chunk, too many or too long headers) are bad answers.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServerError(f"{url}: not an http(s) URL")
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(parts.hostname, parts.port, timeout=self.timeout)
        expired = threading.Event()
        opened: list[socket.socket] = []  # the connection drops its socket once the answer is read by the response

        def expire() -> None:
            expired.set()
            for sock in opened:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self.timeout, expire)
        timer.daemon = True
        timer.start()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.connect()
            opened.append(conn.sock)
            if expired.is_set():  # the deadline passed while connecting
                raise TimeoutError(f"no complete answer within {self.timeout:g} s")
            conn.request("POST", target, body=payload, headers=headers)
            response = conn.getresponse()
            if response.status >= 400:
                body = io.BytesIO(response.read(300))
                raise urllib.error.HTTPError(url, response.status, response.reason, response.headers, body)
            chunks, size = [], 0
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise _BadAnswer(f"the answer is larger than {self.max_response_bytes:,} bytes")
                chunks.append(chunk)
        except http.client.HTTPException as err:
            if expired.is_set():
                raise TimeoutError(f"no complete answer within {self.timeout:g} s") from None
            raise _BadAnswer(f"a broken HTTP answer ({type(err).__name__}: {str(err)[:120]!r})") from None
        except OSError:
            if expired.is_set():
                raise TimeoutError(f"no complete answer within {self.timeout:g} s") from None
            raise
        finally:
            timer.cancel()
            conn.close()
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {self.timeout:g} s")
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
        actions, details = [], []
        for text, info, obs, slot, job in zip(texts, infos, observations, slots, jobs, strict=False):
            sets = action_set_of(info, self.action_space)
            action, detail = self._within(parse_action(text, self.template), sets, info, obs, slot, job)
            actions.append(sets.to_action(action))
            details.append(detail)
            self.history.add(slot, obs, action)
        self.last_details = details
        return actions

    def _within(
        self, action: str, actions: ActionSet, info: dict[str, Any], obs: Any, slot: int, job: tuple
    ) -> tuple[str, dict[str, Any]]:
        """Return the answer kept inside the action set and a skill's constraint, and what was done to keep it.

        An enumerable set narrowed by a constraint is scored where the server scores given text
        (the best allowed option); otherwise an answer outside the allowed options is snapped to
        the closest one. For other sets the answer is checked; an excluded one is asked again
        (:data:`RETRIES` times, saying which move was not allowed), then replaced by a uniformly
        drawn allowed guess (Mastermind), else kept with the constraint marked skipped.
        """
        bound = skill_constraint(info) if self.constrain else None
        narrowed = constrain(actions, bound)
        detail = narrowed.detail()
        options = narrowed.options
        if options is not None:
            if not self.constrain or action in options:
                return action, detail
            if narrowed.status == "applied" and self.supports_logprobs():
                prompt = self.prompt(obs, info, slot)
                scores = mean_scores(self.logprob_tokens([prompt] * len(options), options), [options])[0]
                detail["constraint_fallback"] = "best scored"
                return options[int(np.argmax(scores))], detail
            snapped = snap(action, options)
            if narrowed.status is not None:
                detail["constraint_fallback"] = "closest allowed"
            return snapped, detail
        if bound is None or not getattr(bound, "bound", True) or bound.allows(action):
            return action, detail
        messages, regex = job
        for tries in range(1, RETRIES + 1):
            note = {"role": "user", "content": f"The move {action} is not allowed here. Answer with another move."}
            action = parse_action(self._complete([*messages, note], regex), self.template)
            if bound.allows(action):
                return action, {"constraint": "applied", "constraint_reason": "asked again", "tries": tries + 1}
        if isinstance(actions, GuessGrammar):
            allowed = allowed_guesses(actions.variant, bound)
            if allowed is not None:
                rng = np.random.default_rng([self.seed, slot, len(actions.variant[3])])
                row = allowed.codes[int(rng.integers(len(allowed)))]
                return "[" + " ".join(str(int(d)) for d in row) + "]", {
                    "constraint": "applied",
                    "constraint_fallback": "uniform allowed",
                    "allowed": len(allowed),
                }
        return action, {"constraint": "skipped", "constraint_reason": f"nothing allowed in {RETRIES + 1} answers"}

    # ------------------------------------------------------------------ log-probabilities
    def prompt(self, observation: Any, info: dict[str, Any], slot: int = 0) -> str:
        """Return the prompt of one observation as one text, in ``prompt_format`` (what scoring sends)."""
        messages = build_messages(self.template, str(observation), info, self.history.get(slot))
        return render_chat(messages, self.prompt_format)

    def supports_logprobs(self) -> bool:
        """Return whether the server scores given text (asked once with a two-word prompt, then remembered).

        A server that refuses the request (4xx) or answers without log-probabilities gives
        False; one that cannot be reached raises :class:`ServerError`.
        """
        if self._logprobs is None:
            try:
                self._score(["Hello"], [" world"])
                self._logprobs = True
            except ServerLogprobsError:
                self._logprobs = False
        return self._logprobs

    def logprob_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[np.ndarray]:
        """Return, per pair, the log-probability of each continuation token given the prompt and earlier tokens.

        Raises :class:`ServerLogprobsError` when the server gives no log-probabilities of given text.
        """
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        return self._score(list(map(str, prompts)), list(map(str, continuations)))

    def logprob(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Return the summed log-probability of each continuation given its prompt (see :meth:`logprob_tokens`)."""
        return np.array([t.sum() for t in self.logprob_tokens(prompts, continuations)], dtype=np.float64)

    def command_scores(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Return, per prompt, each candidate's mean log-probability per token (as :class:`HFPolicy` scores them)."""
        flat_p = [p for p, cands in zip(prompts, candidates, strict=True) for _ in cands]
        flat_c = [str(c) for cands in candidates for c in cands]
        return mean_scores(self.logprob_tokens(flat_p, flat_c), candidates)

    def action_logprobs(
        self,
        observations: Sequence[Any],
        infos: Sequence[dict[str, Any]],
        actions: Sequence[str],
        constraints: Sequence[Sequence[Any]],
        temperature: float | None = None,
    ) -> np.ndarray:
        """Return ``(n, k)``: each action's log-probability under each of ``k`` constraints (command choices).

        The same numbers as :meth:`HFPolicy.action_logprobs` for rows whose action set is
        enumerable (admissible commands, a declared set, a ``Discrete`` space): the softmax of the
        options' scores at ``temperature`` (default 1), renormalised over what each constraint
        allows. Free-text rows (a Mastermind guess) need the model's whole
        next-token distribution at every step, which servers do not return: they raise
        :class:`ServerLogprobsError`, and the learner gates them by validation rollouts.
        """
        if not self.supports_logprobs():
            raise ServerLogprobsError(f"{self.base_url}: the server returns no log-probabilities of given text")
        cmds = [action_set_of(i, self.action_space).options() for i in infos]
        if any(c is None for c in cmds):
            raise ServerLogprobsError(
                "a served model's log-probabilities cover choices among enumerable actions; free-text actions are "
                "gated by rollouts"
            )
        t = temperature if temperature is not None else 1.0
        prompts = [self.prompt(o, i, slot=-1) for o, i in zip(observations, infos, strict=True)]
        scores = self.command_scores(prompts, cmds)
        k = max((len(c) for c in constraints), default=0)
        out = np.zeros((len(actions), k))
        for r, (commands, row) in enumerate(zip(cmds, scores, strict=True)):
            values = choice_logprobs(row, commands, str(actions[r]), constraints[r], t)
            out[r, : len(values)] = values
        return out

    def _score(self, prompts: list[str], continuations: list[str]) -> list[np.ndarray]:
        """Score ``prompt + continuation`` texts in batches of ``score_batch``, concurrently."""
        batches = [
            (prompts[i : i + self.score_batch], continuations[i : i + self.score_batch])
            for i in range(0, len(prompts), self.score_batch)
        ]
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(batches)))) as pool:
            parts = list(pool.map(lambda b: self._score_batch(*b), batches))
        return [t for part in parts for t in part]

    def _score_batch(self, prompts: list[str], continuations: list[str]) -> list[np.ndarray]:
        texts = [p + c for p, c in zip(prompts, continuations, strict=True)]
        body = {
            "model": self.model,
            "prompt": texts,
            "max_tokens": 1,  # some servers refuse 0; the one generated token lies past the text and is ignored
            "temperature": 0,
            "echo": True,
            "logprobs": 0,
            "prompt_logprobs": 0,
        }
        try:
            data = self._request(json.dumps(body).encode(), "/completions")
        except ServerError as err:
            if " HTTP 4" in str(err) and " HTTP 429" not in str(err):
                raise ServerLogprobsError(f"{err} (the completions endpoint does not score given text)") from None
            raise
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or len(choices) != len(texts):
            raise ServerError(f"{self.base_url}/completions: expected {len(texts)} choices, got {str(data)[:200]!r}")
        ordered: list[Any] = [None] * len(texts)
        for n, choice in enumerate(choices):
            index = choice.get("index", n) if isinstance(choice, dict) else n
            if not isinstance(index, int) or not 0 <= index < len(texts) or ordered[index] is not None:
                raise ServerError(f"{self.base_url}/completions: bad choice index {index!r}")
            ordered[index] = choice
        self.model_calls += 1
        return [
            _continuation_logprobs(choice, len(p), len(t), self.base_url)
            for choice, p, t in zip(ordered, prompts, texts, strict=True)
        ]


PROMPT_FORMATS = ("chatml", "llama3", "plain")


def render_chat(messages: Sequence[dict[str, str]], fmt: str = "chatml") -> str:
    """Return chat messages as one text in a model family's chat format, ending where the answer starts.

    >>> render_chat([{"role": "user", "content": "hi"}]).splitlines()
    ['<|im_start|>user', 'hi<|im_end|>', '<|im_start|>assistant']
    """
    if fmt == "chatml":
        body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return body + "<|im_start|>assistant\n"
    if fmt == "llama3":
        body = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
        return "<|begin_of_text|>" + body + "<|start_header_id|>assistant<|end_header_id|>\n\n"
    if fmt == "plain":
        return "\n\n".join(m["content"] for m in messages) + "\n\nAnswer: "
    raise UsageError(f"prompt_format must be one of {', '.join(PROMPT_FORMATS)}, got {fmt!r}")


class ServerLogprobsError(ServerError, LogprobsUnavailableError):
    """The server gives no log-probabilities of given text (or not for this kind of action)."""


def _continuation_logprobs(choice: Any, prompt_chars: int, text_chars: int, url: str) -> np.ndarray:
    """Return the log-probabilities of the tokens of ``choice`` that hold characters past ``prompt_chars``.

    Reads the OpenAI form (``logprobs.tokens`` / ``token_logprobs`` / ``text_offset``) or vLLM's
    ``prompt_logprobs`` (one ``{token_id: {logprob, decoded_token}}`` per prompt token, the first
    None, placed by counting back from the text's end); a token that starts in the prompt and
    ends in the continuation counts with the continuation. The token generated after the text is
    not counted.
    """
    if not isinstance(choice, dict):
        raise ServerError(f"{url}/completions: a choice is not an object")
    spans: list[tuple[int, int, float | None]] = []
    lp = choice.get("logprobs")
    if isinstance(lp, dict) and isinstance(lp.get("token_logprobs"), list) and isinstance(lp.get("text_offset"), list):
        tokens, values, offsets = lp.get("tokens") or [], lp["token_logprobs"], lp["text_offset"]
        if not (len(tokens) == len(values) == len(offsets)):
            raise ServerError(f"{url}/completions: logprobs lists of different lengths")
        for tok, value, start in zip(tokens, values, offsets, strict=True):
            if not isinstance(start, int) or not isinstance(tok, str):
                raise ServerError(f"{url}/completions: a malformed token offset")
            spans.append((start, start + len(tok), value))
    elif isinstance(choice.get("prompt_logprobs"), list):
        # vLLM: the first entry is None (its text unknown), so offsets are counted back from the end
        end = text_chars
        for entry in reversed(choice["prompt_logprobs"]):
            value, text = None, ""
            if isinstance(entry, dict) and entry:
                # the prompt's own token is listed first (with prompt_logprobs=0 it is the only one)
                first = next(iter(entry.values()))
                if isinstance(first, dict):
                    value, text = first.get("logprob"), str(first.get("decoded_token") or "")
            elif entry is None:
                break  # the first token: never part of a continuation that follows a prompt
            spans.append((end - len(text), end, value))
            end -= len(text)
        spans.reverse()
    else:
        raise ServerLogprobsError(f"{url}/completions: the answer holds no log-probabilities of the prompt")
    out = []
    for start, end, value in spans:
        if end <= prompt_chars or start >= text_chars:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value > 1e-6:
            raise ServerError(f"{url}/completions: a token of the continuation has log-probability {value!r}")
        out.append(float(value))
    if not out and text_chars > prompt_chars:
        raise ServerError(f"{url}/completions: no token of the continuation was scored")
    return np.asarray(out, dtype=np.float64)


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


def __getattr__(name: str) -> Any:
    if name == "LogprobsUnavailable":
        return renamed(__name__, name, ServerLogprobsError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
