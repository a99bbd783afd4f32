"""Where ALFWorld games live: data folders, splits, task types, and the bundled sample games.

The layout is the official one (``alfworld-download`` writes it under ``$ALFWORLD_DATA``)::

    DATA/json_2.1.1/<split>/<task-type>-<Object>-<MRecep>-<Target>-<scene>/<trial>/
        traj_data.json        task type and parameters, human task descriptions
        initial_state.pddl    the PDDL problem (objects, initial facts, goal)
        game.tw-pddl          domain + grammar (with the task text) + problem, solvable, walkthrough

The first two are the game's source; ``game.tw-pddl`` is made from them by
:func:`procmem_gym.envs.alfworld.prepare_games` (``procmem-gym alfworld prepare``), the steps
``alfworld-generate`` performs. Nothing here imports alfworld or textworld.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procmem_gym.errors import ProcMemError, UsageError

#: The three splits of ALFWorld: training games, in-distribution and out-of-distribution evaluation.
SPLITS: tuple[str, ...] = ("train", "valid_seen", "valid_unseen")

#: ALFWorld's six task types, numbered as in ALFWorld's configs (``env.task_types: [1, ..., 6]``).
TASK_TYPES: dict[int, str] = {
    1: "pick_and_place_simple",
    2: "look_at_obj_in_light",
    3: "pick_clean_then_place_in_recep",
    4: "pick_heat_then_place_in_recep",
    5: "pick_cool_then_place_in_recep",
    6: "pick_two_obj_and_place",
}

#: Short names accepted for ``task_types`` (the names the ALFWorld papers use).
TASK_TYPE_ALIASES: dict[str, str] = {
    "pick": "pick_and_place_simple",
    "look": "look_at_obj_in_light",
    "clean": "pick_clean_then_place_in_recep",
    "heat": "pick_heat_then_place_in_recep",
    "cool": "pick_cool_then_place_in_recep",
    "pick_two": "pick_two_obj_and_place",
    "pick2": "pick_two_obj_and_place",
}

#: The name of a prepared game file, as ALFWorld names it.
GAME_FILE = "game.tw-pddl"
DATA_FOLDER = "json_2.1.1"

DOWNLOAD_HINT = (
    "The ALFWorld data (3,553 train, 140 valid_seen, 134 valid_unseen games) comes from "
    "`alfworld-download` (installed with `pip install 'procmem-gym[alfworld]'`), which writes it under "
    "$ALFWORLD_DATA; point ALFWORLD_DATA or data_dir= at that folder. To try the env offline, "
    "`procmem-gym alfworld prepare DIR --sample` writes procmem-gym's 18 bundled sample games into DIR."
)


class ALFWorldDataError(ProcMemError, FileNotFoundError):
    """No ALFWorld games where they were looked for; the message says what to download or run."""


def bundled_games_dir() -> Path:
    """Return the folder of the bundled sample games (sources only: ``traj_data.json`` + ``initial_state.pddl``)."""
    return Path(__file__).resolve().parent / "games"


def normalize_task_types(task_types: Iterable[int | str] | None) -> tuple[str, ...]:
    """Return the full names of ``task_types`` (ints 1-6, full names or short names); ``None`` means all six."""
    if task_types is None:
        return tuple(TASK_TYPES.values())
    if isinstance(task_types, (str, int)):
        task_types = [task_types]
    names: list[str] = []
    for t in task_types:
        if isinstance(t, bool):
            raise UsageError(f"task type {t!r} is not a task type")
        if isinstance(t, int):
            if t not in TASK_TYPES:
                raise UsageError(f"task type {t} is not one of ALFWorld's numbers 1-6 ({TASK_TYPES})")
            name = TASK_TYPES[t]
        elif isinstance(t, str):
            name = TASK_TYPE_ALIASES.get(t, t)
            if name not in TASK_TYPES.values():
                choices = ", ".join(list(TASK_TYPES.values()) + list(TASK_TYPE_ALIASES))
                raise UsageError(f"unknown task type {t!r}; choose from: {choices}")
        else:
            raise UsageError(f"task type {t!r} is neither a number 1-6 nor a name")
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("task_types is empty: give at least one task type, or None for all six")
    return tuple(names)


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """Return ``data_dir``, or ``$ALFWORLD_DATA`` when it is None; raise :class:`ALFWorldDataError` if none exists."""
    if data_dir is None:
        env = os.environ.get("ALFWORLD_DATA")
        if not env:
            raise ALFWorldDataError(
                f"no ALFWorld data folder: data_dir is not given and ALFWORLD_DATA is not set. {DOWNLOAD_HINT}"
            )
        data_dir = env
    path = Path(os.path.expandvars(os.path.expanduser(str(data_dir))))
    if not path.is_dir():
        raise ALFWorldDataError(f"ALFWorld data folder {path} does not exist. {DOWNLOAD_HINT}")
    return path


def split_dir(data_dir: Path, split: str) -> Path:
    """Return the folder of ``split`` under a data folder (``DATA/json_2.1.1/<split>`` or ``DATA/<split>``)."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    for candidate in (data_dir / DATA_FOLDER / split, data_dir / split):
        if candidate.is_dir():
            return candidate
    raise ALFWorldDataError(
        f"no {split} split in {data_dir}: looked for {data_dir / DATA_FOLDER / split} and {data_dir / split}. "
        f"{DOWNLOAD_HINT}"
    )


@dataclass(frozen=True)
class GameEntry:
    """One game of a split: its folder, task type and prepared game file (None until prepared)."""

    folder: Path
    task_type: str
    game_file: Path | None
    solvable: bool | None


def unsupported_folder(folder: Path) -> bool:
    """Return whether a game folder holds a task ALFWorld's text engine skips (movable receptacles, slicing)."""
    # ALFWorld's text engine supports neither movable receptacles nor sliced objects (as AlfredTWEnv skips them).
    text = str(folder)
    return "movable" in text or "Sliced" in text


#: Size bounds of the files of a game folder.
TRAJ_LIMIT = 16 << 20
GAME_LIMIT = 64 << 20


def read_traj_data(path: Path) -> dict[str, Any]:
    """Return a ``traj_data.json`` checked for what the engine reads; raise :class:`ALFWorldDataError` naming it."""
    from procmem_gym.files.reading import InputFileError, read_text

    try:
        data = json.loads(read_text(path, TRAJ_LIMIT, "traj_data.json"))
    except InputFileError as err:
        raise ALFWorldDataError(str(err)) from None
    except (ValueError, RecursionError) as err:
        raise ALFWorldDataError(f"{path}: not JSON ({str(err)[:120]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("task_type"), str):
        raise ALFWorldDataError(f"{path}: not an ALFWorld traj_data.json (an object with a 'task_type' text)")
    params = data.get("pddl_params", {})
    if not isinstance(params, dict) or not all(isinstance(v, (str, bool)) for v in params.values()):
        raise ALFWorldDataError(f"{path}: 'pddl_params' must be an object of texts (object_target, ...)")
    anns = (
        (data.get("turk_annotations") or {}) if isinstance(data.get("turk_annotations"), (dict, type(None))) else None
    )
    if anns is None or not isinstance(anns.get("anns", []), list):
        raise ALFWorldDataError(f"{path}: 'turk_annotations' must be an object with a list 'anns'")
    return data


def scan_split(root: Path) -> list[GameEntry]:
    """Return every game folder under ``root`` (sorted), prepared or not."""
    entries = []
    for traj_path in sorted(root.rglob("traj_data.json")):
        folder = traj_path.parent
        if unsupported_folder(folder):
            continue
        task_type = read_traj_data(traj_path)["task_type"]
        game = folder / GAME_FILE
        solvable = None
        if game.exists():
            solvable = _read_solvable(game)
        entries.append(GameEntry(folder, task_type, game if game.exists() else None, solvable))
    return entries


def _read_solvable(game: Path) -> bool | None:
    from procmem_gym.files.reading import InputFileError, read_text

    try:
        data = json.loads(read_text(game, GAME_LIMIT, "game file"))
    except (InputFileError, ValueError, RecursionError) as err:
        raise ALFWorldDataError(
            f"{game} is not a readable game file ({str(err)[:160]}); "
            "prepare it again with `procmem-gym alfworld prepare`"
        ) from None
    value = data.get("solvable") if isinstance(data, dict) else None
    return None if value is None else bool(value)


def find_games(
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    task_types: Sequence[int | str] | None = None,
) -> list[Path]:
    """Return the sorted game files of a split that ALFWorld would play (prepared and solvable).

    Raises :class:`ALFWorldDataError` with what to do when the folder or split is missing, when
    its games are not prepared yet, or when none of them has one of ``task_types``.
    """
    wanted = normalize_task_types(task_types)
    root = split_dir(resolve_data_dir(data_dir), split)
    entries = scan_split(root)
    if not entries:
        raise ALFWorldDataError(
            f"the {split} split in {root} holds no games (no traj_data.json below it). {DOWNLOAD_HINT}"
        )
    typed = [e for e in entries if e.task_type in wanted]
    if not typed:
        raise ALFWorldDataError(f"no {split} game in {root} has a task type in {list(wanted)}")
    games = [e.game_file for e in typed if e.game_file is not None and e.solvable]
    if not games:
        unprepared = sum(e.game_file is None or e.solvable is None for e in typed)
        if unprepared:
            raise ALFWorldDataError(
                f"{unprepared} {split} games in {root} are not prepared (no {GAME_FILE} with a solvable flag); "
                f"run `procmem-gym alfworld prepare {root}` first"
            )
        raise ALFWorldDataError(f"every {split} game in {root} with task types {list(wanted)} is marked unsolvable")
    return [Path(g) for g in games if g is not None]
