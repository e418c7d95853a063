"""What a worker process does: run one task and hand back what to store.

Kept apart from planning and execution so that a worker (a pool process or a
Dask worker) imports only the model, not the samplers, DuckDB or the progress
bar: a worker starts in about a second. Everything here is module-level and
picklable. The model itself is imported on first use (:func:`import_model`), so
a batch process that only hands runs to a pool or a cluster never loads it;
workers call :func:`load_model` when they start (:mod:`experiments.preload`,
:mod:`experiments.cluster`), not on their first run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pbrsim.sim import Scenario  # the schema; ``run_scenario`` (the model) is imported on first use

from pbrsim.logs import CapturedLogs

__all__ = ["RunRecord", "RunTask", "execute_run", "import_model", "init_pool_worker", "load_model"]


@dataclass(frozen=True)
class RunTask:
    """One run to do: identity and inputs (the scenario definition travels separately, by hash)."""

    run_id: str
    scenario: str
    scenario_hash: str | None
    point: int
    replication: int
    seed: int
    params: dict[str, Any]
    problem: str | None = None
    """Why the scenario could not be built for this design point (the run is then a failed run)."""

    def identity(self) -> dict[str, Any]:
        """Describe the run as batch.json lists it."""
        return {
            "run_id": self.run_id,
            "scenario": self.scenario,
            "scenario_hash": self.scenario_hash,
            "point": self.point,
            "replication": self.replication,
            "seed": self.seed,
            "params": self.params,
        }


@dataclass
class RunRecord:
    """What one run produced, ready to store (metrics and monthly series; nothing else is kept)."""

    run_id: str
    scenario: str
    scenario_hash: str | None
    replication: int
    seed: int
    params: dict[str, Any]
    status: str
    error: str | None
    elapsed_s: float
    metrics: dict[str, float | None] = field(default_factory=dict)
    monthly: pd.DataFrame | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    """Log records the run emitted in a worker process (replayed by the batch process)."""

    @classmethod
    def failure(cls, task: RunTask, error: str, elapsed_s: float = 0.0) -> RunRecord:
        """Make the record of a task that failed with ``error``."""
        return cls(**_identity(task), status="failed", error=error, elapsed_s=elapsed_s)

    @property
    def ok(self) -> bool:
        """Whether the run finished without error."""
        return self.status == "ok"


def _identity(task: RunTask) -> dict[str, Any]:
    """The fields a run's record takes from its task."""
    return {"run_id": task.run_id, "scenario": task.scenario, "scenario_hash": task.scenario_hash,
            "replication": task.replication, "seed": task.seed, "params": task.params}


def execute_run(task: RunTask, definition: dict[str, Any] | None, log_level: int | None = None) -> RunRecord:
    """Run one replication and return what to store (the worker of every backend).

    Args:
        task: the run's identity and seed.
        definition: the resolved scenario (``model_dump(mode="json")``), or None when
            the task carries a ``problem`` instead.
        log_level: in a worker process, the batch process's pbrsim log level: records at or
            above it are captured into the record's ``logs``. None (a run in the batch
            process itself): logs go to this process's handlers as they happen.

    Returns:
        The run's record: status "ok" with metrics and monthly series, or "failed"
        with the error text (a traceback for an exception in the model).

    """
    if task.problem is not None or definition is None:
        return RunRecord.failure(task, task.problem or "no scenario definition")
    run_scenario = sys.modules[__name__].run_scenario  # this module's, as imported (or replaced in a test)
    start = time.perf_counter()
    with CapturedLogs(log_level) if log_level is not None else contextlib.nullcontext() as logs:
        try:
            result = run_scenario(Scenario.model_validate(definition), task.seed)
        except Exception as exc:  # any failure of one run is recorded, and the batch goes on
            failed = RunRecord.failure(
                task, "".join(traceback.format_exception(exc)).strip(), time.perf_counter() - start
            )
            failed.logs = logs.records if logs is not None else []
            return failed
    return RunRecord(
        **_identity(task),
        status="ok",
        error=None,
        elapsed_s=time.perf_counter() - start,
        metrics=result.metrics,
        monthly=result.monthly,
        logs=logs.records if logs is not None else [],
    )


def __getattr__(name: str) -> Any:
    """``run_scenario``: the model (Mesa), imported the first time it is asked for."""
    if name == "run_scenario":
        from pbrsim.sim.results import run_scenario

        globals()["run_scenario"] = run_scenario
        return run_scenario
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def import_model() -> None:
    """Import everything a run needs: the model (Mesa) and the mechanism modules.

    The mechanism modules (``MECHANISM_MODULES``) would otherwise be imported by
    the first model built, inside the first run.
    """
    from pbrsim.sim.mechanisms import mechanism_types

    sys.modules[__name__].run_scenario  # noqa: B018  (imports the model)
    mechanism_types()


def load_model() -> None:
    """Make this process a worker: the model imported and freed memory kept, before its first run."""
    from pbrsim.memory import keep_freed_memory

    keep_freed_memory()  # a worker runs many models: keep freed blocks for reuse
    import_model()


def init_pool_worker(batch_pid: int) -> None:
    """Set up a pool worker: Ctrl-C is left to the batch process, and the worker ends with it.

    A worker whose batch process was killed outright (SIGKILL, out of memory)
    would otherwise go on computing runs nobody will store, or block forever
    sending one back; a daemon thread checks every second that the batch
    process is still there and ends the worker if not.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(batch_pid,), daemon=True).start()


def _exit_with(pid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # the pid now belongs to another user's process: ours is gone
            os._exit(1)
