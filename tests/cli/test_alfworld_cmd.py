"""`procmem-gym alfworld prepare|info` and expert runs on ALFWorld: the steps alfworld-generate performs."""

from __future__ import annotations

import json
import shutil

import pytest
from procmem_gym.envs.alfworld import GAME_FILE, bundled_games_dir, copy_sample_games, prepare_games

from procmem_gym.cli.main import main
from procmem_gym.rollouts.transitions import EpisodeRecord, Transition, read_log


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("alf")
    assert main(["alfworld", "prepare", str(root), "--sample"]) == 0
    return root


def run_expert(prepared, out, episodes, *extra):
    """``procmem-gym run`` with the expert on the prepared games; return the exit status."""
    args = ["run", "--env", "procmem_gym/ALFWorld-v0", "--agent", "expert", "--episodes", str(episodes)]
    return main([*args, "--env-kwarg", f"data_dir={prepared}", "--out", str(out), *extra])


def test_prepare_writes_solvable_games_with_walkthroughs(prepared):
    games = sorted(prepared.rglob(GAME_FILE))
    assert len(games) == 18
    for game in games:
        data = json.loads(game.read_text())
        assert data["solvable"] is True
        assert 1 <= len(data["walkthrough"]) <= 50
        assert "UNKNOWN GOAL" not in data["grammar"]
        assert data["pddl_problem"] == (game.parent / "initial_state.pddl").read_text()
        assert "(:action GotoLocation" in data["pddl_domain"]
    # the package's own sources are only read
    assert not list(bundled_games_dir().rglob(GAME_FILE))


def test_prepare_is_deterministic_and_keeps_prepared_games(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(bundled_games_dir() / "json_2.1.1" / "valid_seen", src / "json_2.1.1" / "valid_seen")
    a = prepare_games(src, tmp_path / "a")
    b = prepare_games(src, tmp_path / "b")
    assert a.count("solvable") == b.count("solvable") == 6
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob(GAME_FILE))
    assert len(files) == 6
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert not list(src.rglob(GAME_FILE))  # --out leaves the sources alone
    again = prepare_games(src, tmp_path / "a")
    assert again.count("kept") == 6 and again.count("solvable") == 0
    # a game whose preparation was interrupted (written, not yet checked) is prepared again
    half = tmp_path / "a" / files[0]
    data = json.loads(half.read_text())
    half.write_text(json.dumps({**data, "solvable": None, "walkthrough": None}))
    resumed = prepare_games(src, tmp_path / "a")
    assert resumed.count("kept") == 5 and resumed.count("solvable") == 1
    assert half.read_bytes() == (tmp_path / "b" / files[0]).read_bytes()
    forced = prepare_games(src, tmp_path / "a", force=True, seed=1)
    assert forced.count("solvable") == 6


def test_unsolvable_and_broken_games_are_reported(tmp_path, capsys):
    copy_sample_games(tmp_path)
    train = tmp_path / "json_2.1.1" / "train"
    simple = next(train.glob("pick_and_place_simple-*/*"))
    # the goal asks for a fridge that the room does not have: the expert cannot win
    pddl = simple / "initial_state.pddl"
    pddl.write_text(pddl.read_text().replace("(receptacleType ?r FridgeType)", "(receptacleType ?r SafeType)"))
    broken = next(train.glob("pick_heat_*/*"))
    (broken / "traj_data.json").write_text("{not json")
    for split in ("valid_seen", "valid_unseen"):
        shutil.rmtree(tmp_path / "json_2.1.1" / split)
    code = main(["alfworld", "prepare", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().out
    assert "unsolvable" in err and "skipped" in err
    assert json.loads((simple / GAME_FILE).read_text())["solvable"] is False
    assert not (broken / GAME_FILE).exists()
    others = [g for g in train.rglob(GAME_FILE) if g.parent not in (simple,)]
    assert len(others) == 4 and all(json.loads(g.read_text())["solvable"] for g in others)


def test_info_counts_games(prepared, capsys):
    assert main(["alfworld", "info", str(prepared)]) == 0
    out = capsys.readouterr().out
    assert "valid_unseen" in out and "pick2" in out


def test_expert_run_writes_trajectories_ready_for_memory_building(prepared, tmp_path):
    out = tmp_path / "run"
    code = run_expert(prepared, out, 6, "--env-kwarg", "split=valid_unseen")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == 1.0 and summary["episodes"] == 6
    records = list(read_log(out / "transitions.jsonl"))
    steps = [r for r in records if isinstance(r, Transition)]
    episodes = [r for r in records if isinstance(r, EpisodeRecord)]
    assert len(episodes) == 6 and all(e.success for e in episodes)
    assert steps[0].observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert steps[0].action == "look"
    for prev, cur in zip(steps, steps[1:], strict=False):  # every expert command was admissible where it was played
        if prev.episode == cur.episode:
            assert cur.action in prev.info["admissible_commands"]
    config = json.loads((out / "config.json").read_text())
    assert config["env_kwargs"] == {"data_dir": str(prepared), "split": "valid_unseen"}
    memory = tmp_path / "memory.json"
    assert (
        main(
            [
                "build",
                "--trajectories",
                str(out / "transitions.jsonl"),
                "--strategy",
                "trajectory",
                "--memory",
                str(memory),
                "--env",
                "procmem_gym/ALFWorld-v0",
                "--agent",
                "expert",
            ]
        )
        == 0
    )
    skills = json.loads(memory.read_text())["skills"]
    assert len(skills) == 6  # one workflow per successful trajectory


def test_expert_agent_refuses_other_envs(tmp_path, capsys):
    assert main(["run", "--env", "procmem_gym/Mastermind-v0", "--agent", "expert", "--out", str(tmp_path / "m")]) == 1
    assert "ALFWorld" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_run_without_data_fails_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    assert main(["run", "--env", "procmem_gym/ALFWorld-v0", "--agent", "expert", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "alfworld-download" in err and "procmem-gym[alfworld]" in err
    assert not (tmp_path / "x").exists()


def test_bad_env_kwarg_is_a_clear_error(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--env",
                "procmem_gym/Mastermind-v0",
                "--agent",
                "random",
                "--env-kwarg",
                "nonsense",
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 1
    )
    assert "KEY=VALUE" in capsys.readouterr().err


def test_llm_policy_plays_alfworld_with_admissible_commands(prepared, tiny_model_dir, tmp_path):
    out = tmp_path / "llm"
    args = ["run", "--env", "procmem_gym/ALFWorld-v0", "--agent", f"hf:{tiny_model_dir}", "--episodes", "2"]
    args += [
        "--env-kwarg",
        f"data_dir={prepared}",
        "--env-kwarg",
        "max_steps=6",
        "--num-envs",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    steps = [r for r in read_log(out / "transitions.jsonl") if isinstance(r, Transition)]
    assert len(steps) == 12
    by_episode: dict[int, list[Transition]] = {}
    for s in steps:
        by_episode.setdefault(s.episode, []).append(s)
    for episode in by_episode.values():
        # the model chooses among the admissible commands, so the game never answers "Nothing happens."
        assert all(not s.info.get("invalid_reason") for s in episode)
        for prev, cur in zip(episode, episode[1:], strict=False):
            assert cur.action in prev.info["admissible_commands"]


def test_learn_takes_env_kwargs_and_checks_them_on_resume(prepared, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "learn"
    base = [
        "learn",
        "--env",
        "procmem_gym/ALFWorld-v0",
        "--agent",
        f"hf:{tiny_model_dir}",
        "--iterations",
        "1",
    ]
    base += ["--episodes", "2", "--num-envs", "2", "--eval-episodes", "0", "--out", str(out)]
    kwargs = ["--env-kwarg", f"data_dir={prepared}", "--env-kwarg", "max_steps=4"]
    assert main(base + kwargs) == 0
    state = json.loads((out / "state.json").read_text())
    assert state["settings"]["env_kwargs"] == {"data_dir": str(prepared), "max_steps": 4}
    assert (out / "iter-000").is_dir()
    other = ["--env-kwarg", f"data_dir={prepared}", "--env-kwarg", "max_steps=5", "--resume"]
    assert main(base + other) == 1
    assert "env_kwargs" in capsys.readouterr().err


def test_corrupt_game_file_is_reported_and_left_alone(prepared, tmp_path):
    import gymnasium as gym
    from procmem_gym.envs.alfworld import ALFWorldDataError

    data = tmp_path / "data"
    shutil.copytree(prepared / "json_2.1.1" / "valid_seen", data / "json_2.1.1" / "valid_seen")
    game = next(data.rglob(GAME_FILE))
    game.write_text('{"pddl_domain": "trunc')
    before = game.stat().st_mtime_ns
    with pytest.raises(ALFWorldDataError, match=str(game)):
        gym.make("procmem_gym/ALFWorld-v0", data_dir=data, split="valid_seen")
    assert game.read_text() == '{"pddl_domain": "trunc' and game.stat().st_mtime_ns == before


def test_throughput_benchmark_prints_its_json(prepared):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "alfworld_throughput.py"
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "--json",
            "--rounds",
            "1",
            "--episodes",
            "2",
            "--data-dir",
            str(prepared),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("expert", "no_expert"):
        row = result["results"][key]
        assert row["ours_steps_per_s"] > 0 and row["alfredtwenv_steps_per_s"] > 0
        assert row["steps_per_round"] > 0 and row["ours_no_parse_cache_steps_per_s"] > 0
        assert row["speedup_vs_alfredtwenv"] > 0 and "no_parse_cache_overhead" in row
    assert set(result["targets"]) == {"speedup_vs_alfredtwenv>=1.8", "no_parse_cache_overhead<=0.10"}


def test_async_vector_run_logs_what_the_sync_run_logs(prepared, tmp_path):
    logs = []
    for mode in ("sync", "async"):
        out = tmp_path / mode
        assert run_expert(prepared, out, 4, "--num-envs", "2", "--env-kwarg", f"vectorization_mode={mode}") == 0
        logs.append((out / "transitions.jsonl").read_bytes())
    assert logs[0] == logs[1]
    assert b"-= Welcome to TextWorld, ALFRED! =-" in logs[1]


def test_a_greedy_llm_policy_does_not_take_a_command_again_in_the_same_state(prepared, tiny_model_dir, tmp_path):
    from procmem_gym.cli.common import policy_where
    from procmem_gym.cli.main import build_parser

    out = tmp_path / "llm"
    args = ["run", "--env", "procmem_gym/ALFWorld-v0", "--agent", f"hf:{tiny_model_dir}", "--episodes", "2"]
    args += ["--env-kwarg", f"data_dir={prepared}", "--env-kwarg", "max_steps=16", "--num-envs", "2"]
    assert main([*args, "--out", str(out)]) == 0
    steps = [r for r in read_log(out / "transitions.jsonl") if isinstance(r, Transition)]
    episodes: dict[int, list[Transition]] = {}
    for s in steps:
        episodes.setdefault(s.episode, []).append(s)
    assert len(episodes) == 2
    for episode in episodes.values():
        episode.sort(key=lambda s: s.t)
        taken: dict[tuple, set[str]] = {}
        for prev, cur in zip(episode, episode[1:], strict=False):  # a step's info holds the next state's commands
            state = (cur.observation, tuple(prev.info["admissible_commands"]))
            seen = taken.setdefault(state, set())
            if cur.action in seen:  # only once every admissible command was taken there
                assert seen >= set(prev.info["admissible_commands"])
            seen.add(cur.action)
    parsed = build_parser().parse_args([*args, "--allow-repeats"])
    assert policy_where(parsed, None).avoid_repeats is False
    assert policy_where(build_parser().parse_args(args), None).avoid_repeats is True
