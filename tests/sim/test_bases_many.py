"""Many cohorts paid at once (``pay_many``, ``true_values``) pay exactly what each cohort is paid alone.

A month's cohorts are settled together (sim/agents.py ``Commissioner.settle``); the elementwise
rules must give the same floats as ``pay`` and ``true_value`` one cohort at a time, for every
basis, threshold rule, cap and degenerate cohort (nobody counted, no reoffences expected).
"""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim.bases import basis_of, whole
from pbrsim.sim.payments import MeasuredOutcome
from pbrsim.sim.scenario import BandPrices, OutcomeComponent

COMPONENTS = [
    {"measure": "binary", "basis": "per_point", "price": 250.0},
    {"measure": "binary", "basis": "per_point", "price": 250.0, "threshold": 2.0},
    {"measure": "binary", "basis": "per_point", "price": 250.0, "threshold": 2.0, "threshold_mode": "deductible"},
    {"measure": "binary", "basis": "per_point", "price": 250.0, "cap_per_cohort": 40_000.0},
    {"measure": "binary", "basis": "per_non_reoffender", "price": 900.0},
    {"measure": "binary", "basis": "per_non_reoffender", "price": 900.0, "threshold": 1.5},
    {"measure": "frequency", "basis": "per_reoffence_avoided", "price": 7000.0, "threshold": 5.0},
    {"measure": "frequency", "basis": "per_reoffence_avoided", "price": 7000.0, "threshold": 5.0,
     "threshold_mode": "deductible"},
    {"measure": "binary", "basis": "per_point", "threshold": 1.0,
     "prices_by_band": BandPrices(low=100.0, medium=200.0, high=300.0, very_high=400.0)},
    {"measure": "binary", "basis": "pot", "pot_share": 1.0, "target": 3.0, "threshold": 1.0},
    {"measure": "binary", "basis": "pot", "pot_share": 0.5, "target": 5.0, "all_or_nothing": True},
    {"measure": "frequency", "basis": "pot", "pot_share": 1.0, "target": 10.0},
]


def _cohorts(rng: np.random.Generator, count: int) -> tuple[MeasuredOutcome, np.ndarray, np.ndarray]:
    """Random cohorts by band, a few of them empty or with no reoffences expected."""
    n = rng.integers(0, 120, (count, 4)).astype(float)
    n[:3] = 0.0  # nobody counted
    reoffenders = np.floor(n * rng.uniform(0.1, 0.6, (count, 4)))
    reoffences = reoffenders * rng.uniform(1.0, 4.0, (count, 4))
    cf_reoffenders = n * rng.uniform(0.1, 0.6, (count, 4))
    cf_reoffences = cf_reoffenders * rng.uniform(1.5, 3.5, (count, 4))
    cf_reoffences[3:5] = 0.0  # no reoffences expected
    pot = rng.uniform(0.0, 90_000.0, count)
    untreated_reoffenders = np.floor(n * rng.uniform(0.1, 0.6, (count, 4)))
    untreated_reoffences = untreated_reoffenders * rng.uniform(1.0, 4.0, (count, 4))
    outcomes = MeasuredOutcome(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences, pot=pot)
    return outcomes, untreated_reoffenders, untreated_reoffences


@pytest.mark.parametrize("terms", COMPONENTS, ids=lambda t: f"{t['basis']}-{t.get('threshold', 0)}-{len(t)}")
def test_many_cohorts_are_paid_as_each_alone(terms):
    """Bit for bit: the same payment and the same true-impact value for every cohort."""
    basis = basis_of(OutcomeComponent(**terms))
    outcomes, u_reoffenders, u_reoffences = _cohorts(np.random.default_rng(11), 400)
    many = basis.pay_many(outcomes)
    worth = basis.true_values(outcomes, u_reoffenders, u_reoffences)
    for c in range(400):
        one = MeasuredOutcome(outcomes.n[c], outcomes.reoffenders[c], outcomes.reoffences[c],
                              outcomes.cf_reoffenders[c], outcomes.cf_reoffences[c], pot=float(outcomes.pot[c]))
        assert many[c] == basis.pay(one), c
        alone = basis.true_value(one.n, one.reoffenders, one.reoffences, u_reoffenders[c], u_reoffences[c], one.pot)
        assert worth[c] == alone, c
    assert (many > 0).any() and (many == 0).any()  # the draws reach both sides of every rule


def test_whole_is_numpys_sum_of_a_few_groups():
    """``whole`` gives numpy's own sum of a cohort's groups, bit for bit, and numpy's for long arrays."""
    rng = np.random.default_rng(5)
    for _ in range(2000):
        groups = rng.random(4) * rng.choice([1e-3, 1.0, 1e3, 1e8], 4)
        assert whole(groups) == float(groups.sum())
    long = rng.random(50)
    assert whole(long) == float(long.sum())
