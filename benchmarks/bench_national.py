"""One national-scale replication: CPU and wall seconds, offender-months per second, peak memory.

Targets (issue 11, CPU time on one core): uniform primes <= 1.2 s, adaptive primes <= 2.0 s,
adaptive primes with a market of about 150 sub-primes <= 2.5 s, peak memory <= 600 MB each;
210 primes at most 1 s more than 3 at the same volume; cost linear in offender-months.
Each replication runs in a fresh single-threaded process, so peak memory (max RSS) is its own.
The time is the model's: building it, running every month, the cohort table and the metrics
(``compute_metrics``), measured inside the process, without Python's start-up and imports.

    python benchmarks/bench_national.py [scenario.yaml] [--reps N] [--scale X]
    python benchmarks/bench_national.py scenario.yaml --curve      # 1/8x to 2x the volume

Pin it to one core (``taskset -c 0``) on a machine doing nothing else: two processes on one
core double each other's wall time, and share caches enough to move CPU time too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CURVE = (0.125, 0.25, 0.5, 1.0, 2.0)


def one(path: str, scale: float) -> None:
    """Run one replication in this process and print its measurements as JSON."""
    import pandas as pd
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.results import compute_metrics

    from pbrsim.memory import keep_freed_memory
    from pbrsim.scenario_files import load_scenario

    keep_freed_memory()  # as the pbrsim command and the batch workers do
    design = load_scenario(path)
    if scale != 1.0:
        volume = design.cohort.referrals_per_year * scale
        design = load_scenario(path, {"cohort": {"referrals_per_year": volume}})
    wall, cpu = time.perf_counter(), time.process_time()
    model = PbRModel(design)
    model.run()
    cohorts = pd.DataFrame([c.result for c in model.cohorts])
    compute_metrics(model, cohorts)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    offender_months = int(model.store.size) * design.contract.measure.follow_up_months
    print(json.dumps({
        "scale": scale,
        "primes": len(model.primes),
        "offenders": int(model.store.size),
        "offender_months": offender_months,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "offender_months_per_cpu_second": offender_months / cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "store_mb": model.store.nbytes() / 2**20,
    }))


def _run(scenario: str, scale: float) -> dict:
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, scenario, "--one", "--scale", str(scale)], capture_output=True, text=True,
        check=True, env={**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    """Run the benchmark replications, each in a fresh single-threaded process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", nargs="?", default=str(HERE / "national.yaml"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the referrals a year by this")
    parser.add_argument("--curve", action="store_true", help=f"run at {', '.join(map(str, CURVE))} x the volume")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.scenario, args.scale)
        return
    scales = CURVE if args.curve else (args.scale,)
    print(f"{Path(args.scenario).name}: medians of {args.reps} fresh processes (min-max of CPU)")
    print(f"{'scale':>6} {'primes':>6} {'offenders':>10} {'offender-months':>16} {'CPU s':>7} {'(min-max)':>13} "
          f"{'wall s':>7} {'ns CPU per offender-month':>26} {'peak MB':>8}")
    for scale in scales:
        rows = [_run(args.scenario, scale) for _ in range(args.reps)]
        cpu = [r["cpu_seconds"] for r in rows]
        r = rows[0]
        print(f"{scale:6.3g} {r['primes']:6d} {r['offenders']:10,d} {r['offender_months']:16,d} {_median(cpu):7.2f} "
              f"{f'({min(cpu):.2f}-{max(cpu):.2f})':>13} {_median([x['wall_seconds'] for x in rows]):7.2f} "
              f"{_median(cpu) / r['offender_months'] * 1e9:26.1f} {max(x['peak_rss_mb'] for x in rows):8.0f}")


if __name__ == "__main__":
    main()
