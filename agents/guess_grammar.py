"""Constrained decoding: a grammar for Mastermind guesses as a transformers logits processor.

The grammar is ``[d d ... d]`` with exactly ``code_length`` numbers from 1 to ``num_digits``
(no leading zeros), single spaces between them, distinct numbers where repeats are forbidden,
and the end of text right after ``]``. At each step only tokens that keep the generated text a
prefix of some valid guess are allowed, so the model cannot emit an invalid format. Tokens are
pre-filtered once per tokenizer to those made only of ``[``, ``]``, digits and spaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["guess_prefix", "MastermindGrammar", "CodeSet", "allowed_guesses", "variant_codes"]

_ALPHABET = set("[] 0123456789")
#: Allowed sets up to this size are decoded through their tokenizations (one token path per guess,
#: so constrained log-probabilities are exact for any tokenizer); larger ones by the prefix grammar,
#: where a tokenizer that can write a guess in several ways spreads its probability over them
#: (SmolLM2 writes every character as its own token: one way only).
TRIE_LIMIT = 5000


#: What :func:`guess_prefix` says of a text: a whole valid guess, or a valid beginning of one.
COMPLETE, PREFIX = "complete", "prefix"


@dataclass(frozen=True)
class _Parsed:
    """A guess text taken apart: the whole numbers so far, the number being written, whether ``]`` closed it."""

    values: list[int]
    partial: str
    closed: bool
    trailing_space: bool


def _parse_guess(text: str, code_length: int, num_digits: int, allow_repeats: bool) -> _Parsed | str | None:
    """Return the text taken apart, :data:`PREFIX` for an empty beginning, or None where no guess starts so."""
    if not text:
        return PREFIX
    if text[0] != "[":
        return None
    body = text[1:]
    closed = body.endswith("]")
    if closed:
        body = body[:-1]
    if "]" in body or "[" in body:
        return None
    if body == "":
        return None if closed else PREFIX
    if body.startswith(" ") or "  " in body:
        return None
    numbers = body.split(" ")
    trailing_space = body.endswith(" ")
    if trailing_space:
        numbers = numbers[:-1]
    if len(numbers) > code_length or (trailing_space and len(numbers) >= code_length):
        return None
    complete, partial = (numbers, "") if trailing_space or closed else (numbers[:-1], numbers[-1])
    values = []
    for tok in complete:
        if not tok.isdigit() or tok.startswith("0") or not 1 <= int(tok) <= num_digits:
            return None
        values.append(int(tok))
    if not allow_repeats and len(set(values)) != len(values):
        return None
    return _Parsed(values, partial, closed, trailing_space)


def _open(
    prefix: list[int],
    code_length: int,
    num_digits: int,
    allow_repeats: bool,
    forbidden: frozenset,
    allowed: CodeSet | None,
) -> bool:
    """Return whether some valid guess that is not forbidden (and is allowed) starts with ``prefix``."""
    if allowed is not None:
        return allowed.has_prefix(tuple(prefix))
    if not forbidden:
        return True
    free, rest = num_digits - (0 if allow_repeats else len(prefix)), code_length - len(prefix)
    completions = free**rest if allow_repeats else math.perm(free, rest)
    n = len(prefix)
    return completions > sum(1 for f in forbidden if list(f[:n]) == prefix)


def guess_prefix(
    text: str,
    code_length: int,
    num_digits: int,
    allow_repeats: bool,
    forbidden: frozenset = frozenset(),
    allowed: CodeSet | None = None,
) -> str | None:
    """Return :data:`COMPLETE` for a whole valid guess, :data:`PREFIX` for a valid beginning, else None.

    ``forbidden`` holds earlier guesses (tuples): repeating one is an invalid move, so the
    grammar steers away from them too. ``allowed`` (a skill's constraint applied to the codes)
    narrows the guesses to a set; it never holds a forbidden guess.
    """
    parsed = _parse_guess(text, code_length, num_digits, allow_repeats)
    if not isinstance(parsed, _Parsed):
        return parsed
    values, partial = parsed.values, parsed.partial

    def open_(prefix: list[int]) -> bool:
        return _open(prefix, code_length, num_digits, allow_repeats, forbidden, allowed)

    if parsed.closed:
        whole = len(values) == code_length and not parsed.trailing_space
        return COMPLETE if whole and open_(values) else None
    if not partial:
        return PREFIX if open_(values) else None
    if not partial.isdigit() or partial.startswith("0"):
        return None
    if allowed is not None:
        possible = (str(n).startswith(partial) for n in allowed.next_numbers(tuple(values)))
    else:
        used = set() if allow_repeats else set(values)
        possible = (
            str(n).startswith(partial) and n not in used and open_(values + [n]) for n in range(1, num_digits + 1)
        )
    return PREFIX if any(possible) else None


class CodeSet:
    """A set of allowed codes (rows of numbers) with memoised prefix queries, for constrained decoding.

    >>> s = CodeSet(np.array([[1, 2, 3, 4], [1, 5, 6, 2]]))
    >>> s.has_prefix((1,)), s.has_prefix((2,)), sorted(s.next_numbers((1,)))
    (True, False, [2, 5])
    """

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = np.asarray(codes, dtype=np.int64)
        self._rows: dict[tuple[int, ...], np.ndarray] = {(): self.codes}

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, prefix: tuple[int, ...]) -> np.ndarray:
        """Return the codes that start with ``prefix``."""
        hit = self._rows.get(prefix)
        if hit is None:
            parent = self.rows(prefix[:-1])
            hit = parent[parent[:, len(prefix) - 1] == prefix[-1]] if len(prefix) <= parent.shape[1] else parent[:0]
            self._rows[prefix] = hit
        return hit

    def has_prefix(self, prefix: tuple[int, ...]) -> bool:
        """Return whether some code starts with ``prefix``."""
        return bool(len(self.rows(prefix)))

    def next_numbers(self, prefix: tuple[int, ...]) -> set[int]:
        """Return the numbers that can follow ``prefix`` (memoised: the grammar asks once per candidate token)."""
        cache = self.__dict__.setdefault("_next", {})
        hit = cache.get(prefix)
        if hit is None:
            rows = self.rows(prefix)
            ok = len(prefix) < self.codes.shape[1] and len(rows)
            hit = cache[prefix] = set(np.unique(rows[:, len(prefix)]).tolist()) if ok else set()
        return hit

    def texts(self) -> list[str]:
        """Return the codes as guesses, ``[1 2 3 4]``."""
        return ["[" + " ".join(map(str, row)) + "]" for row in self.codes.tolist()]

    def token_trie(self, tokenizer: Any) -> dict[tuple[int, ...], list[int]]:
        """Return, for every prefix of the guesses' own tokenizations, the token ids that can follow it.

        Each allowed guess is written in exactly one way, the tokenizer's, so the probability the
        model gives a guess under the constraint is that of one token path: what the policy logs
        when it samples is what the gate recomputes, and the probabilities over the allowed guesses
        sum to one. A complete guess maps to ``[]`` (the end of text follows). Cached per tokenizer.
        """
        key = id(tokenizer)
        cache = self.__dict__.setdefault("_tries", {})
        if key not in cache:
            trie: dict[tuple[int, ...], set[int]] = {}
            for ids in tokenizer(self.texts(), add_special_tokens=False)["input_ids"]:
                for k in range(len(ids)):
                    trie.setdefault(tuple(ids[:k]), set()).add(ids[k])
                trie.setdefault(tuple(ids), set())
            cache[key] = {k: sorted(v) for k, v in trie.items()}
        return cache[key]


@lru_cache(maxsize=4)
def variant_codes(code_length: int, num_digits: int, allow_repeats: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return every code of a variant and the count of each digit in each (cached: extreme has 2,985,984)."""
    from procmem_gym.envs.mastermind.rules import all_codes

    from procmem_gym.skills.constraint import value_counts

    codes = all_codes(code_length, num_digits, allow_repeats).astype(np.int64)
    return codes, value_counts(codes)


def allowed_guesses(variant: tuple, constraint: Any) -> CodeSet | None:
    """Return the untried guesses a bound constraint allows, or None when it allows none (then it is skipped).

    ``variant`` is ``(code_length, num_digits, allow_repeats, tried)`` as
    :func:`~procmem_gym.agents.prompts.mastermind_variant` gives it.
    """
    length, digits, repeats, tried = variant[:4]
    codes, counts = variant_codes(length, digits, repeats)
    from procmem_gym.skills.constraint import ConstraintTooLargeError

    try:
        keep = constraint.mask_codes(codes, counts)
    except ConstraintTooLargeError:  # bounded work per step: the constraint is skipped for this step
        return None
    if tried:
        keep &= ~np.isin(_keys(codes, digits), _keys(np.array(sorted(tried)), digits))
    return CodeSet(codes[keep]) if keep.any() else None


def _keys(codes: np.ndarray, digits: int) -> np.ndarray:
    codes = np.atleast_2d(np.asarray(codes, dtype=np.int64))
    return codes @ (digits + 1) ** np.arange(codes.shape[1], dtype=np.int64)


@lru_cache(maxsize=8)
def _guess_tokens(tokenizer: Any) -> tuple[tuple[int, str], ...]:
    """Return ``(token id, text)`` for the tokens made only of guess characters."""
    out = []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if text and set(text) <= _ALPHABET:
            out.append((token_id, text))
    return tuple(out)


class MastermindGrammar:
    """A logits processor that only lets the model write a valid guess.

    ``prompt_length`` is the (padded) length of the prompt in the batch; the generated part of
    row ``i`` is ``input_ids[i, prompt_length:]``. One grammar per batch row.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, variants: list[tuple[int, int, bool] | None]) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.variants = variants
        self.tokens = _guess_tokens(tokenizer)
        self.eos = tokenizer.eos_token_id
        self._text: list[str] = [""] * len(variants)

    def allowed(self, row: int, generated_ids: list[int]) -> list[int]:
        """Return the token ids allowed next for one row (EOS once the guess is complete)."""
        variant = self.variants[row]
        if variant is None:
            return []
        if len(variant) > 4 and variant[4] is not None and len(variant[4]) <= TRIE_LIMIT:
            # a skill's constraint: each allowed guess written the tokenizer's way only
            follow = variant[4].token_trie(self.tokenizer).get(tuple(generated_ids))
            return follow if follow else [self.eos]
        text = self.tokenizer.decode(generated_ids) if generated_ids else ""
        state = guess_prefix(text, *variant)
        if state == "complete" or state is None:
            return [self.eos]
        return [t for t, piece in self.tokens if guess_prefix(text + piece, *variant) is not None]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Return ``scores`` with every token the grammar does not allow next set to minus infinity."""
        import torch

        mask = torch.full_like(scores, float("-inf"))
        for row in range(scores.shape[0]):
            if self.variants[row] is None:
                mask[row] = 0.0
                continue
            allowed = self.allowed(row, input_ids[row, self.prompt_length :].tolist())
            mask[row, allowed] = 0.0
        return scores + mask
