"""Turn ALFWorld game sources into playable ``game.tw-pddl`` files, as ``alfworld-generate`` does.

For every folder with ``traj_data.json`` and ``initial_state.pddl``:

1. the task text is filled into the installed grammar (``alfred.twl2``): one of ALFWorld's
   templates for the task type ("put a clean {obj} in {recep}"), or with probability
   ``human_goal_prob`` one of the human descriptions in ``traj_data.json``;
2. ``game.tw-pddl`` = domain + that grammar + the problem is written (atomically);
3. the hand-coded expert plays the game; ``solvable`` and the expert's ``walkthrough`` are
   recorded in the file.

Unlike ``alfworld-generate``, the choice of template and the expert's random choices come from a
generator seeded by ``seed`` and the game's folder, so preparing the same games twice gives the
same files, whatever else is prepared with them.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from procmem_gym.errors import MissingExtraError, UsageError
from procmem_gym.files.folders import make_folder
from procmem_gym.files.reading import InputFileError, loads_strict, read_bytes, read_text

from .data import (
    GAME_FILE,
    SPLITS,
    TASK_TYPES,
    TRAJ_LIMIT,
    ALFWorldDataError,
    bundled_games_dir,
    read_traj_data,
    unsupported_folder,
)
from .engine import logic_files, make_engine, parse_cache, private_random

#: alfworld-generate's default seed.
DEFAULT_SEED = 20240229
#: The hand-coded expert's own step limit in ALFWorld (``HandCodedTWAgent(max_steps=200)``).
EXPERT_MAX_STEPS = 200

#: The largest game file read back (the official games are at most a few MB).
GAME_FILE_LIMIT = 64 << 20


@dataclass
class PreparedGame:
    """What preparing one game folder found."""

    folder: str
    split: str | None
    task_type: str | None
    status: str  # "solvable", "unsolvable", "kept" (prepared before), "skipped"
    expert_steps: int | None = None
    goal: str | None = None
    reason: str | None = None


@dataclass
class PrepareReport:
    """The outcome of :func:`prepare_games`, one entry per game folder."""

    source: str
    out: str
    games: list[PreparedGame] = field(default_factory=list)

    def count(self, status: str) -> int:
        """Number of games with ``status``."""
        return sum(g.status == status for g in self.games)

    def by_split(self) -> dict[str, dict[str, int]]:
        """Counts of each status per split."""
        table: dict[str, dict[str, int]] = {}
        for g in self.games:
            row = table.setdefault(g.split or "-", {"solvable": 0, "unsolvable": 0, "kept": 0, "skipped": 0})
            row[g.status] += 1
        return table

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "source": self.source,
            "out": self.out,
            "by_split": self.by_split(),
            "games": [asdict(g) for g in self.games],
        }


def _split_of(folder: Path) -> str | None:
    for part in reversed(folder.parts):
        if part in SPLITS:
            return part
    return None


def task_description(traj_data: dict, rng: random.Random, human_goal_prob: float = 0.0) -> str:
    """Return the task text for a game: an ALFWorld template filled in, or a human description."""
    anns = traj_data.get("turk_annotations", {}).get("anns") or []
    if human_goal_prob > 0 and anns and rng.random() < human_goal_prob:
        return str(rng.choice(anns)["task_desc"])
    try:
        import alfworld.gen.goal_library as goal_library
    except ImportError as err:  # pragma: no cover - make_engine reports the same first
        raise MissingExtraError(f"preparing ALFWorld games needs the alfworld extra ({err})") from err
    params = traj_data["pddl_params"]
    goal = traj_data["task_type"] + ("_slice" if params.get("object_sliced") else "")
    template = rng.choice(goal_library.gdict[goal]["templates"])
    return template.format(
        obj=params["object_target"].lower(),
        recep=params["parent_target"].lower(),
        toggle=params["toggle_target"].lower(),
        mrecep=params["mrecep_target"].lower(),
    )


def run_expert(
    engine: Any, game_file: Path, seed_text: str, max_steps: int = EXPERT_MAX_STEPS
) -> tuple[list[str] | None, str | None]:
    """Play ``game_file`` with the hand-coded expert; return (walkthrough, None) or (None, why it failed)."""
    state = [random.Random(seed_text).getstate()]
    commands: list[str] = []
    try:
        with private_random(state), parse_cache(True):
            engine.load(str(game_file))
            game_state = engine.reset()
            done = False
            while not done:
                if len(commands) >= max_steps:
                    return None, f"the expert did not win within {max_steps} steps"
                command = game_state["extra.expert_plan"][0]
                game_state, _, done = engine.step(command)
                commands.append(command)
    except Exception as err:  # the engine and expert raise many kinds (PDDL errors, "Timeout", ...)
        return None, f"{type(err).__name__}: {err}"
    if not game_state["won"]:
        return None, "the game ended without a win"
    return commands, None


def prepare_games(
    source: str | Path,
    out: str | Path | None = None,
    *,
    seed: int = DEFAULT_SEED,
    force: bool = False,
    human_goal_prob: float = 0.0,
    max_expert_steps: int = EXPERT_MAX_STEPS,
    on_game: Callable[[PreparedGame], None] | None = None,
) -> PrepareReport:
    """Prepare every game folder below ``source``, writing ``game.tw-pddl`` next to its sources.

    With ``out``, sources are copied to the same relative folders under ``out`` and the game
    files are written there (``source`` is only read). A folder already holding a game file with
    a ``solvable`` flag is kept as it is unless ``force``. Returns a :class:`PrepareReport`.
    """
    source = Path(source)
    if not source.is_dir():
        raise ALFWorldDataError(f"{source} is not a folder of ALFWorld games (traj_data.json + initial_state.pddl)")
    out = Path(out) if out is not None else source
    if not 0.0 <= human_goal_prob <= 1.0:
        raise UsageError(f"human_goal_prob must be in [0, 1], got {human_goal_prob}")
    trajs = sorted(source.rglob("traj_data.json"))
    if not trajs:
        raise ALFWorldDataError(f"no traj_data.json below {source}: nothing to prepare")
    domain_path, grammar_path = logic_files()
    domain, grammar = domain_path.read_text(), grammar_path.read_text()
    engine = make_engine(expert=True)
    report = PrepareReport(str(source), str(out))
    for traj_path in trajs:
        folder = traj_path.parent
        rel = folder.relative_to(source)
        target = out / rel
        entry = PreparedGame(
            folder=str(target), split=_split_of(rel) or _split_of(folder), task_type=None, status="skipped"
        )
        try:
            entry.task_type = _prepare_one(
                folder, target, domain, grammar, engine, seed, force, human_goal_prob, max_expert_steps, entry
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
            # one malformed game is skipped with its reason; the others are still prepared
            entry.status, entry.reason = "skipped", f"{type(err).__name__}: {str(err)[:300]}"
        report.games.append(entry)
        if on_game is not None:
            on_game(entry)
    return report


def _prepare_one(
    folder: Path,
    target: Path,
    domain: str,
    grammar: str,
    engine: Any,
    seed: int,
    force: bool,
    human_goal_prob: float,
    max_expert_steps: int,
    entry: PreparedGame,
) -> str | None:
    from procmem_gym.files.atomic import write_text_atomic

    if unsupported_folder(folder):
        entry.reason = "movable receptacles and sliced objects are not supported by ALFWorld's text engine"
        return None
    pddl_path = folder / "initial_state.pddl"
    if not pddl_path.exists():
        entry.reason = "no initial_state.pddl"
        return None
    problem = read_text(pddl_path, TRAJ_LIMIT, "initial_state.pddl")
    traj = read_traj_data(folder / "traj_data.json")
    task_type = traj["task_type"]
    if task_type not in TASK_TYPES.values():
        entry.reason = f"task type {task_type!r} is not one of ALFWorld's six"
        return task_type
    game_file = target / GAME_FILE
    if game_file.exists() and not force:
        try:
            existing = loads_strict(read_bytes(game_file, GAME_FILE_LIMIT, "game file"))
        except (InputFileError, ValueError):  # unreadable or not JSON: prepared again
            existing = {}
        if isinstance(existing, dict) and existing.get("solvable") is not None:
            entry.status = "kept"
            entry.expert_steps = len(existing.get("walkthrough") or []) or None
            return task_type
    if target != folder:
        make_folder(target)
        for name in ("traj_data.json", "initial_state.pddl"):
            shutil.copyfile(folder / name, target / name)
    seed_text = f"{seed}/{folder.name}/{folder.parent.name}"
    goal = task_description(traj, random.Random(seed_text), human_goal_prob)
    data = {
        "pddl_domain": domain,
        "grammar": grammar.replace("UNKNOWN GOAL", goal),
        "pddl_problem": problem,
        "solvable": None,
        "walkthrough": None,
    }
    write_text_atomic(game_file, json.dumps(data))
    walkthrough, reason = run_expert(engine, game_file, seed_text, max_expert_steps)
    data["walkthrough"] = walkthrough
    data["solvable"] = walkthrough is not None
    write_text_atomic(game_file, json.dumps(data))
    entry.goal = goal
    entry.status = "solvable" if walkthrough is not None else "unsolvable"
    entry.expert_steps = len(walkthrough) if walkthrough is not None else None
    entry.reason = reason
    return task_type


def copy_sample_games(dest: str | Path) -> Path:
    """Copy the bundled sample games' sources into ``dest`` (official layout); return ``dest``.

    Existing files are not overwritten, so a prepared copy stays prepared.
    """
    dest = Path(dest)
    src = bundled_games_dir()
    for path in sorted(src.rglob("*")):
        if path.is_file() and path.name in ("traj_data.json", "initial_state.pddl"):
            target = dest / path.relative_to(src)
            if not target.exists():
                make_folder(target.parent)
                shutil.copyfile(path, target)
    return dest
