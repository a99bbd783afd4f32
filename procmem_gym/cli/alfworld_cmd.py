"""``procmem-gym alfworld``: prepare games (as ``alfworld-generate``), generate new ones, list a data folder."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from procmem_gym.cli.common import float_in, int_in, seed_value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``alfworld`` subcommand."""
    p = subparsers.add_parser(
        "alfworld", help="prepare ALFWorld games and list ALFWorld data (needs the alfworld extra)"
    )
    sub = p.add_subparsers(dest="alfworld_command", metavar="ACTION", required=True)
    prep = sub.add_parser(
        "prepare",
        help="turn folders of traj_data.json + initial_state.pddl into game.tw-pddl files, checked by the expert",
    )
    prep.add_argument("dir", help="a folder of games (e.g. $ALFWORLD_DATA or $ALFWORLD_DATA/json_2.1.1/train)")
    prep.add_argument("--sample", action="store_true", help="first copy procmem-gym's 18 bundled sample games into DIR")
    prep.add_argument("--out", default=None, help="write the prepared games here instead of next to their sources")
    prep.add_argument("--force", action="store_true", help="prepare again games that already have a game file")
    prep.add_argument(
        "--seed",
        type=seed_value,
        default=None,
        help="seed of the task-text templates and the expert (default: alfworld-generate's)",
    )
    prep.add_argument(
        "--human-goal-prob",
        type=float_in(0, 1),
        default=0.0,
        help="probability of a human task description instead of a templated one (default 0)",
    )
    prep.set_defaults(func=prepare_main)
    gen = sub.add_parser(
        "generate",
        help="write new games (official layout, all six task types) on ALFWorld's domain; keep those the expert wins",
    )
    gen.add_argument("dir", help="an empty folder (the games go to DIR/json_2.1.1/<split>/)")
    gen.add_argument("--train", type=int_in(0, 100_000), default=240, help="games in train (default 240)")
    gen.add_argument("--valid-seen", type=int_in(0, 100_000), default=60, help="games in valid_seen (default 60)")
    gen.add_argument("--valid-unseen", type=int_in(0, 100_000), default=120, help="games in valid_unseen (default 120)")
    gen.add_argument("--seed", type=seed_value, default=0, help="generation seed (default 0); same seed, same games")
    gen.add_argument("--workers", type=int_in(1, 256), default=None, help="processes (default: one per CPU)")
    gen.set_defaults(func=generate_main)
    info = sub.add_parser("info", help="games per split and task type in an ALFWorld data folder")
    info.add_argument("dir", nargs="?", default=None, help="the data folder (default $ALFWORLD_DATA)")
    info.set_defaults(func=info_main)


def prepare_main(args: argparse.Namespace, console: Console) -> int:
    """Prepare the games below ``args.dir``; print a table per split; exit 1 if any game is unsolvable."""
    from procmem_gym.envs.alfworld.prepare import DEFAULT_SEED, copy_sample_games, prepare_games

    source = Path(args.dir)
    if args.sample:
        copy_sample_games(source)
        console.print(f"copied the bundled sample games into {source}")
    total = sum(1 for _ in source.rglob("traj_data.json")) if source.is_dir() else 0
    with Progress(
        TextColumn("[bold]preparing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[name]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("prepare", total=total, name="")
        report = prepare_games(
            source,
            args.out,
            seed=DEFAULT_SEED if args.seed is None else args.seed,
            force=args.force,
            human_goal_prob=args.human_goal_prob,
            on_game=lambda g: progress.update(task, advance=1, name=Path(g.folder).parent.name[-50:]),
        )
    table = Table(title=f"ALFWorld games in {report.out}")
    for column in ("split", "solvable", "unsolvable", "kept", "skipped"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for split, counts in sorted(report.by_split().items()):
        table.add_row(split, *(str(counts[k]) for k in ("solvable", "unsolvable", "kept", "skipped")))
    console.print(table)
    steps = [g.expert_steps for g in report.games if g.status == "solvable" and g.expert_steps]
    if steps:
        console.print(
            f"expert walkthroughs: {len(steps)} games, {sum(steps) / len(steps):.1f} steps on average, "
            f"at most {max(steps)}"
        )
    for g in report.games:
        if g.status in ("unsolvable", "skipped"):
            console.print(f"[yellow]{g.status}[/yellow] {g.folder}: {g.reason}", highlight=False)
    return 1 if report.count("unsolvable") else 0


def generate_main(args: argparse.Namespace, console: Console) -> int:
    """Generate games; print games per split and task type, and the rate."""
    from procmem_gym.envs.alfworld.data import TASK_TYPE_ALIASES, TASK_TYPES
    from procmem_gym.envs.alfworld.generate import generate_games
    from procmem_gym.files.atomic import write_text_atomic

    counts = {"train": args.train, "valid_seen": args.valid_seen, "valid_unseen": args.valid_unseen}
    with Progress(
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("generate", total=sum(counts.values()))
        report = generate_games(
            args.dir, counts, seed=args.seed, workers=args.workers, on_game=lambda _: progress.update(task, advance=1)
        )
    data = report.to_dict()
    write_text_atomic(Path(args.dir) / "generated.json", json.dumps(data, indent=1))
    table = Table(title=f"generated ALFWorld games in {args.dir}", box=box.SIMPLE_HEAD)
    table.add_column("split", no_wrap=True)
    short = {full: alias for alias, full in TASK_TYPE_ALIASES.items() if alias != "pick_two"}
    for name in TASK_TYPES.values():
        table.add_column(short[name], justify="right")
    table.add_column("games", justify="right")
    for split, row in data["by_split"].items():
        table.add_row(split, *(str(row.get(t, 0)) for t in TASK_TYPES.values()), str(sum(row.values())))
    console.print(table)
    steps = [g.expert_steps for g in report.games]
    console.print(
        f"{len(report.games)} games in {report.seconds:.0f} s ({data['games_per_minute']} per minute), "
        f"every one won by the expert ({sum(steps) / max(len(steps), 1):.1f} steps on average); "
        f"{report.failed_attempts} drawn games the expert lost were drawn again"
    )
    return 0


def info_main(args: argparse.Namespace, console: Console) -> int:
    """Print games per split and task type, prepared or not."""
    from procmem_gym.envs.alfworld.data import (
        SPLITS,
        TASK_TYPE_ALIASES,
        TASK_TYPES,
        resolve_data_dir,
        scan_split,
        split_dir,
    )

    data_dir = resolve_data_dir(args.dir)
    table = Table(title=f"ALFWorld data in {data_dir}", box=box.SIMPLE_HEAD)
    table.add_column("split", no_wrap=True)
    short = {full: alias for alias, full in TASK_TYPE_ALIASES.items() if alias != "pick_two"}  # pick2: narrower
    for name in TASK_TYPES.values():
        table.add_column(short[name], justify="right")
    table.add_column("ready", justify="right")
    table.add_column("todo", justify="right")
    table.caption = "ready: prepared and solvable; todo: no game file yet (run procmem-gym alfworld prepare)"
    found = False
    for split in SPLITS:
        try:
            entries = scan_split(split_dir(data_dir, split))
        except FileNotFoundError:
            continue
        found = True
        per_type = Counter(e.task_type for e in entries)
        playable = sum(e.game_file is not None and bool(e.solvable) for e in entries)
        unprepared = sum(e.solvable is None for e in entries)
        table.add_row(split, *(str(per_type[t]) for t in TASK_TYPES.values()), str(playable), str(unprepared))
    if not found:
        from procmem_gym.envs.alfworld.data import DOWNLOAD_HINT, ALFWorldDataError

        raise ALFWorldDataError(f"no train, valid_seen or valid_unseen split in {data_dir}. {DOWNLOAD_HINT}")
    console.print(table)
    return 0
