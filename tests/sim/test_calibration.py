"""Base rates match the published figures (docs/sources.md) within sampling error."""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim.population import COHORT_TYPES, band_of, draw_offenders, untreated_outcomes
from pbrsim.sim.scenario import CohortType

N = 200_000

PUBLISHED_RATE = {
    CohortType.ALL_OFFENDERS: 0.275,
    CohortType.ADULTS: 0.273,
    CohortType.ADULTS_CUSTODY_OR_COURT_ORDER: 0.352,
    CohortType.ADULTS_SHORT_CUSTODY: 0.592,
    CohortType.ADULTS_CUSTODY_6M_OR_LESS: 0.623,
    CohortType.PETERBOROUGH_SHORT_SENTENCE_MEN: 0.557,
}


def _outcomes(cohort_type, seed=0):
    rng = np.random.default_rng(seed)
    people = draw_offenders(rng, N, COHORT_TYPES[cohort_type])
    reoffended, reoffences = untreated_outcomes(rng, people["hazard"], people["frequency"], 12)
    return people, reoffended, reoffences


@pytest.mark.parametrize("cohort_type", list(CohortType))
def test_untreated_rate_matches_published(cohort_type):
    """No-intervention proven reoffending is the published rate, within 4 standard errors."""
    _, reoffended, _ = _outcomes(cohort_type)
    p = PUBLISHED_RATE[cohort_type]
    assert reoffended.mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / N))


@pytest.mark.parametrize("cohort_type", list(CohortType))
def test_reoffences_per_reoffender_about_three(cohort_type):
    """Reoffenders commit about 2.9 reoffences each (MoJ 2011); Peterborough's comparison group 2.8."""
    _, reoffended, reoffences = _outcomes(cohort_type, seed=1)
    target = 155 / 55.7 if cohort_type is CohortType.PETERBOROUGH_SHORT_SENTENCE_MEN else 2.9
    assert reoffences.sum() / reoffended.sum() == pytest.approx(target, abs=0.08)


def test_peterborough_frequency_per_hundred():
    """Peterborough-like cohort: about 155 reconviction events per 100 people untreated."""
    _, _, reoffences = _outcomes(CohortType.PETERBOROUGH_SHORT_SENTENCE_MEN, seed=2)
    assert 100 * reoffences.mean() == pytest.approx(155, abs=4)


def test_higher_risk_people_have_more_needs_and_more_reoffences():
    """Needs and reoffence frequency rise with risk, as the design asks."""
    people, reoffended, reoffences = _outcomes(CohortType.ADULTS_CUSTODY_OR_COURT_ORDER, seed=3)
    band = band_of(people["risk"])
    needs = [people["n_needs"][band == b].mean() for b in range(4)]
    per_reoffender = [reoffences[(band == b) & reoffended].mean() for b in range(4)]
    assert needs == sorted(needs)
    assert per_reoffender == sorted(per_reoffender)


def test_monthly_simulation_matches_closed_form():
    """The monthly hazard simulation with no service gives the calibrated rates."""
    from pbrsim.sim.model import PbRModel

    from tests.conftest import small, with_primes

    base = small("fee_for_service", cohort={"referrals_per_year": 60000})
    design = with_primes(base, floor=0.0, strategy="uniform", hours_per_month=0.0)
    model = PbRModel(design, rng=9)
    model.run()
    s = model.store.trimmed()
    n = model.store.size
    rate = (s["first_month"] >= 0).mean()
    assert rate == pytest.approx(0.352, abs=4 * np.sqrt(0.352 * 0.648 / n) + 0.004)
    assert s["reoffences"].sum() / (s["first_month"] >= 0).sum() == pytest.approx(2.9, abs=0.08)
