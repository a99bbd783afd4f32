"""HFPolicy with a tiny random Llama built offline: prompts, batching, constraints, log-probabilities."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from procmem_gym.agents.guess_grammar import guess_prefix  # noqa: E402
from procmem_gym.agents.hf_policy import HFPolicy, ModelNotFoundError  # noqa: E402
from procmem_gym.agents.prompts import TEMPLATES, build_messages, parse_action  # noqa: E402


@pytest.fixture()
def policy(tiny_model_dir):
    return HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/Mastermind-v0", batch_size=4)


def test_prompt_carries_system_guidance_and_observation(policy):
    info = {"procmem": {"active_skill": "sk-1", "skill_name": "swap two", "guidance": "Swap the last two digits."}}
    prompt = policy.prompt("Submitted [1 2 3 4]. Feedback: 2 black peg(s), 2 white peg(s).", info)
    assert prompt.startswith("<|im_start|>system\nYou play Mastermind")
    assert "Procedure from memory (swap two): Swap the last two digits." in prompt
    assert prompt.index("Procedure from memory") < prompt.index("Observation:\nSubmitted [1 2 3 4]")
    assert prompt.endswith("<|im_start|>assistant\n")
    plain = policy.prompt("obs", {})
    assert "Procedure from memory" not in plain


def test_history_is_kept_per_slot_and_reset():
    template = TEMPLATES["alfworld"]
    messages = build_messages(
        template,
        "you see a fridge",
        {"admissible_commands": ["open fridge 1", "look"]},
        history=[("you are in a kitchen", "go to fridge 1")],
    )
    text = messages[1]["content"]
    assert "Your action: go to fridge 1" in text and "Admissible commands: open fridge 1, look" in text


def test_the_task_stays_in_the_prompt_after_the_first_observation():
    template = TEMPLATES["alfworld"]
    history = [(f"observation {k}", "look") for k in range(10)]
    info = {"goal": "put a hot egg in diningtable", "admissible_commands": ["look"]}
    text = build_messages(template, "You arrive at fridge 1.", info, history=history)[1]["content"]
    assert text.startswith("Your task: put a hot egg in diningtable")
    assert "observation 2" not in text  # the history window is 4 steps; the task is not part of it


def test_batched_generation_equals_unbatched(policy):
    prompts = [policy.prompt(f"observation number {n} " + "x " * (n * 7), {}) for n in range(6)]
    batched = policy.generate(prompts, max_new_tokens=12)
    single = [policy.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert batched == single
    assert policy.model_calls == 12 and policy.generated_tokens > 0


def test_logprob_equals_hand_computation(policy):
    tok = policy.tokenizer
    prompt, cont = policy.prompt("go to countertop 1", {}), "take apple 1 from countertop 1"
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tok(cont, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = policy.model(input_ids=torch.tensor([p_ids + c_ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    expected = [float(logp[len(p_ids) - 1 + k, c]) for k, c in enumerate(c_ids)]
    # batched with other pairs of other lengths (right padding must not change anything)
    got = policy.logprob_tokens([prompt, "short", prompt], [cont, "x", "open fridge 1"])
    assert np.allclose(got[0], expected, atol=1e-4)
    assert policy.logprob([prompt], [cont])[0] == pytest.approx(sum(expected), abs=1e-3)


def test_constrained_choice_returns_an_admissible_command(policy):
    commands = ["go to countertop 1", "open fridge 1", "take apple 1 from countertop 1", "look"]
    infos = [{"admissible_commands": commands[: k + 1]} for k in range(4)]
    actions = policy.act_batch(["you are in a kitchen"] * 4, infos)
    assert all(a in info["admissible_commands"] for a, info in zip(actions, infos, strict=False))
    # the choice is the best length-normalised log-likelihood
    prompt = policy.prompt("you are in a kitchen", {"admissible_commands": commands})
    scores = [t.mean() for t in policy.logprob_tokens([prompt] * 4, commands)]
    policy.reset()
    assert policy.act("you are in a kitchen", {"admissible_commands": commands}) == commands[int(np.argmax(scores))]


@pytest.mark.parametrize("env_id", ["procmem_gym/Mastermind-v0", "procmem_gym/Mastermind-extreme-v0"])
def test_constrained_mastermind_guesses_are_always_valid(tiny_model_dir, env_id):
    policy = HFPolicy.from_pretrained(tiny_model_dir, env_id=env_id, batch_size=4, max_new_tokens=40)
    env = gym.make(env_id, max_turns=6)
    for seed in range(2):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            action = policy.act(obs, info)
            obs, _, done, _, info = env.step(action)
            assert info["invalid_reason"] is None, action


def test_unconstrained_answers_go_to_the_env_as_they_are(tiny_model_dir):
    policy = HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/Mastermind-v0", constrain=False)
    env = gym.make("procmem_gym/Mastermind-v0")
    obs, info = env.reset(seed=0)
    action = policy.act(obs, info)
    obs, *_ = env.step(action)  # a random model writes nonsense: the env reports the invalid move
    assert obs.startswith(("Invalid move:", "Submitted"))


def test_grammar_prefixes():
    assert guess_prefix("[1 2", 4, 6, False) == "prefix"
    assert guess_prefix("[1 2 3 4]", 4, 6, False) == "complete"
    assert guess_prefix("[1 1", 4, 6, False) is None
    assert guess_prefix("[1 2 3 4]", 4, 6, False, frozenset({(1, 2, 3, 4)})) is None
    tried = frozenset({(1, 2, 3, n) for n in (4, 5, 6)})
    assert guess_prefix("[1 2 3", 4, 6, False, tried) is None  # a dead end: every completion was tried
    assert guess_prefix("[1 2 4", 4, 6, False, tried) == "prefix"
    assert guess_prefix("[1", 6, 12, True) == "prefix" and guess_prefix("[13", 6, 12, True) is None


def test_parse_action():
    mm, alf = TEMPLATES["mastermind"], TEMPLATES["alfworld"]
    assert parse_action("I think [1 2 3 4] is good", mm) == "[1 2 3 4]"
    assert parse_action("no idea", mm) == "no idea"
    assert parse_action("Thought: hmm\nAction: open fridge 1", alf) == "open fridge 1"
    assert parse_action("\n go to desk 1.\nmore", alf) == "go to desk 1"


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nothing is downloaded"):
        HFPolicy.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError):
        HFPolicy.from_pretrained(tmp_path / "model.gguf")


def test_bfloat16_weights_still_give_valid_guesses(tiny_model_dir):
    policy = HFPolicy.from_pretrained(tiny_model_dir, env_id="procmem_gym/Mastermind-v0", dtype="bfloat16")
    assert next(policy.model.parameters()).dtype == torch.bfloat16
    env = gym.make("procmem_gym/Mastermind-v0")
    obs, info = env.reset(seed=0)
    obs, _, _, _, info = env.step(policy.act(obs, info))
    assert info["invalid_reason"] is None
    assert np.isfinite(policy.logprob(["a prompt"], [" more"])[0])
    with pytest.raises(ValueError, match="dtype"):
        HFPolicy.from_pretrained(tiny_model_dir, dtype="int3")


def test_greedy_command_choices_do_not_repeat_a_command_in_the_same_state(tiny_model_dir):
    commands = ["go to desk 1", "go to bed 1", "go to shelf 1", "look"]
    info = {"goal": "find the book", "admissible_commands": commands}
    load = HFPolicy.from_pretrained
    avoid = load(tiny_model_dir, env_id="procmem_gym/ALFWorld-v0")
    allow = load(tiny_model_dir, env_id="procmem_gym/ALFWorld-v0", avoid_repeats=False)
    assert avoid.avoid_repeats and not allow.avoid_repeats
    picks = []
    for k in range(len(commands)):
        picks.append(avoid.act("You arrive at bed 1.", info))
        assert avoid.last_details[0].get("repeats_skipped", 0) == k
    assert sorted(picks) == sorted(commands)  # a new command each time the state comes back
    assert allow.act("You arrive at bed 1.", info) == picks[0]
    # every command taken: nothing is left out (the choice is the model's again)
    assert avoid.act("You arrive at bed 1.", info) in commands
    assert "repeats_skipped" not in avoid.last_details[0]
    # another state, another slot, or a new episode is not filtered
    assert "repeats_skipped" not in (avoid.act("You arrive at desk 1.", info), avoid.last_details[0])[1]
    avoid.act_batch(["You arrive at bed 1."] * 2, [info] * 2, slots=[0, 1])
    assert "repeats_skipped" not in avoid.last_details[1]  # slot 1 never was in this state
    avoid.reset(index=0)
    assert avoid.act("You arrive at bed 1.", info) == picks[0]
    # sampling keeps its own probabilities: never filtered
    sampler = load(tiny_model_dir, env_id="procmem_gym/ALFWorld-v0", temperature=1.0)
    for _ in range(3):
        sampler.act("You arrive at bed 1.", info)
        assert "repeats_skipped" not in sampler.last_details[0]
