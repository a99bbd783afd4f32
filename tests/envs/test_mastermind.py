"""MastermindEnv: rules, feedback, rewards, invalid moves, seeding, rendering, checker."""

from __future__ import annotations

import random
import re
import string

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from procmem_gym.envs import MASTERMIND_VARIANTS
from procmem_gym.envs.mastermind import MastermindEnv, MastermindRules
from procmem_gym.envs.mastermind.rules import feedback

FEEDBACK_RE = re.compile(r"^Submitted \[([0-9 ]+)\]\. Feedback: (\d+) black peg\(s\), (\d+) white peg\(s\)\.")


def brute_force_pegs(guess, secret):
    """Independent oracle: match exact positions, then greedily pair the leftovers one by one."""
    secret_left = list(secret)
    guess_left = list(guess)
    black = 0
    for i in range(len(guess)):
        if guess[i] == secret[i]:
            black += 1
            secret_left[i] = guess_left[i] = None
    white = 0
    for g in guess_left:
        if g is not None and g in secret_left:
            secret_left[secret_left.index(g)] = None
            white += 1
    return black, white


def test_registered_ids_have_the_textarena_parameters():
    assert set(MASTERMIND_VARIANTS) == {
        "procmem_gym/Mastermind-v0",
        "procmem_gym/Mastermind-hard-v0",
        "procmem_gym/Mastermind-extreme-v0",
    }
    expected = {
        "procmem_gym/Mastermind-v0": (4, 6, 20, False),
        "procmem_gym/Mastermind-hard-v0": (4, 8, 30, False),
        "procmem_gym/Mastermind-extreme-v0": (6, 12, 50, True),
    }
    for env_id, params in expected.items():
        rules = gym.make(env_id).unwrapped.rules
        assert (rules.code_length, rules.num_digits, rules.max_turns, rules.allow_repeats) == params


def test_check_env_passes(mastermind_id):
    env = gym.make(mastermind_id, render_mode="ansi")
    check_env(env.unwrapped)


def test_spaces_are_text_and_contain_observations(mastermind_id):
    env = gym.make(mastermind_id)
    assert isinstance(env.observation_space, gym.spaces.Text)
    assert isinstance(env.action_space, gym.spaces.Text)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    rng = random.Random(0)
    rules = env.unwrapped.rules
    for _ in range(rules.max_turns + 5):
        guess = [rng.randint(1, rules.num_digits) for _ in range(rules.code_length)]
        obs, reward, terminated, truncated, info = env.step("[" + " ".join(map(str, guess)) + "]")
        assert env.observation_space.contains(obs), obs
        if terminated:
            break


def test_first_observation_states_the_rules():
    obs, info = gym.make("procmem_gym/Mastermind-hard-v0").reset(seed=1)
    assert obs.startswith("You are playing Mastermind.")
    assert "4 digits, each from 1 to 8" in obs and "30 guesses" in obs
    assert info["history"] == [] and info["turn"] == 0 and info["guesses_left"] == 30


def test_same_seed_same_secret_and_observations(mastermind_id):
    a, b = gym.make(mastermind_id), gym.make(mastermind_id)
    secrets = set()
    for seed in range(20):
        oa, _ = a.reset(seed=seed)
        ob, _ = b.reset(seed=seed)
        assert oa == ob and a.unwrapped.secret == b.unwrapped.secret
        for action in ["[1 2 3 4 5 6]", "[1 2 3 4]", "nonsense"]:
            assert a.step(action)[:4] == b.step(action)[:4]
            if a.unwrapped._done:
                break
        secrets.add(a.unwrapped.secret)
    assert len(secrets) > 15  # seeds actually change the game


def test_secret_is_a_valid_code(mastermind_id):
    env = gym.make(mastermind_id)
    rules = env.unwrapped.rules
    for seed in range(50):
        env.reset(seed=seed)
        secret = env.unwrapped.secret
        assert isinstance(secret, tuple) and all(type(d) is int for d in secret)
        assert len(secret) == rules.code_length and all(1 <= d <= rules.num_digits for d in secret)
        if not rules.allow_repeats:
            assert len(set(secret)) == len(secret)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_feedback_matches_brute_force(data):
    length = data.draw(st.integers(1, 8))
    digits = data.draw(st.integers(1, 12))
    code = st.lists(st.integers(1, digits), min_size=length, max_size=length)
    guess, secret = data.draw(code), data.draw(code)
    assert feedback(tuple(guess), tuple(secret)) == brute_force_pegs(guess, secret)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_env_reports_brute_force_pegs(data):
    length = data.draw(st.integers(1, 6))
    digits = data.draw(st.integers(length, 9))
    repeats = data.draw(st.booleans())
    env = MastermindEnv(code_length=length, num_digits=digits, allow_repeats=repeats)
    if repeats:
        code = st.lists(st.integers(1, digits), min_size=length, max_size=length)
    else:
        code = st.permutations(range(1, digits + 1)).map(lambda p: p[:length])
    secret, guess = data.draw(code), data.draw(code)
    env.reset(seed=0, options={"secret": secret})
    obs, reward, terminated, _, info = env.step("[" + " ".join(map(str, guess)) + "]")
    black, white = brute_force_pegs(list(guess), list(secret))
    if black == length:
        assert reward == 1.0 and terminated and info["success"]
    else:
        m = FEEDBACK_RE.match(obs)
        assert m is not None, obs
        assert (int(m.group(2)), int(m.group(3))) == (black, white)
        assert info["history"][-1] == {"guess": list(guess), "black": black, "white": white}


def test_win_gives_reward_one():
    env = gym.make("procmem_gym/Mastermind-v0")
    env.reset(seed=0, options={"secret": (3, 1, 4, 2)})
    obs, reward, terminated, truncated, info = env.step("my answer: [3 1 4 2]")
    assert (reward, terminated, truncated, info["success"]) == (1.0, True, False, True)
    assert "cracked the code in 1 guesses" in obs


def test_turn_limit_reward_is_completion_of_last_guess():
    env = MastermindEnv(max_turns=3)
    env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    assert env.step("[5 6 1 2]")[1] == 0.0
    assert env.step("[1 3 5 6]")[1] == 0.0
    obs, reward, terminated, truncated, info = env.step("[1 2 4 5]")  # 2 black, 1 white
    assert terminated and not truncated and not info["success"]
    assert reward == pytest.approx((2 + 0.5 * 1) / 4)
    assert "Out of guesses" in obs and "The code was [1 2 3 4]" in obs


def test_invalid_moves_cost_no_turn_and_two_in_a_row_end_the_game():
    env = MastermindEnv()
    env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    env.step("[1 2 4 3]")  # 2 black 2 white
    obs, reward, terminated, _, info = env.step("no idea")
    assert obs.startswith("Invalid move:") and not terminated and reward == 0.0
    assert info["turn"] == 1 and info["invalid_reason"]
    env.step("[5 6 1 2]")  # a valid move resets the count of invalid moves in a row
    env.step("[1 1 1 1]")
    obs, reward, terminated, _, info = env.step("[1 2 4 3]")  # repeated guess: second invalid in a row
    assert terminated and "Too many invalid moves" in obs
    assert reward == pytest.approx(0.5 * 2 / 4)  # the last valid guess [5 6 1 2] had 0 black, 2 white


def test_error_allowance_is_configurable():
    env = gym.make("procmem_gym/Mastermind-v0", error_allowance=5)
    env.reset(seed=0)
    for _ in range(5):
        assert not env.step("x")[2]
    assert env.step("x")[2]


@pytest.mark.parametrize(
    "action, reason",
    [
        ("", "square brackets"),
        ("1 2 3 4", "square brackets"),
        ("[1 2 3]", "exactly 4 numbers"),
        ("[1 2 3 4 5]", "exactly 4 numbers"),
        ("[0 1 2 3]", "between 1 and 6"),
        ("[7 1 2 3]", "between 1 and 6"),
        ("[99999999999999999999 1 2 3]", "between 1 and 6"),
        ("[1 1 2 3]", "duplicate"),
        ("[١ ٢ ٣ ٤]", "square brackets"),  # Arabic-Indic digits are not ASCII digits
        ("x" * 10_000_000, "too long"),
        (None, "must be a string"),
        (1234, "must be a string"),
    ],
)
def test_invalid_actions_give_the_reason(action, reason):
    env = MastermindEnv(error_allowance=10)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs.startswith("Invalid move:")
    assert reason in info["invalid_reason"] and reason.lower() in obs.lower()
    assert env.observation_space.contains(obs)


def test_repeated_guess_is_invalid():
    env = MastermindEnv()
    env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    env.step("[4 3 2 1]")
    obs, _, _, _, info = env.step("again [4, 3, 2, 1]")
    assert "already guessed [4 3 2 1]" in info["invalid_reason"] and info["turn"] == 1


def test_fuzz_random_strings_never_crash():
    rng = random.Random(1234)
    alphabet = string.printable + "[]" * 10 + "0123456789" * 5 + "éü中🙂١٢"
    env = gym.make("procmem_gym/Mastermind-v0")
    env.reset(seed=0)
    invalid = 0
    for i in range(10_000):
        kind = i % 4
        if kind == 0:
            action = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        elif kind == 1:
            action = "[" + " ".join(str(rng.randint(-3, 12)) for _ in range(rng.randint(0, 7))) + "]"
        elif kind == 2:
            action = "[" + ",".join(str(rng.randint(1, 6)) for _ in range(4)) + "]" + rng.choice(["", "]", "[", " x"])
        else:
            action = rng.choice(["", " ", "[", "]", "[]", "[ ]", "[1 2 3 4", "1 2 3 4]", "[[1 2 3 4]]"])
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        if info["invalid_reason"] is not None:
            invalid += 1
            assert "Invalid move:" in obs.splitlines()[0]
        else:
            assert obs.startswith("Submitted") or "cracked the code" in obs
        if terminated or truncated:
            env.reset(seed=i)
    assert invalid > 5000


def test_custom_variant_through_make():
    env = gym.make("procmem_gym/Mastermind-v0", code_length=3, num_digits=5, max_turns=7, allow_repeats=True)
    obs, info = env.reset(seed=0)
    assert "3 digits, each from 1 to 5, digits may repeat" in obs and "7 guesses" in obs
    obs, *_ = env.step("[1 1 1]")
    assert obs.startswith("Submitted [1 1 1]")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(code_length=0),
        dict(num_digits=3, code_length=4),
        dict(max_turns=0),
        dict(allow_repeats="yes"),
        dict(error_allowance=-1),
        dict(render_mode="human"),
    ],
)
def test_bad_parameters_raise(kwargs):
    with pytest.raises(ValueError):
        MastermindEnv(**kwargs)


def test_render_ansi_shows_board_and_hides_secret_until_done():
    env = gym.make("procmem_gym/Mastermind-v0", render_mode="ansi")
    env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    env.step("[1 2 4 3]")
    board = env.render()
    assert "[1 2 4 3]" in board and "code: [? ? ? ?]" in board
    env.step("[1 2 3 4]")
    assert "code: [1 2 3 4]" in env.render()


def test_step_after_the_end_raises():
    env = MastermindEnv()
    env.reset(seed=0, options={"secret": (1, 2, 3, 4)})
    env.step("[1 2 3 4]")
    with pytest.raises(RuntimeError, match="reset"):
        env.step("[1 2 3 4]")


def test_rules_codes_count():
    assert len(MastermindRules(4, 6).codes()) == 360 == MastermindRules(4, 6).num_codes
    assert MastermindRules(6, 12, 50, True).num_codes == 2_985_984
    codes = MastermindRules(3, 4, allow_repeats=True).codes()
    assert codes.shape == (64, 3) and len(np.unique(codes, axis=0)) == 64
