"""A lean forward pass of BERT sentence encoders (all-MiniLM-L6-v2): mean-pooled, normalised embeddings.

The same arithmetic as transformers' ``BertModel`` followed by mean pooling (the cosine of the
two is 1.0 to float rounding in float32), with the query, key and value projections fused into
one matrix product and none of the per-module overhead; for one short query (what activation
checks embed on every step) that overhead is most of the time. Weights can be held in
bfloat16, which halves the time on CPUs with native bf16 (cosine to float32 > 0.9999).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["LeanEncoder"]


class LeanEncoder:
    """Mean-pooled, L2-normalised embeddings from a loaded transformers ``BertModel``."""

    def __init__(self, model: Any, dtype: Any = None) -> None:
        config = model.config
        self._build(
            {k: v.detach() for k, v in model.state_dict().items()},
            {
                "hidden_size": config.hidden_size,
                "num_attention_heads": config.num_attention_heads,
                "num_hidden_layers": config.num_hidden_layers,
                "layer_norm_eps": config.layer_norm_eps,
                "hidden_act": getattr(config, "hidden_act", "gelu"),
                "position_embedding_type": getattr(config, "position_embedding_type", "absolute"),
            },
            dtype,
        )

    @classmethod
    def from_folder(cls, path: str, dtype: Any = None) -> LeanEncoder:
        """Return the encoder of a model folder's ``config.json`` and ``model.safetensors``, without transformers.

        Importing transformers and building its ``BertModel`` takes about two seconds, most of
        the first query of a freshly loaded memory; the weights alone load in a tenth of that.
        """
        import json

        from safetensors.torch import load_file

        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        state = load_file(os.path.join(path, "model.safetensors"))
        if "bert.embeddings.word_embeddings.weight" in state:  # saved from a model with a head
            state = {k[5:]: v for k, v in state.items() if k.startswith("bert.")}
        encoder = cls.__new__(cls)
        encoder._build(state, config, dtype)
        return encoder

    def _build(self, sd: dict[str, Any], config: dict[str, Any], dtype: Any) -> None:
        import torch

        self.torch = torch
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        if (
            config.get("hidden_act", "gelu") != "gelu"
            or (config.get("position_embedding_type") or "absolute") != "absolute"
        ):
            raise ValueError("LeanEncoder implements BERT with gelu and absolute positions")
        self.dtype = dtype or torch.float32

        def get(key: str, transpose: bool = False) -> Any:
            t = sd[key].to(self.dtype)
            return t.t().contiguous() if transpose else t

        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = get("embeddings.token_type_embeddings.weight")[0]
        self.norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            names = ("query", "key", "value")
            self.layers.append(
                {
                    "qkv": torch.cat([get(p + f"attention.self.{n}.weight") for n in names]).t().contiguous(),
                    "qkv_bias": torch.cat([get(p + f"attention.self.{n}.bias") for n in names]),
                    "out": get(p + "attention.output.dense.weight", True),
                    "out_bias": get(p + "attention.output.dense.bias"),
                    "norm1": (get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias")),
                    "up": get(p + "intermediate.dense.weight", True),
                    "up_bias": get(p + "intermediate.dense.bias"),
                    "down": get(p + "output.dense.weight", True),
                    "down_bias": get(p + "output.dense.bias"),
                    "norm2": (get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
                }
            )

    def __call__(self, ids: Any, mask: Any) -> Any:
        """Return ``(batch, hidden)`` float32 unit vectors for token ids and their attention mask."""
        torch = self.torch
        f = torch.nn.functional
        batch, length = ids.shape
        h, heads = self.hidden, self.heads
        x = self.word[ids] + self.position[:length] + self.token_type
        x = f.layer_norm(x, (h,), *self.norm, eps=self.eps).reshape(batch * length, h)
        keys = None if bool(mask.all()) else mask[:, None, None, :].bool()
        for layer in self.layers:
            qkv = torch.addmm(layer["qkv_bias"], x, layer["qkv"])
            qkv = qkv.view(batch, length, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
            a = f.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=keys)
            a = a.transpose(1, 2).reshape(batch * length, h)
            x = f.layer_norm(x + torch.addmm(layer["out_bias"], a, layer["out"]), (h,), *layer["norm1"], eps=self.eps)
            up = f.gelu(torch.addmm(layer["up_bias"], x, layer["up"]))
            x = f.layer_norm(
                x + torch.addmm(layer["down_bias"], up, layer["down"]), (h,), *layer["norm2"], eps=self.eps
            )
        x = x.view(batch, length, h).float()
        weights = mask.unsqueeze(-1).float()
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return f.normalize(pooled, dim=1)
