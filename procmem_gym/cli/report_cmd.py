"""``procmem-gym report RUN_DIR [RUN_DIR ...] --out DIR``: tables and figures of learning runs, from their folders."""

from __future__ import annotations

import argparse

from rich.console import Console


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report", help="learning curves, lineage, per-skill gains and paired comparisons of learn runs (no model)"
    )
    p.add_argument("runs", nargs="+", help="folders written by procmem-gym learn (several: an ablation table too)")
    p.add_argument("--out", required=True, help="folder for report.md, the CSV and LaTeX tables and the PNG figures")
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    """Write the report; print where it is."""
    from procmem_gym.analysis.report import write_report

    path = write_report(args.runs, args.out)
    console.print(f"report: {path}")
    return 0
