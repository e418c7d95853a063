"""Batch throughput: runs per minute serially, in the local process pool and on a local Dask cluster.

A fixed batch of 16 runs of fee_for_service at a reduced volume (about half a
to a second a run) goes through the real runner and results store in this
process, then in a process pool (start-up included: the pool's workers are
forked for each batch), then on a local Dask cluster of single-threaded worker
processes started once with ``--preload pbrsim.experiments.preload`` (its
start-up is shown apart: a cluster outlives its batches), in turn, ``--repeat``
times; the best wall time of each counts (other load on the machine only ever
slows a batch down). Beside each wall time: the CPU time of this process and
every process under it (workers, forkserver, Dask nannies), and the CPU that
*other* processes on the machine used meanwhile, in cores (from /proc/stat):
a figure measured while others were busy is a floor, not the machine's rate.
Target: ``--workers 2`` at least 1.8x the serial rate on an otherwise idle
2-core machine.

    .venv/bin/python benchmarks/bench_batch.py [--runs 16] [--workers 2] [--repeat 3] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil  # a dependency of distributed
from pbrsim.experiments.plan import plan_experiment
from pbrsim.experiments.runner import run_tasks
from pbrsim.experiments.spec import Experiment
from pbrsim.experiments.store import prepare_store, read_metrics

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "fee_for_service.yaml"
VOLUME = {
    "cohort": {"referrals_per_year": 24000}
}  # two thirds of the shipped volume, all 84 months
TARGET = 1.8


def tree_cpu() -> float:
    """CPU seconds used so far by this process and every process under it, running or ended.

    A process that ended was waited for by its parent, so its time is in the
    parent's ``children_*`` (pool workers end in the forkserver's).
    """
    me = psutil.Process()
    total = 0.0
    for process in (me, *me.children(recursive=True)):
        try:
            t = process.cpu_times()
        except psutil.NoSuchProcess:  # ended between listing and reading: counted in its parent
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def machine_busy() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user..steal; guest is in user


@dataclass(frozen=True)
class Timing:
    """One batch: wall seconds, CPU seconds of this process tree, and cores other processes kept busy."""

    wall: float
    cpu: float
    others: float

    def line(self, runs: int) -> str:
        return (f"{self.wall:6.2f} s wall  {self.cpu:6.2f} s CPU  {60 * runs / self.wall:6.1f} runs/min  "
                f"(others used {self.others:.2f} cores meanwhile)")


def timed(batch: Callable[[], None]) -> Timing:
    """Time ``batch``: wall, CPU of this process tree, and the cores other processes kept busy."""
    busy, cpu, start = machine_busy(), tree_cpu(), time.perf_counter()
    batch()
    wall = time.perf_counter() - start
    cpu, busy = tree_cpu() - cpu, machine_busy() - busy
    return Timing(wall, cpu, max(0.0, busy - cpu) / wall)


def run_batch(runs: int, out: Path, workers: int = 1, cluster: str | None = None) -> None:
    """Plan, run and store the batch with ``workers`` processes (1: in this process) or on ``cluster``."""
    experiment = Experiment.model_validate(
        {"name": "bench", "scenarios": [str(SCENARIO)], "replications": runs, "overrides": VOLUME}
    )
    plan = plan_experiment(experiment, SCENARIO.parent)
    store, _ = prepare_store(out, plan.batch_record(), plan.scenarios, resume=False)
    outcome = run_tasks(plan.tasks, plan.scenarios, store, workers=workers, cluster=cluster, progress=False)
    assert outcome.failed == 0 and len(read_metrics(out)) == runs


def timed_batch(runs: int, workers: int, out: Path) -> float:
    """Seconds to plan, run and store the batch with ``workers`` processes (1: in this process)."""
    return timed(lambda: run_batch(runs, out, workers)).wall


def dask_batch(runs: int, out: Path, workers: int) -> tuple[Timing, Timing]:
    """Start a local Dask cluster (its own each time, so its idle work never overlaps the other
    batches), then run the batch on it: the timings of both."""
    from distributed import LocalCluster

    with ExitStack() as stack:
        clusters: list[LocalCluster] = []
        start = timed(lambda: clusters.append(stack.enter_context(LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0", preload=["pbrsim.experiments.preload"]))))
        return start, timed(lambda: run_batch(runs, out, cluster=clusters[0].scheduler_address))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true", help="serial and the process pool only")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; before: {load()}")
    kinds = ["serial", f"pool, {args.workers} workers"] + ([] if args.no_dask else [f"dask, {args.workers} workers"])
    times: dict[str, list[Timing]] = {k: [] for k in kinds}
    starts: list[Timing] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            out = Path(tmp) / str(i)
            times[kinds[0]].append(timed(lambda out=out: run_batch(args.runs, out / "serial")))
            times[kinds[1]].append(timed(lambda out=out: run_batch(args.runs, out / "pool", args.workers)))
            if not args.no_dask:
                start, batch = dask_batch(args.runs, out / "dask", args.workers)
                starts.append(start)
                times[kinds[2]].append(batch)
    best = {k: min(v, key=lambda t: t.wall) for k, v in times.items()}
    print(f"batch of {args.runs} runs of {SCENARIO.name} at {VOLUME}, best of {args.repeat}")
    if starts:
        print(f"(dask cluster start, {args.workers} single-threaded workers, model preloaded, not counted below: "
              f"{min(t.wall for t in starts):.2f} s wall, {min(t.cpu for t in starts):.2f} s CPU at best)")
    for kind, timing in best.items():
        print(f"{kind + ':':19s}{timing.line(args.runs)}")
    serial = best[kinds[0]]
    print(f"serial: {serial.wall / args.runs:.2f} s a run; all wall times (CPU, others' cores):")
    for kind, all_times in times.items():
        print(f"  {kind}: " + "; ".join(f"{t.wall:.2f} ({t.cpu:.2f}, {t.others:.2f})" for t in all_times))
    for kind in kinds[1:]:
        ratio = serial.wall / best[kind].wall
        verdict = "ok" if ratio >= TARGET else f"below the {TARGET}x target"
        print(f"{kind} / serial: {ratio:.2f}x ({verdict}); CPU {best[kind].cpu / serial.cpu:.2f}x serial's")
    others = statistics.mean(t.others for v in times.values() for t in v)
    print(f"after: {load()}; other processes kept {others:.2f} cores busy on average while batches ran"
          + ("" if others < 0.1 else " -- the machine was NOT idle: the figures above are depressed"))


if __name__ == "__main__":
    main()
