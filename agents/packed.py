"""A packed sequence: the rows of a batch as spans of one sequence in a causal LM's cache.

The model runs with batch size 1 on a sequence that holds every row's tokens back to back;
each token has the position it has in its own prompt, and attention lets it see exactly the
spans its row is made of, causally. Attention is computed group by group (:class:`Layout`):
a group is one row, or the short continuations of one prompt that all see that prompt, so its
cost is what each group sees, never the whole sequence. Keys and values live in growable
buffers (:class:`Packed`), so a pass writes its new tokens in place instead of copying the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Packed", "Lane", "Layout", "cache_for", "use_block_attention", "BLOCK_ATTENTION"]

#: The attention implementation :func:`use_block_attention` registers.
BLOCK_ATTENTION = "procmem_block"
#: Groups this wide (queries) are attended one by one at their exact size; narrower ones as one batch.
PER_GROUP_QUERIES = 128


class Packed:
    """Per-layer keys and values ``(1, kv_heads, length, head_dim)`` of a packed sequence, in growable buffers."""

    def __init__(self) -> None:
        self._keys: list[Any] = []
        self._values: list[Any] = []
        self.length = 0

    def keys(self, layer: int) -> Any:
        """Return the keys of a layer (a view of its buffer)."""
        return self._keys[layer][:, :, : self.length]

    def values(self, layer: int) -> Any:
        """Return the values of a layer (a view of its buffer)."""
        return self._values[layer][:, :, : self.length]

    @property
    def layers(self) -> int:
        """Return the number of layers held (0 before the first write)."""
        return len(self._keys)

    def write(self, layer: int, keys: Any, values: Any) -> tuple[Any, Any]:
        """Write a pass's new keys and values after the held ones; return all of them (views).

        The held length does not change until :meth:`advance`, so a pass that is not kept
        leaves the sequence as it was.
        """
        import torch

        end = self.length + keys.shape[2]
        while layer >= len(self._keys):
            self._keys.append(None)
            self._values.append(None)
        buffer = self._keys[layer]
        if buffer is None or buffer.shape[2] < end:
            size = max(end, 2 * (buffer.shape[2] if buffer is not None else 0), 64)
            for store in (self._keys, self._values):
                old = store[layer]
                ref = keys if old is None else old
                new = torch.empty((1, ref.shape[1], size, ref.shape[3]), dtype=ref.dtype, device=ref.device)
                if old is not None and self.length:
                    new[:, :, : self.length] = old[:, :, : self.length]
                store[layer] = new
        self._keys[layer][:, :, self.length : end] = keys
        self._values[layer][:, :, self.length : end] = values
        return self._keys[layer][:, :, :end], self._values[layer][:, :, :end]

    def advance(self, count: int) -> None:
        """Keep the ``count`` tokens the last pass wrote."""
        self.length += count

    def extend(self, other: Packed) -> int:
        """Append another packed sequence; return where it starts."""
        start = self.length
        for layer in range(other.layers):
            self.write(layer, other.keys(layer), other.values(layer))
        self.advance(other.length)
        return start

    def gather(self, spans: list[tuple[int, int]]) -> Packed:
        """Return the tokens of ``spans`` as a new, contiguous packed sequence."""
        import torch

        out = Packed()
        index = torch.cat([torch.arange(a, b) for a, b in spans])
        for layer in range(self.layers):
            i = index.to(self._keys[layer].device)
            out.write(layer, self.keys(layer).index_select(2, i), self.values(layer).index_select(2, i))
        out.advance(len(index))
        return out


@dataclass
class Lane:
    """One row in a packed sequence: the spans of the sequence it sees, and the position of its next token."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    next_pos: int = 0

    def copy(self) -> Lane:
        """Return an independent copy (two rows that shared a prompt go on separately)."""
        return Lane(list(self.spans), self.next_pos)


def cache_for(packed: Packed, layers: int) -> Any:
    """Return a transformers ``Cache`` whose layers write into ``packed``."""
    from transformers.cache_utils import Cache, DynamicLayer

    class _PackedLayer(DynamicLayer):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index
            self.is_initialized = True

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            return packed.write(self.index, key_states, value_states)

        def get_seq_length(self) -> int:
            return packed.length

    return Cache(layers=[_PackedLayer(i) for i in range(layers)])


class Layout:
    """Who sees what in one pass over a packed sequence, as attention groups.

    A group is lanes that see the same held tokens (``shared``: sequence indices); each lane
    adds a run of new tokens (``(offset, length)`` among the pass's tokens) that only it sees,
    causally. Attention is computed per group on gathered keys (:meth:`attend`), or, for models
    whose attention cannot take the layout, from one dense mask (:meth:`dense`).
    """

    def __init__(
        self, torch: Any, past: int, count: int, groups: list[tuple[list[int], list[tuple[int, int]]]]
    ) -> None:
        self.torch, self.past, self.count = torch, past, count
        self.groups = groups
        self.sizes = [(sum(n for _, n in lanes), len(shared) + sum(n for _, n in lanes)) for shared, lanes in groups]
        width = max(q for q, _ in self.sizes)
        depth = max(k for _, k in self.sizes)
        g = len(groups)
        # pads point at index 0 (a real token, never attended: a pad query sees only the last
        # column, which real queries never see, so no softmax row is empty)
        self.q_index = torch.zeros((g, width), dtype=torch.long)
        self.k_index = torch.zeros((g, depth), dtype=torch.long)
        self.mask = torch.zeros((g, 1, width, depth), dtype=torch.bool)
        self.mask[:, :, :, depth - 1] = True
        rows, cols, where = [], [], []
        for row, (shared, lanes) in enumerate(groups):
            s = len(shared)
            if s:
                self.k_index[row, :s] = torch.tensor(shared, dtype=torch.long)
            q = 0
            for start, n in lanes:
                self.q_index[row, q : q + n] = torch.arange(start, start + n)
                self.k_index[row, s + q : s + q + n] = past + torch.arange(start, start + n)
                self.mask[row, 0, q : q + n, depth - 1] = False
                self.mask[row, 0, q : q + n, :s] = True
                self.mask[row, 0, q : q + n, s + q : s + q + n] = torch.ones((n, n), dtype=torch.bool).tril()
                rows += [row] * n
                cols += range(q, q + n)
                where += range(start, start + n)
                q += n
        order = torch.tensor(where, dtype=torch.long).argsort()
        self.rows = torch.tensor(rows, dtype=torch.long)[order]  # group and slot of each new token, in order
        self.cols = torch.tensor(cols, dtype=torch.long)[order]

    def dense(self) -> Any:
        """Return the ``(1, 1, count, past + count)`` mask of the same pass (for attention without the layout)."""
        torch = self.torch
        mask = torch.zeros((self.count, self.past + self.count), dtype=torch.bool)
        for row, (n, m) in enumerate(self.sizes):
            q, k = self.q_index[row, :n], self.k_index[row, :m]
            mask[q[:, None], k[None, :]] |= self.mask[row, 0, :n, :m]
        return mask[None, None]

    def attend(self, query: Any, key: Any, value: Any, scaling: float | None) -> Any:
        """Return attention outputs ``(1, count, heads, dim)`` computed group by group on gathered keys.

        Wide groups (a long prefill) run one exact-size attention each; narrow ones (decoding,
        scoring) run as one padded batch.
        """
        torch = self.torch
        sdpa = torch.nn.functional.scaled_dot_product_attention
        gqa = query.shape[1] != key.shape[1]
        device = query.device
        if self.q_index.shape[1] >= PER_GROUP_QUERIES:
            out = torch.empty((self.count, query.shape[1], query.shape[3]), dtype=query.dtype, device=device)
            flash = _flash_with_lse(torch, device)
            for row, (n, m) in enumerate(self.sizes):
                qi = self.q_index[row, :n].to(device)
                if flash is not None:
                    o = self._split(flash, query, key, value, scaling, row)
                else:
                    ki = self.k_index[row, :m].to(device)
                    mask = self.mask[row, :, :n, :m].to(device)
                    o = sdpa(
                        query[:, :, qi], key[:, :, ki], value[:, :, ki], attn_mask=mask, scale=scaling, enable_gqa=gqa
                    )
                out[qi] = o[0].transpose(0, 1)
            return out[None], None
        q = query[0][:, self.q_index.to(device)].transpose(0, 1)  # (groups, heads, width, dim)
        k = key[0][:, self.k_index.to(device)].transpose(0, 1)
        v = value[0][:, self.k_index.to(device)].transpose(0, 1)
        out = sdpa(q, k, v, attn_mask=self.mask.to(device), scale=scaling, enable_gqa=gqa)
        return out.permute(0, 2, 1, 3)[self.rows.to(device), self.cols.to(device)][None].contiguous(), None

    def _split(self, flash: Any, query: Any, key: Any, value: Any, scaling: float | None, row: int) -> Any:
        """Return one group's attention ``(1, heads, n, dim)`` without a mask: held part and own parts, merged.

        Each lane's queries see all the group's held tokens (no mask) and their own new tokens
        causally (a square causal block). Both are computed by the fused kernel, which also gives
        each query's log-sum-exp, and merged exactly: the softmax over the union of two key sets is
        the two softmaxes weighted by their normalisers. A masked attention over the same keys
        computes the same numbers but takes the kernel's slow path (about 4x slower on a CPU).
        """
        torch = self.torch
        shared, lanes = self.groups[row]
        lanes = [(a, n) for a, n in lanes if n > 0]  # the fused kernel divides by the length: never call it on none
        if not lanes:
            return query.new_zeros((1, query.shape[1], 0, query.shape[3]))
        repeat = query.shape[1] // key.shape[1]

        def heads(t: Any) -> Any:
            return t.repeat_interleave(repeat, dim=1) if repeat > 1 else t

        def joined(parts: list[Any]) -> Any:
            return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)

        queries = [query[:, :, a : a + n] for a, n in lanes]
        own, own_lse = [], []
        for q, (a, n) in zip(queries, lanes, strict=True):
            run = slice(self.past + a, self.past + a + n)
            o, lse = flash(q, heads(key[:, :, run]), heads(value[:, :, run]), 0.0, True, scale=scaling)[:2]
            own.append(o)
            own_lse.append(lse)
        o2 = joined(own)
        if not shared:
            return o2
        l2 = joined(own_lse)
        held = self.k_index[row, : len(shared)].to(query.device)
        o1, l1 = flash(joined(queries), heads(key[:, :, held]), heads(value[:, :, held]), 0.0, False, scale=scaling)[:2]
        top = torch.maximum(l1, l2)
        w1, w2 = (l1 - top).exp()[..., None], (l2 - top).exp()[..., None]
        return ((o1.float() * w1 + o2.float() * w2) / (w1 + w2)).to(query.dtype)


def _flash_with_lse(torch: Any, device: Any) -> Any:
    """Return the CPU fused attention that also gives log-sum-exps, or None (other devices, other torch)."""
    if device.type != "cpu":
        return None
    return getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def use_block_attention(model: Any) -> bool:
    """Give the model an attention that computes packed passes group by group (sdpa otherwise); return if it did.

    Only models on PyTorch's ``sdpa`` attention are switched: without a layout the new attention
    *is* sdpa, so the model computes exactly what it did before everywhere else.
    """
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) not in ("sdpa", BLOCK_ATTENTION):
        return False
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def block_attention(
        module: Any,
        query: Any,
        key: Any,
        value: Any,
        attention_mask: Any,
        dropout: float = 0.0,
        scaling: float | None = None,
        packed_layout: Layout | None = None,
        **kwargs: Any,
    ) -> Any:
        if packed_layout is None:
            return sdpa_attention_forward(
                module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
            )
        return packed_layout.attend(query, key, value, scaling)

    AttentionInterface.register(BLOCK_ATTENTION, block_attention)
    AttentionMaskInterface.register(BLOCK_ATTENTION, sdpa_mask)
    if config._attn_implementation != BLOCK_ATTENTION:
        model.set_attn_implementation(BLOCK_ATTENTION)
    return True
