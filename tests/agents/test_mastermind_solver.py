"""MastermindSolver: wins every game, guess counts against the minimax references, extreme variant."""

from __future__ import annotations

import statistics
import time

import gymnasium as gym
import numpy as np
import pytest
from procmem_gym.agents import MastermindSolver
from procmem_gym.envs.mastermind import MastermindRules
from procmem_gym.envs.mastermind.rules import feedback


def play_every_code(rules: MastermindRules, solver: MastermindSolver) -> list[int]:
    """Return the number of guesses the solver needs for each secret of the variant."""
    counts = []
    for code in rules.codes():
        secret, history = tuple(int(d) for d in code), ()
        while True:
            guess = solver.next_guess(rules, history)
            black, white = feedback(guess, secret)
            history += ((guess, black, white),)
            if black == rules.code_length:
                break
            assert len(history) < rules.max_turns
        counts.append(len(history))
    return counts


def test_v0_every_code_within_reference():
    counts = play_every_code(MastermindRules(4, 6, 20, False), MastermindSolver())
    assert len(counts) == 360
    assert statistics.mean(counts) <= 4.20  # minimax reference 4.139
    assert max(counts) <= 6


def test_hard_every_code_within_reference():
    counts = play_every_code(MastermindRules(4, 8, 30, False), MastermindSolver())
    assert len(counts) == 1680
    assert statistics.mean(counts) <= 4.85  # minimax reference 4.787
    assert max(counts) <= 30


def test_reproduces_knuth_on_classic_mastermind():
    """Knuth (1976): 4 pegs, 6 colours, repeats allowed: 5801 guesses over 1296 codes, at most 5."""
    counts = play_every_code(MastermindRules(4, 6, 20, True), MastermindSolver())
    assert sum(counts) == 5801 and max(counts) == 5


def test_expected_size_strategy_also_wins_everything():
    counts = play_every_code(MastermindRules(4, 6, 20, False), MastermindSolver(strategy="expected"))
    assert statistics.mean(counts) < 4.139


@pytest.mark.slow
def test_extreme_200_seeded_games_all_won_within_50_turns():
    env = gym.make("procmem_gym/Mastermind-extreme-v0")
    solver = MastermindSolver()
    turns, move_seconds = [], []
    for seed in range(200):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            start = time.perf_counter()
            action = solver.act(obs, info)
            move_seconds.append(time.perf_counter() - start)
            obs, reward, done, truncated, info = env.step(action)
            assert info["invalid_reason"] is None
        assert reward == 1.0 and info["success"]
        turns.append(info["turn"])
    assert max(turns) <= 50
    print(f"extreme: mean {np.mean(turns):.2f} guesses, max {max(turns)}, median move {np.median(move_seconds):.4f}s")


def test_solver_reads_the_history_from_info_after_invalid_moves():
    env = gym.make("procmem_gym/Mastermind-v0")
    solver = MastermindSolver()
    obs, info = env.reset(seed=4)
    obs, _, _, _, info = env.step(solver.act(obs, info))
    obs, _, _, _, info = env.step("garbage")  # an invalid move in between changes nothing
    done = False
    while not done:
        obs, reward, done, _, info = env.step(solver.act(obs, info))
    assert reward == 1.0


def test_solver_is_deterministic_and_batches():
    env = gym.make("procmem_gym/Mastermind-extreme-v0")
    obs, info = env.reset(seed=9)
    a = MastermindSolver(seed=1).act(obs, info)
    b = MastermindSolver(seed=1).act(obs, info)
    assert a == b
    assert MastermindSolver(seed=1).act_batch([obs, obs], [info, info]) == [a, a]


def test_inconsistent_feedback_is_reported():
    rules = MastermindRules(4, 6)
    history = (((1, 2, 3, 4), 4, 0), ((1, 2, 3, 5), 4, 0))
    with pytest.raises(ValueError, match="consistent"):
        MastermindSolver().next_guess(rules, history)


def test_info_without_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="Mastermind"):
        MastermindSolver().act("", {"history": []})
