"""Action sets: a skill's constraint binds on any env and every policy, with exact gate numbers where enumerable."""

from __future__ import annotations

import json
import math
import random

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from procmem_gym.agents import RandomPolicy
from procmem_gym.envs.actions import Choices, FreeText, MoveGrammar, action_set_of, constrain, space_choices

from procmem_gym import ProceduralMemory, ProceduralMemoryWrapper, Skill
from procmem_gym.rollouts.runner import run_episodes
from procmem_gym.rollouts.transitions import Transition, read_log
from procmem_gym.skills.constraint import Constraint

MOVES = ["[up]", "[down]", "[left]", "[right]"]
ONLY_VERTICAL = Constraint.from_dict({"all": [{"matches": r"\[(up|down)\]"}]})
SMALL_NUMBERS = Constraint.from_dict({"all": [{"matches": r"[0-2]"}]})


class DiscreteToy(gym.Env):
    """A toy env no module of procmem-gym knows: six moves, ten steps."""

    observation_space = spaces.Text(64)
    action_space = spaces.Discrete(6)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return "room 0", {}

    def step(self, action):
        assert self.action_space.contains(action), action
        self.t += 1
        return f"room {self.t}", float(action == 1), self.t >= 10, False, {}


class TextToy(DiscreteToy):
    """The same with text moves it declares in info (a Text space with a small vocabulary)."""

    action_space = spaces.Text(16, charset="[]updownleftrigh")

    def reset(self, *, seed=None, options=None):
        obs, _ = super().reset(seed=seed)
        return obs, {"action_set": MOVES}

    def step(self, action):
        assert action in MOVES, action
        self.t += 1
        return f"room {self.t}", float(action == "[up]"), self.t >= 10, False, {"action_set": MOVES}


def memory_with(constraint: Constraint) -> ProceduralMemory:
    memory = ProceduralMemory(embedder="hashing")
    memory.add(
        Skill.from_dict(
            {
                "name": "stay in line",
                "activation": {"text": "in a room", "patterns": [r"^room \d+"]},
                "execution": {"guidance": "", "constraint": constraint.to_dict()},
                "termination": {"text": "next step", "max_steps": 1},
            }
        )
    )
    return memory


@pytest.mark.parametrize(
    ("toy", "constraint", "allowed"),
    [(DiscreteToy, SMALL_NUMBERS, {0, 1, 2}), (TextToy, ONLY_VERTICAL, {"[up]", "[down]"})],
)
def test_a_constraint_binds_on_an_env_no_module_knows(toy, constraint, allowed, tmp_path):
    env = ProceduralMemoryWrapper(toy(), memory_with(constraint), mode="guide", log_path=tmp_path / "t.jsonl")
    policy = RandomPolicy(seed=0, action_space=env.action_space)
    run_episodes(env, policy, range(100), seed=0)  # 1,000 steps
    env.close()
    steps = [r for r in read_log(tmp_path / "t.jsonl") if isinstance(r, Transition)]
    assert len(steps) == 1000
    taken = {int(s.action) if toy is DiscreteToy else s.action for s in steps}
    assert taken == allowed  # every allowed action drawn, nothing else
    for s in steps:
        assert s.info["constraint"] == "applied" and s.info["allowed"] == len(allowed)
        assert s.info["behaviour_logprob"] == pytest.approx(-math.log(len(allowed)))


def test_action_sets_are_read_in_one_order():
    assert action_set_of({"admissible_commands": ["a"], "action_set": ["b"]}).options() == ["a"]
    assert action_set_of({"action_set": ["b"]}, spaces.Discrete(3)).options() == ["b"]
    assert action_set_of({}, spaces.Discrete(3)).options() == ["0", "1", "2"]
    assert isinstance(action_set_of({}, spaces.Text(5)), FreeText)
    assert action_set_of({}, spaces.MultiDiscrete([2, 3])).options()[:3] == ["0 0", "0 1", "0 2"]
    assert space_choices(spaces.Discrete(10**6)) is None  # too many to enumerate


def test_a_constraint_that_cannot_bind_says_why():
    unbound = Constraint.from_dict({"all": [{"matches": "{missing}"}]}).bind("", {})
    assert constrain(Choices(tuple(MOVES)), unbound).detail() == {
        "constraint": "skipped",
        "constraint_reason": "unbound",
    }
    none = Constraint.from_dict({"all": [{"matches": "nothing"}]}).bind("", {})
    assert constrain(Choices(tuple(MOVES)), none).reason == "nothing allowed"
    assert constrain(FreeText(), none).reason == "not enumerable"


@pytest.mark.parametrize("kind", ["choices", "grammar", "space"])
def test_random_gate_numbers_are_exact_and_excluded_actions_get_ratio_zero(kind):
    info = {
        "choices": {"action_set": MOVES},
        "grammar": {"action_set": MoveGrammar(r"\[\w+\]", tuple(MOVES))},
        "space": {},
    }[kind]
    space = spaces.Discrete(4)
    bound = (SMALL_NUMBERS if kind == "space" else ONLY_VERTICAL).bind("", {})
    policy = RandomPolicy(seed=1, action_space=space)
    options = action_set_of(info, space).options()
    draws = []
    for _ in range(1000):
        action = policy.act("room 0", {**info, "procmem": {"constraint": bound}})
        draws.append((str(action), policy.last_details[0]["behaviour_logprob"]))
    assert {a for a, _ in draws} == {o for o in options if bound.allows(o)}
    table = policy.action_logprobs(["room 0"] * 4, [info] * 4, options, [[None, bound]] * 4)
    for k, option in enumerate(options):
        assert table[k, 0] == pytest.approx(-math.log(len(options)))
        if bound.allows(option):
            logged = next(lp for a, lp in draws if a == option)
            assert table[k, 1] == pytest.approx(logged, abs=1e-4)
        else:
            assert np.exp(table[k, 1] - table[k, 0]) == 0.0  # the gate's ratio for an excluded action


def test_random_gate_numbers_on_mastermind_guesses():
    from procmem_gym.envs.mastermind.rules import feedback

    env = gym.make("procmem_gym/Mastermind-v0")
    obs, info = env.reset(seed=3)
    obs, _, _, _, info = env.step("[1 2 3 4]")
    black, white = feedback((1, 2, 3, 4), env.unwrapped.secret)
    same = Constraint.from_dict({"all": [{"count": "same_position", "with": "{g}", "op": "==", "value": "{b}"}]}).bind(
        obs, {"g": "[1 2 3 4]", "b": str(black)}
    )
    policy = RandomPolicy(seed=0)
    action = policy.act(obs, {**info, "procmem": {"constraint": same}})
    logged = policy.last_details[0]["behaviour_logprob"]
    table = policy.action_logprobs([obs], [info], [action], [[None, same]])
    assert table[0, 1] == pytest.approx(logged) and table[0, 0] == pytest.approx(-math.log(360 - 1))


def test_textarena_games_run_with_their_move_grammar_and_leave_random_alone():
    pytest.importorskip("textarena")
    from gymnasium.utils.env_checker import check_env

    for game in ["GuessTheNumber-v0", "TowerOfHanoi-v0", "FrozenLake-v0", "LightsOut-v0", "Minesweeper-v0-small"]:
        env = gym.make(f"textarena/{game}")
        random.seed(12345)
        state = random.getstate()
        obs, info = env.reset(seed=4)
        moves = info["action_set"].options()
        assert moves and all(info["action_set"].contains(m) for m in moves)
        obs, reward, term, trunc, info = env.step(moves[0])
        assert random.getstate() == state  # TextArena reseeds random; the env keeps its state apart
        again, _ = env.reset(seed=4)
        assert again == env.reset(seed=4)[0]
        check_env(env.unwrapped, skip_render_check=True)
        env.close()


def test_a_textarena_game_that_needs_missing_data_fails_at_make_with_one_line():
    pytest.importorskip("textarena")
    nltk = pytest.importorskip("nltk")
    try:
        nltk.data.find("corpora/words")
        pytest.skip("the NLTK words corpus is installed here")
    except LookupError:
        pass
    from procmem_gym.envs.textarena import TextArenaDataError

    with pytest.raises(TextArenaDataError, match="corpora/words") as err:
        gym.make("textarena/Wordle-v0")
    assert "\n" not in str(err.value)


def test_run_on_a_textarena_game_with_a_constraint_memory(tmp_path):
    pytest.importorskip("textarena")
    from procmem_gym.cli.main import main

    memory = ProceduralMemory(embedder="hashing")
    memory.add(
        Skill.from_dict(
            {
                "name": "guess low",
                "activation": {"text": "guessing", "patterns": [r"Guess The Number"]},
                "execution": {"guidance": "", "constraint": {"all": [{"matches": r"\[[1-5]\]"}]}},
                "termination": {"text": "next step", "max_steps": 1},
            }
        )
    )
    memory.save(tmp_path / "m.json")
    argv = ["run", "--env", "textarena/GuessTheNumber-v0", "--agent", "random", "--episodes", "8", "--num-envs", "2"]
    assert main([*argv, "--memory", str(tmp_path / "m.json"), "--out", str(tmp_path / "run")]) == 0
    lines = [json.loads(x) for x in (tmp_path / "run" / "transitions.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "action" in x]
    assert steps and all(x["action"] in {f"[{n}]" for n in range(1, 6)} for x in steps if x["skill"])


def test_random_free_text_draws_until_the_constraint_allows():
    space = spaces.Text(3, min_length=1, charset="ab")
    bound = Constraint.from_dict({"all": [{"matches": "a.*"}]}).bind("", {})
    policy = RandomPolicy(seed=0, action_space=space)
    space.seed(0)
    drawn = [policy.act("free", {"procmem": {"constraint": bound}}) for _ in range(1000)]
    assert all(a.startswith("a") for a in drawn)
    assert {d["constraint_reason"] for d in [policy.last_details[0]]} == {"rejection"}
    never = Constraint.from_dict({"all": [{"matches": "c"}]}).bind("", {})
    policy.act("free", {"procmem": {"constraint": never}})
    assert policy.last_details[0]["constraint"] == "skipped"
