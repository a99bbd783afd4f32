"""Paired evaluation: seeds that pair episodes in single and vector runs, bootstrap CIs, McNemar, compare."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from procmem_gym.agents import RandomPolicy

from procmem_gym import ProceduralMemory
from procmem_gym.analysis.evaluation import ComparisonError, bootstrap_ci, compare, mcnemar_p
from procmem_gym.cli.main import main
from procmem_gym.rollouts.runner import Rollouts
from procmem_gym.rollouts.transitions import EpisodeRecord
from procmem_gym.skills.skill import Skill

CONSISTENT = {
    "all": [
        {"count": "same_position", "with": "{g}", "op": "==", "value": "{b}"},
        {"count": "in_common", "with": "{g}", "op": "==", "value": ["{b}", "{w}"]},
    ]
}


def consistent_memory() -> ProceduralMemory:
    memory = ProceduralMemory(retriever="keyword")
    memory.add(
        Skill.create(
            "consistent with the last feedback",
            "a guess got feedback",
            "Play a code that would get the same feedback from the last guess.",
            patterns=[r"^Submitted (?P<g>\[[^\]]*\])\. Feedback: (?P<b>\d+) black peg\(s\), (?P<w>\d+) white"],
            max_steps=1,
            constraint=CONSISTENT,
        )
    )
    return memory


@pytest.mark.parametrize("num_envs", [3, 4])
def test_vector_runs_pair_episodes_by_seed_as_a_single_env_does(num_envs):
    env_seeds = [50, 7, 50, 9, 11, 7, 3]  # repeated tasks, as a learning group plays them
    policy_seeds = [1, 2, 3, 4, 5, 6, 7]
    memory = consistent_memory()
    results = {}
    for n in (1, num_envs):
        with Rollouts("procmem_gym/Mastermind-v0", num_envs=n) as rollouts:
            played = rollouts.play(
                RandomPolicy(seed=0),
                memory,
                "guide",
                len(env_seeds),
                0,
                None,
                update_memory=False,
                env_seeds=env_seeds,
                policy_seeds=policy_seeds,
            )
        results[n] = sorted((r.seed, r.return_, r.length, r.skills_used) for r in played.records)
    assert [s for s, *_ in results[1]] == sorted(env_seeds)
    assert results[1] == results[num_envs]  # every episode played as it would alone: paired by seed


def test_the_random_policy_obeys_the_constraint_in_guide_mode():
    with Rollouts("procmem_gym/Mastermind-v0", num_envs=2) as rollouts:
        free = rollouts.play(RandomPolicy(seed=0), None, "off", 40, 0, None).records
        held = rollouts.play(RandomPolicy(seed=0), consistent_memory(), "guide", 40, 0, None).records
    c = compare(free, held)
    assert c.pairs == 40 and c.mean_difference > 0.3 and c.ci_low > 0 and c.success_p < 0.001


def test_bootstrap_and_mcnemar_match_hand_computations():
    low, high = bootstrap_ci([1.0] * 10)
    assert low == high == 1.0
    x = np.random.default_rng(3).normal(0.5, 1.0, 400)
    low, high = bootstrap_ci(x)
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert low == pytest.approx(x.mean() - 1.96 * se, abs=0.02) and high == pytest.approx(
        x.mean() + 1.96 * se, abs=0.02
    )
    assert bootstrap_ci(x) == bootstrap_ci(x)  # seeded
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(0, 5) == pytest.approx(2 / 32)  # two-sided exact binomial
    assert mcnemar_p(3, 3) == 1.0
    assert mcnemar_p(1, 9) == pytest.approx(2 * (1 + 10) / 1024)


def test_compare_pairs_by_seed_and_refuses_runs_without_shared_seeds():
    a = [EpisodeRecord(k, 0.2, 20, False, seed=k) for k in range(10)]
    b = [EpisodeRecord(k, 1.0 if k % 2 else 0.2, 5, bool(k % 2), seed=k) for k in reversed(range(10))]
    c = compare(a, b)
    assert c.pairs == 10 and c.mean_difference == pytest.approx(0.4) and c.only_b_won == 5 and c.only_a_won == 0
    with pytest.raises(ComparisonError):
        compare(a, [EpisodeRecord(0, 1.0, 5, True, seed=99)])


def test_compare_command_on_two_run_folders(tmp_path, capsys):
    memory = tmp_path / "memory.json"
    consistent_memory().save(memory)
    common = ["--env", "procmem_gym/Mastermind-v0", "--agent", "random", "--episodes", "30", "--num-envs", "3"]
    assert main(["run", *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["run", *common, "--memory", str(memory), "--mode", "guide", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["pairs"] == 30 and numbers["ci_low"] > 0 and numbers["mean_b"] > numbers["mean_a"]
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["mean_return"] == pytest.approx(numbers["mean_b"]) and summary["seconds"] > 0
    assert main(["run", *common[:6], "--episodes", "3", "--seed", "500", "--out", str(tmp_path / "c")]) == 0
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "c")]) == 1  # no shared seed: one clear line
    assert "share no episode seed" in capsys.readouterr().err
