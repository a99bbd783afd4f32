"""Every policy enforces a skill's constraint on every kind of action set: the tiny HF model and a served model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from gymnasium import spaces
from local_server import LocalServer, json_reply
from procmem_gym.envs.actions import MoveGrammar

from procmem_gym.skills.constraint import Constraint

MOVES = ["[up]", "[down]", "[left]", "[right]"]
VERTICAL = Constraint.from_dict({"all": [{"matches": r"\[(up|down)\]"}]}).bind("", {})
SMALL = Constraint.from_dict({"all": [{"matches": r"[0-2]"}]}).bind("", {})
KINDS = {
    "commands": ({"admissible_commands": MOVES}, None, VERTICAL),
    "choices": ({"action_set": MOVES}, None, VERTICAL),
    "grammar": ({"action_set": MoveGrammar(r"\[\w+\]", tuple(MOVES))}, None, VERTICAL),
    "space": ({}, spaces.Discrete(5), SMALL),
}


@pytest.fixture()
def sampler(tiny_model_dir):
    pytest.importorskip("transformers")
    from procmem_gym.agents.hf_policy import HFPolicy

    return HFPolicy.from_pretrained(tiny_model_dir, batch_size=8, temperature=1.0)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hf_samples_inside_the_constraint_with_exact_logged_probabilities(sampler, kind):
    info, space, bound = KINDS[kind]
    sampler.action_space = space
    info = {**info, "procmem": {"constraint": bound}}
    actions, details = [], []
    for k in range(125):  # 1,000 sampled actions, each on the prompt the gate rebuilds (no history)
        sampler.reset(seed=k)
        actions += sampler.act_batch(["room 0"] * 8, [info] * 8)
        details += sampler.last_details
    texts = [str(a) for a in actions]
    assert all(bound.allows(t) for t in texts)
    if space is not None:
        assert all(isinstance(a, int) and space.contains(a) for a in actions)  # parsed back into the env's action
    assert all(d["constraint"] == "applied" for d in details)
    options = MOVES if space is None else ["0", "1", "2", "3", "4"]
    table = sampler.action_logprobs(
        ["room 0"] * len(options), [info] * len(options), options, [[None, bound]] * len(options)
    )
    for k, option in enumerate(options):
        if bound.allows(option):
            logged = [d["behaviour_logprob"] for t, d in zip(texts, details, strict=True) if t == option]
            assert logged and abs(logged[0] - table[k, 1]) < 1e-4
        else:
            assert np.exp(table[k, 1] - table[k, 0]) == 0.0


def test_hf_free_text_rejects_what_the_constraint_excludes_and_the_gate_sees_the_change(sampler):
    bound = Constraint.from_dict({"all": [{"not_matches": ".*o.*"}]}).bind("", {})
    info = {"procmem": {"constraint": bound}}
    sampler.reset(seed=1)
    actions = sampler.act_batch(["room 0"] * 8, [info] * 8)
    for action, detail in zip(actions, sampler.last_details, strict=True):
        if detail["constraint"] == "applied":
            assert bound.allows(action) and detail["tries"] >= 1
        else:
            assert detail["constraint_reason"].startswith("nothing allowed")
    from procmem_gym.learning.gate import PPOGate

    logged = ["look around", "up", "go north", "wait"]  # "look around" and "go north" are excluded
    table = sampler.action_logprobs(["room 0"] * 4, [{}] * 4, logged, [[None, bound]] * 4)
    assert np.isfinite(table[:, 0]).all() and list(np.isinf(table[:, 1])) == [True, False, True, False]
    decision = PPOGate().decide(table[:, 1] - table[:, 0], np.array([-1.0, 1.0, -1.0, 1.0]))
    assert "does not change the policy" not in decision.reason  # the screen sees what the candidate excludes


class MoveServer(LocalServer):
    """A chat server that answers moves in turn (some outside the constraint), and never scores text."""

    def __init__(self, answers):
        super().__init__()
        self.answers, self.n = answers, 0

    def answer(self, path, body):
        if path.endswith("/completions") and not path.endswith("/chat/completions"):
            return 400, {}, b'{"error": "echo is not supported"}'
        text = self.answers[self.n % len(self.answers)]
        self.n += 1
        return json_reply({"choices": [{"index": 0, "message": {"content": text}}], "usage": {"completion_tokens": 2}})


@pytest.mark.parametrize("kind", ["commands", "choices", "grammar"])
def test_served_model_answers_stay_inside_the_constraint_and_say_how(kind):
    from procmem_gym.agents.openai_policy import OpenAIPolicy

    info, _, bound = KINDS[kind]
    info = {**info, "procmem": {"constraint": bound}}
    with MoveServer(["[left]", "[up]", "[right]", "[down]", "jump"]) as server:
        policy = OpenAIPolicy("tiny", server.url, retries=0)
        actions, details = [], []
        for _ in range(200):  # 1,000 answers
            actions += policy.act_batch(["room 0"] * 5, [info] * 5)
            details += policy.last_details
    assert len(actions) == 1000 and all(bound.allows(a) for a in actions)
    assert {d.get("constraint_fallback") for d in details} == {None, "closest allowed"}


def test_served_model_free_text_is_asked_again_then_skipped_with_a_reason():
    from procmem_gym.agents.openai_policy import OpenAIPolicy

    bound = Constraint.from_dict({"all": [{"matches": "yes"}]}).bind("", {})
    with MoveServer(["no", "still no", "yes"]) as server:
        policy = OpenAIPolicy("tiny", server.url, retries=0)
        first = policy.act("question", {"procmem": {"constraint": bound}})
        assert first == "yes" and policy.last_details[0] == {
            "constraint": "applied",
            "constraint_reason": "asked again",
            "tries": 3,
        }
    with MoveServer(["no"]) as server:
        policy = OpenAIPolicy("tiny", server.url, retries=0)
        assert policy.act("question", {"procmem": {"constraint": bound}}) == "no"
        assert policy.last_details[0]["constraint"] == "skipped"
        body = server.requests[-1][1]
        assert "is not allowed here" in json.dumps(body)


def test_served_model_scores_the_allowed_set_where_the_server_scores_text():
    from procmem_gym.agents.openai_policy import OpenAIPolicy

    class Both(MoveServer):
        def answer(self, path, body):
            if path.endswith("/chat/completions"):
                return super().answer(path, body)
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            choices = []
            for n, p in enumerate(prompts):
                toks = [p[:-6], p[-6:]] if len(p) > 6 else [p]
                lps = [None] + [-1.0 if "up" in t else -3.0 for t in toks[1:]]
                offsets = [0, len(toks[0])][: len(toks)]
                choices.append(
                    {"index": n, "text": p, "logprobs": {"tokens": toks, "token_logprobs": lps, "text_offset": offsets}}
                )
            return json_reply({"choices": choices})

    info = {"action_set": MOVES, "procmem": {"constraint": VERTICAL}}
    with Both(["[left]"]) as server:
        policy = OpenAIPolicy("tiny", server.url, retries=0)
        assert policy.act("room 0", info) in ("[up]", "[down]")
        assert policy.last_details[0]["constraint_fallback"] == "best scored"
    assert math.isfinite(1.0)
