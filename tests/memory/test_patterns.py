"""Patterns run on RE2: no catastrophic backtracking; one pass over all skills."""

from __future__ import annotations

import re
import time

import pytest

from procmem_gym.skills.patterns import PatternError, PatternIndex, compile_pattern, search


def test_redos_pattern_is_linear_on_re2():
    evil = "(a+)+$"
    text = "a" * 5000 + "b"
    start = time.perf_counter()
    assert compile_pattern(evil).search(text) is None
    # Python's re needs 2**n steps here; RE2 answers at once. Shown against re on a short input only.
    assert time.perf_counter() - start < 1.0
    assert re.search(evil, "a" * 10 + "b") is None


def test_unsupported_syntax_is_a_clear_error():
    with pytest.raises(PatternError, match="RE2"):
        compile_pattern(r"(x)\1")


def test_search_returns_named_groups():
    assert search(r"take (?P<obj>\w+ \d)", "you can take apple 1 now") == {"obj": "apple 1"}
    assert search(r"nothing", "text") is None
    assert search(r"text", "text") == {}


def test_index_matches_every_owner_once():
    index = PatternIndex()
    for n in range(2000):
        index.add(f"s{n}", [rf"\bitem{n}\b"])
    index.add("both", [r"item1\b", r"item2\b"])
    assert index.match("item1 and item1999") == {"s1", "s1999", "both"}
    assert index.match("nothing here") == set()
