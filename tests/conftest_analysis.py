"""Helpers for the analysis tests: results stores written in the batch runner's layout.

``write_store`` writes a synthetic store with known numbers; ``sim_store`` runs
small shipped scenarios and writes their results the way ``experiments/`` does,
so analysis is tested against the on-disk layout, never against the runner.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"cohort": {"referrals_per_year": 3000}, "contract": {"referral_months": 12}}
ID_TYPES = {"run_id": pa.string(), "scenario": pa.string(), "scenario_hash": pa.string(),
            "replication": pa.int64(), "seed": pa.int64(), "params": pa.string(),
            "status": pa.string(), "error": pa.string(), "elapsed_s": pa.float64()}


def scenario_hash(name: str, params: dict | None = None) -> str:
    """A stable stand-in for the runner's scenario hash."""
    text = json.dumps({"name": name, "params": params or {}}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run(scenario: str, replication: int, metrics: dict[str, float | None], *,
        seed: int | None = None, status: str = "ok", error: str | None = None,
        params: dict | None = None, monthly: pd.DataFrame | None = None) -> dict[str, Any]:
    """One run's record for :func:`write_store` (seed defaults to 100 + replication: CRN)."""
    return {"scenario": scenario, "replication": replication,
            "seed": 100 + replication if seed is None else seed, "status": status, "error": error,
            "params": params or {}, "metrics": metrics, "monthly": monthly,
            "scenario_hash": scenario_hash(scenario, params)}


def write_store(path: Path, runs: list[dict[str, Any]], *, reference: str | None = None,
                definitions: dict[str, dict] | None = None, sensitivity: pd.DataFrame | None = None,
                name: str = "Synthetic batch", root_seed: int = 100) -> Path:
    """Write a results store in the batch runner's layout; return its folder.

    Args:
        path: Folder to create.
        runs: Records made by :func:`run`.
        reference: batch.json's reference scenario.
        definitions: Scenario name -> resolved definition (default: a small dict
            naming the scenario).
        sensitivity: Written as sensitivity.csv when given.
        name: Experiment name.
        root_seed: batch.json's root seed.
    """
    for sub in ("scenarios", "metrics", "monthly"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    batch_runs = []
    for r in runs:
        run_id = f"{r['scenario_hash']}-{r['replication']:04d}"
        batch_runs.append({"run_id": run_id, "scenario": r["scenario"],
                           "scenario_hash": r["scenario_hash"], "replication": r["replication"],
                           "seed": r["seed"], "params": r["params"]})
        definition = (definitions or {}).get(r["scenario"], {"name": r["scenario"], **r["params"]})
        (path / "scenarios" / f"{r['scenario_hash']}.json").write_text(json.dumps(definition))
        ids = {"run_id": run_id, "scenario": r["scenario"], "scenario_hash": r["scenario_hash"],
               "replication": r["replication"], "seed": r["seed"],
               "params": json.dumps(r["params"]), "status": r["status"], "error": r["error"],
               "elapsed_s": 0.1}
        columns = {k: pa.array([v], ID_TYPES[k]) for k, v in ids.items()}
        columns |= {k: pa.array([None if v is None else float(v)], pa.float64())
                    for k, v in r["metrics"].items()}
        pq.write_table(pa.table(columns), path / "metrics" / f"{run_id}.parquet")
        if r["monthly"] is not None:
            monthly = r["monthly"].copy()
            monthly.insert(0, "replication", r["replication"])
            monthly.insert(0, "scenario", r["scenario"])
            monthly.insert(0, "run_id", run_id)
            pq.write_table(pa.Table.from_pandas(monthly, preserve_index=False),
                           path / "monthly" / f"{run_id}.parquet")
    batch = {"format": "pbrsim-results", "format_version": 1, "pbrsim_version": "0.1.0",
             "root_seed": root_seed,
             "experiment": {"name": name, "file": "experiments/synthetic.yaml",
                            "definition": {"replications": len({r["replication"] for r in runs})}},
             "runs": batch_runs, "reference": reference}
    (path / "batch.json").write_text(json.dumps(batch, indent=2))
    if sensitivity is not None:
        sensitivity.to_csv(path / "sensitivity.csv", index=False)
    return path


DESIGNS = ("fee_for_service", "tr_hybrid", "binary_pbr")


def sim_store(path: Path, scenarios: tuple[str, ...] = DESIGNS, replications: int = 2,
              root_seed: int = 5000) -> Path:
    """Run small shipped scenarios and write their results as a batch would.

    Replication ``r`` of every scenario runs on seed ``root_seed + r`` (common
    random numbers); the first scenario is the reference.
    """
    from pbrsim.sim import run_scenario

    from pbrsim.scenario_files import load_scenario

    runs, definitions = [], {}
    for stem in scenarios:
        design = load_scenario(ROOT / "scenarios" / f"{stem}.yaml", overrides=SMALL)
        definitions[design.name] = design.model_dump(mode="json")
        for r in range(replications):
            result = run_scenario(design, root_seed + r)
            runs.append(run(design.name, r, result.metrics, seed=root_seed + r,
                            monthly=result.monthly))
    first = runs[0]["scenario"]
    return write_store(path, runs, reference=first, definitions=definitions,
                       name="Three contract designs", root_seed=root_seed)
