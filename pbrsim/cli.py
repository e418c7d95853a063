"""The ``pbrsim`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pbrsim._version import __version__
from pbrsim.analysis.cli import add_commands as analysis_commands
from pbrsim.experiments.cli import add_commands as experiment_commands
from pbrsim.logs import configure_logging
from pbrsim.run_files import RunFolderError, check_run_folder, write_run

# The schema (pydantic, yaml, numpy), the model (Mesa), the batch machinery and rich are imported by
# the commands that use them, so `pbrsim --help` starts with the standard library alone.

__all__ = ["main"]


def _cmd_validate(args: argparse.Namespace) -> int:
    from pbrsim.scenario_files import ScenarioFileError, load_scenario

    failed = 0
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except ScenarioFileError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            print(f"{path}: ok ({scenario.name})")
    return 1 if failed else 0


def _cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pbrsim.analysis.summary import print_run_summary
    from pbrsim.scenario_files import ScenarioFileError, load_scenario
    from pbrsim.sim import run_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioFileError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    if args.out:
        check_run_folder(Path(args.out))
    result = run_scenario(scenario, args.seed)
    if args.out:
        write_run(result, Path(args.out))
    if args.format == "json":
        print(json.dumps(result.metrics, indent=2))
    else:
        print_run_summary(f"{scenario.name} (seed {result.seed})", result.metrics, Console())
        if args.out:
            print(f"results written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="pbrsim", description="Simulate payment-by-results contracts in offender services."
    )
    parser.add_argument("--version", action="version", version=f"pbrsim {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log what the model and the batch do: -v for events, -vv for detail (to stderr)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check scenario files without running them")
    p.add_argument("files", nargs="+", help="scenario YAML files")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("run", help="run one replication of a scenario and summarise it")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--seed", type=int, default=None, help="root seed (default: the scenario's seed)")
    p.add_argument("--out", default=None, help="folder to write metrics, monthly series, cohorts and ledger to")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="print a readable table or the final metrics as one JSON object")
    p.set_defaults(func=_cmd_run)

    experiment_commands(sub)
    analysis_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pbrsim`` command."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    from pbrsim.memory import keep_freed_memory

    keep_freed_memory()  # the command runs whole models: keep freed blocks for reuse (pbrsim/memory.py)
    try:
        return int(args.func(args) or 0)
    except RunFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
