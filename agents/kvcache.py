"""Prompt caching for local causal LMs: no prompt text is run through the model twice, and no pad ever is.

The rows of a batch are spans of one packed sequence (:mod:`procmem_gym.agents.packed`). On it:

- **Prefix reuse.** Every encoded prompt is kept (:class:`PrefixStore`, LRU-bounded in tokens);
  a new prompt reuses the longest prefix any stored prompt shares with it: the static head
  (system text, task) of every prompt of an env, and, where prompts only grow from step to step,
  all of the slot's previous prompt.
- **No padding.** Rows of different lengths cost the tokens they have, not the longest row's;
  identical rows are encoded once.
- **One prompt pass per choice.** Scoring N continuations of a prompt (:meth:`PromptCache.score`)
  encodes the prompt once and runs all continuations of all prompts in one pass that sees it.
- **Forced tokens.** :meth:`PromptCache.generate` appends the tokens a grammar forces (the only
  allowed token) without a decoding step, and feeds them with the next chosen token in one pass.

Every token's keys, values and logits are computed from exactly what it would see if its
prompt were encoded alone, so results equal the plain path up to float rounding.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .packed import BLOCK_ATTENTION, Lane, Layout, Packed, cache_for, use_block_attention

__all__ = ["PromptCache", "PrefixStore", "supported"]


def supported(model: Any) -> bool:
    """Return whether the model takes what the cache needs (a ``cache`` object, 4D masks, position ids)."""
    try:
        from transformers.cache_utils import Cache, DynamicLayer  # noqa: F401
    except ImportError:
        return False
    params = inspect.signature(model.forward).parameters
    return "cache" in params and "position_ids" in params and "logits_to_keep" in params


class PromptCache:
    """Encodes prompts for a causal LM on a packed sequence with reused prefixes (see the module docstring)."""

    def __init__(self, model: Any, capacity: int | None = None) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.device = next(model.parameters()).device
        #: Encoded prompts kept for reuse, at most ``capacity`` tokens in all (default: :func:`default_capacity`).
        self.store = PrefixStore(capacity if capacity is not None else default_capacity(model))
        self.layers = int(model.config.num_hidden_layers)
        self.block_attention = use_block_attention(model)
        #: Counters for benchmarks: tokens run through the model, and prompt tokens served from the store.
        self.encoded_tokens = 0
        self.reused_tokens = 0

    # ------------------------------------------------------------------ one pass
    def run(
        self,
        packed: Packed,
        lanes: list[Lane],
        tokens: list[list[int]],
        keep: list[list[int]],
        store: bool = True,
        share: bool = False,
    ) -> list[Any]:
        """Run ``tokens[i]`` for lane ``i`` against ``packed``; return logits at the asked token indices.

        ``keep[i]`` lists indices into ``tokens[i]`` whose next-token logits are wanted. With
        ``store`` the new tokens join ``packed`` and each lane's spans; otherwise nothing is kept.
        Each lane is an attention group, or with ``share`` lanes that see the same spans (the
        short continuations of one prompt) form one.
        """
        torch = self.torch
        past = packed.length
        groups: dict[Any, list[int]] = {}
        for i, lane in enumerate(lanes):
            groups.setdefault(tuple(lane.spans) if share else i, []).append(i)
        offset, cursor = {}, 0
        for members in groups.values():
            for i in members:
                offset[i], cursor = cursor, cursor + len(tokens[i])
        order = sorted(offset, key=offset.__getitem__)
        flat = [t for i in order for t in tokens[i]]
        positions = [lanes[i].next_pos + k for i in order for k in range(len(tokens[i]))]
        layout = Layout(
            torch,
            past,
            cursor,
            [
                (
                    [r for a, b in lanes[members[0]].spans for r in range(a, b)],
                    [(offset[i], len(tokens[i])) for i in members],
                )
                for members in groups.values()
            ],
        )
        wanted = torch.tensor([offset[i] + k for i, ks in enumerate(keep) for k in ks], dtype=torch.long)
        kwargs: dict[str, Any] = {}
        if self.model.config._attn_implementation == BLOCK_ATTENTION:
            mask, kwargs["packed_layout"] = torch.ones((1, 1, 1, 1), dtype=torch.bool), layout
        else:
            mask = layout.dense()
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.tensor([flat], dtype=torch.long, device=self.device),
                attention_mask=mask.to(self.device),
                position_ids=torch.tensor([positions], dtype=torch.long, device=self.device),
                cache=cache_for(packed, self.layers),
                use_cache=True,
                logits_to_keep=wanted.to(self.device),
                **kwargs,
            )
        self.encoded_tokens += cursor
        if store:
            packed.advance(cursor)
            for i, lane in enumerate(lanes):
                if tokens[i]:
                    lane.spans.append((past + offset[i], past + offset[i] + len(tokens[i])))
                    lane.next_pos += len(tokens[i])
        logits = out.logits[0].float().cpu()
        result, start = [], 0
        for ks in keep:
            result.append(logits[start : start + len(ks)])
            start += len(ks)
        return result

    # ------------------------------------------------------------------ prompts
    def prefill(self, rows: Sequence[list[int]]) -> tuple[Packed, list[Lane], list[Any]]:
        """Encode prompts; return the packed sequence, one lane per row, and each row's next-token logits.

        Each row reuses the longest prefix any stored prompt shares with it (its head at least),
        identical rows are encoded once, and every encoded prompt is stored for later rows.
        """
        order: dict[tuple[int, ...], int] = {}
        for row in rows:
            order.setdefault(tuple(row), len(order))
        prompts = list(order)
        matches = [self.store.match(p) for p in prompts]
        packed, placed = Packed(), {}
        for entry, _ in matches:
            if entry is not None and id(entry) not in placed:
                placed[id(entry)] = packed.extend(entry.packed)
        lanes = []
        for entry, shared in matches:
            start = placed[id(entry)] if entry is not None else 0
            lanes.append(Lane([(start, start + shared)] if shared else [], shared))
            self.reused_tokens += shared
        tails = [list(p[shared:]) for p, (_, shared) in zip(prompts, matches, strict=True)]
        logits = self.run(packed, lanes, tails, [[len(t) - 1] for t in tails])
        for prompt, lane in zip(prompts, lanes, strict=True):
            if prompt not in self.store:
                self.store.add(prompt, packed.gather(lane.spans))
        index = [order[tuple(row)] for row in rows]
        return packed, [lanes[k].copy() for k in index], [logits[k][-1] for k in index]

    # ------------------------------------------------------------------ scoring
    def continuation_logits(
        self, prompts: Sequence[list[int]], continuations: Sequence[Sequence[list[int]]]
    ) -> list[list[Any]]:
        """Return, per prompt and continuation, the ``(len(c), vocab)`` next-token logits before each of its tokens.

        Row ``k`` of a continuation's logits predicts its token ``k``. One pass encodes the
        prompts, one more runs every continuation against them, without keeping their keys.
        """
        torch = self.torch
        packed, lanes, last = self.prefill(prompts)
        views, tokens, keep = [], [], []
        for lane, conts in zip(lanes, continuations, strict=True):
            for c in conts:
                views.append(lane)
                tokens.append(list(c[:-1]))  # the last token's own logits predict nothing wanted
                keep.append(list(range(len(c) - 1)))
        logits = self.run(packed, views, tokens, keep, store=False, share=True) if any(tokens) else []
        out: list[list[Any]] = []
        k = 0
        for first, conts in zip(last, continuations, strict=True):
            rows = []
            for c in conts:
                rows.append(torch.cat([first[None], logits[k]]) if len(c) > 1 else first[None])
                k += 1
            out.append(rows)
        return out

    def score(self, prompts: Sequence[list[int]], continuations: Sequence[Sequence[list[int]]]) -> list[list[Any]]:
        """Return per-token log-probabilities of each prompt's continuations; every prompt is encoded once."""
        torch = self.torch
        out = []
        for conts, rows in zip(continuations, self.continuation_logits(prompts, continuations), strict=True):
            scored = []
            for c, logits in zip(conts, rows, strict=True):
                logp = torch.log_softmax(logits, dim=-1)
                scored.append(logp[torch.arange(len(c)), torch.tensor(c)].numpy().astype(np.float64))
            out.append(scored)
        return out

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        rows: Sequence[list[int]],
        choose: Callable[[int, list[int], Any], int | None],
        forced: Callable[[int, list[int]], list[int] | None],
        max_new_tokens: int,
    ) -> list[list[int]]:
        """Decode rows until they end; return each row's new tokens.

        ``forced(row, generated)`` says what comes next: ``None`` when the row is over, ``[]`` when
        the next token is the model's choice, else tokens a grammar forces (appended without a
        decoding step, and fed with the next chosen token in one pass).
        ``choose(row, generated, logits)`` picks the next token from the row's next-token logits
        (``None`` ends the row).
        """
        generated: list[list[int]] = [[] for _ in rows]

        def settle(r: int) -> bool:
            """Append forced tokens; return whether the row needs a choice by the model next."""
            while len(generated[r]) < max_new_tokens:
                nxt = forced(r, generated[r])
                if nxt is None:
                    return False
                if not nxt:
                    return True
                generated[r] += nxt[: max_new_tokens - len(generated[r])]
            return False

        alive = [r for r in range(len(rows)) if settle(r)]
        if not alive:
            return generated
        packed, lanes, logits = self.prefill([list(rows[r]) + generated[r] for r in alive])
        while alive:
            feed = {}
            for lane, r, row_logits in zip(lanes, alive, logits, strict=True):
                token = choose(r, generated[r], row_logits)
                if token is None:
                    continue
                before = len(generated[r])
                generated[r].append(token)
                if settle(r):
                    feed[r] = (lane, generated[r][before:])
            if not feed:
                break
            alive = list(feed)
            lanes = [feed[r][0] for r in alive]
            out = self.run(packed, lanes, [feed[r][1] for r in alive], [[len(feed[r][1]) - 1] for r in alive])
            logits = [o[-1] for o in out]
        return generated


@dataclass
class _Entry:
    tokens: np.ndarray
    packed: Packed | None


#: The keys and values the prefix store may hold by default, in bytes.
CACHE_BYTES = 1 << 30


def default_capacity(model: Any, budget: int = CACHE_BYTES) -> int:
    """Return how many tokens of keys and values fit ``budget`` bytes for ``model`` (8,192 to 65,536).

    SmolLM2-135M in float32 keeps 46 KB per token, so about 23,000 tokens: eight ALFWorld slots with
    prompts of 1,200 tokens (task, memories, commands) and their previous prompts all stay stored.
    """
    config = getattr(model, "config", None)
    try:
        layers = int(config.num_hidden_layers)
        heads = int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
        dim = int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)
        size = next(model.parameters()).element_size()
    except (AttributeError, TypeError, ValueError, StopIteration):
        return 8192
    per_token = 2 * layers * heads * dim * size
    return int(min(65536, max(8192, budget // max(per_token, 1))))


class PrefixStore:
    """Encoded prompts by their tokens, for reuse of the longest shared prefix; LRU-bounded in tokens.

    The match of a new prompt is the stored prompt sharing the longest prefix with it: the head
    of a new episode's prompt (system text, task) matches any earlier prompt of the same env, a
    prompt that only grows (a board listing earlier guesses first) matches the slot's previous one.

    >>> store = PrefixStore(capacity=100)
    >>> store.add((1, 2, 3, 4, 5), packed=None)
    >>> entry, shared = store.match((1, 2, 3, 4, 9))
    >>> shared
    4
    """

    def __init__(self, capacity: int = 8192, minimum: int = 4) -> None:
        self.capacity, self.minimum = capacity, minimum
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
        self._tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tokens: object) -> bool:
        return tokens in self._entries

    def match(self, tokens: tuple[int, ...]) -> tuple[_Entry | None, int]:
        """Return the entry sharing the longest prefix with ``tokens`` and its length (< ``len(tokens)``).

        At least one token of a prompt is always left to encode (its logits are needed); shared
        prefixes shorter than ``minimum`` tokens are not worth a copy and are not reused.
        """
        query = np.asarray(tokens, dtype=np.int64)
        best, shared = None, 0
        for key, entry in self._entries.items():
            n = min(len(entry.tokens), len(query) - 1)
            if n <= shared:
                continue
            same = entry.tokens[:n] == query[:n]
            length = n if same.all() else int(np.argmin(same))
            if length > shared:
                best, shared = key, length
        if best is None or shared < self.minimum:
            return None, 0
        self._entries.move_to_end(best)
        return self._entries[best], shared

    def add(self, tokens: tuple[int, ...], packed: Packed | None) -> None:
        """Store an encoded prompt (most recently used), evicting the least recently used beyond capacity."""
        if len(tokens) < self.minimum or len(tokens) > self.capacity:
            return
        if tokens in self._entries:
            self._entries.move_to_end(tokens)
            return
        self._entries[tokens] = _Entry(np.asarray(tokens, dtype=np.int64), packed)
        self._tokens += len(tokens)
        while self._tokens > self.capacity:
            _, old = self._entries.popitem(last=False)
            self._tokens -= len(old.tokens)
