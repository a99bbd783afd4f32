"""``procmem-gym memory``: show, diff, plot, export to and import from Agent Skills folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from procmem_gym.cli.common import CommandError
from procmem_gym.files.folders import refuse_overwrite
from procmem_gym.files.locking import exclusive
from procmem_gym.memory import ProceduralMemory
from procmem_gym.skills.skill import Skill
from procmem_gym.skills.skillmd import export_skills, import_skills


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``memory show|diff|plot|export|import``."""
    p = subparsers.add_parser("memory", help="inspect, compare, plot, export and import memory files")
    sub = p.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="a table of the skills in a memory file")
    show.add_argument("file")
    show.set_defaults(func=show_cmd)
    diff = sub.add_parser("diff", help="skills added, removed and changed from A to B")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(func=diff_cmd)
    plot = sub.add_parser("plot", help="the memory's evolution as a PNG (needs the plot extra)")
    plot.add_argument("file")
    plot.add_argument("--out", required=True, help="PNG file to write")
    plot.set_defaults(func=plot_cmd)
    exp = sub.add_parser("export", help="write one Agent Skills folder (SKILL.md) per skill")
    exp.add_argument("file")
    exp.add_argument("--out", required=True, help="folder to write the skill folders into")
    exp.add_argument("--force", action="store_true", help="overwrite SKILL.md files already in --out")
    exp.set_defaults(func=export_cmd)
    imp = sub.add_parser("import", help="read Agent Skills folders into a memory file")
    imp.add_argument("folder")
    imp.add_argument("--out", required=True, help="memory file to create, or to add the skills to")
    imp.set_defaults(func=import_cmd)


def _short(text: str, limit: int = 60) -> str:
    from procmem_gym.analysis.report import short_label

    return short_label(text, limit)  # quoted observations elided, then cut


def _activation(skill: Skill) -> str:
    if skill.activation.text:
        return _short(skill.activation.text)
    return _short("/" + "/, /".join(skill.activation.patterns) + "/")


def show_cmd(args: argparse.Namespace, console: Console) -> int:
    """Print a table of the skills: activation, uses, success rate, score, version."""
    memory = ProceduralMemory.load(args.file)
    stats = memory.stats()
    table = Table(title=f"{args.file}: {stats['skills']} skills, {stats['tokens']} tokens, {len(memory.events)} events")
    for col in ("skill", "activation", "uses", "success", "score", "version"):
        table.add_column(col, justify="right" if col in ("uses", "success", "score", "version") else "left")
    for s in sorted(memory.skills, key=lambda s: (-s.score, s.name)):
        success = f"{s.stats.success_rate:.0%}" if s.stats.episodes else "-"
        table.add_row(
            f"{_short(s.name, 40)}\n[dim]{s.id}[/dim]",
            _activation(s),
            f"{s.stats.episodes} ep / {s.stats.activations} act",
            success,
            f"{s.score:.3f}",
            str(s.lineage.version),
        )
    console.print(table)
    return 0


def diff_cmd(args: argparse.Namespace, console: Console) -> int:
    """Print the skills only in A, only in B, and those whose content or score changed."""
    a = {s.id: s for s in ProceduralMemory.load(args.a).skills}
    b = {s.id: s for s in ProceduralMemory.load(args.b).skills}
    table = Table(title=f"{args.a} -> {args.b}")
    table.add_column("change")
    table.add_column("skill")
    table.add_column("detail")
    for sid in sorted(b.keys() - a.keys()):
        table.add_row("[green]added[/green]", f"{_short(b[sid].name, 40)} ({sid})", _activation(b[sid]))
    for sid in sorted(a.keys() - b.keys()):
        table.add_row("[red]removed[/red]", f"{_short(a[sid].name, 40)} ({sid})", _activation(a[sid]))
    changed = 0
    for sid in sorted(a.keys() & b.keys()):
        old, new = a[sid], b[sid]
        parts = [f for f in ("name", "activation", "execution", "termination") if getattr(old, f) != getattr(new, f)]
        if old.lineage.version != new.lineage.version:
            parts.append(f"version {old.lineage.version}->{new.lineage.version}")
        if old.stats.episodes != new.stats.episodes:
            parts.append(f"episodes {old.stats.episodes}->{new.stats.episodes}")
        if abs(old.score - new.score) > 1e-9:
            parts.append(f"score {old.score:.3f}->{new.score:.3f}")
        if parts:
            changed += 1
            table.add_row("[yellow]changed[/yellow]", f"{_short(new.name, 40)} ({sid})", ", ".join(parts))
    console.print(table)
    console.print(f"{len(b.keys() - a.keys())} added, {len(a.keys() - b.keys())} removed, {changed} changed")
    return 0


#: The figure formats ``memory plot`` writes (matplotlib's).
PLOT_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")


def plot_cmd(args: argparse.Namespace, console: Console) -> int:
    """Write the evolution plot: skills and mean score per iteration, uses per skill."""
    from procmem_gym.analysis.memory_plot import plot_memory

    suffix = Path(args.out).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise CommandError(f"--out {args.out}: a figure file ends in one of .{', .'.join(PLOT_FORMATS)}")
    if Path(args.out).resolve() == Path(args.file).resolve():
        raise CommandError(f"--out {args.out} is the memory file: it would be overwritten (nothing was written)")
    memory = ProceduralMemory.load(args.file)
    plot_memory(memory, args.out, title=Path(args.file).name)
    console.print(f"wrote {args.out}")
    return 0


def export_cmd(args: argparse.Namespace, console: Console) -> int:
    """Write one ``<name>/SKILL.md`` per skill."""
    memory = ProceduralMemory.load(args.file)
    files = export_skills(memory.skills, args.out, force=args.force)
    console.print(f"wrote {len(files)} skill folders to {args.out}")
    return 0


def import_cmd(args: argparse.Namespace, console: Console) -> int:
    """Add the skills of Agent Skills folders to a memory file (created if missing), atomically."""
    out = Path(args.out)
    if out.name == "SKILL.md":  # a skill's own file is an input of import, never its output
        raise CommandError(f"--out {out}: the memory file cannot be a SKILL.md (nothing was written)")
    refuse_overwrite(args.folder, ("SKILL.md",), {"--out": out}, "read by memory import")
    skills = import_skills(args.folder)
    with exclusive(out, "memory file"):  # two imports into one file: one waits its turn by failing clearly
        memory = ProceduralMemory.load(out) if out.exists() else ProceduralMemory()
        added = updated = 0
        for skill in skills:
            if skill.id in memory:
                memory.update(skill.id, skill, detail={"source": "import"})
                updated += 1
            else:
                memory.add(skill, detail={"source": "import", "name": skill.name})
                added += 1
        memory.save(out)
    console.print(f"{out}: {added} skills added, {updated} updated ({len(memory)} in all)")
    return 0
