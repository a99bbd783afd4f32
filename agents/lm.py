"""LocalLM: what a policy needs from a local causal LM — decoding under grammars, sampling, scoring.

- :meth:`LocalLM.decode` decodes prompts greedily (``temperature=0``) or by sampling, each row
  from its own seeded generator, within an optional per-row grammar (the tokens allowed next);
  it returns each row's tokens and the log-probability of what was decoded under the
  distribution it was drawn from (tokens the grammar forces have probability 1).
- :meth:`LocalLM.token_logprobs` scores given continuations under per-row grammars, with
  the same renormalisation: the exact ratio of two constrained policies is the difference of two
  of these numbers (the PPO gate needs nothing else).
- :meth:`LocalLM.logprob_tokens` gives plain, unconstrained per-token log-probabilities.

With ``cache=True`` (the default) everything runs on :class:`~procmem_gym.agents.kvcache.PromptCache`;
``cache=False`` keeps the plain path of ``model.generate`` and right-padded scoring (greedy only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from procmem_gym.errors import UsageError

from .kvcache import PromptCache, supported

__all__ = ["LocalLM", "Allowed"]

#: Per row: the token ids allowed after the given generated tokens (None: any token), or None for a free row.
Allowed = Callable[[list[int]], list[int] | None] | None


class LocalLM:
    """A loaded model and tokenizer, with or without the prompt cache."""

    def __init__(
        self, model: Any, tokenizer: Any, cache: bool = True, cache_tokens: int | None = None, batch_size: int = 8
    ):
        import torch

        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.eos = tokenizer.eos_token_id
        self.cache = bool(cache) and supported(model) and not _has_processors(model)
        self.engine = PromptCache(model, capacity=cache_tokens) if self.cache else None

    def tokens(self, text: str) -> list[int]:
        """Return the token ids of a text (no special tokens added)."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # ------------------------------------------------------------------ decoding
    def decode(
        self,
        prompts: Sequence[str],
        limit: int,
        grammars: Sequence[Allowed] | None = None,
        temperature: float = 0.0,
        generators: Sequence[Any] | None = None,
    ) -> tuple[list[list[int]], list[float]]:
        """Return each row's decoded tokens (up to, not including, the end of text) and their log-probability.

        ``grammars[r](generated)`` lists the tokens allowed next (a single one is appended without a
        decoding step; only the end of text means the row is complete). With ``temperature > 0``
        row ``r`` samples from ``generators[r]``; the log-probability is that of the sampled
        tokens under ``softmax(logits / temperature)`` renormalised over the allowed tokens.
        """
        grammars = list(grammars) if grammars is not None else [None] * len(prompts)
        if not self.cache:
            if temperature > 0:
                raise UsageError("sampling needs the prompt cache (HFPolicy(cache=True))")
            return self._decode_plain(prompts, limit, grammars), [0.0] * len(prompts)
        torch, eos = self.torch, self.eos
        logps = [0.0] * len(prompts)

        def forced(r: int, generated: list[int]) -> list[int] | None:
            if generated and generated[-1] == eos:
                return None
            options = grammars[r](generated) if grammars[r] is not None else None
            if options is None:
                return []
            if options == [eos]:
                return None  # complete: the end of text is the only continuation
            return options if len(options) == 1 else []

        def choose(r: int, generated: list[int], logits: Any) -> int | None:
            options = grammars[r](generated) if grammars[r] is not None else None
            scores = logits if options is None else logits[torch.tensor(options, dtype=torch.long)]
            if temperature <= 0:
                k = int(torch.argmax(scores))
            else:
                lp = torch.log_softmax(scores.float() / temperature, dim=-1)
                generator = generators[r] if generators is not None else None
                k = int(torch.multinomial(lp.exp(), 1, generator=generator))
                logps[r] += float(lp[k])
            return options[k] if options is not None else k

        rows = self.engine.generate([self.tokens(p) for p in prompts], choose, forced, limit)
        return [_until_eos(row, eos) for row in rows], logps

    def _decode_plain(self, prompts: Sequence[str], limit: int, grammars: list[Allowed]) -> list[list[int]]:
        """Greedy decoding with ``model.generate`` on left-padded prompts (the path without caching)."""
        from transformers import LogitsProcessorList

        torch = self.torch
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        length = enc["input_ids"].shape[1]
        processors = LogitsProcessorList()
        if any(g is not None for g in grammars):
            processors.append(_GrammarProcessor(grammars, length))
        with torch.inference_mode():
            generated = self.model.generate(
                **enc,
                max_new_tokens=limit,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.eos,
                logits_processor=processors,
            )
        return [_until_eos(row, self.eos) for row in generated[:, length:].tolist()]

    # ------------------------------------------------------------------ scoring
    def logprob_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[np.ndarray]:
        """Return, per pair, the log-probability of each continuation token given prompt + earlier tokens.

        The continuation is tokenized on its own and appended to the prompt's tokens, so the
        boundary is the same for every candidate.
        """
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        targets = [self._continuation(c) for c in continuations]
        if not self.cache:
            return self._logprob_plain([self.tokens(p) for p in prompts], targets)
        out: list[np.ndarray | None] = [None] * len(prompts)
        for members, rows in self._grouped_logits(list(prompts), targets):
            for k, logits in zip(members, rows, strict=True):
                logp = self.torch.log_softmax(logits, dim=-1)
                out[k] = logp[self.torch.arange(len(targets[k])), self.torch.tensor(targets[k])].numpy()
        return [np.asarray(v, dtype=np.float64) for v in out]

    def token_logprobs(
        self,
        prompts: Sequence[str],
        continuations: Sequence[str],
        grammars: Sequence[Sequence[Allowed]],
        temperature: float = 1.0,
    ) -> np.ndarray:
        """Return ``(len(prompts), k)``: each continuation's log-probability under each of its row's ``k`` grammars.

        Position by position, ``log softmax(logits / temperature)`` renormalised over the tokens
        the grammar allows there; a position where the grammar allows one token contributes 0,
        one where the continuation's token is not allowed makes the whole value ``-inf``.
        """
        if not self.cache:
            raise UsageError("constrained log-probabilities need the prompt cache (HFPolicy(cache=True))")
        torch = self.torch
        targets = [self._continuation(c) for c in continuations]
        k = max((len(g) for g in grammars), default=0)
        out = np.zeros((len(prompts), k))
        for members, rows in self._grouped_logits(list(prompts), targets):
            for m, logits in zip(members, rows, strict=True):
                scaled = logits.float() / max(temperature, 1e-6)
                for j, grammar in enumerate(grammars[m]):
                    total = 0.0
                    for pos, token in enumerate(targets[m]):
                        options = grammar(targets[m][:pos]) if grammar is not None else None
                        if options is not None and token not in options:
                            total = -np.inf
                            break
                        if options is not None and len(options) == 1:
                            continue
                        row = scaled[pos] if options is None else scaled[pos, torch.tensor(options, dtype=torch.long)]
                        where = token if options is None else options.index(token)
                        total += float(torch.log_softmax(row, dim=-1)[where])
                    out[m, j] = total
        return out

    def _continuation(self, text: str) -> list[int]:
        ids = self.tokens(text)
        if not ids:
            raise ValueError(f"continuation {text!r} has no tokens")
        return ids

    def _grouped_logits(self, prompts: list[str], targets: list[list[int]]) -> list[tuple[list[int], list[Any]]]:
        """Return ``(members, logits)`` per distinct prompt: each encoded once, in batches."""
        groups: dict[str, list[int]] = {}
        for k, p in enumerate(prompts):
            groups.setdefault(p, []).append(k)
        items = list(groups.items())
        out = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            logits = self.engine.continuation_logits(
                [self.tokens(p) for p, _ in chunk], [[targets[k] for k in m] for _, m in chunk]
            )
            out += [(members, rows) for (_, members), rows in zip(chunk, logits, strict=True)]
        return out

    def _logprob_plain(self, prompt_ids: list[list[int]], targets: list[list[int]]) -> list[np.ndarray]:
        """Score every (prompt, continuation) pair from scratch, right-padded in batches (no caching)."""
        torch = self.torch
        pairs = list(zip(prompt_ids, targets, strict=True))
        results: list[np.ndarray] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            width = max(len(p) + len(c) for p, c in chunk)
            ids = torch.full((len(chunk), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, (p, c) in enumerate(chunk):
                seq = p + c
                ids[r, : len(seq)] = torch.tensor(seq)
                mask[r, : len(seq)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device))
            logp = torch.log_softmax(logits.logits.float().cpu(), dim=-1)
            for r, (p, c) in enumerate(chunk):
                positions = torch.arange(len(p) - 1, len(p) + len(c) - 1)
                results.append(logp[r, positions, torch.tensor(c)].numpy().astype(np.float64))
        return results


class _GrammarProcessor:
    """A transformers logits processor that keeps each row to its grammar (the plain path)."""

    def __init__(self, grammars: list[Allowed], prompt_length: int) -> None:
        self.grammars, self.prompt_length = grammars, prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        mask = torch.zeros_like(scores)
        for row, grammar in enumerate(self.grammars):
            if grammar is None:
                continue
            options = grammar(input_ids[row, self.prompt_length :].tolist())
            if options is not None:
                mask[row] = float("-inf")
                mask[row, options] = 0.0
        return scores + mask


def _has_processors(model: Any) -> bool:
    """Whether the model's generation config asks for processors greedy decoding must apply (then: no caching)."""
    config = getattr(model, "generation_config", None)
    if config is None:
        return False
    return bool(
        (config.repetition_penalty not in (None, 1.0))
        or config.no_repeat_ngram_size
        or getattr(config, "bad_words_ids", None)
        or getattr(config, "suppress_tokens", None)
    )


def _until_eos(tokens: list[int], eos: int | None) -> list[int]:
    if eos is not None and eos in tokens:
        return tokens[: tokens.index(eos)]
    return tokens
