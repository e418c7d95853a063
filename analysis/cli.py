"""The ``pbrsim report`` command: a batch's comparison table and HTML report.

``pbrsim.cli`` calls :func:`add_commands` to register it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_commands", "cmd_report"]


def cmd_report(args: argparse.Namespace) -> int:
    """Print the comparison, write ``comparison.csv`` and the HTML report; 2 on a bad store."""
    from pbrsim.analysis.report import write_report
    from pbrsim.analysis.tables import print_comparison, read_batch
    from rich.console import Console

    store = Path(args.dir)
    try:
        results = read_batch(store)
        print_comparison(results, args.reference, Console())
        out = write_report(results, Path(args.out) if args.out else None, reference=args.reference)
    except ValueError as exc:  # a StoreError, or an unknown --reference
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or args.out}: cannot write the report ({exc.strerror})",
              file=sys.stderr)
        return 2
    print(f"comparison written to {results.path / 'comparison.csv'}")
    print(f"report written to {out}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``report DIR [--out FILE] [--reference NAME]`` on ``pbrsim``'s subcommands."""
    p = sub.add_parser(
        "report", help="compare a batch's scenarios and write a self-contained HTML report",
        description="Print key measures with 95% intervals, write DIR/comparison.csv (every "
                    "measure) and an HTML report that works offline (default DIR/report.html).",
    )
    p.add_argument("dir", metavar="DIR", help="results folder written by a batch")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="where to write the HTML report (default DIR/report.html)")
    p.add_argument("--reference", metavar="NAME", default=None,
                   help="scenario to compare with (default: the batch's reference, else the first)")
    p.set_defaults(func=cmd_report)
