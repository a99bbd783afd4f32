"""`procmem-gym learn` end to end with a tiny random model, resume, and `procmem-gym build`."""

from __future__ import annotations

import json

import pytest

from procmem_gym import ProceduralMemory
from procmem_gym.cli.main import main

pytest.importorskip("transformers")


def learn(tmp_path, model, out, *extra):
    return main(
        [
            "learn",
            "--agent",
            f"hf:{model}",
            "--episodes",
            "4",
            "--num-envs",
            "2",
            "--eval-episodes",
            "2",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_learn_two_iterations_then_resume(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "learn"
    assert learn(tmp_path, tiny_model_dir, out, "--iterations", "1") == 0
    memory_file = out / "memory.json"
    first = ProceduralMemory.load(memory_file)
    assert json.loads((out / "state.json").read_text())["iterations_done"] == 1
    iter0 = (out / "iter-000" / "transitions.jsonl").read_bytes()
    # a second invocation without --resume refuses to overwrite
    assert learn(tmp_path, tiny_model_dir, out, "--iterations", "2") == 1
    assert "--resume" in capsys.readouterr().err
    assert learn(tmp_path, tiny_model_dir, out, "--iterations", "2", "--resume") == 0
    state = json.loads((out / "state.json").read_text())
    assert state["iterations_done"] == 2 and state["settings"]["method"] == "npppo"
    assert (out / "iter-000" / "transitions.jsonl").read_bytes() == iter0  # the finished iteration is kept
    memory = ProceduralMemory.load(memory_file)
    assert memory.iteration == 1 and len(memory.history) == 2
    assert len(memory.events) >= len(first.events)
    kinds = {e["kind"] for e in memory.events}
    assert kinds <= {"add", "update", "reject", "prune", "merge"} and kinds & {"add", "reject"}
    for e in memory.events:
        if e["kind"] == "reject" and "gate" in (e["detail"] or {}):
            assert {"accepted", "surrogate_new", "surrogate_old", "mean_abs_log_ratio"} <= set(e["detail"]["gate"])
    report = json.loads((out / "iter-001" / "report.json").read_text())
    assert report["iteration"] == 1 and report["episodes"] == 4
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["no_memory"]["episodes"] == 2 and evaluation["learned_memory"]["skills"] == len(memory)
    assert "no memory" in capsys.readouterr().out


def test_memp_online(tmp_path, tiny_model_dir):
    out = tmp_path / "memp"
    assert learn(tmp_path, tiny_model_dir, out, "--iterations", "1", "--method", "memp", "--update", "vanilla") == 0
    memory = ProceduralMemory.load(out / "memory.json")
    assert len(memory) >= 1 and all(s.lineage.method == "memp:trajectory" for s in memory)


def test_build_from_solver_trajectories(tmp_path, capsys):
    run_out = tmp_path / "solver"
    assert (
        main(
            [
                "run",
                "--env",
                "procmem_gym/Mastermind-v0",
                "--agent",
                "solver",
                "--episodes",
                "20",
                "--out",
                str(run_out),
            ]
        )
        == 0
    )
    memory_file = tmp_path / "m.json"
    assert (
        main(
            [
                "build",
                "--trajectories",
                str(run_out / "transitions.jsonl"),
                "--strategy",
                "script",
                "--memory",
                str(memory_file),
                "--env",
                "procmem_gym/Mastermind-v0",
                "--agent",
                "solver",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "compression" in out
    memory = ProceduralMemory.load(memory_file)
    assert any(s.execution.steps == ("[1 2 3 4]",) for s in memory)
    assert all(s.lineage.agent == "solver" for s in memory)
    # the memory built from the solver is used by another agent (cross-agent transfer)
    assert (
        main(
            [
                "run",
                "--env",
                "procmem_gym/Mastermind-v0",
                "--agent",
                "random",
                "--episodes",
                "5",
                "--memory",
                str(memory_file),
                "--mode",
                "inject",
                "--out",
                str(tmp_path / "transfer"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "transfer" / "summary.json").read_text())
    assert summary["reuse_rate"] == 1.0


def test_build_errors(tmp_path, capsys):
    assert (
        main(
            [
                "build",
                "--trajectories",
                str(tmp_path / "none.jsonl"),
                "--strategy",
                "script",
                "--memory",
                str(tmp_path / "m.json"),
            ]
        )
        == 1
    )
    assert "no such trajectory file" in capsys.readouterr().err


def test_learn_with_a_teacher_admits_a_confirmed_constraint_and_evaluates_the_transfer(tmp_path, tiny_model_dir):
    out = tmp_path / "teacher"
    extra = ["--iterations", "1", "--episodes", "8", "--group", "2", "--teacher", "solver"]
    extra += ["--transfer", "procmem_gym/Mastermind-hard-v0"]
    assert learn(tmp_path, tiny_model_dir, out, *extra) == 0
    memory = ProceduralMemory.load(out / "memory.json")
    admitted = [e for e in memory.events if e["kind"] == "add"]
    assert admitted, [e["detail"] for e in memory.events]
    for e in admitted:  # every admitted candidate passed the gate and a paired confirmation with a bound above 0
        assert e["detail"]["gate"]["accepted"] and e["detail"]["confirmation"]["lower_bound"] > 0
    assert all(s.execution.constraint is not None and s.lineage.method == "npppo" for s in memory)
    evaluation = json.loads((out / "evaluation.json").read_text())
    rows = evaluation["against_no_memory"]
    assert {"learned memory (inject)", "random agent + learned memory", "solver (reference)"} <= set(rows)
    assert evaluation["rows"]["no memory"]["seconds"] > 0
    hard = evaluation["transfer"]["procmem_gym/Mastermind-hard-v0"]
    assert hard["no_memory"]["episodes"] == 2 and "learned memory (inject)" in hard["against_no_memory"]


def test_a_short_run_says_why_it_learned_nothing(tmp_path, tiny_model_dir):
    out = tmp_path / "short"
    assert learn(tmp_path, tiny_model_dir, out, "--iterations", "1", "--no-constraints", "--eval-episodes", "0") == 0
    events = ProceduralMemory.load(out / "memory.json").events
    assert [e["detail"]["stage"] for e in events] == ["propose"]
    assert "--no-constraints" in events[0]["detail"]["reason"]


def test_a_policy_without_log_probabilities_is_gated_by_the_paired_confirmation(tmp_path, monkeypatch):
    """A policy that gives no log-probabilities: its candidates go to the confirmation rollouts, not rejected."""
    from procmem_gym.agents.random_policy import RandomPolicy

    monkeypatch.delattr(RandomPolicy, "action_logprobs")  # the random agent of earlier versions
    out = tmp_path / "random"
    args = ["learn", "--agent", "random", "--teacher", "solver", "--iterations", "1", "--episodes", "8"]
    assert main([*args, "--num-envs", "2", "--eval-episodes", "0", "--out", str(out)]) == 0
    report = json.loads((out / "iter-000" / "report.json").read_text())
    assert report["gate_numbers"] == "validation rollouts"
    gated = [e["detail"] for e in report["events"] if isinstance(e.get("detail"), dict) and "gate" in e["detail"]]
    assert gated and all("no log-probabilities" in d["gate"]["reason"] for d in gated)
    assert not any("does not change the policy" in d["gate"]["reason"] for d in gated)
    admitted = [e["detail"] for e in report["events"] if e["kind"] == "add"]
    assert report["admitted"] == len(admitted) >= 1 and all(d.get("confirmation") for d in admitted)


def test_the_random_agent_gives_the_gate_exact_numbers(tmp_path):
    """Its constrained choice is uniform over the allowed set: the gate judges with -log |allowed| and ratio 0."""
    out = tmp_path / "random"
    args = ["learn", "--agent", "random", "--teacher", "solver", "--iterations", "1", "--episodes", "8"]
    assert main([*args, "--num-envs", "2", "--eval-episodes", "0", "--out", str(out)]) == 0
    report = json.loads((out / "iter-000" / "report.json").read_text())
    assert report["gate_numbers"] == "exact log-probabilities"
    gated = [
        e["detail"]["gate"] for e in report["events"] if isinstance(e.get("detail"), dict) and "gate" in e["detail"]
    ]
    assert gated and not any("does not change the policy" in g["reason"] for g in gated)
    assert any(g.get("mean_abs_log_ratio", 0) > 0 for g in gated)
