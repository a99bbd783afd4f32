"""The real ALFWorld text engine, assembled as ``alfworld-generate`` and ``AlfredTWEnv`` assemble it.

TextWorld's ``PddlEnv`` runs the game (the domain and grammar ship with the ``alfworld``
package); ALFWorld's ``AlfredDemangler`` names the entities ("apple 1"), ``AlfredInfos`` adds
the game file, and ``AlfredExpert`` runs ALFWorld's hand-coded expert after every step.

One change to the expert, and why: ALFWorld 0.4 renamed the command ``put X in/on Y`` to
``move X to Y`` (alfworld/alfworld#94), but the hand-coded expert still tracks its inventory by
looking for "put" in the last command. After its first ``move`` it believes it still holds the
object, so on ``pick_two_obj_and_place`` it tries to move an object it no longer has and
wanders until the step limit. :class:`ProcmemExpert` applies the expert's own "put" bookkeeping
to ``move`` commands; everything else is ALFWorld's code.

TextWorld parses text again on every step: each admissible command's template, each feedback
rule and each grammar condition goes through its ``tatsu`` parser (about half of a step's time).
:func:`parse_cache` memoises those parses: the same text always parses to the same symbols, so
a cached parse hands out a deep copy of the first one and the game's text stays byte-identical
(tests play bundled and generated games with and without it and compare every observation).
It is installed into TextWorld's modules once, and acts only inside ``with parse_cache(True)``,
so envs that turn it off (``ALFWorldEnv(parse_cache=False)``) run TextWorld's own code.

The expert draws from Python's global ``random`` (which object of a class to take, what to do
when its plan repeats). :func:`private_random` runs the engine on its own generator state, so
that episodes are reproducible and the caller's ``random`` is left alone.
"""

from __future__ import annotations

import contextlib
import copy
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from procmem_gym.errors import MissingExtraError

INSTALL_HINT = "ALFWorld needs the alfworld extra: pip install 'procmem-gym[alfworld]'"


def _import_engine() -> Any:
    try:
        import textworld  # noqa: F401
        from alfworld.agents.environment import alfred_tw_env
        from alfworld.agents.expert import handcoded_expert_tw
        from textworld.envs import PddlEnv
    except ImportError as err:
        raise MissingExtraError(f"{INSTALL_HINT} ({err})") from err
    return textworld, alfred_tw_env, handcoded_expert_tw, PddlEnv


def logic_files() -> tuple[Path, Path]:
    """Return the installed alfworld package's PDDL domain and text grammar (``alfred.pddl``, ``alfred.twl2``)."""
    try:
        import alfworld
    except ImportError as err:
        raise MissingExtraError(f"{INSTALL_HINT} ({err})") from err
    data = Path(alfworld.__file__).resolve().parent / "data"
    domain, grammar = data / "alfred.pddl", data / "alfred.twl2"
    for path in (domain, grammar):
        if not path.exists():
            raise MissingExtraError(f"the installed alfworld package lacks {path}; reinstall it: {INSTALL_HINT}")
    return domain, grammar


@contextlib.contextmanager
def private_random(state: list) -> Iterator[None]:
    """Run the block on the generator state ``state[0]`` instead of the global one; store the new state back."""
    saved = random.getstate()
    random.setstate(state[0])
    try:
        yield
    finally:
        state[0] = random.getstate()
        random.setstate(saved)


_CACHE_STATE = threading.local()
_PARSES: dict[tuple, Any] = {}
#: Parses kept at most; the grammar of a game has a few hundred distinct texts.
PARSE_CACHE_LIMIT = 50_000


def _cached(original: Any) -> Any:
    def parse_and_convert(*args: Any, **kwargs: Any) -> Any:
        if not getattr(_CACHE_STATE, "on", False) or kwargs.get("trace"):
            return original(*args, **kwargs)
        key = (original.__module__, args, tuple(sorted(kwargs.items())))
        try:
            hit = _PARSES.get(key)
        except TypeError:  # an argument that is not text: parse it as TextWorld would
            return original(*args, **kwargs)
        if hit is None:
            hit = original(*args, **kwargs)
            if len(_PARSES) < PARSE_CACHE_LIMIT:
                _PARSES[key] = hit
        return copy.deepcopy(hit)  # callers change what they get (TextWorld sets each symbol's context)

    parse_and_convert.__wrapped__ = original  # type: ignore[attr-defined]
    return parse_and_convert


def _install_parse_cache() -> None:
    import textworld.envs.pddl.textgen as textgen
    import textworld.logic as logic

    for module in (logic, textgen):
        if not hasattr(module._parse_and_convert, "__wrapped__"):
            module._parse_and_convert = _cached(module._parse_and_convert)


@contextlib.contextmanager
def parse_cache(enabled: bool = True) -> Iterator[None]:
    """Within the block (this thread), TextWorld's parses of game text are memoised when ``enabled``."""
    if enabled:
        _import_engine()
        _install_parse_cache()
    saved = getattr(_CACHE_STATE, "on", False)
    _CACHE_STATE.on = enabled
    try:
        yield
    finally:
        _CACHE_STATE.on = saved


def _move_fix_mixin() -> type:
    class MoveCommandFix:
        """Apply the expert's "put" bookkeeping to ALFWorld 0.4's ``move X to Y`` command."""

        def update_state_tracking(self, game_state: Any, last_action: str) -> None:
            held_before = len(self.inventory)
            super().update_state_tracking(game_state, last_action)  # type: ignore[misc]
            moved = last_action.startswith("move ") and "Nothing happens" not in game_state["feedback"]
            # (if a later alfworld tracks ``move`` itself, the inventory has shrunk already)
            if moved and self.inventory and len(self.inventory) == held_before:
                held = self.inventory.pop()
                self.got_inventory_from_recep = ""
                self.blacklist_obj(held)
                if self.task_params["object_target"] in last_action:
                    self.object_blacklist.append(held)

    return MoveCommandFix


_EXPERT_CLASSES: dict[str, Any] = {}


def expert_classes() -> tuple[type, type]:
    """Return (hand-coded TW agent, AlfredExpert wrapper) with the ``move`` fix, built once."""
    if not _EXPERT_CLASSES:
        _, alfred_tw_env, handcoded_expert_tw, _ = _import_engine()
        mixin = _move_fix_mixin()
        fixed_policies: dict[type, type] = {}

        class ProcmemHandCodedAgent(handcoded_expert_tw.HandCodedTWAgent):
            """ALFWorld's hand-coded TextWorld expert whose task policies understand ``move``."""

            def get_task_policy(self, task_param: dict) -> type:
                base = super().get_task_policy(task_param)
                if base not in fixed_policies:
                    fixed_policies[base] = type(base.__name__, (mixin, base), {"__module__": __name__})
                return fixed_policies[base]

        class ProcmemExpert(alfred_tw_env.AlfredExpert):
            """ALFWorld's ``AlfredExpert`` wrapper (hand-coded type) running :class:`ProcmemHandCodedAgent`."""

            def load(self, gamefile: str) -> None:
                super().load(gamefile)
                self._handcoded_expert = ProcmemHandCodedAgent(max_steps=200)

            def _gather_infos(self) -> None:
                # The hand-coded expert raises on some states that only another agent reaches (an
                # empty ``random.choice`` when no object of interest is left where it looks). That
                # must not end the player's game: the plan is then "look", the wrapper's own answer
                # when the expert has no admissible command. Its timeout still raises, as shipped.
                try:
                    super()._gather_infos()
                except (IndexError, KeyError, ValueError, AttributeError, TypeError):
                    self.state["extra.expert_plan"] = ["look"]

        _EXPERT_CLASSES["agent"] = ProcmemHandCodedAgent
        _EXPERT_CLASSES["wrapper"] = ProcmemExpert
    return _EXPERT_CLASSES["agent"], _EXPERT_CLASSES["wrapper"]


def make_engine(expert: bool = True, upstream_expert: bool = False) -> Any:
    """Return the TextWorld environment stack ALFWorld plays: PddlEnv + demangler + infos (+ expert).

    ``upstream_expert=True`` uses ALFWorld's ``AlfredExpert`` exactly as shipped (without the
    ``move`` fix), for comparisons.
    """
    textworld, alfred_tw_env, _, PddlEnv = _import_engine()
    extras = ["gamefile"] + (["expert_plan"] if expert else [])
    request = textworld.EnvInfos(won=True, admissible_commands=True, extras=extras)
    env = PddlEnv(request)
    env = alfred_tw_env.AlfredDemangler(env, shuffle=False)
    env = alfred_tw_env.AlfredInfos(env)
    if expert:
        wrapper = alfred_tw_env.AlfredExpert if upstream_expert else expert_classes()[1]
        env = wrapper(env, expert_type=alfred_tw_env.AlfredExpertType.HANDCODED)
    return env
