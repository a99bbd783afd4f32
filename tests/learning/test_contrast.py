"""Situation classes, hindsight labels and constraints mined from contrast, on real Mastermind play."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from procmem_gym.agents import RandomPolicy
from procmem_gym.envs.mastermind.rules import feedback

from procmem_gym.learning.contrast import Labelled, candidate_skill, mine_constraints
from procmem_gym.learning.experience import Decision
from procmem_gym.learning.npppo import hindsight_labels
from procmem_gym.learning.situations import listing_classes, situation_of
from procmem_gym.skills.patterns import search


def code_text(code) -> str:
    return "[" + " ".join(str(d) for d in code) + "]"


def random_play(env_id: str, games: int, seed: int) -> list[tuple[str, dict, str, tuple]]:
    """Return (observation, info, random action, secret) of every mid-game state of random games."""
    env = gym.make(env_id)
    policy = RandomPolicy(seed=seed)
    out = []
    for g in range(games):
        obs, info = env.reset(seed=seed + g)
        secret = env.unwrapped.secret
        for _ in range(6):
            action = policy.act(obs, info)
            if obs.startswith("Submitted"):
                out.append((obs, info, action, secret))
            obs, _, done, _, info = env.step(action)
            if done:
                break
    env.close()
    return out


def test_situations_abstract_lists_and_numbers_whatever_their_length():
    s = situation_of("Submitted [1 2 3 4]. Feedback: 2 black peg(s), 1 white peg(s).\nGuesses so far:\n1. ...")
    assert s.lists == ("L0",) and s.numbers == ("n0", "n1")
    longer = search(s.pattern, "Submitted [1 2 3 4 5 6]. Feedback: 0 black peg(s), 3 white peg(s).")
    assert longer == {"L0": "[1 2 3 4 5 6]", "n0": "0", "n1": "3"}  # a rule from 4-digit codes reads 6-digit ones
    assert search(s.pattern, "You are playing Mastermind.") is None
    listing = listing_classes("first\n1. [1 2 3 4] -> 0 black, 2 white\n2. [3 4 5 6] -> 1 black, 0 white")
    assert len(listing) == 1 and listing[0].lists == ("L0",) and listing[0].numbers == ("n0", "n1", "n2")


def decision(obs, action, task, won=False, info=None, advantage=0.0):
    return Decision(obs, info or {}, action, advantage, task, None, won, False)


def test_hindsight_labels_the_winning_action_of_a_task_in_its_other_states():
    ds = [
        decision("s1", "a", task=0),
        decision("s2", "b", task=0),
        decision("s3", "w", task=0, won=True),
        decision("s4", "c", task=1),  # another task, never won: no label
        decision("s5", "d", task=0, info={"admissible_commands": ["d", "e"]}),  # "w" not available here
    ]
    labels = hindsight_labels(ds)
    assert {(x.observation, x.action, x.better) for x in labels} == {
        ("s1", "w", True),
        ("s1", "a", False),
        ("s2", "w", True),
        ("s2", "b", False),
        ("s3", "w", True),
    }
    assert hindsight_labels([decision("s1", "a", 0), decision("s2", "b", 1)]) == []


def test_mined_constraints_keep_the_answer_and_exclude_most_random_guesses():
    # better: the secret (what won, in hindsight), worse: the random agent's guesses in the same states
    train = random_play("procmem_gym/Mastermind-v0", 40, seed=0)
    labelled = []
    for obs, _, action, secret in train:
        labelled += [Labelled(obs, code_text(secret), True), Labelled(obs, action, False)]
    candidates = mine_constraints(labelled, coverage=0.95, k=3)
    assert candidates and candidates[0].keeps_better == 1.0 and candidates[0].keeps_worse < 0.2
    skill = candidate_skill(candidates[0], env="procmem_gym/Mastermind-v0")
    assert skill.execution.constraint is not None and skill.activation.patterns
    # on fresh games, the constraint still allows the secret and still excludes most random guesses
    fresh = random_play("procmem_gym/Mastermind-v0", 30, seed=1000)
    allowed_secret, allowed_random = [], []
    for obs, _, action, secret in fresh:
        captures = search(skill.activation.patterns[0], obs)
        assert captures is not None
        bound = skill.execution.constraint.bind(obs, captures)
        allowed_secret.append(bound.allows(code_text(secret)))
        allowed_random.append(bound.allows(action))
    assert all(allowed_secret) and np.mean(allowed_random) < 0.3


def test_a_constraint_mined_on_v0_transfers_to_the_extreme_variant():
    train = random_play("procmem_gym/Mastermind-v0", 40, seed=0)
    labelled = []
    for obs, _, action, secret in train:
        labelled += [Labelled(obs, code_text(secret), True), Labelled(obs, action, False)]
    skill = candidate_skill(mine_constraints(labelled, coverage=0.95, k=1)[0])
    for obs, _, action, secret in random_play("procmem_gym/Mastermind-extreme-v0", 10, seed=7):
        bound = skill.execution.constraint.bind(obs, search(skill.activation.patterns[0], obs))
        assert bound.allows(code_text(secret))
        # whatever the constraint allows is consistent with the last feedback (same black and white)
        last = search(skill.activation.patterns[0], obs)
        guess = tuple(int(x) for x in last["L0"].strip("[]").split())
        if bound.allows(action):
            move = tuple(int(x) for x in action.strip("[]").split())
            assert feedback(guess, move) == feedback(guess, secret)


def test_a_writer_revises_the_guidance_of_a_used_skill_and_unusable_answers_are_recorded(tmp_path):
    from procmem_gym import ProceduralMemory
    from procmem_gym.learning.npppo import NPPOConfig, NPPOLearner
    from procmem_gym.skills.skill import Skill

    memory = ProceduralMemory(retriever="keyword")
    parent = Skill.create("keep", "a guess got feedback", "Keep the digits.", patterns=["^Submitted"], max_steps=1)
    memory.add(parent)

    class Writer:
        def generate(self, prompts, max_new_tokens=96):
            self.prompts = prompts
            return ["Keep  the digits that scored\nblack pegs in place.", "", "short"]

    writer = Writer()
    config = NPPOConfig(num_envs=1, k=3, min_segments=6)
    with NPPOLearner("procmem_gym/Mastermind-v0", RandomPolicy(seed=0), memory, tmp_path, config, writer=writer) as lrn:
        uses = [
            decision(f"Submitted [1 2 3 4]. Feedback: {k % 3} black peg(s), 1 white peg(s).", f"[{k} 2 3 4]", 0)
            for k in range(1, 7)
        ]
        uses = [
            Decision(d.observation, {}, d.action, 0.1 * k - 0.3, 0, parent.id, False, False) for k, d in enumerate(uses)
        ]
        out = lrn._semantic_gradients(uses)
    assert len(writer.prompts) == 3 and "Keep the digits." in writer.prompts[0]
    ((child, of),) = out
    assert of.id == parent.id and child.lineage.parent == parent.id and child.lineage.version == 2
    assert child.execution.guidance == "Keep the digits that scored black pegs in place."  # whitespace made single
    assert child.activation == parent.activation and child.id != parent.id
    rejected = [e for e in memory.events if e["kind"] == "reject"]
    assert len(rejected) == 2 and all(e["detail"]["stage"] == "writer" for e in rejected)
