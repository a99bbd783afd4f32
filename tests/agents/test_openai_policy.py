"""OpenAIPolicy against a tiny OpenAI-compatible server started by the test on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import pytest
from procmem_gym.agents.openai_policy import OpenAIPolicy, ServerError, parse_openai_agent, snap


class FakeServer:
    """Answers chat completions with scripted replies and records the requests."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, body))
                if body["model"] == "broken":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"boom")
                    return
                reply = outer.replies.pop(0) if outer.replies else "look"
                data = {
                    "choices": [{"message": {"role": "assistant", "content": reply}}],
                    "usage": {"completion_tokens": 3},
                }
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_mastermind_through_the_server():
    with FakeServer(["My guess is [1 2 3 4].", "[5 6 1 2]"]) as server:
        policy = OpenAIPolicy("tiny", server.url, env_id="procmem_gym/Mastermind-v0")
        env = gym.make("procmem_gym/Mastermind-v0")
        obs, info = env.reset(seed=0)
        assert policy.act(obs, info) == "[1 2 3 4]"
        obs, _, _, _, info = env.step("[1 2 3 4]")
        assert policy.act(obs, info) == "[5 6 1 2]"
        path, body = server.requests[0]
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
            OpenAIPolicy("broken", server.url).act("obs", {})
    with pytest.raises(ServerError, match="cannot reach"):
        OpenAIPolicy("m", "http://127.0.0.1:9/v1", timeout=2).act("obs", {})
    with pytest.raises(NotImplementedError, match="validation rollouts"):
        OpenAIPolicy("m", "http://127.0.0.1:9/v1").logprob(["a"], ["b"])


def test_agent_spec_and_snap():
    assert parse_openai_agent("qwen@http://127.0.0.1:8000/v1/") == ("qwen", "http://127.0.0.1:8000/v1")
    with pytest.raises(ValueError, match="MODEL@URL"):
        parse_openai_agent("qwen")
    assert snap("LOOK", ["look", "inventory"]) == "look"
