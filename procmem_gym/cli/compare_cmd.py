"""``procmem-gym compare RUN_A RUN_B``: run B against run A, episode by episode on their shared seeds."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from procmem_gym.analysis.evaluation import PairedComparison, compare, records_of


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``compare`` subcommand."""
    p = subparsers.add_parser("compare", help="paired difference with a 95% CI for two runs on the same seeds")
    p.add_argument("run_a", help="a run folder (or transitions.jsonl): the baseline")
    p.add_argument("run_b", help="a run folder (or transitions.jsonl) played on the same seeds")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.set_defaults(func=main)


def comparison_table(c: PairedComparison, name_a: str, name_b: str, title: str) -> Table:
    """Return the table of one paired comparison."""
    table = Table(title=title)
    for col in ("", name_a, name_b, "B - A (95% CI)"):
        table.add_column(col, justify="right")
    table.add_row(
        "mean return",
        f"{c.mean_a:.3f}",
        f"{c.mean_b:.3f}",
        f"{c.mean_difference:+.3f} [{c.ci_low:+.3f}, {c.ci_high:+.3f}]",
    )
    table.add_row(
        "success",
        f"{c.success_a:.0%}",
        f"{c.success_b:.0%}",
        f"only A won {c.only_a_won}, only B won {c.only_b_won}; exact McNemar p = {c.success_p:.3g}",
    )
    table.add_row("mean steps", f"{c.steps_a:.1f}", f"{c.steps_b:.1f}", f"{c.steps_b - c.steps_a:+.1f}")
    table.caption = f"{c.pairs} episodes paired by seed"
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    """Print run B against run A."""
    c = compare(records_of(args.run_a), records_of(args.run_b))
    if args.json:
        console.print_json(json.dumps(c.to_dict()))
        return 0
    console.print(comparison_table(c, "A", "B", f"{args.run_b} against {args.run_a}"))
    return 0
