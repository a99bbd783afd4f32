"""HFPolicy: a local transformers causal LM as a policy, fully offline, batched, with constrained actions.

- Prompts come from the tokenizer's chat template and a per-environment template
  (:mod:`procmem_gym.agents.prompts`): system text, recent history, the active skill's guidance,
  the observation.
- It decodes greedily (``temperature=0``, the default) or samples, each batch slot from its own
  generator seeded by ``reset(seed=..., index=...)``.
- With ``constrain=True`` the policy never emits an invalid format: admissible commands are
  scored by length-normalised log-likelihood, and a Mastermind guess is decoded under a grammar
  (:class:`MastermindGrammar`). An active skill's constraint (``info["procmem"]["constraint"]``)
  narrows both to what it allows; the model still chooses among them.
- ``logprob(prompts, continuations)`` gives exact summed log-probabilities;
  :meth:`HFPolicy.action_logprobs` the log-probability of an action under constrained versions
  of the policy (the PPO gate's exact ratios).

torch and transformers are imported when a model is loaded; without them the error names the
extra to install. The model primitives live in :mod:`procmem_gym.agents.lm`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from procmem_gym.envs.actions import ActionSet, action_set_of, constrain
from procmem_gym.envs.families import COMMANDS_KEY

from procmem_gym.errors import MissingExtraError, ProcMemError, UsageError

from .lm import LocalLM
from .policy import BasePolicy, choice_logprobs, mean_scores
from .prompts import (
    PromptTemplate,
    SlotHistory,
    build_messages,
    mastermind_variant,
    parse_action,
    template_for,
)
from .random_policy import skill_constraint

__all__ = ["HFPolicy", "ModelNotFoundError", "TakenCommands", "require_torch"]


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


class TakenCommands:
    """The commands each batch slot took in each state of its episode, so a greedy choice need not repeat one.

    A state is the observation text with the admissible commands (in ALFWorld they tell where the
    agent is and what it holds). A greedy policy is a function of its prompt, and in a
    deterministic environment the prompt comes back whenever the agent does: picking the same
    command in the same state again is how it loops until the step limit. :meth:`fresh` leaves
    those commands out while any other is admissible. Sampling (``temperature > 0``, the
    learning rollouts) breaks loops by itself and keeps its exact probabilities, so it is not
    filtered.

    >>> taken = TakenCommands()
    >>> info = {"admissible_commands": ["go to desk 1", "go to bed 1"]}
    >>> taken.add(0, "You arrive at bed 1.", info, "go to desk 1")
    >>> taken.fresh(0, "You arrive at bed 1.", info, ["go to desk 1", "go to bed 1"])
    ['go to bed 1']
    >>> taken.fresh(0, "You arrive at desk 1.", info, ["go to desk 1", "go to bed 1"])
    ['go to desk 1', 'go to bed 1']
    """

    def __init__(self) -> None:
        self._slots: dict[int, dict[tuple, set[str]]] = {}

    @staticmethod
    def _state(observation: Any, info: dict[str, Any]) -> tuple:
        commands = info.get(COMMANDS_KEY) if isinstance(info, dict) else None
        return str(observation), tuple(map(str, commands or ()))

    def add(self, slot: int, observation: Any, info: dict[str, Any], action: str) -> None:
        """Record that ``slot`` took ``action`` in this state (kept only where there are commands to choose from)."""
        state = self._state(observation, info)
        if state[1]:
            self._slots.setdefault(slot, {}).setdefault(state, set()).add(str(action))

    def fresh(self, slot: int, observation: Any, info: dict[str, Any], commands: list[str]) -> list[str]:
        """Return ``commands`` less those ``slot`` already took in this state; all of them if none would remain."""
        taken = self._slots.get(slot, {}).get(self._state(observation, info))
        if not taken:
            return commands
        fresh = [c for c in commands if c not in taken]
        return fresh or commands

    def clear(self, slot: int | None = None) -> None:
        """Forget one slot's episode, or every slot's."""
        if slot is None:
            self._slots = {}
        else:
            self._slots.pop(slot, None)


#: Samples a free-text action is drawn again until a skill's constraint allows it.
REJECTION_TRIES = 8


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
        cache_tokens: int | None = None,
        device: str | None = None,
        temperature: float = 0.0,
        avoid_repeats: bool = True,
        action_space: Any = None,
    ) -> None:
        torch, _ = require_torch()
        self.torch = torch
        if device is not None:
            from procmem_gym.devices import resolve_device

            model = model.to(resolve_device(device))
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
        self.lm = LocalLM(model, tokenizer, cache, cache_tokens, batch_size)
        #: 0: greedy (evaluation, as a user runs it); > 0: sampling at that temperature (learning rollouts).
        self.temperature = float(temperature)
        self._generators: dict[int, Any] = {}
        self.last_details: list[dict[str, Any]] = []
        #: Greedy command choices skip a command this slot already took in the same state (see :class:`TakenCommands`).
        self.avoid_repeats = bool(avoid_repeats)
        self.taken = TakenCommands()
        #: The env's action space: its moves are the choices where the env lists none (``Discrete``, ...).
        self.action_space = action_space

    @property
    def cache(self) -> bool:
        """Return whether the prompt cache is on (False: the plain path)."""
        return self.lm.cache

    @property
    def _engine(self) -> Any:
        return self.lm.engine

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, gguf_file: str | None = None, dtype: str | None = None, **kwargs: Any
    ) -> HFPolicy:
        """Load a model folder (or ``gguf_file`` inside it) with ``local_files_only=True``.

        ``dtype="bfloat16"`` halves memory and, on CPUs with AMX or AVX512-BF16, makes batched
        generation several times faster; float32 (the default) keeps log-probabilities exact.
        ``device``: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... (a
        keyword argument of the policy).
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
        """Forget the history of one batch slot (``index``) or of all; seed that slot's sampling (or all)."""
        self.history.clear(index)
        self.taken.clear(index)
        if seed is None:
            return
        self.torch.manual_seed(seed)
        if index is None:
            self._generators = {}
        generator = self.torch.Generator().manual_seed(int(seed) % 2**63)
        self._generators[0 if index is None else index] = generator

    def _generator(self, slot: int) -> Any:
        if slot not in self._generators:
            self._generators[slot] = self.torch.Generator().manual_seed(0)
        return self._generators[slot]

    def observe(self, observation: Any, info: dict[str, Any], action: Any, slot: int = 0) -> None:
        """Add a step a skill chose to the slot's history, so later prompts show it."""
        self.history.add(slot, observation, str(action))
        self.taken.add(slot, observation, info, str(action))

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
        return self.lm.tokens(prompt)

    def generate(
        self, prompts: Sequence[str], max_new_tokens: int | None = None, variants: list | None = None
    ) -> list[str]:
        """Return greedy completions of ``prompts`` (batched).

        ``variants`` (one ``(code_length, num_digits, allow_repeats, tried)`` or None per prompt)
        constrains those rows to Mastermind guesses.
        """
        limit = max_new_tokens or self.max_new_tokens
        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = list(prompts[start : start + self.batch_size])
            specs = variants[start : start + len(chunk)] if variants is not None else [None] * len(chunk)
            rows, _ = self.lm.decode(chunk, limit, self._grammars(specs))
            out += self._texts(rows)
            self.model_calls += len(chunk)
        return out

    def _texts(self, rows: list[list[int]]) -> list[str]:
        self.generated_tokens += sum(len(r) for r in rows)
        return [self.tokenizer.decode(r, skip_special_tokens=True) for r in rows]

    def _grammars(self, specs: Sequence[tuple | None]) -> list[Any]:
        """Return each row's grammar function (tokens allowed next) for Mastermind specs, None for free rows."""
        from .guess_grammar import MastermindGrammar

        if not any(specs):
            return [None] * len(specs)
        grammar = MastermindGrammar(self.tokenizer, 0, list(specs))
        return [
            (lambda generated, r=r: grammar.allowed(r, generated)) if spec else None for r, spec in enumerate(specs)
        ]

    def logprob_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[np.ndarray]:
        """Return, per pair, the log-probability of each continuation token given prompt + earlier tokens."""
        return self.lm.logprob_tokens(prompts, continuations)

    def logprob(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Return the summed log-probability of each continuation given its prompt."""
        return np.array([t.sum() for t in self.logprob_tokens(prompts, continuations)], dtype=np.float64)

    def choose(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[int]:
        """Return, per prompt, the index of the candidate with the best mean log-probability per token."""
        scores = self.command_scores(prompts, candidates)
        self.model_calls += len(prompts)
        return [int(np.argmax(row)) for row in scores]

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

    def _act(self, observations: Sequence[Any], infos: Sequence[dict[str, Any]], slots: list[int]) -> list[Any]:
        prompts = [self.prompt(o, i, s) for o, i, s in zip(observations, infos, slots, strict=True)]
        actions: list[str | None] = [None] * len(prompts)
        details: list[dict[str, Any]] = [{} for _ in prompts]
        sets = [action_set_of(i, self.action_space) for i in infos]
        choice_rows = [r for r, a in enumerate(sets) if self.constrain and a.options() is not None]
        if choice_rows:
            self._act_by_choice(prompts, observations, infos, slots, sets, choice_rows, actions, details)
        rest = [r for r in range(len(prompts)) if actions[r] is None]
        for start in range(0, len(rest), self.batch_size):
            chunk = rest[start : start + self.batch_size]
            self._decode(chunk, prompts, infos, slots, actions, details)
        free = [r for r in rest if self.constrain and sets[r].kind == "free" and skill_constraint(infos[r]) is not None]
        if free:
            self._reject(free, prompts, infos, slots, actions, details)
        for r, slot in enumerate(slots):
            self.history.add(slot, observations[r], actions[r])
            self.taken.add(slot, observations[r], infos[r], actions[r])
        self.last_details = details
        return [sets[r].to_action(a) if a is not None else "" for r, a in enumerate(actions)]

    def _decode(
        self,
        chunk: list[int],
        prompts: list[str],
        infos: Sequence[dict[str, Any]],
        slots: list[int],
        actions: list[str | None],
        details: list[dict[str, Any]],
    ) -> None:
        """Decode the rows of ``chunk`` in one batch (under the guess grammar where the row has one)."""
        specs = [self._spec(infos[r], details[r]) if self.constrain else None for r in chunk]
        rows, logps = self.lm.decode(
            [prompts[r] for r in chunk],
            self.max_new_tokens,
            self._grammars(specs),
            self.temperature,
            [self._generator(slots[r]) for r in chunk],
        )
        for r, text, lp in zip(chunk, self._texts(rows), logps, strict=True):
            actions[r] = parse_action(text, self.template)
            if self.temperature > 0:
                details[r]["behaviour_logprob"] = lp
        self.model_calls += len(chunk)

    def _reject(
        self,
        rows: list[int],
        prompts: list[str],
        infos: Sequence[dict[str, Any]],
        slots: list[int],
        actions: list[str | None],
        details: list[dict[str, Any]],
    ) -> None:
        """Free-text rows under a constraint: sample again until the constraint allows the action (rejection).

        Greedy decoding gives the same text again, so it is not retried. A row that finds no allowed
        action in :data:`REJECTION_TRIES` samples keeps its last one, and its step says the constraint
        was skipped. The logged ``behaviour_logprob`` is the sample's own (not renormalised: the
        mass of what a free-text constraint allows cannot be summed).
        """
        pending = []
        for r in rows:
            bound = skill_constraint(infos[r])
            if bound.allows(str(actions[r])):
                details[r].update({"constraint": "applied", "constraint_reason": "rejection", "tries": 1})
            else:
                pending.append(r)
        tries = 1
        while pending and self.temperature > 0 and tries < REJECTION_TRIES:
            tries += 1
            self._decode(pending, prompts, infos, slots, actions, details)
            still = []
            for r in pending:
                if skill_constraint(infos[r]).allows(str(actions[r])):
                    details[r].update({"constraint": "applied", "constraint_reason": "rejection", "tries": tries})
                else:
                    still.append(r)
            pending = still
        for r in pending:
            details[r].update({"constraint": "skipped", "constraint_reason": f"nothing allowed in {tries} samples"})

    def _spec(self, info: dict[str, Any], detail: dict[str, Any]) -> tuple | None:
        """Return a Mastermind row's grammar spec: the variant, and the guesses a skill's constraint allows."""
        from .guess_grammar import allowed_guesses

        variant = mastermind_variant(info)
        bound = skill_constraint(info)
        if variant is None or bound is None:
            return variant
        allowed = allowed_guesses(variant, bound)
        detail["constraint"] = "applied" if allowed is not None else "skipped"
        return variant if allowed is None else (*variant, allowed)

    def _act_by_choice(
        self,
        prompts: list[str],
        observations: Sequence[Any],
        infos: Sequence[dict[str, Any]],
        slots: list[int],
        sets: list[ActionSet],
        rows: list[int],
        actions: list[str | None],
        details: list[dict[str, Any]],
    ) -> None:
        """Pick among an enumerable action set's options (those a skill's constraint allows): best score, or a sample.

        A greedy choice also leaves out the commands this slot already took in the same state,
        while any other remains (``avoid_repeats``).
        """
        options = []
        for r in rows:
            narrowed = constrain(sets[r], skill_constraint(infos[r]))
            details[r].update(narrowed.detail())
            commands = narrowed.options
            if self.avoid_repeats and self.temperature <= 0:
                fresh = self.taken.fresh(slots[r], observations[r], infos[r], commands)
                if len(fresh) < len(commands):
                    details[r]["repeats_skipped"] = len(commands) - len(fresh)
                commands = fresh
            options.append(commands)
        scores = self.command_scores([prompts[r] for r in rows], options)
        for r, commands, row in zip(rows, options, scores, strict=True):
            if self.temperature <= 0:
                actions[r] = commands[int(np.argmax(row))]  # the first of equal scores, as before
                continue
            lp = self.torch.log_softmax(self.torch.tensor(row) / self.temperature, dim=-1)
            k = int(self.torch.multinomial(lp.exp(), 1, generator=self._generator(slots[r])))
            actions[r], details[r]["behaviour_logprob"] = commands[k], float(lp[k])
        self.model_calls += len(rows)

    def command_scores(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Return, per prompt, each candidate's mean log-probability per token (the choice's scores)."""
        flat_p = [p for p, cands in zip(prompts, candidates, strict=True) for _ in cands]
        flat_c = [str(c) for cands in candidates for c in cands]
        return mean_scores(self.lm.logprob_tokens(flat_p, flat_c), candidates)

    # ------------------------------------------------------------------ the gate's numbers
    def action_logprobs(
        self,
        observations: Sequence[Any],
        infos: Sequence[dict[str, Any]],
        actions: Sequence[str],
        constraints: Sequence[Sequence[Any]],
        temperature: float | None = None,
    ) -> np.ndarray:
        """Return ``(n, k)``: the log-probability of each action under the policy with each of ``k`` constraints.

        ``constraints[i][j]`` is a bound constraint (or None: no skill constraint) for row ``i``.
        The numbers are those of the distribution the policy samples from at ``temperature``
        (default: its own, or 1 when it decodes greedily), renormalised over what each
        constraint allows; an action a constraint excludes gets ``-inf``. The prompt is the
        one the policy sees without history (slot -1).
        """
        t = temperature if temperature is not None else (self.temperature or 1.0)
        prompts = [self.prompt(o, i, slot=-1) for o, i in zip(observations, infos, strict=True)]
        k = max((len(c) for c in constraints), default=0)
        out = np.zeros((len(actions), k))
        sets = [action_set_of(i, self.action_space) for i in infos]
        command_rows = [r for r, a in enumerate(sets) if a.options() is not None]
        if command_rows:
            cmds = [sets[r].options() for r in command_rows]
            scores = self.command_scores([prompts[r] for r in command_rows], cmds)
            for r, commands, row in zip(command_rows, cmds, scores, strict=True):
                values = choice_logprobs(row, commands, actions[r], constraints[r], t)
                out[r, : len(values)] = values
        rest = [r for r in range(len(actions)) if r not in set(command_rows)]
        if rest:
            grammars = []
            for r in rest:
                variant = mastermind_variant(infos[r])
                specs = []
                for bound in constraints[r]:
                    spec = (
                        self._spec({**infos[r], "procmem": {"constraint": bound}}, {}) if bound is not None else variant
                    )
                    specs.append(spec)
                grammars.append(self._grammars(specs) if variant is not None else [None] * len(specs))
            values = self.lm.token_logprobs([prompts[r] for r in rest], [str(actions[r]) for r in rest], grammars, t)
            for r, row in zip(rest, values, strict=True):
                out[r, : len(row)] = row
                if sets[r].kind == "free":  # what a free-text constraint excludes has probability 0
                    for j, bound in enumerate(constraints[r]):
                        if bound is not None and getattr(bound, "bound", True) and not bound.allows(str(actions[r])):
                            out[r, j] = -np.inf
        return out
