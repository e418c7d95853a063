"""pbrsim's model: payment-by-results contracts in offender services, as an agent-based model.

The package knows nothing of files, plots or runners: give it a validated
:class:`~sim.scenario.Scenario` and a seed, get a :class:`~sim.results.RunResult`.
"""

from sim.model import PbRModel
from sim.results import RunResult, run_scenario
from sim.scenario import Scenario

__all__ = ["PbRModel", "RunResult", "Scenario", "run_scenario"]
__version__ = "0.1.0"
