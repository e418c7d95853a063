"""The batch commands of ``pbrsim``: ``compare``, ``experiment`` and ``results``.

Exit status: 0 when every run succeeded, 1 when some runs failed (they are
recorded in the store with their error; ``--resume`` runs them again), 2 when
nothing could be run (a bad file, a folder that is not ours to write), 130
when interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pbrsim.experiments.defaults import DEFAULT_MEASURES, DEFAULT_ROOT_SEED

if TYPE_CHECKING:
    from pbrsim.experiments.plan import Plan

# The experiment schema (pydantic, numpy), the batch machinery (plan, runner, store, samplers), the
# measure catalogue, rich and the model are imported by the commands that use them, so `pbrsim --help`
# and `pbrsim validate` start without them.

__all__ = ["add_commands"]

logger = logging.getLogger(__name__)

#: Measures ``pbrsim results`` shows per scenario, when the metrics have them (catalogue keys,
#: looked up in the catalogue when the command runs, so a misspelt key raises there).
SUMMARY_MEASURES: tuple[str, ...] = (
    "true_impact_pp",
    "measured_impact_pp",
    "commissioner_outlay",
    "cost_per_reoffence_avoided_true",
    "prime_margin_share",
    "deadweight_payments",
    "creaming_index",
    "parking_share",
    "risk_transfer_ratio",
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _reference(plan: Plan, wanted: str, paths: list[str]) -> str:
    """Find the scenario ``wanted`` names: a scenario's name, its file's stem or its path."""
    from pbrsim.experiments.spec import ExperimentFileError

    names = plan.scenario_names
    by_key = {n.lower(): n for n in names}
    by_key |= {Path(p).stem.lower(): n for p, n in zip(paths, names, strict=True)}
    by_key |= {str(p).lower(): n for p, n in zip(paths, names, strict=True)}
    if wanted.lower() not in by_key:
        raise ExperimentFileError(
            [f"--reference {wanted!r}: not one of the scenarios ({', '.join(names)})"]
        )
    return by_key[wanted.lower()]


def _guarded(command: Callable[[], int], out: Path) -> int:
    """Run a batch command, turning the errors a user can act on into a message and exit status."""
    from concurrent.futures.process import BrokenProcessPool

    from pbrsim.experiments.runner import ClusterError
    from pbrsim.experiments.spec import ExperimentFileError
    from pbrsim.experiments.store import StoreError

    from pbrsim.scenario_files import ScenarioFileError

    try:
        return command()
    except (ExperimentFileError, ScenarioFileError) as exc:
        return _error("\n".join(exc.problems))
    except (StoreError, ClusterError) as exc:
        return _error(str(exc))
    except BrokenProcessPool as exc:
        return _error(
            f"the process pool broke down ({exc}); finished runs are kept in {out}: "
            "continue with --resume"
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: finished runs are kept in {out}; continue with --resume", file=sys.stderr
        )
        return 130


def _cmd_compare(args: argparse.Namespace) -> int:
    from pbrsim.experiments.pool import start_pool_server

    if not args.cluster:
        start_pool_server(args.workers)  # it loads the model while this process plans the batch

    from pbrsim.experiments.batch import execute_plan
    from pbrsim.experiments.plan import plan_experiment
    from pbrsim.experiments.spec import Experiment
    from rich.console import Console

    out = Path(args.out)

    def compare() -> int:
        paths = [str(Path(p).resolve()) for p in args.scenarios]
        experiment = Experiment.model_validate(
            {
                "name": "compare",
                "scenarios": paths,
                "replications": args.reps,
                "root_seed": args.seed,
            }
        )
        plan = plan_experiment(experiment, Path.cwd())
        reference = _reference(plan, args.reference, args.scenarios) if args.reference else None
        # a store of the same batch is continued even without --resume: `make compare` repeats
        store, failed = execute_plan(
            plan, out, resume=True, workers=args.workers, cluster=args.cluster, reference=reference
        )
        if not args.no_report:
            from pbrsim.analysis.report import write_report
            from pbrsim.analysis.tables import print_comparison

            print_comparison(store.root, reference=reference, console=Console())
            print(f"report: {write_report(store.root)}")
        return 1 if failed else 0

    return _guarded(compare, out)


def _cmd_experiment(args: argparse.Namespace) -> int:
    from pbrsim.experiments.batch import execute_plan
    from pbrsim.experiments.plan import plan_experiment
    from pbrsim.experiments.pool import start_pool_server
    from pbrsim.experiments.sensitivity import is_sensitivity_design, write_sensitivity
    from pbrsim.experiments.spec import load_experiment

    file = Path(args.file)
    out = Path(args.out) if args.out else Path("results") / file.stem

    def experiment() -> int:
        definition = load_experiment(file)
        if not (args.cluster or definition.cluster):
            start_pool_server(args.workers)  # it loads the model while this process plans the batch
        plan = plan_experiment(definition, file.parent, file=str(file))
        store, failed = execute_plan(
            plan,
            out,
            resume=args.resume,
            workers=args.workers,
            cluster=args.cluster or definition.cluster,
        )
        if is_sensitivity_design(definition):
            path, table, notes = write_sensitivity(store.root)
            for note in notes:
                print(f"sensitivity: {note}")
            print(f"sensitivity indices ({len(table)} rows): {path}")
        return 1 if failed else 0

    return _guarded(experiment, out)


def _format(key: str, value: float) -> str:
    """A mean formatted by the measure's unit in the catalogue (a column it lacks: a plain number)."""
    from pbrsim.sim.measures import Unit, find

    known = find(key)
    from pbrsim.analysis.formatting import format_value  # only `pbrsim results` formats numbers

    return format_value(known if known is not None else Unit.NUMBER, value)


def _cmd_results(args: argparse.Namespace) -> int:
    from pbrsim.experiments.store import IDENTITY_COLUMNS, StoreError, open_store, read_metrics
    from pbrsim.sim.measures import find, measure
    from rich.console import Console
    from rich.table import Table

    try:
        store = open_store(args.dir)
        metrics = read_metrics(store.root)
    except StoreError as exc:
        return _error(str(exc))
    batch = store.batch
    planned = {r["run_id"] for r in store.runs}
    landed = metrics[metrics["run_id"].isin(planned)]
    ok = landed[landed["status"] == "ok"]
    failed = landed[landed["status"] == "failed"]
    console = Console()
    experiment = batch["experiment"]
    console.print(
        f"[bold]{store.root}[/]: experiment '{experiment.get('name')}' "
        f"(pbrsim {batch.get('pbrsim_version')}, root seed {batch['root_seed']}, "
        f"reference {batch.get('reference') or 'none'})"
    )
    console.print(
        f"runs: {len(planned)} planned, {len(landed)} done ({len(ok)} ok, {len(failed)} failed), "
        f"{len(planned) - len(landed)} not run yet"
    )
    measures = [m for m in (measure(k).key for k in SUMMARY_MEASURES) if m in metrics.columns]
    if not measures:  # a model that reports none of the usual measures: show its first few
        measures = [c for c in metrics.columns if c not in IDENTITY_COLUMNS][:8]
    scenarios = list(dict.fromkeys(r["scenario"] for r in store.runs))
    table = Table(title="Mean over successful runs")
    table.add_column("measure", overflow="fold")
    for scenario in scenarios:
        table.add_column(scenario, justify="right")
    counts = ok.groupby("scenario").size()
    table.add_row("runs ok", *[str(counts.get(s, 0)) for s in scenarios])
    means = ok.groupby("scenario")[measures].mean() if len(ok) else None
    for key in measures:
        cells = [
            _format(key, means.at[s, key]) if means is not None and s in means.index else "n/a"
            for s in scenarios
        ]
        known = find(key)
        table.add_row(known.label if known is not None else key, *cells)
    console.print(table)
    if missing := [m for m in DEFAULT_MEASURES if m not in metrics.columns and len(ok)]:
        console.print(f"not reported by this model version: {', '.join(missing)}", style="dim")
    for _, row in failed.head(10).iterrows():
        lines = str(row["error"] or "").strip().splitlines()
        console.print(
            f"[red]failed[/] {row['run_id']}: {lines[-1] if lines else 'no error text'}",
            soft_wrap=True,
        )
    if len(failed) > 10:
        console.print(f"... and {len(failed) - 10} more failed runs")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``compare``, ``experiment`` and ``results`` on the ``pbrsim`` parser."""
    p = sub.add_parser(
        "compare", help="run scenarios side by side with replications and report the comparison"
    )
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario YAML files")
    p.add_argument("--reps", type=_positive, required=True, help="replications of each scenario")
    p.add_argument(
        "--out",
        default="results/compare",
        help="results folder (default: results/compare; a store of the same batch is continued)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_ROOT_SEED,
        help=f"root seed (default {DEFAULT_ROOT_SEED}); replication r of every scenario "
        "shares a seed",
    )
    p.add_argument(
        "--workers", type=_positive, default=None, help="local processes (default: every core)"
    )
    p.add_argument(
        "--cluster", default=None, metavar="ADDRESS", help="run on the Dask scheduler at ADDRESS"
    )
    p.add_argument(
        "--reference",
        default=None,
        metavar="NAME",
        help="scenario the others are compared with (its name or file name)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted batch (compare does so anyway for a store of the same batch)",
    )
    p.add_argument(
        "--no-report", action="store_true", help="skip the comparison table and the HTML report"
    )
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "experiment", help="run an experiment file (replications, sweeps, sensitivity designs)"
    )
    p.add_argument("file", help="experiment YAML file")
    p.add_argument("--out", default=None, help="results folder (default: results/<file name>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted batch: run the runs that are missing or failed",
    )
    p.add_argument(
        "--workers", type=_positive, default=None, help="local processes (default: every core)"
    )
    p.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask scheduler at ADDRESS (overrides the file's cluster:)",
    )
    p.set_defaults(func=_cmd_experiment)

    p = sub.add_parser(
        "results", help="summarise a results folder: runs done and failed, means per scenario"
    )
    p.add_argument("dir", help="results folder")
    p.set_defaults(func=_cmd_results)
