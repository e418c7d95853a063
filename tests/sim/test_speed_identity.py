"""Speed work changes no result: small shipped designs give the metrics recorded before it.

The reference (tests/sim/data/speed_reference_metrics.json) was written at commit 0a88274,
after the providers change and before the performance work, by running each design below at
its small size (tests/conftest.py ``small``) on seed 7. Metrics must agree to 1e-9 relative:
summing a cohort's belief per group rather than per person reorders floating-point additions,
which moves the last bits of a few values and nothing else.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pbrsim.sim import run_scenario

from tests.conftest import small

REFERENCE = json.loads((Path(__file__).parent / "data" / "speed_reference_metrics.json").read_text())


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_metrics_are_those_recorded_before_the_speed_work(name):
    """Every metric, and the monthly effort series' sum, as recorded."""
    result = run_scenario(small(name), 7)
    got = dict(result.metrics)
    effort = [c for c in result.monthly.columns if c.startswith("effort_")]
    got["_monthly_effort_sum"] = float(result.monthly[effort].to_numpy().sum())
    want = REFERENCE[name]
    assert set(got) == set(want)
    for key, value in want.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            assert got[key] is None or math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
