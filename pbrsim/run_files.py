"""Writing one run's results to a folder, byte-identical for the same scenario and seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pbrsim._version import __version__

if TYPE_CHECKING:
    from pbrsim.sim.results import RunResult

__all__ = ["RunFolderError", "check_run_folder", "write_run"]

MARKER = "run.json"


class RunFolderError(ValueError):
    """A folder that cannot take a run's results without losing something."""


def check_run_folder(out: Path) -> None:
    """Refuse a folder that holds anything but an earlier pbrsim run (checked before running)."""
    if out.exists():
        if not out.is_dir():
            raise RunFolderError(f"{out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise RunFolderError(f"{out}: folder is not empty and holds no pbrsim run; choose another --out")


def write_run(result: RunResult, out: Path) -> None:
    """Write metrics.json, monthly.csv, cohorts.csv, ledger.csv and run.json to ``out``.

    A folder that holds anything but an earlier pbrsim run is refused, so
    nothing else is ever overwritten.
    """
    check_run_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    identity = {
        "scenario": result.scenario.name,
        "seed": result.seed,
        "pbrsim_version": __version__,
        "scenario_definition": result.scenario.model_dump(mode="json"),
    }
    (out / MARKER).write_text(json.dumps(identity, indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    result.monthly.to_csv(out / "monthly.csv", index=False)
    result.cohorts.to_csv(out / "cohorts.csv", index=False)
    result.ledger.to_csv(out / "ledger.csv", index=False)
