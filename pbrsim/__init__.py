"""pbrsim: an agent-based simulation laboratory for payment-by-results contracts in offender services.

The public Python API (documented in the README and in :mod:`pbrsim.api`)::

    import pbrsim
    run = pbrsim.run(pbrsim.shipped_scenario("binary_pbr"), seed=1)
    run.metrics, run.monthly, run.cohorts          # pandas
    batch = pbrsim.compare([...], reps=5)          # batch.metrics, batch.comparison()

Subpackages: :mod:`pbrsim.sim` (the model; no files, plots or runners),
:mod:`pbrsim.experiments` (batches, the runner, the results store),
:mod:`pbrsim.analysis` (tables, figures, reports). The names below are loaded
on first use, so ``import pbrsim`` (and the command line) start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pbrsim._version import __version__

if TYPE_CHECKING:
    from pbrsim.api import (
        Batch,
        Run,
        compare,
        load_scenario,
        open_results,
        run,
        run_experiment,
        shipped_experiment,
        shipped_scenario,
        shipped_scenarios,
    )
    from pbrsim.scenario_files import ScenarioFileError
    from pbrsim.sim.scenario import Scenario

__all__ = [
    "Batch",
    "Run",
    "Scenario",
    "ScenarioFileError",
    "__version__",
    "compare",
    "load_scenario",
    "open_results",
    "run",
    "run_experiment",
    "shipped_experiment",
    "shipped_scenario",
    "shipped_scenarios",
]

_HOME = {"Scenario": "pbrsim.sim.scenario", "ScenarioFileError": "pbrsim.scenario_files"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module(_HOME.get(name, "pbrsim.api")), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pbrsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
