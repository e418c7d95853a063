"""Running a planned batch into a results folder, for the command line and the Python API alike."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from pbrsim.experiments.plan import Plan
from pbrsim.experiments.runner import run_tasks
from pbrsim.experiments.store import ResultsStore, prepare_store

__all__ = ["execute_plan"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def execute_plan(
    plan: Plan,
    out: Path,
    *,
    resume: bool,
    workers: int | None,
    cluster: str | None,
    reference: str | None = None,
    echo: Callable[..., None] = print,
    progress: bool = True,
) -> tuple[ResultsStore, int]:
    """Create or resume the store and run what is not done yet; return it and its failed runs.

    Args:
        plan: every run of the batch.
        out: the results folder (created, or continued when it holds the same batch).
        resume: continue a store of the same batch (missing and failed runs are run again).
        workers: local processes (default: every core).
        cluster: address of a Dask scheduler to run on instead.
        reference: scenario the others are compared with, recorded in the store.
        echo: where progress lines go (``print`` for the command line).
        progress: show a progress bar.

    """
    store, resumed = prepare_store(out, plan.batch_record(reference), plan.scenarios, resume=resume)
    store.set_reference(reference)
    statuses = store.statuses()
    todo = [t for t in plan.tasks if statuses.get(t.run_id) != "ok"]
    if resumed:
        failed_before = sum(statuses.get(t.run_id) == "failed" for t in plan.tasks)
        echo(
            f"resuming {out}: {len(plan.tasks) - len(todo)} of {len(plan.tasks)} runs done; "
            f"running {len(todo) - failed_before} missing and {failed_before} failed runs again"
        )
    else:
        echo(
            f"{out}: {_count(len(plan.tasks), 'run')} "
            f"({_count(len(plan.scenario_names), 'scenario')}, "
            f"{_count(len(plan.design.points), 'design point')}, "
            f"{_count(plan.experiment.replications, 'replication')})"
        )
    if todo:
        if cluster:
            echo(f"running on the Dask cluster at {cluster}")
        outcome = run_tasks(todo, plan.scenarios, store, workers=workers, cluster=cluster, progress=progress)
        echo(f"{outcome.ok} runs ok, {outcome.failed} failed, in {outcome.elapsed_s:.1f} s")
    failed = sum(status == "failed" for status in store.statuses().values())
    if failed:
        echo(
            f"{failed} runs failed (see `pbrsim results {out}`; --resume runs them again)",
            file=sys.stderr,
        )
    return store, failed
