"""pbrsim's model: payment-by-results contracts in offender services, as an agent-based model.

The package knows nothing of files, plots or runners: give it a validated
:class:`~sim.scenario.Scenario` and a seed, get a :class:`~sim.results.RunResult`.
"""

from pbrsim.sim.model import PbRModel
from pbrsim.sim.results import RunResult, run_scenario
from pbrsim.sim.scenario import Scenario

__all__ = ["PbRModel", "RunResult", "Scenario", "run_scenario"]
