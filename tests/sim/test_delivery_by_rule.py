"""Primes served by rule in one pass give what each prime's own delivery gives, to the bit.

``PbRModel.deliver`` serves every prime whose strategy has ``fixed_hours`` (uniform) and who
delivers in-house in one pass over the month's service window, and counts their effort from
engaged people kept by cohort (sim/model.py). Forcing the same primes through their own
``Prime.deliver`` (the path every other prime takes) must change nothing: hours, dose,
outcomes, money, the monthly series and every metric. A caseload's columns gathered by its
cohorts' runs (``population.Runs``) are the columns indexed by row.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pbrsim.sim.agents import Prime
from pbrsim.sim.population import Runs
from pbrsim.sim.results import run_scenario

from tests.conftest import small, with_primes


def _same(a, b) -> None:
    ma, mb = dict(a.metrics), dict(b.metrics)
    assert set(ma) == set(mb)
    for key, value in ma.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            assert mb[key] is None or math.isnan(mb[key]), key
        else:
            assert mb[key] == value, key
    assert a.monthly.equals(b.monthly)
    assert a.cohorts.equals(b.cohorts)


@pytest.mark.parametrize("case", ["uniform", "no_floor", "floor_binds", "selection", "two_rules"])
def test_one_pass_is_each_prime_serving_its_own(case, monkeypatch):
    """The same run with every prime made to deliver on its own is identical."""
    base = small("fee_for_service")  # a floor of 4 hours, the uniform rule's 4 by default
    if case == "uniform":
        design = with_primes(base, strategy="uniform")
    elif case == "no_floor":
        design = with_primes(base, floor=0.0, strategy="uniform")
    elif case == "floor_binds":  # a floor above the rule's hours tops everyone up
        design = with_primes(base, floor=6.0, strategy="uniform", hours_per_month=4.0)
    elif case == "selection":  # primes may refuse referrals (uniform ones take everybody)
        design = with_primes(small("selection_at_referral"), strategy="uniform")
    else:  # primes with different hours and effectiveness, one pass for all, no floor
        data = with_primes(base, floor=0.0, strategy="uniform").model_dump()
        for i, prime in enumerate(data["primes"]):
            prime.update(hours_per_month=3.0 + 2.0 * i, effectiveness=0.7 + 0.1 * i)
        design = type(base).model_validate(data)
    assert all(p.strategy == "uniform" for p in design.primes)
    together = run_scenario(design, 7)
    monkeypatch.setattr(Prime, "serves_by_rule", lambda self: False)
    alone = run_scenario(design, 7)
    _same(together, alone)
    assert together.metrics["hours_per_person"] > 0


def test_runs_gather_what_row_indices_gather():
    """take() by runs equals indexing by rows; repeat() spreads one value per run; indexed rows too."""
    column = np.arange(100, dtype=np.float32) * 1.5
    pairs = np.arange(100 * 2, dtype=np.float32).reshape(100, 2)

    class Cohort:
        def __init__(self, start, stop, month, area):
            self.start, self.stop, self.month, self.area = start, stop, month, area
            self.rows = np.arange(start, stop)

    cohorts = [Cohort(3, 9, 1, 0), Cohort(9, 9, 1, 1), Cohort(20, 31, 2, 0), Cohort(50, 52, 3, 2)]
    runs = Runs.of(cohorts)
    rows = np.concatenate([c.rows for c in cohorts])
    assert runs.whole and runs.size == rows.size
    assert np.array_equal(runs.take(column), column[rows])
    assert np.array_equal(runs.take(pairs), pairs[rows])
    assert np.array_equal(runs.repeat(np.array(runs.months)), np.repeat([1, 1, 2, 3], [6, 0, 11, 2]))
    some = Runs.indexed(rows[::3])
    assert not some.whole and np.array_equal(some.take(column), column[rows[::3]])
    assert Runs.of([]).take(column).size == 0
