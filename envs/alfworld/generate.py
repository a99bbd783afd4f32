"""Generate new ALFWorld games on ALFWorld's own PDDL domain and grammar, in the official layout.

Each game is a folder ``json_2.1.1/<split>/<task>-<Object>-None-<Parent>-<floor plan>/trial_<id>/``
with ``traj_data.json`` and ``initial_state.pddl``, prepared into ``game.tw-pddl`` by
:mod:`.prepare` exactly like a downloaded game, and kept only if ALFWorld's hand-coded expert
wins it.

How a game is made:

- **Rooms.** A floor plan (ALFRED's numbering: kitchens 1-30, living rooms 201-230, bedrooms
  301-330, bathrooms 401-430) fixes a room: which receptacle classes it has, how many of each
  (rooms vary in size) and where they stand. The plan alone decides its room, whatever the
  seed, as an ALFRED scene does; ``train`` and ``valid_seen`` use plans 7-30 of each kind,
  ``valid_unseen`` the held-out plans 1-6 (ALFRED's own split of scenes).
- **Objects.** Object classes are ALFRED's, placed only in receptacle classes that ALFRED lets
  hold them (``alfworld.gen.constants.VAL_RECEPTACLE_OBJECTS``, the expert's search priors);
  closed receptacles (cabinets, drawers, fridge, microwave, safe) start closed. Besides the task's
  objects each room gets distractors of other classes. :data:`UNSEEN_OBJECTS` never appear in
  ``train`` or ``valid_seen`` games; ``valid_unseen`` games use them, as targets where the task
  allows.
- **Tasks.** ALFWorld's six task types, each only in the kinds of room ALFRED allows it
  (``GOALS_VALID``); the goal is ALFWorld's PDDL goal for the type. A goal that already holds at
  the start is never generated.

Generation is deterministic: game ``k`` of a split is drawn from ``random.Random`` seeded by
(seed, split, k, attempt); a game the expert cannot win is drawn again with the next attempt.
Games are made in parallel processes; the result does not depend on how many.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from procmem_gym.errors import MissingExtraError, UsageError
from procmem_gym.files.folders import make_folder

from .data import DATA_FOLDER, SPLITS, TASK_TYPES

#: Receptacle classes of each kind of room: class -> (fewest, most) instances.
ROOMS: dict[str, dict[str, tuple[int, int]]] = {
    "Kitchen": {
        "CounterTop": (1, 3),
        "Cabinet": (2, 9),
        "Drawer": (1, 6),
        "Fridge": (1, 1),
        "Microwave": (1, 1),
        "SinkBasin": (1, 1),
        "StoveBurner": (2, 4),
        "DiningTable": (0, 1),
        "GarbageCan": (1, 1),
        "Shelf": (0, 3),
        "CoffeeMachine": (1, 1),
        "Toaster": (0, 1),
    },
    "LivingRoom": {
        "Sofa": (1, 1),
        "ArmChair": (0, 2),
        "CoffeeTable": (1, 1),
        "SideTable": (1, 2),
        "TVStand": (0, 1),
        "Drawer": (0, 4),
        "Shelf": (0, 4),
        "Dresser": (0, 1),
        "GarbageCan": (1, 1),
        "DiningTable": (0, 1),
        "Cabinet": (0, 3),
    },
    "Bedroom": {
        "Bed": (1, 1),
        "Desk": (0, 1),
        "SideTable": (1, 2),
        "Drawer": (1, 6),
        "Dresser": (0, 1),
        "Shelf": (0, 4),
        "GarbageCan": (1, 1),
        "ArmChair": (0, 1),
        "Safe": (0, 1),
    },
    "Bathroom": {
        "Toilet": (1, 1),
        "SinkBasin": (1, 2),
        "BathtubBasin": (0, 1),
        "CounterTop": (1, 1),
        "Cabinet": (1, 4),
        "Drawer": (0, 4),
        "HandTowelHolder": (0, 1),
        "TowelHolder": (0, 1),
        "ToiletPaperHanger": (1, 1),
        "GarbageCan": (1, 1),
        "Shelf": (0, 2),
    },
}

#: The first floor plan of each kind of room (ALFRED's numbering).
PLAN_BASE = {"Kitchen": 0, "LivingRoom": 200, "Bedroom": 300, "Bathroom": 400}
#: Floor plans (offset within a kind of room) of the seen splits and of ``valid_unseen``.
SEEN_PLANS = tuple(range(7, 31))
UNSEEN_PLANS = tuple(range(1, 7))

#: Object classes of each kind of room (ALFRED's classes that its scenes of that kind hold).
ROOM_OBJECTS: dict[str, tuple[str, ...]] = {
    "Kitchen": (
        "Apple", "Bowl", "Bread", "ButterKnife", "Cup", "DishSponge", "Egg", "Fork", "Kettle", "Knife",
        "Ladle", "Lettuce", "Mug", "Pan", "PepperShaker", "Plate", "Pot", "Potato", "SaltShaker",
        "SoapBottle", "Spatula", "Spoon", "Tomato", "WineBottle", "Glassbottle",
    ),
    "LivingRoom": (
        "Book", "Bowl", "Box", "CreditCard", "KeyChain", "Laptop", "Newspaper", "Pillow", "Plate",
        "RemoteControl", "Statue", "Vase", "Watch", "WateringCan", "TissueBox", "CellPhone",
    ),
    "Bedroom": (
        "AlarmClock", "BaseballBat", "BasketBall", "Book", "Bowl", "Box", "CD", "CellPhone", "CreditCard",
        "KeyChain", "Laptop", "Mug", "Pen", "Pencil", "Pillow", "TennisRacket", "Cloth",
    ),
    "Bathroom": (
        "Candle", "Cloth", "DishSponge", "HandTowel", "Plunger", "SoapBar", "SoapBottle", "SprayBottle",
        "TissueBox", "ToiletPaper", "Towel",
    ),
}  # fmt: skip

#: Object classes held out of ``train`` and ``valid_seen``: only ``valid_unseen`` games hold them.
UNSEEN_OBJECTS = frozenset({"Cup", "Lettuce", "Kettle", "Pencil", "Watch", "SprayBottle", "Statue"})

#: Kinds of room each task type is generated in (ALFRED's ``GOALS_VALID``).
TASK_ROOMS = {
    "pick_and_place_simple": ("Kitchen", "LivingRoom", "Bathroom", "Bedroom"),
    "pick_two_obj_and_place": ("Kitchen", "LivingRoom", "Bathroom", "Bedroom"),
    "look_at_obj_in_light": ("LivingRoom", "Bedroom"),
    "pick_clean_then_place_in_recep": ("Kitchen", "Bathroom"),
    "pick_heat_then_place_in_recep": ("Kitchen",),
    "pick_cool_then_place_in_recep": ("Kitchen",),
}

#: Receptacles that start closed.
OPENABLE = frozenset({"Fridge", "Cabinet", "Microwave", "Drawer", "Safe"})
#: Receptacles where a desk lamp stands.
LAMP_RECEPTACLES = ("Desk", "SideTable", "Dresser")

#: Human-style task descriptions (``traj_data.json``'s ``turk_annotations``), one per task type.
DESCRIPTIONS = {
    "pick_and_place_simple": "Put a {obj} in the {recep}.",
    "pick_two_obj_and_place": "Put two {obj}s in the {recep}.",
    "look_at_obj_in_light": "Examine a {obj} under the {toggle}.",
    "pick_clean_then_place_in_recep": "Rinse a {obj} and put it in the {recep}.",
    "pick_heat_then_place_in_recep": "Heat a {obj} and put it in the {recep}.",
    "pick_cool_then_place_in_recep": "Chill a {obj} and put it in the {recep}.",
}


def _action_sets() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], frozenset[str]]:
    try:
        import alfworld.gen.constants as constants
    except ImportError as err:
        raise MissingExtraError(f"generating ALFWorld games needs the alfworld extra ({err})") from err
    holds = {r: frozenset(objs) for r, objs in constants.VAL_RECEPTACLE_OBJECTS.items()}
    actions = {k: frozenset(v) for k, v in constants.VAL_ACTION_OBJECTS.items()}
    return holds, actions, frozenset(constants.MOVABLE_RECEPTACLES)


@dataclass(frozen=True)
class Layout:
    """A room: its kind, floor plan, and receptacles as (class, name in PDDL, location)."""

    kind: str
    plan: int
    receptacles: tuple[tuple[str, str, str], ...]
    start: str

    def classes(self) -> list[str]:
        """The receptacle classes present, in order of first appearance."""
        return list(dict.fromkeys(c for c, _, _ in self.receptacles))


def _coord(rng: random.Random) -> str:
    value = rng.uniform(-4.0, 4.0)
    sign = "plus" if value >= 0 else "minus"
    whole, frac = divmod(round(abs(value) * 100), 100)
    return f"_{sign}_{whole:02d}_dot_{frac:02d}"


def _pddl_name(cls: str, rng: random.Random, taken: set[str]) -> str:
    while True:
        name = f"{cls}_bar_{_coord(rng)}_bar_{_coord(rng)}_bar_{_coord(rng)}"
        if name not in taken:
            taken.add(name)
            return name


def _location(rng: random.Random, taken: set[str]) -> str:
    while True:
        x, y = rng.randint(-12, 12), rng.randint(-12, 12)
        loc = f"loc_bar_{x}_bar_{y}_bar_{rng.choice((0, 1, 2, 3))}_bar_{rng.choice((0, 15, 30, 45, 60))}"
        loc = loc.replace("-", "m")
        if loc not in taken:
            taken.add(loc)
            return loc


def layout(kind: str, plan: int) -> Layout:
    """Return the room of floor plan ``plan`` (offset 1-30 within ``kind``); the same for every seed."""
    if kind not in ROOMS:
        raise UsageError(f"unknown kind of room {kind!r}; one of {sorted(ROOMS)}")
    rng = random.Random(f"procmem-gym/alfworld-layout/{kind}/{plan}")
    names: set[str] = set()
    locations: set[str] = set()
    receptacles = []
    for cls, (low, high) in ROOMS[kind].items():
        for _ in range(rng.randint(low, high)):
            if cls in ("SinkBasin", "BathtubBasin"):
                stem = "Sink" if cls == "SinkBasin" else "Bathtub"
                name = _pddl_name(stem, rng, names) + f"_bar_{cls}"
            else:
                name = _pddl_name(cls, rng, names)
            receptacles.append((cls, name, _location(rng, locations)))
    return Layout(kind, PLAN_BASE[kind] + plan, tuple(receptacles), _location(rng, locations))


@dataclass
class GameSpec:
    """One drawn game: its room, task and objects as (class, PDDL name, receptacle PDDL name)."""

    split: str
    index: int
    attempt: int
    layout: Layout
    task_type: str
    target: str
    parent: str
    toggle: str
    objects: list[tuple[str, str, str]]

    @property
    def folder(self) -> str:
        """The game's folder below ``json_2.1.1/<split>/``."""
        task = f"{self.task_type}-{self.target}-None-{self.parent or self.toggle}-{self.layout.plan}"
        return f"{task}/trial_T{self.index:06d}_{self.attempt:02d}"


def _eligible_targets(task: str, kind: str, classes: list[str], pool: list[str], actions: dict, holds: dict) -> list:
    """(target, parent-or-lamp) pairs the task can be drawn with in this room."""
    pairs = []
    for obj in pool:
        if task == "pick_heat_then_place_in_recep" and obj not in actions["Heatable"]:
            continue
        if task == "pick_cool_then_place_in_recep" and obj not in actions["Coolable"]:
            continue
        if task == "pick_clean_then_place_in_recep" and obj not in actions["Cleanable"]:
            continue
        homes = [r for r in classes if obj in holds.get(r, ())]
        if not homes:
            continue
        if task == "look_at_obj_in_light":
            if any(r in classes for r in LAMP_RECEPTACLES):
                pairs.append((obj, "DeskLamp"))
            continue
        for parent in classes:
            if obj not in holds.get(parent, ()):
                continue
            # the object must have somewhere to start that is not the goal's receptacle class
            if [r for r in homes if r != parent]:
                pairs.append((obj, parent))
    return pairs


def draw_game(split: str, index: int, seed: int, attempt: int = 0, task_type: str | None = None) -> GameSpec:
    """Draw game ``index`` of ``split`` (deterministic for the arguments)."""
    holds, actions, movable = _action_sets()
    rng = random.Random(f"procmem-gym/alfworld-game/{seed}/{split}/{index}/{attempt}")
    order = tuple(TASK_TYPES.values())
    task = task_type or order[index % len(order)]
    unseen = split == "valid_unseen"
    for _ in range(100):
        kind = rng.choice(TASK_ROOMS[task])
        room = layout(kind, rng.choice(UNSEEN_PLANS if unseen else SEEN_PLANS))
        classes = room.classes()
        pool = [o for o in ROOM_OBJECTS[kind] if o not in movable or task != "pick_two_obj_and_place"]
        if not unseen:
            pool = [o for o in pool if o not in UNSEEN_OBJECTS]
        pairs = _eligible_targets(task, kind, classes, pool, actions, holds)
        if unseen:
            held_out = [p for p in pairs if p[0] in UNSEEN_OBJECTS]
            if held_out and rng.random() < 0.6:
                pairs = held_out
        if pairs:
            break
    else:  # pragma: no cover - every task type has rooms with eligible targets
        raise RuntimeError(f"no room can hold a {task} task")
    target, second = rng.choice(pairs)
    parent, toggle = ("", second) if task == "look_at_obj_in_light" else (second, "")
    by_class: dict[str, list[str]] = {}
    for cls, name, _ in room.receptacles:
        by_class.setdefault(cls, []).append(name)
    taken = {name for _, name, _ in room.receptacles}
    objects: list[tuple[str, str, str]] = []

    def place(cls: str, avoid: str = "") -> None:
        homes = [r for r in classes if cls in holds.get(r, ()) and r != avoid]
        if cls == "DeskLamp":
            homes = [r for r in classes if r in LAMP_RECEPTACLES]
        home = rng.choice(by_class[rng.choice(homes)])
        objects.append((cls, _pddl_name(cls, rng, taken), home))

    count = rng.randint(2, 3) if task == "pick_two_obj_and_place" else rng.randint(1, 2)
    for _ in range(count):
        place(target, avoid=parent)
    if toggle:
        place(toggle)
    others = [o for o in ROOM_OBJECTS[kind] if o != target and (unseen or o not in UNSEEN_OBJECTS)]
    for cls in rng.sample(others, min(len(others), rng.randint(4, 9))):
        if any(cls in holds.get(r, ()) for r in classes):
            for _ in range(rng.choice((1, 1, 1, 2))):
                # a distractor of the target's parent class never makes a pick-two goal ambiguous
                place(cls)
    return GameSpec(split, index, attempt, room, task, target, parent, toggle, objects)


def _goal(spec: GameSpec) -> str:
    obj, recep = f"{spec.target}Type", f"{spec.parent}Type"
    if spec.task_type == "pick_two_obj_and_place":
        return (
            "(:goal\n(and\n(exists (?r - receptacle)\n(exists (?o1 - object)\n(and\n"
            f"(objectType ?o1 {obj})\n(receptacleType ?r {recep})\n(inReceptacle ?o1 ?r)\n"
            "(exists (?o2 - object)\n(and\n(not (= ?o1 ?o2))\n"
            f"(objectType ?o2 {obj})\n(receptacleType ?r {recep})\n(inReceptacle ?o2 ?r)\n"
            ")))))))\n)"
        )
    if spec.task_type == "look_at_obj_in_light":
        return (
            "(:goal\n(and\n(exists (?ot - object ?r - receptacle ?a - agent ?l - location)\n(and\n"
            f"(objectType ?ot {spec.toggle}Type)\n(toggleable ?ot)\n(isToggled ?ot)\n"
            "(receptacleAtLocation ?r ?l)\n(atLocation ?a ?l)\n(inReceptacle ?ot ?r)\n))\n"
            f"(exists (?o - object ?a - agent)\n(and\n(objectType ?o {obj})\n(holds ?a ?o)\n))))\n)"
        )
    state = {
        "pick_clean_then_place_in_recep": ("cleanable", "isClean"),
        "pick_heat_then_place_in_recep": ("heatable", "isHot"),
        "pick_cool_then_place_in_recep": ("coolable", "isCool"),
    }.get(spec.task_type)
    lines = [f"({state[0]} ?o)"] if state else []
    lines += [f"(objectType ?o {obj})", f"(receptacleType ?r {recep})"]
    lines += [f"({state[1]} ?o)"] if state else []
    lines += ["(inReceptacle ?o ?r)"]
    body = "\n".join(lines)
    return f"(:goal\n(and\n(exists (?r - receptacle)\n(exists (?o - object)\n(and\n{body}\n)))))\n)"


def problem_text(spec: GameSpec) -> str:
    """Return the ``initial_state.pddl`` of a drawn game."""
    holds, actions, movable = _action_sets()
    room = spec.layout
    recep_loc = {name: loc for _, name, loc in room.receptacles}
    obj_classes = sorted({cls for cls, _, _ in spec.objects})
    recep_classes = sorted({cls for cls, _, _ in room.receptacles})
    objects = ["agent1 - agent"]
    objects += [f"{name} - object" for _, name, _ in spec.objects]
    objects += [f"{cls}Type - otype" for cls in obj_classes]
    objects += [f"{cls}Type - rtype" for cls in recep_classes]
    objects += [f"{name} - receptacle" for _, name, _ in room.receptacles]
    objects += [f"{loc} - location" for loc in sorted({room.start, *recep_loc.values()})]
    init = [f"(atLocation agent1 {room.start})"]
    init += [f"(receptacleAtLocation {name} {loc})" for _, name, loc in room.receptacles]
    init += [f"(objectAtLocation {name} {recep_loc[home]})" for _, name, home in spec.objects]
    init += [f"(inReceptacle {name} {home})" for _, name, home in spec.objects]
    init += [f"(receptacleType {name} {cls}Type)" for cls, name, _ in room.receptacles]
    init += [f"(objectType {name} {cls}Type)" for cls, name, _ in spec.objects]
    init += [f"(canContain {r}Type {o}Type)" for r in recep_classes for o in obj_classes if o in holds.get(r, ())]
    for cls, name, _ in spec.objects:
        if cls == "DeskLamp":
            init.append(f"(toggleable {name})")
            continue
        init.append(f"(pickupable {name})")
        if cls in movable:
            init.append(f"(isReceptacleObject {name})")
        for prop, group in (("heatable", "Heatable"), ("coolable", "Coolable"), ("cleanable", "Cleanable")):
            if cls in actions[group]:
                init.append(f"({prop} {name})")
    init += [f"(openable {name})" for cls, name, _ in room.receptacles if cls in OPENABLE]
    return (
        f"(define (problem plan_trial_T{spec.index:06d}_{spec.attempt:02d})\n(:domain alfred)\n(:objects\n"
        + "\n".join(objects)
        + "\n)\n(:init\n"
        + "\n".join(init)
        + "\n)\n"
        + _goal(spec)  # the goal's last parenthesis closes the problem
        + "\n"
    )


def traj_data(spec: GameSpec) -> dict[str, Any]:
    """Return the ``traj_data.json`` of a drawn game (the fields ALFWorld's tools read)."""
    words = {"obj": spec.target.lower(), "recep": spec.parent.lower(), "toggle": spec.toggle.lower()}
    return {
        "task_id": f"T{spec.index:06d}_{spec.attempt:02d}",
        "task_type": spec.task_type,
        "pddl_params": {
            "object_target": spec.target,
            "parent_target": spec.parent,
            "mrecep_target": "",
            "toggle_target": spec.toggle,
            "object_sliced": False,
        },
        "scene": {"floor_plan": f"FloorPlan{spec.layout.plan}", "scene_num": spec.layout.plan},
        "turk_annotations": {
            "anns": [{"task_desc": DESCRIPTIONS[spec.task_type].format(**words), "assignment_id": "procmem-gym"}]
        },
        "split": spec.split,
        "repeat_idx": spec.attempt,
        "generator": {"name": "procmem-gym", "room": spec.layout.kind},
    }


@dataclass
class GeneratedGame:
    """One generated game (kept) or the attempts that failed before it."""

    split: str
    index: int
    folder: str
    task_type: str
    room: str
    floor_plan: int
    target: str
    attempts: int
    expert_steps: int
    objects: list[str] = field(default_factory=list)


@dataclass
class GenerateReport:
    """What :func:`generate_games` made."""

    out: str
    seed: int
    seconds: float = 0.0
    games: list[GeneratedGame] = field(default_factory=list)
    failed_attempts: int = 0

    def by_split(self) -> dict[str, dict[str, int]]:
        """Games per split and task type."""
        table: dict[str, dict[str, int]] = {}
        for g in self.games:
            row = table.setdefault(g.split, {})
            row[g.task_type] = row.get(g.task_type, 0) + 1
        return table

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "out": self.out,
            "seed": self.seed,
            "seconds": round(self.seconds, 1),
            "games_per_minute": round(60 * len(self.games) / max(self.seconds, 1e-9), 1),
            "failed_attempts": self.failed_attempts,
            "by_split": self.by_split(),
            "games": [asdict(g) for g in self.games],
        }


#: Attempts per game before generation gives up (the expert wins nearly every drawn game).
MAX_ATTEMPTS = 20

_WORKER: dict[str, Any] = {}


def _make_one(job: tuple[str, int, int, str]) -> tuple[GeneratedGame | None, int, str | None]:
    """Draw, write and prepare one game (in a worker); return (game, failed attempts, error)."""
    from .engine import logic_files, make_engine
    from .prepare import PreparedGame, _prepare_one

    split, index, seed, root = job
    if "engine" not in _WORKER:
        domain, grammar = logic_files()
        _WORKER.update(engine=make_engine(expert=True), domain=domain.read_text(), grammar=grammar.read_text())
    failed = 0
    last = None
    for attempt in range(MAX_ATTEMPTS):
        spec = draw_game(split, index, seed, attempt)
        folder = Path(root) / DATA_FOLDER / split / spec.folder
        make_folder(folder)
        (folder / "initial_state.pddl").write_text(problem_text(spec))
        (folder / "traj_data.json").write_text(json.dumps(traj_data(spec), indent=1))
        entry = PreparedGame(folder=str(folder), split=split, task_type=None, status="skipped")
        _prepare_one(
            folder, folder, _WORKER["domain"], _WORKER["grammar"], _WORKER["engine"], seed, True, 0.0, 200, entry
        )
        if entry.status == "solvable":
            game = GeneratedGame(
                split,
                index,
                str(folder.relative_to(root)),
                spec.task_type,
                spec.layout.kind,
                spec.layout.plan,
                spec.target,
                attempt + 1,
                entry.expert_steps or 0,
                sorted({cls for cls, _, _ in spec.objects}),
            )
            return game, failed, None
        failed += 1
        last = entry.reason
        shutil.rmtree(folder.parent if len(list(folder.parent.iterdir())) == 1 else folder)
    return None, failed, f"game {index} of {split}: the expert won none of {MAX_ATTEMPTS} draws (last: {last})"


def generate_games(
    out: str | Path,
    counts: dict[str, int],
    *,
    seed: int = 0,
    workers: int | None = None,
    on_game: Callable[[GeneratedGame | None], None] | None = None,
) -> GenerateReport:
    """Generate ``counts[split]`` games per split below ``out/json_2.1.1/``; return the report.

    Every kept game has a prepared ``game.tw-pddl`` that ALFWorld's expert wins. ``workers``
    processes (default: the CPU count) generate in parallel; the games do not depend on it.
    """
    for split, n in counts.items():
        if split not in SPLITS:
            raise UsageError(f"unknown split {split!r}; one of {list(SPLITS)}")
        if n < 0:
            raise UsageError(f"a count of games must be >= 0, got {n} for {split}")
    out = Path(out)
    existing = [p for s in counts if (out / DATA_FOLDER / s).is_dir() for p in (out / DATA_FOLDER / s).iterdir()]
    if existing:
        raise FileExistsError(
            f"{out / DATA_FOLDER} already holds games of {sorted({p.parent.name for p in existing})}; "
            "generate into an empty folder (games of one seed are not mixed with others)"
        )
    _action_sets()  # a missing alfworld is reported here, before processes start
    jobs = [(split, k, seed, str(out)) for split, n in counts.items() for k in range(n)]
    report = GenerateReport(str(out), seed)
    start = time.perf_counter()
    errors = []
    workers = max(1, min(workers or multiprocessing.cpu_count(), len(jobs) or 1))
    results: Iterable
    if workers == 1:
        results = map(_make_one, jobs)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap(_make_one, jobs, chunksize=4)
    try:
        for game, failed, error in results:
            report.failed_attempts += failed
            if game is not None:
                report.games.append(game)
            if error:
                errors.append(error)
            if on_game is not None:
                on_game(game)
    finally:
        if pool is not None:
            pool.terminate()
    report.seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return report
