"""HFPolicy: a local transformers causal LM as a policy, fully offline, batched, with constrained actions.

- Prompts come from the tokenizer's chat template and a per-environment template
  (:mod:`procmem_gym.agents.prompts`): system text, recent history, the active skill's guidance,
  the observation.
- ``generate`` decodes greedily with left-padded batches.
- With ``constrain=True`` the policy never emits an invalid format: a list of admissible
  commands is scored by length-normalised log-likelihood (one batched forward pass), and a
  Mastermind guess is decoded under a grammar (:class:`MastermindGrammar`).
- ``logprob(prompts, continuations)`` gives exact summed log-probabilities (the PPO gate uses it).

torch and transformers are imported when a model is loaded; without them the error names the
extra to install.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from procmem_gym.errors import MissingExtraError, ProcMemError, UsageError

from .kvcache import PromptCache, supported
from .policy import BasePolicy
from .prompts import (
    PromptTemplate,
    SlotHistory,
    build_messages,
    mastermind_variant,
    parse_action,
    template_for,
)

__all__ = ["HFPolicy", "ModelNotFoundError", "require_torch"]


class ModelNotFoundError(ProcMemError, FileNotFoundError):
    """A model path or package that is not on this machine; the message says how to get it."""


def require_torch() -> tuple[Any, Any]:
    """Return ``(torch, transformers)`` or raise ImportError naming the ``hf`` extra."""
    try:
        import torch
        import transformers
    except ImportError as err:
        raise MissingExtraError(
            'LLM policies need torch and transformers: pip install torch==2.13.0 "procmem-gym[hf]"'
        ) from err
    return torch, transformers


class HFPolicy(BasePolicy):
    """A causal LM from a local folder (or GGUF file) acting through chat prompts.

    >>> policy = HFPolicy.from_pretrained("path/to/model", env_id="procmem_gym/Mastermind-v0")  # doctest: +SKIP
    >>> policy.act(obs, info)  # doctest: +SKIP
    '[1 2 3 4]'
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        env_id: str | None = None,
        template: PromptTemplate | None = None,
        max_new_tokens: int = 24,
        batch_size: int = 8,
        constrain: bool = True,
        name: str | None = None,
        cache: bool = True,
        cache_tokens: int = 8192,
        device: str | None = None,
    ) -> None:
        torch, _ = require_torch()
        self.torch = torch
        if device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.template = template or template_for(env_id)
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.constrain = constrain
        if name:
            self.name = name
        self.model_calls = 0
        self.generated_tokens = 0
        self.history = SlotHistory(self.template.history)
        #: True: prompt caching (heads, one pass per choice, forced tokens); False: the plain path of issue 4.
        self.cache = bool(cache) and supported(model) and not _has_processors(model)
        self._engine = PromptCache(model, capacity=cache_tokens) if self.cache else None

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, gguf_file: str | None = None, dtype: str | None = None, **kwargs: Any
    ) -> HFPolicy:
        """Load a model folder (or ``gguf_file`` inside it) with ``local_files_only=True``.

        ``dtype="bfloat16"`` halves memory and, on CPUs with AMX or AVX512-BF16, makes batched
        generation several times faster; float32 (the default) keeps log-probabilities exact.
        """
        torch, transformers = require_torch()
        path = Path(path)
        if path.suffix == ".gguf" and gguf_file is None:
            path, gguf_file = path.parent, path.name
        if not path.is_dir() or (gguf_file and not (path / gguf_file).is_file()):
            where = path / gguf_file if gguf_file else path
            raise ModelNotFoundError(
                f"no model at {where}: pass a local model folder or GGUF file (nothing is downloaded)"
            )
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        transformers.utils.logging.disable_progress_bar()
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True, **extra)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **extra)
        if dtype is not None:
            if dtype not in ("float32", "bfloat16", "float16"):
                raise UsageError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
            model = model.to(getattr(torch, dtype))
        return cls(model, tokenizer, **kwargs)

    # ------------------------------------------------------------------ prompts
    def reset(self, seed: int | None = None, index: int | None = None) -> None:
        """Forget the history of one batch slot (``index``) or of all; seed torch for sampling."""
        self.history.clear(index)
        if seed is not None:
            self.torch.manual_seed(seed)

    def observe(self, observation: Any, info: dict[str, Any], action: Any, slot: int = 0) -> None:
        """Add a step a skill chose to the slot's history, so later prompts show it."""
        self.history.add(slot, observation, str(action))

    def prompt(self, observation: Any, info: dict[str, Any], slot: int = 0) -> str:
        """Return the chat prompt for one observation (history of ``slot``, guidance from ``info``)."""
        messages = build_messages(self.template, str(observation), info, self.history.get(slot))
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "\n\n".join(m["content"] for m in messages) + "\n\nAnswer: "
        return text

    # ------------------------------------------------------------------ model primitives
    def _tokens(self, prompt: str) -> list[int]:
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def generate(
        self, prompts: Sequence[str], max_new_tokens: int | None = None, variants: list | None = None
    ) -> list[str]:
        """Return greedy completions of ``prompts`` (batched).

        ``variants`` (one ``(code_length, num_digits, allow_repeats)`` or None per prompt)
        constrains those rows to Mastermind guesses.
        """
        limit = max_new_tokens or self.max_new_tokens
        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = list(prompts[start : start + self.batch_size])
            rows_variants = variants[start : start + len(chunk)] if variants is not None else None
            if self.cache:
                rows = self._generate_cached(chunk, limit, rows_variants)
            else:
                rows = self._generate_plain(chunk, limit, rows_variants)
            for tokens in rows:
                self.generated_tokens += len(tokens)
                out.append(self.tokenizer.decode(tokens, skip_special_tokens=True))
            self.model_calls += len(chunk)
        return out

    def _generate_cached(self, prompts: list[str], limit: int, variants: list | None) -> list[list[int]]:
        """Greedy decoding on cached heads; tokens the grammar forces cost no decoding step."""
        from .constraints import MastermindGrammar

        torch = self.torch
        eos = self.tokenizer.eos_token_id
        grammar = MastermindGrammar(self.tokenizer, 0, variants) if variants is not None else None

        def allowed(r: int, generated: list[int]) -> list[int] | None:
            if grammar is None or grammar.variants[r] is None:
                return None
            return grammar.allowed(r, generated)

        def forced(r: int, generated: list[int]) -> list[int] | None:
            if generated and generated[-1] == eos:
                return None
            options = allowed(r, generated)
            if options is None:
                return []
            if options == [eos]:
                return None  # the guess is complete: the end of text is the only continuation
            return options if len(options) == 1 else []

        def choose(r: int, generated: list[int], logits: Any) -> int | None:
            options = allowed(r, generated)
            if options is None:
                return int(torch.argmax(logits))
            index = torch.tensor(options, dtype=torch.long)
            return options[int(torch.argmax(logits[index]))]

        rows = self._engine.generate([self._tokens(p) for p in prompts], choose, forced, limit)
        return [_until_eos(row, eos) for row in rows]

    def _generate_plain(self, prompts: list[str], limit: int, variants: list | None) -> list[list[int]]:
        """Greedy decoding with ``model.generate`` on left-padded prompts (the path without caching)."""
        from transformers import LogitsProcessorList

        from .constraints import MastermindGrammar

        torch = self.torch
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        length = enc["input_ids"].shape[1]
        processors = LogitsProcessorList()
        if variants is not None:
            processors.append(MastermindGrammar(self.tokenizer, length, variants))
        with torch.inference_mode():
            generated = self.model.generate(
                **enc,
                max_new_tokens=limit,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                logits_processor=processors,
            )
        return [_until_eos(row, self.tokenizer.eos_token_id) for row in generated[:, length:].tolist()]

    def logprob_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[np.ndarray]:
        """Return, per pair, the log-probability of each continuation token given prompt + earlier tokens.

        The continuation is tokenized on its own and appended to the prompt's tokens, so the
        boundary is the same for every candidate. Rows are right-padded (positions stay exact).
        """
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        tok = self.tokenizer
        targets = []
        for c in continuations:
            ids = tok(c, add_special_tokens=False)["input_ids"]
            if not ids:
                raise ValueError(f"continuation {c!r} has no tokens")
            targets.append(ids)
        if self.cache:
            return self._logprob_cached(list(prompts), targets)
        return self._logprob_plain([tok(p, add_special_tokens=False)["input_ids"] for p in prompts], targets)

    def _logprob_cached(self, prompts: list[str], targets: list[list[int]]) -> list[np.ndarray]:
        """Score continuations grouped by prompt: each distinct prompt is encoded once, all in one batch."""
        groups: dict[str, list[int]] = {}
        for k, p in enumerate(prompts):
            groups.setdefault(p, []).append(k)
        results: list[np.ndarray | None] = [None] * len(prompts)
        items = list(groups.items())
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            scored = self._engine.score(
                [self._tokens(p) for p, _ in chunk], [[targets[k] for k in m] for _, m in chunk]
            )
            for (_, members), values in zip(chunk, scored, strict=True):
                for k, v in zip(members, values, strict=True):
                    results[k] = v
        return results  # type: ignore[return-value]

    def _logprob_plain(self, prompt_ids: list[list[int]], targets: list[list[int]]) -> list[np.ndarray]:
        """Score every (prompt, continuation) pair from scratch, right-padded in batches (no caching)."""
        torch = self.torch
        tok = self.tokenizer
        pairs = list(zip(prompt_ids, targets, strict=True))
        results: list[np.ndarray] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            width = max(len(p) + len(c) for p, c in chunk)
            ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, (p, c) in enumerate(chunk):
                seq = p + c
                ids[r, : len(seq)] = torch.tensor(seq)
                mask[r, : len(seq)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device))
            logits = logits.logits.float().cpu()
            logp = torch.log_softmax(logits, dim=-1)
            for r, (p, c) in enumerate(chunk):
                positions = torch.arange(len(p) - 1, len(p) + len(c) - 1)
                targets = torch.tensor(c)
                results.append(logp[r, positions, targets].numpy().astype(np.float64))
        return results

    def logprob(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Return the summed log-probability of each continuation given its prompt."""
        return np.array([t.sum() for t in self.logprob_tokens(prompts, continuations)], dtype=np.float64)

    def choose(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[int]:
        """Return, per prompt, the index of the candidate with the best mean log-probability per token."""
        flat_p, flat_c, owner = [], [], []
        for i, (p, cands) in enumerate(zip(prompts, candidates, strict=False)):
            for c in cands:
                flat_p.append(p)
                flat_c.append(str(c))
                owner.append(i)
        scores = [t.mean() for t in self.logprob_tokens(flat_p, flat_c)]
        best: list[tuple[float, int]] = [(-np.inf, 0)] * len(prompts)
        counters = [0] * len(prompts)
        for i, s in zip(owner, scores, strict=False):
            if s > best[i][0]:
                best[i] = (s, counters[i])
            counters[i] += 1
        self.model_calls += len(prompts)
        return [b[1] for b in best]

    # ------------------------------------------------------------------ acting
    def act(self, observation: Any, info: dict[str, Any]) -> str:
        """Return one action (slot 0's history)."""
        return self._act([observation], [info], [0])[0]

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None
    ) -> list[str]:
        """Return one action per observation; each keeps its history in its slot (default: its position)."""
        if len(observations) != len(infos):
            raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
        return self._act(observations, infos, list(slots) if slots is not None else list(range(len(observations))))

    def _act(self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: list[int]) -> list[str]:
        prompts = [self.prompt(o, i, s) for o, i, s in zip(observations, infos, slots, strict=False)]
        actions: list[str | None] = [None] * len(prompts)
        choice_rows = [r for r, i in enumerate(infos) if self.constrain and i.get("admissible_commands")]
        if choice_rows:
            picks = self.choose(
                [prompts[r] for r in choice_rows], [list(infos[r]["admissible_commands"]) for r in choice_rows]
            )
            for r, k in zip(choice_rows, picks, strict=False):
                actions[r] = str(infos[r]["admissible_commands"][k])
        rest = [r for r in range(len(prompts)) if actions[r] is None]
        if rest:
            variants = [mastermind_variant(infos[r]) if self.constrain else None for r in rest]
            texts = self.generate([prompts[r] for r in rest], variants=variants if any(variants) else None)
            for r, text in zip(rest, texts, strict=False):
                actions[r] = parse_action(text, self.template)
        for r, slot in enumerate(slots):
            self.history.add(slot, observations[r], actions[r])
        return [a if a is not None else "" for a in actions]


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
