"""OpenAIPolicy's log-probabilities against a fake completions server on 127.0.0.1 that scores text."""

from __future__ import annotations

import re
import time
import zlib

import numpy as np
import pytest
from local_server import LocalServer, json_reply
from procmem_gym.agents.openai_policy import OpenAIPolicy, ServerError, ServerLogprobsError

from procmem_gym.errors import LogprobsUnavailableError

TOKEN = re.compile(r"\s*\S+|\s+")


def tokens(text: str) -> list[str]:
    """The fake model's tokens: words with their leading white space."""
    return TOKEN.findall(text)


def token_logprob(previous: str, token: str) -> float:
    """The fake model's log-probability of ``token`` after the text ``previous`` (deterministic)."""
    return -0.05 - (zlib.crc32((previous[-12:] + "|" + token).encode()) % 1000) / 250.0


class ScoringServer(LocalServer):
    """Answers /completions with echo log-probabilities in the OpenAI form, vLLM's prompt_logprobs form, or not.

    ``form``: "openai", "vllm", "none" (an answer without log-probabilities) or "refuse" (HTTP 400).
    ``failures``: HTTP codes (or "slow") answered to the first requests before a good one.
    """

    def __init__(self, form: str = "openai", failures=(), retry_after: str | None = None, delay: float = 0.0):
        super().__init__()
        self.form, self.failures, self.retry_after, self.delay = form, list(failures), retry_after, delay

    def answer(self, path, body):
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "slow":
                time.sleep(self.delay)
            else:
                return failure, {"Retry-After": self.retry_after} if self.retry_after is not None else {}, b"busy"
        if self.form == "refuse":
            return 400, {}, b'{"error": "echo is not supported"}'
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = [self.choice(n, p) for n, p in enumerate(prompts)]
        return json_reply({"choices": choices[::-1]})  # out of order: the indices must be used

    def choice(self, index: int, text: str) -> dict:
        toks = tokens(text) + [" ok"]  # the one generated token
        values, offsets, at = [], [], 0
        for k, tok in enumerate(toks):
            values.append(None if k == 0 else token_logprob(text[:at], tok))
            offsets.append(at)
            at += len(tok)
        out: dict = {"index": index, "text": text + " ok"}
        if self.form == "openai":
            out["logprobs"] = {"tokens": toks, "token_logprobs": values, "text_offset": offsets, "top_logprobs": None}
        elif self.form == "vllm":
            out["prompt_logprobs"] = [None] + [
                {str(7 + k): {"logprob": v, "rank": 1, "decoded_token": t}}
                for k, (t, v) in enumerate(zip(toks[1:-1], values[1:-1], strict=True))
            ]
        return out


def expected(prompt: str, continuation: str) -> list[float]:
    """The server's numbers for the continuation's tokens, computed here from the fake model."""
    text, out, at = prompt + continuation, [], 0
    for k, tok in enumerate(tokens(text)):
        if at + len(tok) > len(prompt) and k > 0:
            out.append(token_logprob(text[:at], tok))
        at += len(tok)
    return out


PAIRS = [
    ("<|im_start|>user\nYou see a fridge 1.<|im_end|>\n<|im_start|>assistant\n", "open fridge 1"),
    ("Kitchen. Admissible: go to sink 1\n", "go to sink 1"),
    ("a", " b c d e f"),
]


@pytest.mark.parametrize("form", ["openai", "vllm"])
def test_logprob_is_the_servers_numbers_summed_over_the_continuation(form):
    with ScoringServer(form) as server:
        policy = OpenAIPolicy("tiny", server.url, score_batch=2, retries=0)
        prompts, continuations = [p for p, _ in PAIRS], [c for _, c in PAIRS]
        per_token = policy.logprob_tokens(prompts, continuations)
        for got, (p, c) in zip(per_token, PAIRS, strict=True):
            np.testing.assert_allclose(got, expected(p, c))
        np.testing.assert_allclose(policy.logprob(prompts, continuations), [sum(expected(p, c)) for p, c in PAIRS])
        scoring = [b for path, b, _ in server.requests if path == "/v1/completions"]
        assert all(b["echo"] is True and b["model"] == "tiny" for b in scoring)
        assert sorted(len(b["prompt"]) for b in scoring[:2]) == [1, 2]  # batched: 2 texts, then 1
        assert policy.supports_logprobs()


def test_the_gate_numbers_of_a_served_model_are_the_softmax_of_its_command_scores():
    with ScoringServer() as server:
        policy = OpenAIPolicy("tiny", server.url, env_id="procmem_gym/ALFWorld-v0", retries=0)
        commands = ["go to fridge 1", "open fridge 1", "look"]
        info = {"admissible_commands": commands, "goal": "put a cool apple in the fridge"}

        class OnlyOpen:
            def allows(self, command):
                return command.startswith("open")

        values = policy.action_logprobs(["You see a fridge 1."], [info], ["open fridge 1"], [[None, OnlyOpen()]])
        prompt = policy.prompt("You see a fridge 1.", info, slot=-1)
        means = np.array([np.mean(expected(prompt, c)) for c in commands])
        want = means[1] - np.logaddexp.reduce(means)
        np.testing.assert_allclose(values[0], [want, 0.0])
        with pytest.raises(LogprobsUnavailableError, match="free-text"):
            policy.action_logprobs(["[1 2 3 4]?"], [{}], ["[1 2 3 4]"], [[None]])


@pytest.mark.parametrize("form", ["none", "refuse"])
def test_a_server_without_logprobs_is_told_apart_and_never_guessed(form):
    with ScoringServer(form) as server:
        policy = OpenAIPolicy("tiny", server.url, retries=0)
        assert policy.supports_logprobs() is False
        with pytest.raises(ServerLogprobsError):
            policy.logprob(["a"], [" b"])
        with pytest.raises(LogprobsUnavailableError):
            policy.action_logprobs(["x"], [{"admissible_commands": ["look"]}], ["look"], [[None]])


def test_busy_and_failing_answers_are_retried_with_backoff_honouring_retry_after():
    with ScoringServer(failures=[429, 503], retry_after="0.3") as server:
        policy = OpenAIPolicy("tiny", server.url, retries=3)
        np.testing.assert_allclose(policy.logprob(["a"], [" b"]), [sum(expected("a", " b"))])
        times = server.times
        assert len(times) == 3 and times[1] - times[0] >= 0.29 and times[2] - times[1] >= 0.29


def test_persistent_errors_and_timeouts_end_in_one_clear_error():
    with ScoringServer(failures=[500] * 10) as server:
        policy = OpenAIPolicy("tiny", server.url, retries=2)
        with pytest.raises(ServerError, match=r"HTTP 500.*after 3 attempts"):
            policy.logprob(["a"], [" b"])
        assert len(server.requests) == 3
    with ScoringServer(failures=["slow"] * 10, delay=1.5) as server:
        policy = OpenAIPolicy("tiny", server.url, retries=1, timeout=0.3)
        start = time.monotonic()
        with pytest.raises(ServerError, match=r"no complete answer within 0.3 s.*after 2 attempts"):
            policy.logprob(["a"], [" b"])
        assert time.monotonic() - start < 5
