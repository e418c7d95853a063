"""One national-scale replication: seconds, offender-months per second and peak memory.

Target (foundation issue): at most 10 s and 2 GB on one core. Each replication
runs in a fresh process so peak memory (max RSS) is its own.

    python benchmarks/bench_national.py [scenario.yaml] [--reps N]
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


def one(path: str) -> None:
    """Run one replication in this process and print its measurements as JSON."""
    import pandas as pd
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.results import compute_metrics

    from pbrsim.memory import keep_freed_memory
    from pbrsim.scenario_files import load_scenario

    keep_freed_memory()  # as the pbrsim command and the batch workers do
    design = load_scenario(path)
    start = time.perf_counter()
    model = PbRModel(design)
    model.run()
    cohorts = pd.DataFrame([c.result for c in model.cohorts])
    compute_metrics(model, cohorts)
    seconds = time.perf_counter() - start
    offender_months = int(model.store.size) * design.contract.measure.follow_up_months
    print(json.dumps({
        "offenders": int(model.store.size),
        "offender_months": offender_months,
        "seconds": seconds,
        "offender_months_per_second": offender_months / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "store_mb": model.store.nbytes() / 2**20,
    }))


def main() -> None:
    """Run the benchmark replications, each in a fresh single-threaded process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", nargs="?", default=str(HERE / "national.yaml"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.scenario)
        return
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = []
    for _ in range(args.reps):
        out = subprocess.run(
            [sys.executable, __file__, args.scenario, "--one"], capture_output=True, text=True,
            check=True, env={**os.environ, **env},
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for r in rows:
        print(f"{r['offenders']:>10,} offenders  {r['offender_months']:>12,} offender-months  "
              f"{r['seconds']:6.2f} s  {r['offender_months_per_second'] / 1e6:6.2f} M offender-months/s  "
              f"peak {r['peak_rss_mb']:7.0f} MB (offender store {r['store_mb']:.0f} MB)")
    best = min(r["seconds"] for r in rows)
    peak = max(r["peak_rss_mb"] for r in rows)
    print(f"best {best:.2f} s (target <= 10 s), peak memory {peak:.0f} MB (target <= 2048 MB)")


if __name__ == "__main__":
    main()
