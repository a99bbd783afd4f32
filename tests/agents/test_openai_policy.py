"""OpenAIPolicy against a tiny OpenAI-compatible server started by the test on 127.0.0.1."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from local_server import LocalServer, json_reply
from procmem_gym.agents.openai_policy import OpenAIPolicy, ServerError, parse_openai_agent, snap


class FakeServer(LocalServer):
    """Answers chat completions with scripted replies (model "broken": HTTP 500)."""

    def __init__(self, replies):
        super().__init__()
        self.replies = list(replies)

    def answer(self, path, body):
        if body["model"] == "broken":
            return 500, {}, b"boom"
        reply = self.replies.pop(0) if self.replies else "look"
        return json_reply(
            {"choices": [{"message": {"role": "assistant", "content": reply}}], "usage": {"completion_tokens": 3}}
        )


def test_mastermind_through_the_server():
    with FakeServer(["My guess is [1 2 3 4].", "[5 6 1 2]"]) as server:
        policy = OpenAIPolicy("tiny", server.url, env_id="procmem_gym/Mastermind-v0")
        env = gym.make("procmem_gym/Mastermind-v0")
        obs, info = env.reset(seed=0)
        assert policy.act(obs, info) == "[1 2 3 4]"
        obs, _, _, _, info = env.step("[1 2 3 4]")
        assert policy.act(obs, info) == "[5 6 1 2]"
        path, body, _ = server.requests[0]
        assert path == "/v1/chat/completions" and body["model"] == "tiny" and body["temperature"] == 0
        assert (
            body["messages"][0]["role"] == "system" and "You are playing Mastermind" in body["messages"][1]["content"]
        )
        assert body["guided_regex"].startswith(r"\[")
        assert policy.model_calls == 2 and policy.generated_tokens == 6


def test_answers_snap_to_admissible_commands_and_batch():
    with FakeServer(["Action: Open the fridge 1", "go to cuontertop 1"]) as server:
        policy = OpenAIPolicy("tiny", server.url, env_id="procmem_gym/ALFWorld-v0", concurrency=1)
        commands = ["go to countertop 1", "open fridge 1", "look"]
        actions = policy.act_batch(["kitchen", "kitchen"], [{"admissible_commands": commands}] * 2)
        assert actions == ["open fridge 1", "go to countertop 1"]


def test_guidance_reaches_the_server():
    with FakeServer(["[1 2 3 4]"]) as server:
        policy = OpenAIPolicy("tiny", server.url, env_id="procmem_gym/Mastermind-v0")
        policy.act("obs", {"procmem": {"guidance": "Open with [1 2 3 4].", "skill_name": "open"}})
        assert "Procedure from memory (open): Open with [1 2 3 4]." in server.requests[0][1]["messages"][1]["content"]


def test_server_errors_are_clear():
    with FakeServer([]) as server:
        with pytest.raises(ServerError, match="HTTP 500"):
            OpenAIPolicy("broken", server.url, retries=0).act("obs", {})
    with pytest.raises(ServerError, match="cannot reach"):
        OpenAIPolicy("m", "http://127.0.0.1:9/v1", timeout=2, retries=1).act("obs", {})
    with pytest.raises(ServerError, match="/v1/completions: cannot reach"):  # scoring asks the server too
        OpenAIPolicy("m", "http://127.0.0.1:9/v1", retries=0).logprob(["a"], ["b"])


def test_agent_spec_and_snap():
    assert parse_openai_agent("qwen@http://127.0.0.1:8000/v1/") == ("qwen", "http://127.0.0.1:8000/v1")
    with pytest.raises(ValueError, match="MODEL@URL"):
        parse_openai_agent("qwen")
    assert snap("LOOK", ["look", "inventory"]) == "look"


class ScriptedServer(LocalServer):
    """Answers each request with the next scripted reply: (status, headers, body bytes, seconds between bytes)."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)

    def answer(self, path, body):
        return self.script.pop(0) if self.script else (200, {}, _ok("look"), 0)


def _ok(content, usage=None):
    return json.dumps(
        {"choices": [{"message": {"content": content}}], "usage": usage or {"completion_tokens": 1}}
    ).encode()


def test_429_and_5xx_are_retried_honouring_retry_after():
    script = [(429, {"Retry-After": "1"}, b"slow down", 0), (503, {}, b"busy", 0), (200, {}, _ok("look"), 0)]
    with ScriptedServer(script) as server:
        policy = OpenAIPolicy("m", server.url, retries=3)
        assert policy.act("obs", {"admissible_commands": ["look", "go to desk 1"]}) == "look"
        assert len(server.times) == 3 and server.times[1] - server.times[0] >= 0.95  # waited as asked


def test_a_server_that_drips_bytes_is_cut_at_the_deadline():
    import time

    with ScriptedServer([(200, {}, _ok("look " * 200), 0.2)]) as server:
        start = time.monotonic()
        with pytest.raises(ServerError, match="within 1 s"):
            OpenAIPolicy("m", server.url, timeout=1, retries=0).act("obs", {})
        assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    "body",
    [
        _ok(None),
        _ok(["not", "text"]),
        _ok("look", usage={"completion_tokens": "many"}),
        json.dumps({"choices": [{"message": "odd"}]}).encode(),
    ],
)
def test_malformed_answers_are_invalid_answers_not_crashes(body):
    with ScriptedServer([(200, {}, body, 0)]) as server:
        policy = OpenAIPolicy("m", server.url, retries=0)
        action = policy.act("obs", {"admissible_commands": ["look", "go to desk 1"]})
        assert action in ("look", "go to desk 1")


@pytest.mark.parametrize("body", [b"not json", b'{"choices": [', json.dumps({"nothing": 1}).encode()])
def test_truncated_or_foreign_answers_are_one_clear_error_naming_the_url(body):
    with ScriptedServer([(200, {}, body, 0)] * 2) as server:
        with pytest.raises(ServerError) as err:
            OpenAIPolicy("m", server.url, retries=1).act("obs", {})
        assert server.url in str(err.value) and "\n" not in str(err.value)
