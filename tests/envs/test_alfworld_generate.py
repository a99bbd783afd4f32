"""The ALFWorld game generator: new games on ALFWorld's domain, won by its expert, split as ALFRED splits scenes."""

from __future__ import annotations

import json
from collections import Counter

import gymnasium as gym
import pytest
from procmem_gym.envs.alfworld import SPLITS, TASK_TYPES
from procmem_gym.envs.alfworld.generate import (
    UNSEEN_OBJECTS,
    draw_game,
    generate_games,
    layout,
    problem_text,
)

pytest.importorskip("alfworld")

COUNTS = {"train": 6, "valid_seen": 6, "valid_unseen": 6}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    report = generate_games(root, COUNTS, seed=3, workers=2)
    return root, report


def test_every_split_gets_every_task_type_and_the_expert_wins_each_game_in_the_env(generated):
    root, report = generated
    assert report.by_split() == {s: {t: 1 for t in TASK_TYPES.values()} for s in SPLITS}
    for split in SPLITS:
        env = gym.make("procmem_gym/ALFWorld-v0", data_dir=str(root), split=split)
        for game in range(COUNTS[split]):
            obs, info = env.reset(seed=game)
            assert "Your task is to:" in obs
            done, steps = False, 0
            while not done:
                obs, reward, terminated, truncated, info = env.step(info["expert_action"])
                done, steps = terminated or truncated, steps + 1
            assert info["won"] and reward == 1.0, (split, game, info["gamefile"])
            assert steps <= 50
        env.close()


def test_generation_is_deterministic_whatever_the_number_of_processes(generated, tmp_path):
    root, _ = generated
    again = generate_games(tmp_path, {"valid_unseen": 3}, seed=3, workers=1)
    for game in again.games:
        for name in ("traj_data.json", "initial_state.pddl", "game.tw-pddl"):
            assert (tmp_path / game.folder / name).read_bytes() == (root / game.folder / name).read_bytes()


def test_another_seed_gives_other_games():
    a = [problem_text(draw_game("train", k, seed=0)) for k in range(6)]
    b = [problem_text(draw_game("train", k, seed=1)) for k in range(6)]
    assert all(x != y for x, y in zip(a, b, strict=True))


def test_valid_unseen_holds_out_room_layouts_and_object_classes():
    def drawn(split):
        return [draw_game(split, k, seed=0) for k in range(120)]

    seen = drawn("train") + drawn("valid_seen")
    unseen = drawn("valid_unseen")
    assert not {g.layout.plan for g in seen} & {g.layout.plan for g in unseen}
    seen_classes = {cls for g in seen for cls, _, _ in g.objects}
    unseen_classes = {cls for g in unseen for cls, _, _ in g.objects}
    assert not seen_classes & UNSEEN_OBJECTS
    assert UNSEEN_OBJECTS <= unseen_classes
    held_out_targets = sum(g.target in UNSEEN_OBJECTS for g in unseen)
    assert held_out_targets >= 30, held_out_targets  # held-out classes are also what the tasks ask for
    # rooms vary in size, and a floor plan is one room whatever the seed
    sizes = Counter(len(g.layout.receptacles) for g in seen)
    assert len(sizes) >= 8
    assert layout("Kitchen", 9) == layout("Kitchen", 9)
    other_seed = [draw_game("train", k, seed=9).layout for k in range(60)]
    by_plan = {room.plan: room for room in (g.layout for g in seen)}
    assert any(room.plan in by_plan for room in other_seed)
    assert all(by_plan[room.plan] == room for room in other_seed if room.plan in by_plan)


def test_no_goal_holds_at_the_start_and_closed_receptacles_start_closed():
    for k in range(60):
        game = draw_game("train", k, seed=5)
        homes = {name: cls for cls, name, _ in game.layout.receptacles}
        starts = [homes[home] for cls, _, home in game.objects if cls == game.target]
        assert game.parent not in starts, game.folder
        text = problem_text(game)
        assert "(opened " not in text
        if any(cls in ("Fridge", "Cabinet", "Drawer", "Microwave") for cls in homes.values()):
            assert "(openable " in text


def test_generating_into_a_folder_with_games_refuses(generated):
    root, _ = generated
    with pytest.raises(FileExistsError, match="already holds games"):
        generate_games(root, {"train": 1}, seed=3, workers=1)


def test_bad_counts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        generate_games(tmp_path, {"test": 1})
    with pytest.raises(ValueError, match=">= 0"):
        generate_games(tmp_path, {"train": -1})


def test_cli_generate_writes_games_and_a_report(tmp_path):
    from procmem_gym.cli.main import main

    out = tmp_path / "games"
    assert (
        main(
            [
                "alfworld",
                "generate",
                str(out),
                "--train",
                "2",
                "--valid-seen",
                "0",
                "--valid-unseen",
                "1",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    report = json.loads((out / "generated.json").read_text())
    assert len(report["games"]) == 3 and report["games_per_minute"] > 0
    assert len(list((out / "json_2.1.1").rglob("game.tw-pddl"))) == 3


def _play_all(game_files, parse_cache):
    env = gym.make("procmem_gym/ALFWorld-v0", game_files=[str(g) for g in game_files], parse_cache=parse_cache)
    seen = []
    for k, game in enumerate(game_files):
        obs, info = env.reset(seed=k, options={"game": str(game)})
        seen.append((obs, info["admissible_commands"], info["expert_action"]))
        plan = json.loads(game.read_text())["walkthrough"]
        for command in ["look", "go to nowhere", "inventory", *plan]:
            obs, reward, terminated, truncated, info = env.step(command)
            seen.append((obs, reward, info["admissible_commands"], info["expert_action"]))
            if terminated or truncated:
                break
    env.close()
    return seen


def test_the_parse_cache_leaves_every_observation_of_bundled_and_generated_games_as_it_was(generated, tmp_path):
    from procmem_gym.envs.alfworld import copy_sample_games, find_games, prepare_games

    root, _ = generated
    bundled = copy_sample_games(tmp_path / "bundled")
    prepare_games(bundled)
    games = [g for data in (bundled, root) for split in SPLITS for g in find_games(data, split)]
    assert len(games) == 18 + sum(COUNTS.values())
    plain = _play_all(games, parse_cache=False)
    cached = _play_all(games, parse_cache=True)
    assert len(plain) > 300
    assert cached == plain
