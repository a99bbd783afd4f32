"""Skill: validation, round trip, slots, untrusted input bounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procmem_gym.skills.skill import LIMITS, Skill, SkillError, slots

BASE = {
    "name": "take the apple",
    "activation": {
        "text": "an apple is in view",
        "patterns": [r"You see an? (?P<obj>apple \d+) on the (?P<recep>\w+ \d+)"],
    },
    "execution": {"guidance": "Pick up {obj}.", "steps": ["go to {recep}", "take {obj} from {recep}"]},
    "termination": {"text": "holding the apple", "patterns": ["You pick up"], "max_steps": 3},
}


def test_round_trip_and_defaults():
    skill = Skill.from_dict(BASE)
    assert skill.id.startswith("sk-") and len(skill.id) == 11
    assert skill.stats.episodes == 0 and skill.score == 0.0 and skill.lineage.version == 1
    assert Skill.from_dict(skill.to_dict()) == skill
    assert Skill.from_dict(BASE).id == skill.id  # ids derive from content
    assert Skill.from_dict({**BASE, "name": "other"}).id != skill.id


def test_action_templates_fill_slots():
    skill = Skill.from_dict(BASE)
    values = {"obj": "apple 1", "recep": "countertop 2"}
    assert skill.action(0, values) == "go to countertop 2"
    assert skill.action(1, values) == "take apple 1 from countertop 2"
    assert skill.action(2, values) is None  # no more templates
    assert skill.action(0, {}) is None  # an unfilled slot gives no concrete action
    assert slots("take {obj} from {recep}") == ("obj", "recep")
    assert Skill.create("x", "y", steps=["[{{literal}}]"]).action(0, {}) == "[{literal}]"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"activation": {"text": "", "patterns": []}}, "activation needs"),
        ({"activation": None}, "needs an activation"),
        ({"name": ""}, "name"),
        ({"name": "x" * (LIMITS["name"] + 1)}, "at most"),
        ({"execution": {"guidance": "g" * (LIMITS["guidance"] + 1)}}, "at most"),
        ({"execution": {"steps": ["s"] * (LIMITS["steps"] + 1)}}, "at most"),
        ({"execution": {"steps": "go north"}}, "list"),
        ({"execution": {"steps": ["take {obj:>99999999}"]}}, "plain name"),
        ({"execution": {"steps": ["take {0}"]}}, "plain name"),
        ({"activation": {"patterns": [r"(a)\1"]}}, "not supported"),
        ({"activation": {"patterns": [r"(?<=a)b"]}}, "not supported"),
        ({"activation": {"patterns": "^x"}}, "list"),
        ({"termination": {"max_steps": 0}}, "max_steps"),
        ({"termination": {"max_steps": "3"}}, "integer"),
        ({"stats": {"episodes": -1}}, "stats.episodes"),
        ({"score": "high"}, "score"),
    ],
)
def test_invalid_skills_are_rejected_with_the_field(change, message):
    data = {**BASE, **change}
    if "activation" in change and change["activation"] is None:
        data.pop("activation")
    with pytest.raises(SkillError, match=message):
        Skill.from_dict(data)


def test_not_a_dict():
    with pytest.raises(SkillError):
        Skill.from_dict(["not", "a", "skill"])


@settings(max_examples=100, deadline=None)
@given(
    name=st.text(min_size=1, max_size=50).filter(str.strip),
    text=st.text(max_size=200),
    guidance=st.text(max_size=300),
    max_steps=st.integers(1, 1000),
)
def test_round_trip_any_text(name, text, guidance, max_steps):
    data = {
        "name": name,
        "activation": {"text": text, "patterns": ["x"]},
        "execution": {"guidance": guidance},
        "termination": {"max_steps": max_steps},
    }
    skill = Skill.from_dict(data)
    assert Skill.from_dict(skill.to_dict()) == skill
