"""Running a planned batch: serially, in a local process pool, or on a Dask cluster.

What is run (a :class:`~experiments.worker.RunTask` and its scenario definition)
is kept apart from how: every backend calls the same module-level worker,
:func:`~experiments.worker.execute_run`, and hands back :class:`~experiments.worker.RunRecord`
objects as runs finish, which are written to the store at once and dropped.
Only a bounded window of runs is in flight, so memory does not grow with the
batch. A run that raises is recorded as failed with its traceback; the batch
goes on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any

from pbrsim.experiments.pool import default_workers, pool_context  # default_workers: re-exported
from pbrsim.experiments.store import ResultsStore
from pbrsim.experiments.worker import RunRecord, RunTask, execute_run, import_model, init_pool_worker
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pbrsim.logs import replay

__all__ = ["BatchOutcome", "ClusterError", "default_workers", "run_tasks"]

logger = logging.getLogger(__name__)

Definitions = dict[str, dict[str, Any]]

#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT_S = 30


class ClusterError(RuntimeError):
    """The Dask cluster named for a batch cannot be used."""


def _windowed(
    tasks: Iterable[RunTask], submit: Callable[[RunTask], Any], window: int
) -> Iterator[RunRecord]:
    """Keep ``window`` runs in flight and yield each record as its run finishes.

    ``submit`` returns a future (concurrent.futures or Dask): both call
    ``add_done_callback`` with the finished future, which feeds one queue.
    """
    queue = iter(tasks)
    finished: SimpleQueue[Any] = SimpleQueue()
    pending: dict[int, tuple[Any, RunTask]] = {}

    def fill() -> None:
        while len(pending) < window and (task := next(queue, None)) is not None:
            future = submit(task)
            pending[id(future)] = (future, task)
            future.add_done_callback(finished.put)

    fill()
    while pending:
        future, task = pending.pop(id(finished.get()))
        try:
            record = future.result()
        except Exception as exc:  # the worker process died, or the cluster lost it
            record = RunRecord.failure(task, f"worker lost: {type(exc).__name__}: {exc}")
        del future
        yield record
        fill()


def _in_pool(tasks: list[RunTask], definitions: Definitions, workers: int) -> Iterator[RunRecord]:
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=pool_context(),  # workers forked from a server that has loaded the model
        initializer=init_pool_worker,
        initargs=(os.getpid(),),
    )
    try:
        yield from _windowed(
            tasks,
            lambda t: pool.submit(execute_run, t, definitions.get(t.scenario_hash or ""), _log_level()),
            window=4 * workers,
        )
    except BaseException:  # interrupted: stop now rather than finish the runs in hand
        for process in getattr(pool, "_processes", {}).values():  # 3.14: pool.terminate_workers()
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _on_cluster(
    tasks: list[RunTask], definitions: Definitions, address: str
) -> Iterator[RunRecord]:
    from distributed import Client  # only needed, and only imported, for cluster runs
    from pbrsim.experiments.cluster import load_model_on_workers

    batch = uuid.uuid4().hex[:8]
    try:
        client = Client(address, set_as_default=False, timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:  # what distributed raises (TimeoutError included) when it cannot connect
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        try:
            load_model_on_workers(client)  # once per worker now (and as workers join), not on a first run
        except Exception as exc:  # a worker that cannot import pbrsim's model can run none of the batch
            raise ClusterError(
                f"the Dask workers at {address} cannot load pbrsim's model: {type(exc).__name__}: {exc}"
            ) from None
        slots = sum(client.nthreads().values()) or 1
        logger.info("running on the Dask cluster at %s (%d worker threads)", address, slots)
        yield from _windowed(
            tasks,
            lambda t: client.submit(
                execute_run,
                t,
                definitions.get(t.scenario_hash or ""),
                _log_level(),
                key=f"pbrsim-{batch}-{t.run_id}",
                pure=False,
            ),
            window=max(4 * slots, 8),
        )


def _log_level() -> int:
    """The level at which this process shows pbrsim's records: what a worker should capture for it."""
    return logging.getLogger("pbrsim").getEffectiveLevel()


def _records(
    tasks: list[RunTask], definitions: Definitions, workers: int, cluster: str | None
) -> Generator[RunRecord]:
    if cluster:
        return _on_cluster(tasks, definitions, cluster)
    if workers > 1 and len(tasks) > 1:
        return _in_pool(tasks, definitions, min(workers, len(tasks)))
    return _in_process(tasks, definitions)


def _in_process(tasks: list[RunTask], definitions: Definitions) -> Iterator[RunRecord]:
    import_model()  # before the first run, so that run's time is its own
    for task in tasks:
        yield execute_run(task, definitions.get(task.scenario_hash or ""))


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


class _RateColumn(ProgressColumn):
    """Runs finished per minute."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(
            "-- runs/min" if speed is None else f"{60 * speed:,.0f} runs/min",
            style="progress.data.speed",
        )


@dataclass(frozen=True)
class BatchOutcome:
    """How the runs of one call to :func:`run_tasks` went."""

    ok: int
    failed: int
    elapsed_s: float


def run_tasks(
    tasks: list[RunTask],
    definitions: Definitions,
    store: ResultsStore,
    *,
    workers: int | None = None,
    cluster: str | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> BatchOutcome:
    """Run tasks and stream each finished run into the store.

    Args:
        tasks: the runs to do.
        definitions: resolved scenario definitions by content hash.
        store: where each finished run is written (atomically) as it lands.
        workers: local processes (default: every core; 1 runs in this process).
        cluster: address of a Dask scheduler; when given, runs go there instead.
        console: where the progress bar is drawn (default: standard error).
        progress: show a progress bar (runs done, rate, time left).

    Raises:
        ClusterError: the Dask scheduler cannot be reached.
        concurrent.futures.process.BrokenProcessPool: the pool broke down and no more runs
            can be sent to it (runs already finished are in the store).

    """
    workers = default_workers() if workers is None else max(1, workers)
    start = time.perf_counter()
    ok = failed = 0
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not progress,
    )
    # closing(): an interrupted batch shuts its pool or cluster client down at once
    with bar, closing(_records(tasks, definitions, workers, cluster)) as records:
        bar_task = bar.add_task("runs", total=len(tasks), failed=0)
        for record in records:
            store.write_run(record)
            replay(record.logs, record.run_id)
            ok += record.ok
            failed += not record.ok
            if not record.ok:
                logger.info("run %s failed: %s", record.run_id, _last_line(record.error))
            bar.update(bar_task, advance=1, failed=failed)
    return BatchOutcome(ok, failed, time.perf_counter() - start)
