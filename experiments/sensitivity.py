"""Global sensitivity analysis of a finished Sobol or Morris batch, with SALib.

Everything is read back from the store: the design is rebuilt from the
experiment definition in batch.json (same sweep, same seed, same points) and
each design point's measure is the mean over its replications. Indices are
computed per scenario and measure; a measure the model does not report yet,
one with a design point that has no value (a failed run), or one that never
varies is skipped with a note saying why.

``sensitivity.csv`` columns: scenario, measure, parameter, then S1, S1_conf,
ST, ST_conf (Sobol) or mu_star, mu_star_conf, sigma (Morris).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from pbrsim.experiments.designs import build_design
from pbrsim.experiments.spec import Experiment, MorrisSweep, SobolSweep
from pbrsim.experiments.store import SENSITIVITY_FILE, read_batch, read_metrics, write_atomic

# SALib's analysers (and scipy.stats under them, about half a second) are imported by the analysis
# only, so `pbrsim experiment` of a design without one does not load them.

__all__ = ["SENSITIVITY_FILE", "analyse_store", "is_sensitivity_design", "write_sensitivity"]

logger = logging.getLogger(__name__)


_SOBOL_COLUMNS = ["S1", "S1_conf", "ST", "ST_conf"]
_MORRIS_COLUMNS = ["mu_star", "mu_star_conf", "sigma"]


def is_sensitivity_design(experiment: Experiment) -> bool:
    """Whether the experiment's sweep is a Sobol or Morris design."""
    return isinstance(experiment.sweep, SobolSweep | MorrisSweep)


def analyse_store(root: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Sensitivity indices of every measure of every scenario in a finished store.

    Args:
        root: a results store of a Sobol or Morris experiment.

    Returns:
        The table written to sensitivity.csv, and notes on measures that were skipped.

    Raises:
        ValueError: the store's experiment is not a Sobol or Morris design.

    """
    from SALib.analyze import morris as morris_analysis
    from SALib.analyze import sobol as sobol_analysis

    batch = read_batch(root)
    experiment = Experiment.model_validate(batch["experiment"]["definition"])
    sweep = experiment.sweep
    if not isinstance(sweep, SobolSweep | MorrisSweep):
        raise ValueError(f"{root}: the experiment has no Sobol or Morris design to analyse")
    design = build_design(experiment)
    if any(run["params"] != design.points[run["point"]] for run in batch["runs"]):
        raise ValueError(
            f"{root}: the design rebuilt from batch.json differs from the parameters the runs "
            "used (was SALib upgraded since the batch ran?)"
        )
    n_points = len(design.points)
    point_of = {run["run_id"]: run["point"] for run in batch["runs"]}
    metrics = read_metrics(root)
    metrics = metrics[metrics["status"] == "ok"].assign(point=lambda m: m["run_id"].map(point_of))
    value_columns = _SOBOL_COLUMNS if isinstance(sweep, SobolSweep) else _MORRIS_COLUMNS

    rows: list[dict[str, object]] = []
    notes: list[str] = []
    missing = [m for m in sweep.measures if m not in metrics.columns]
    if missing:
        notes.append(f"not in the metrics (yet), skipped: {', '.join(missing)}")
    scenarios = list(dict.fromkeys(run["scenario"] for run in batch["runs"]))
    for scenario in scenarios:
        runs = metrics[metrics["scenario"] == scenario]
        for measure in (m for m in sweep.measures if m not in missing):
            y = runs.groupby("point")[measure].mean().reindex(range(n_points)).to_numpy(dtype=float)
            if not np.isfinite(y).all():
                notes.append(
                    f"{scenario}: {measure}: {int((~np.isfinite(y)).sum())} of {n_points} "
                    "design points have no value (failed or undefined runs), skipped"
                )
                continue
            if np.ptp(y) == 0:
                notes.append(f"{scenario}: {measure}: the same at every design point, skipped")
                continue
            if isinstance(sweep, SobolSweep):
                found = sobol_analysis.analyze(
                    design.problem,
                    y,
                    calc_second_order=sweep.second_order,
                    seed=experiment.root_seed,
                )
            else:
                found = morris_analysis.analyze(
                    design.problem,
                    design.sample,
                    y,
                    num_levels=sweep.num_levels,
                    seed=experiment.root_seed,
                )
            for i, parameter in enumerate(design.parameters):
                rows.append(
                    {
                        "scenario": scenario,
                        "measure": measure,
                        "parameter": parameter,
                        **{c: float(found[c][i]) for c in value_columns},
                    }
                )
    table = pd.DataFrame(rows, columns=["scenario", "measure", "parameter", *value_columns])
    return table, notes


def write_sensitivity(root: str | Path) -> tuple[Path, pd.DataFrame, list[str]]:
    """Analyse a finished store and write DIR/sensitivity.csv (atomically).

    Returns:
        The file written, the table and notes on skipped measures.

    """
    table, notes = analyse_store(root)
    for note in notes:
        logger.info("sensitivity: %s", note)
    dest = Path(root) / SENSITIVITY_FILE
    text = table.to_csv(index=False)
    write_atomic(dest, lambda fh: fh.write(text.encode()))
    return dest, table, notes
