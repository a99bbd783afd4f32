"""The constraint language: what it allows, on codes and on text, and what it refuses from untrusted files."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from procmem_gym.envs.mastermind.rules import feedback

from procmem_gym.skills.constraint import Constraint, ConstraintError, value_counts
from procmem_gym.skills.skill import Skill, SkillError

CONSISTENT = {
    "all": [
        {"count": "same_position", "with": "{g}", "op": "==", "value": "{b}"},
        {"count": "in_common", "with": "{g}", "op": "==", "value": ["{b}", "{w}"]},
    ]
}
HISTORY = {
    "all": [
        {
            "count": "same_position",
            "with": "{g}",
            "op": "==",
            "value": "{b}",
            "for_each": r"(?m)^\d+\. (?P<g>\[[^\]]*\]) -> (?P<b>\d+) black, (?P<w>\d+) white$",
        },
        {
            "count": "in_common",
            "with": "{g}",
            "op": "==",
            "value": ["{b}", "{w}"],
            "for_each": r"(?m)^\d+\. (?P<g>\[[^\]]*\]) -> (?P<b>\d+) black, (?P<w>\d+) white$",
        },
    ]
}


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(1, 7)), st.permutations(range(1, 7)))
def test_same_feedback_is_expressible_without_mastermind_in_the_language(secret, guess):
    secret, guess = tuple(secret[:4]), tuple(guess[:4])
    black, white = feedback(guess, secret)
    bound = Constraint.from_dict(CONSISTENT).bind("", {"g": str(list(guess)), "b": str(black), "w": str(white)})
    codes = np.array(list(itertools.permutations(range(1, 7), 4)))
    mask = bound.mask_codes(codes, value_counts(codes))
    expected = np.array([feedback(guess, tuple(c)) == (black, white) for c in codes])
    assert (mask == expected).all() and mask[codes.tolist().index(list(secret))]
    # the text path (what the random policy and the command choice use) agrees with the array path
    texts = ["[" + " ".join(str(d) for d in c) + "]" for c in codes.tolist()]
    assert [bound.allows(t) for t in texts] == mask.tolist()


def test_for_each_reads_every_line_of_the_observation():
    obs = "Submitted [3 4 5 6]. Feedback: 0 black peg(s), 2 white peg(s).\n1. [1 2 3 4] -> 0 black, 2 white\n2. [3 4 5 6] -> 0 black, 2 white"
    bound = Constraint.from_dict(HISTORY).bind(obs, {})
    assert len(bound.counts) == 4
    assert bound.allows("[5 3 2 1]") is False and bound.allows("[2 1 6 5]") is True


@pytest.mark.parametrize(
    "data, message",
    [
        ({"all": []}, "1 to 16"),
        ({"all": [{"count": "everything", "with": "{g}", "value": 1}]}, "count must be one of"),
        ({"all": [{"count": "in_common", "with": "{g}", "op": "=~", "value": 1}]}, "op must be"),
        ({"all": [{"count": "in_common", "with": "{g}", "value": 10**9}]}, "out of range"),
        ({"all": [{"count": "in_common", "with": "x" * 400, "value": 1}]}, "1 to 300 characters"),
        ({"all": [{"matches": r"(a)\1"}]}, "RE2"),
        ({"all": [{"count": "in_common", "with": "{g}", "value": 1, "for_each": "(?<=x)y"}]}, "RE2"),
        ({"all": [{"count": "in_common", "with": "{g}", "value": [1, 2, 3, 4, 5]}]}, "1 to 4 terms"),
        ({"all": [{"count": "in_common", "with": "{g}", "value": True}]}, "integers or templates"),
        ("print('hi')", "all"),
    ],
)
def test_malformed_constraints_are_refused_with_the_field_named(data, message):
    with pytest.raises(ConstraintError, match=message):
        Constraint.from_dict(data)
    with pytest.raises(SkillError):
        Skill.from_dict({"name": "x", "activation": {"text": "x"}, "execution": {"constraint": data}})


def test_hostile_input_stays_linear_and_bounded():
    c = Constraint.from_dict(
        {"all": [{"count": "member_of", "with": "{g}", "op": ">=", "value": 0, "for_each": r"(?P<g>(a+)+b)"}]}
    )
    start = time.perf_counter()
    bound = c.bind("a" * 20_000 + "b" + "\n" * 5 + "aab" * 10_000, {})
    assert time.perf_counter() - start < 2 and len(bound.counts) <= 64  # RE2: no catastrophic backtracking
    unbound = Constraint.from_dict(CONSISTENT).bind("", {"g": "[1 2]", "b": "x", "w": "1"})
    assert not unbound.bound and unbound.allows("anything")  # a value that is no number: the statement cannot bind
    assert Constraint.from_dict({"all": [{"matches": "go to {r}"}]}).bind("", {"r": ".*"}).allows("go to .*")
    assert not Constraint.from_dict({"all": [{"matches": "go to {r}"}]}).bind("", {"r": ".*"}).allows("go to x")


def test_a_skill_round_trips_its_constraint_and_ids_of_old_skills_do_not_change():
    plain = Skill.create("x", "y", "z", patterns=["^a"])
    assert "constraint" not in plain.to_dict()["execution"]
    skill = Skill.create("x", "y", "z", patterns=["^a"], constraint=CONSISTENT)
    again = Skill.from_dict(skill.to_dict())
    assert again == skill and again.id != plain.id and again.execution.constraint.to_dict() == CONSISTENT


def test_agent_skills_export_and_import_keep_the_constraint(tmp_path):
    from procmem_gym.skills.skillmd import export_skills, import_skills, skill_to_markdown

    skill = Skill.create("consistent", "a guess got feedback", "", patterns=["^Submitted"], constraint=CONSISTENT)
    text = skill_to_markdown(skill)
    assert "## Allowed actions" in text and "in common with" in text  # people read it in words
    export_skills([skill], tmp_path)
    (back,) = import_skills(tmp_path)
    assert back.execution.constraint == skill.execution.constraint and back.id == skill.id
