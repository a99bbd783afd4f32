"""procmem_gym/ALFWorld-v0 on ALFWorld's real engine, played on the bundled sample games."""

from __future__ import annotations

import json
import random
import shutil

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from procmem_gym.envs.alfworld import (
    GAME_FILE,
    SPLITS,
    TASK_TYPES,
    ALFWorldDataError,
    ALFWorldEnv,
    bundled_games_dir,
    copy_sample_games,
    find_games,
    prepare_games,
)
from procmem_gym.envs.alfworld.engine import make_engine, private_random

ENV_ID = "procmem_gym/ALFWorld-v0"


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory):
    """The bundled games, prepared once, laid out as the official download ($ALFWORLD_DATA/json_2.1.1/<split>/...)."""
    root = copy_sample_games(tmp_path_factory.mktemp("alfworld-data"))
    report = prepare_games(root)
    assert report.count("solvable") == 18, report.to_dict()
    return root


def play_expert(env, seed):
    obs, info = env.reset(seed=seed)
    steps, reward, done = 0, 0.0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        steps += 1
        done = terminated or truncated
    return reward, steps, info


def test_bundled_games_cover_every_task_type_in_every_split():
    for split in SPLITS:
        folders = sorted((bundled_games_dir() / "json_2.1.1" / split).glob("*/*"))
        types = [json.loads((f / "traj_data.json").read_text())["task_type"] for f in folders]
        assert sorted(types) == sorted(TASK_TYPES.values()), split
        assert all((f / "initial_state.pddl").exists() for f in folders)


def test_valid_unseen_uses_rooms_not_in_train():
    def scenes(split):
        return {
            json.loads(p.read_text())["scene"]["scene_num"]
            for p in (bundled_games_dir() / "json_2.1.1" / split).rglob("traj_data.json")
        }

    assert not scenes("valid_unseen") & scenes("train")
    assert scenes("valid_seen") <= scenes("train")


def test_check_env_passes(sample_data):
    env = gym.make(ENV_ID, data_dir=sample_data, split="train").unwrapped
    check_env(env)
    env.close()


@pytest.mark.parametrize("split", SPLITS)
def test_expert_solves_every_bundled_game_within_50_steps(sample_data, split):
    env = gym.make(ENV_ID, data_dir=sample_data, split=split)
    n = len(env.unwrapped.game_files)
    assert n == 6
    played = set()
    for seed in range(n):
        reward, steps, info = play_expert(env, seed)
        assert reward == 1.0 and info["won"], info["gamefile"]
        assert steps <= 50
        played.add(info["gamefile"])
    assert len(played) == n  # seeds 0..n-1 play every game once
    env.close()


def test_first_observation_states_the_task_and_info_carries_the_game(sample_data):
    env = gym.make(ENV_ID, data_dir=sample_data, split="valid_unseen", task_types=["heat"])
    obs, info = env.reset(seed=0)
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert "Your task is to: " + info["goal"] in obs
    assert "bread" in info["goal"]
    assert info["task_type"] == "pick_heat_then_place_in_recep"
    assert info["expert_action"] == "look"
    assert "look" in info["admissible_commands"] and "inventory" in info["admissible_commands"]
    assert info["gamefile"].endswith(GAME_FILE) and "valid_unseen" in info["gamefile"]
    assert info["won"] is False


def test_invalid_commands_get_nothing_happens(sample_data):
    env = gym.make(ENV_ID, data_dir=sample_data, split="train")
    obs, info = env.reset(seed=1)
    for action in ["fly to the moon", "", "put apple 1 in/on fridge 1", "x" * 5_000_000, None, 42]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs == "Nothing happens."
        assert reward == 0.0 and not terminated
        assert info["invalid_reason"]
    # case and spacing are forgiven, as a model writes them
    obs, _, _, _, info = env.step("Go to   Fridge 1")
    assert obs.startswith("You arrive at fridge 1.")
    assert "invalid_reason" not in info


def test_truncates_after_max_steps(sample_data):
    env = gym.make(ENV_ID, data_dir=sample_data, split="train", max_steps=3)
    env.reset(seed=0)
    flags = [env.step("look")[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    with pytest.raises(RuntimeError, match="reset"):
        env.step("look")


def trajectory(env, seed, steps=25):
    rng = random.Random(seed)
    obs, info = env.reset(seed=seed)
    out = [obs, info["gamefile"], info["expert_action"]]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(rng.choice(info["admissible_commands"]))
        out += [obs, info["expert_action"], reward]
        if terminated or truncated:
            break
    return out


def test_same_seed_same_game_same_observations(sample_data):
    a = gym.make(ENV_ID, data_dir=sample_data, split="train")
    b = gym.make(ENV_ID, data_dir=sample_data, split="train")
    random.seed(123)
    before = random.getstate()
    for seed in (0, 4, 5):
        assert trajectory(a, seed) == trajectory(b, seed)
    # the expert draws from its own generator: the caller's global random state is untouched
    assert random.getstate() == before
    # and a different seed plays a different game
    assert trajectory(a, 0)[1] != trajectory(a, 1)[1]


def test_options_choose_the_game(sample_data):
    env = gym.make(ENV_ID, data_dir=sample_data, split="valid_seen")
    games = env.unwrapped.game_files
    _, info = env.reset(options={"game": 2})
    assert info["gamefile"] == str(games[2])
    _, info = env.reset(options={"game": str(games[4])})
    assert info["gamefile"] == str(games[4])
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"game": 99})


def test_official_layout_via_alfworld_data_one_episode_per_split(sample_data, tmp_path, monkeypatch):
    data = tmp_path / "alfworld"
    shutil.copytree(sample_data, data)
    monkeypatch.setenv("ALFWORLD_DATA", str(data))
    for split in SPLITS:
        env = gym.make(ENV_ID, split=split)  # data_dir defaults to $ALFWORLD_DATA
        reward, steps, info = play_expert(env, seed=0)
        assert reward == 1.0
        assert info["gamefile"].startswith(str(data / "json_2.1.1" / split))
        env.close()


def test_task_types_filter(sample_data):
    games = find_games(sample_data, "train", task_types=[1, "cool"])
    assert [g.parent.parent.name.split("-")[0] for g in games] == [
        "pick_and_place_simple",
        "pick_cool_then_place_in_recep",
    ]
    with pytest.raises(ValueError, match="unknown task type"):
        find_games(sample_data, "train", task_types=["juggle"])


def test_missing_data_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    with pytest.raises(ALFWorldDataError, match="alfworld-download.*ALFWORLD_DATA"):
        gym.make(ENV_ID)
    with pytest.raises(ALFWorldDataError, match="alfworld-download"):
        gym.make(ENV_ID, data_dir=tmp_path / "nowhere")
    (tmp_path / "json_2.1.1" / "train").mkdir(parents=True)
    with pytest.raises(ALFWorldDataError, match="no valid_seen split"):
        gym.make(ENV_ID, data_dir=tmp_path, split="valid_seen")
    with pytest.raises(ALFWorldDataError, match="holds no games"):
        gym.make(ENV_ID, data_dir=tmp_path, split="train")


def test_unprepared_games_say_to_run_prepare(tmp_path):
    copy_sample_games(tmp_path)
    with pytest.raises(ALFWorldDataError, match="procmem-gym alfworld prepare"):
        gym.make(ENV_ID, data_dir=tmp_path, split="train")


def test_game_files_argument(sample_data):
    games = find_games(sample_data, "valid_unseen")[:2]
    env = gym.make(ENV_ID, game_files=[str(g) for g in games])
    _, info = env.reset(seed=1)
    assert info["gamefile"] == str(games[1])
    with pytest.raises(ALFWorldDataError, match="not found"):
        gym.make(ENV_ID, game_files=[str(sample_data / "missing.tw-pddl")])


def _pick_two_game(sample_data):
    return find_games(sample_data, "train", task_types=["pick_two"])[0]


@pytest.mark.parametrize("upstream", [True, False])
def test_expert_tracks_the_move_command(sample_data, upstream):
    """ALFWorld 0.4's expert misses that ``move`` empties its hands; ours does not (see engine.py)."""
    engine = make_engine(expert=True, upstream_expert=upstream)
    state = [random.Random(0).getstate()]
    with private_random(state):
        engine.load(str(_pick_two_game(sample_data)))
        game_state = engine.reset()
        command = ""
        while not command.startswith("move "):
            command = game_state["extra.expert_plan"][0]
            game_state, _, _ = engine.step(command)
    assert game_state["feedback"].startswith("You move the cd")
    held = engine._handcoded_expert.policy.inventory
    assert held == ([command.split()[1] + " " + command.split()[2]] if upstream else [])
    engine.close()


def test_render_ansi(sample_data):
    env = ALFWorldEnv(data_dir=sample_data, split="train", render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs
    env.step("look")
    assert env.render().startswith("> look\n")


def test_an_expert_that_fails_in_a_state_does_not_end_the_players_game(sample_data, monkeypatch):
    """ALFWorld's hand-coded expert raises on some states other agents reach (an empty random.choice).

    Seen on a generated pick-two game after another agent moved a distractor: the run died. Now
    the step goes on, and the expert's answer is "look", as when it has no admissible command.
    """
    from procmem_gym.envs.alfworld.engine import expert_classes

    agent, _ = expert_classes()
    env = gym.make("procmem_gym/ALFWorld-v0", data_dir=sample_data, split="valid_seen", max_steps=5)
    obs, info = env.reset(seed=0)
    first = info["expert_action"]

    def fails(self, *args, **kwargs):
        raise IndexError("Cannot choose from an empty sequence")

    monkeypatch.setattr(agent, "act", fails)
    obs, reward, terminated, truncated, info = env.step(first)
    assert info["expert_action"] == "look" and not terminated
    monkeypatch.undo()
    obs, *_, info = env.step(info["admissible_commands"][0])
    assert info["expert_action"] in info["admissible_commands"]
    env.close()
