"""Batch throughput: runs per minute serially and in the local process pool.

A fixed batch of 16 runs of fee_for_service at a reduced volume (about half a
to a second a run) goes through the real runner and results store in this process,
then in a process pool (start-up included), alternately, ``--repeat`` times;
the best time of each counts (other load on the machine only ever slows a
batch down). The pool should reach at least 1.6x the serial rate on 2 cores.

    .venv/bin/python benchmarks/bench_batch.py [--runs 16] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pbrsim.experiments.plan import plan_experiment
from pbrsim.experiments.runner import run_tasks
from pbrsim.experiments.spec import Experiment
from pbrsim.experiments.store import prepare_store, read_metrics

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "fee_for_service.yaml"
VOLUME = {
    "cohort": {"referrals_per_year": 24000}
}  # two thirds of the shipped volume, all 84 months
TARGET = 1.6


def timed_batch(runs: int, workers: int, out: Path) -> float:
    """Seconds to plan, run and store the batch with ``workers`` processes (1: in this process)."""
    start = time.perf_counter()
    experiment = Experiment.model_validate(
        {"name": "bench", "scenarios": [str(SCENARIO)], "replications": runs, "overrides": VOLUME}
    )
    plan = plan_experiment(experiment, SCENARIO.parent)
    store, _ = prepare_store(out, plan.batch_record(), plan.scenarios, resume=False)
    outcome = run_tasks(plan.tasks, plan.scenarios, store, workers=workers, progress=False)
    elapsed = time.perf_counter() - start
    assert outcome.failed == 0 and len(read_metrics(out)) == runs
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for workers in times:
                times[workers].append(timed_batch(args.runs, workers, Path(tmp) / f"{workers}-{i}"))
    serial, pool = min(times[1]), min(times[args.workers])
    serial_rate, pool_rate = 60 * args.runs / serial, 60 * args.runs / pool
    ratio = pool_rate / serial_rate
    print(f"batch of {args.runs} runs of {SCENARIO.name} at {VOLUME}, best of {args.repeat}")
    print(
        f"serial:            {serial:6.2f} s  {serial_rate:7.1f} runs/min  "
        f"({serial / args.runs:.2f} s a run)"
    )
    print(
        f"pool, {args.workers} workers:   {pool:6.2f} s  {pool_rate:7.1f} runs/min  "
        f"(all times: serial {', '.join(f'{t:.2f}' for t in times[1])}; "
        f"pool {', '.join(f'{t:.2f}' for t in times[args.workers])})"
    )
    verdict = "ok" if ratio >= TARGET else f"below the {TARGET}x target"
    print(f"pool / serial:     {ratio:.2f}x ({verdict})")


if __name__ == "__main__":
    main()
