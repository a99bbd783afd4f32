"""Episodes, skill segments and advantages from a transition log; rule mining; semantic-gradient parsing."""

from __future__ import annotations

import json

import pytest

from procmem_gym.learning.abstraction import abstract_step, decisions_of, mine_rules, rule_skill
from procmem_gym.learning.experience import advantages, group_episodes, samples_for, split_segments
from procmem_gym.learning.semantic import gradient_prompt, parse_candidates
from procmem_gym.rollouts.transitions import EpisodeRecord, Transition
from procmem_gym.skills.skill import Skill


def tr(ep, t, skill=None, event=None, obs="o", action="a", source="policy"):
    return Transition(
        episode=ep, t=t, observation=obs, action=action, action_source=source, skill=skill, skill_event=event
    )


def episodes():
    items = [
        tr(0, 0, "A", "activate"),
        tr(0, 1, "A", "terminate"),
        tr(0, 2),
        tr(0, 3, "B", "terminate"),
        tr(0, 4, "A", "activate"),
        EpisodeRecord(0, 1.0, 5, True, ("A", "B")),
        tr(1, 0),
        tr(1, 1, "B", "activate"),
        tr(1, 2, "B", "continue"),
        EpisodeRecord(1, 0.0, 3, False, ("B",)),
        tr(2, 0),  # unfinished: no episode line
    ]
    return group_episodes(items)


def test_segments_split_on_skill_change_and_termination():
    eps = episodes()
    assert len(eps) == 2 and [len(e.transitions) for e in eps] == [5, 3]
    segs = split_segments(eps[0])
    assert [(s.skill, len(s.steps), s.completed) for s in segs] == [("A", 2, True), ("B", 1, True), ("A", 1, False)]


def test_advantages_against_both_baselines():
    eps = episodes()
    mean = advantages(eps, "mean")  # mean return 0.5
    assert [round(a, 3) for _, a in mean["A"]] == [0.5, 0.5]
    assert sorted(round(a, 3) for _, a in mean["B"]) == [-0.5, 0.5]
    without = advantages(eps, "without")  # A: episodes without A have mean 0.0 ; B: used by all -> mean
    assert [round(a, 3) for _, a in without["A"]] == [1.0, 1.0]
    assert len(samples_for(mean["A"])) == 3
    with pytest.raises(ValueError):
        advantages(eps, "median")


def test_abstraction_generalises_bracketed_numbers_only():
    pattern, template = abstract_step(
        "Submitted [1 2 3 4]. Feedback: 0 black peg(s), 4 white peg(s).\n...", "[2 1 4 3]"
    )
    assert template == "[{n1} {n0} {n3} {n2}]" and "(?P<n0>" in pattern and "0\\ black" in pattern
    pattern, template = abstract_step("Submitted [1 2 3 4]. Feedback: 1 black peg(s), 2 white peg(s).", "[5 6 1 2]")
    assert "(?P<" not in pattern and template == "[5 6 1 2]"


def test_mining_keeps_consistent_supported_rules():
    obs = "Submitted [1 2 3 4]. Feedback: 0 black peg(s), 4 white peg(s)."
    decisions = (
        [(obs, "[2 1 4 3]", 1.0)] * 3 + [("You are playing.", "[1 2 3 4]", 1.0)] * 2 + [("Lone line.", "[9]", 0.0)]
    )
    decisions += [("Mixed.", "[1]", 1.0), ("Mixed.", "[2]", 1.0)]  # inconsistent: dropped
    rules = mine_rules(decisions, min_support=2, min_consistency=0.8)
    assert [(r.support, r.template) for r in rules] == [(3, "[{n1} {n0} {n3} {n2}]"), (2, "[1 2 3 4]")]
    skill = rule_skill(rules[0], "npppo")
    assert skill.action(0, {"n0": "5", "n1": "6", "n2": "1", "n3": "2"}) == "[6 5 2 1]"
    assert skill.termination.max_steps == 1 and skill.lineage.method == "npppo"


def test_decisions_leave_out_invalid_moves_and_skill_steps():
    items = [
        Transition(0, 0, "o1", "x", info={"invalid_reason": "bad"}),
        Transition(0, 1, "o2", "y", skill="A"),
        Transition(0, 2, "o3", "z"),
        EpisodeRecord(0, 1.0, 3, True),
    ]
    assert decisions_of(group_episodes(items)) == [("o3", "z", 1.0)]


def test_semantic_gradient_parsing_is_strict():
    parent = Skill.create(
        "open", "no guess yet", "Guess [1 2 3 4].", patterns=["^You are"], steps=["[1 2 3 4]"], max_steps=1
    )
    good = {
        "name": "open wider",
        "activation": {"text": "no guess yet", "patterns": ["^You are"]},
        "execution": {"guidance": "Guess [1 2 5 6].", "steps": ["[1 2 5 6]"]},
        "termination": {"max_steps": 1},
    }
    text = (
        "Critique: the opening wastes digits.\n<skill>" + json.dumps(good) + "</skill>\n"
        '<skill>{not json}</skill>\n<skill>{"name": "x"}</skill>'
    )
    critique, candidates, errors = parse_candidates(text, parent, k=3)
    assert critique.startswith("the opening wastes digits")
    assert [c.name for c in candidates] == ["open wider"] and candidates[0].lineage.parent == parent.id
    assert len(errors) == 2 and all("malformed" in e for e in errors)
    assert parse_candidates("no skills here", parent, 2)[2] == ["no <skill>...</skill> block in the answer"]
    prompt = gradient_prompt(parent, [], 2)
    assert "<skill>" in prompt and "Current skill" in prompt
