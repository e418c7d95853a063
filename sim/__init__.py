"""pbrsim's model: payment-by-results contracts in offender services, as an agent-based model.

The package knows nothing of files, plots or runners: give it a validated
:class:`~pbrsim.sim.scenario.Scenario` and a seed, get a
:class:`~pbrsim.sim.results.RunResult`. The names below load on first use, so
reading a scenario or the measure catalogue does not import Mesa.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.results import RunResult, run_scenario
    from pbrsim.sim.scenario import Scenario

__all__ = ["PbRModel", "RunResult", "Scenario", "run_scenario"]

_HOME = {"PbRModel": "pbrsim.sim.model", "RunResult": "pbrsim.sim.results",
         "run_scenario": "pbrsim.sim.results", "Scenario": "pbrsim.sim.scenario"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pbrsim.sim' has no attribute {name!r}")
