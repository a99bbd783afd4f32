"""Constrained decoding: a grammar for Mastermind guesses as a transformers logits processor.

The grammar is ``[d d ... d]`` with exactly ``code_length`` numbers from 1 to ``num_digits``
(no leading zeros), single spaces between them, distinct numbers where repeats are forbidden,
and the end of text right after ``]``. At each step only tokens that keep the generated text a
prefix of some valid guess are allowed, so the model cannot emit an invalid format. Tokens are
pre-filtered once per tokenizer to those made only of ``[``, ``]``, digits and spaces.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

__all__ = ["guess_prefix", "MastermindGrammar"]

_ALPHABET = set("[] 0123456789")


def guess_prefix(
    text: str, code_length: int, num_digits: int, allow_repeats: bool, forbidden: frozenset = frozenset()
) -> str | None:
    """Return ``"complete"`` for a whole valid guess, ``"prefix"`` for a valid beginning, else None.

    ``forbidden`` holds earlier guesses (tuples): repeating one is an invalid move, so the
    grammar steers away from them too.
    """
    if not text:
        return "prefix"
    if text[0] != "[":
        return None
    body = text[1:]
    closed = body.endswith("]")
    if closed:
        body = body[:-1]
    if "]" in body or "[" in body:
        return None
    if body == "":
        return None if closed else "prefix"
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

    def open_(prefix: list[int]) -> bool:
        """Whether some valid guess that is not forbidden starts with ``prefix``."""
        if not forbidden:
            return True
        free, rest = num_digits - (0 if allow_repeats else len(prefix)), code_length - len(prefix)
        completions = free**rest if allow_repeats else math.perm(free, rest)
        n = len(prefix)
        return completions > sum(1 for f in forbidden if list(f[:n]) == prefix)

    if closed:
        return "complete" if len(values) == code_length and not trailing_space and open_(values) else None
    if partial:
        if not partial.isdigit() or partial.startswith("0"):
            return None
        used = set() if allow_repeats else set(values)
        if not any(
            str(n).startswith(partial) and n not in used and open_(values + [n]) for n in range(1, num_digits + 1)
        ):
            return None
    elif not open_(values):
        return None
    return "prefix"


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
        text = self.tokenizer.decode(generated_ids) if generated_ids else ""
        if variant is None:
            return []
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
