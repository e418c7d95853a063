"""Valuing outcomes under the contract's real terms (sim/valuation.py, the bases' schedules).

Each basis's schedule is the same rule as what it pays; the expected payment and
its derivative are checked against Monte Carlo; the value of effort reduces to
the linear price when the result is not in doubt, rises near a trigger, falls to
nothing when an all-or-nothing target is out of reach or a cap is sure to bind.
"""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim.bases import Pieces, basis_of
from pbrsim.sim.payments import MeasuredOutcome
from pbrsim.sim.scenario import BandPrices, ContractSpec, OutcomeComponent
from pbrsim.sim.valuation import GroupOutlook, expected_payment, group_values, not_capped

COMPONENTS = [
    {"measure": "binary", "basis": "per_point", "price": 250.0},
    {"measure": "binary", "basis": "per_point", "price": 250.0, "threshold": 2.0},
    {"measure": "binary", "basis": "per_point", "price": 250.0, "threshold": 2.0, "threshold_mode": "deductible"},
    {"measure": "binary", "basis": "per_non_reoffender", "price": 900.0},
    {"measure": "binary", "basis": "per_non_reoffender", "price": 900.0, "threshold": 1.5},
    {"measure": "frequency", "basis": "per_reoffence_avoided", "price": 7000.0, "threshold": 5.0},
    {"measure": "frequency", "basis": "per_reoffence_avoided", "price": 7000.0, "threshold": 5.0,
     "threshold_mode": "deductible"},
    {"measure": "binary", "basis": "pot", "pot_share": 1.0, "target": 3.0, "threshold": 1.0},
    {"measure": "binary", "basis": "pot", "pot_share": 1.0, "target": 5.0, "all_or_nothing": True},
    {"measure": "frequency", "basis": "pot", "pot_share": 1.0, "target": 10.0},
]


@pytest.mark.parametrize("terms", COMPONENTS, ids=lambda t: f"{t['basis']}-{t.get('threshold', 0)}")
def test_schedule_is_the_rule_that_pays(terms):
    """At any measured result, a basis's schedule pays exactly what the basis pays a cohort."""
    component = OutcomeComponent(**terms)
    basis = basis_of(component)
    rng = np.random.default_rng(3)
    n, cf_r, cf_o, pot = 400.0, 140.0, 410.0, 86_000.0
    for _ in range(300):
        if component.measure == "binary":
            reoffenders = float(rng.integers(100, 170))
            reoffences = cf_o
            x = 100.0 * (cf_r - reoffenders) / n
        else:
            reoffenders = cf_r
            reoffences = float(rng.integers(330, 460))
            x = 100.0 * (cf_o - reoffences) / cf_o
        paid = basis.pay(MeasuredOutcome.single_group(n, reoffenders, reoffences, cf_r, cf_o, pot))
        schedule = basis.schedule(np.array([n]), np.array([cf_r]), np.array([cf_o]),
                                  np.array([component.band_prices()[0]]), np.array([pot]))
        assert schedule.at(np.array([x]))[0] == pytest.approx(paid, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("terms", COMPONENTS, ids=lambda t: f"{t['basis']}-{t.get('threshold', 0)}")
def test_expected_payment_and_its_slope_match_monte_carlo(terms):
    """The closed forms agree with simulated results and a finite difference of them."""
    component = OutcomeComponent(**terms)
    schedule = basis_of(component).schedule(np.array([400.0]), np.array([140.0]), np.array([410.0]),
                                            np.array([component.band_prices()[0]]), np.array([86_000.0]))
    z = np.random.default_rng(0).standard_normal(400_000)
    for mu, sigma in ((0.5, 2.0), (3.0, 1.0), (6.0, 2.5)):
        expected, slope = expected_payment(schedule, np.array([mu]), np.array([sigma]))
        simulated = schedule.at(mu + sigma * z).mean()  # the samples broadcast as groups
        scale = max(abs(simulated), 1.0)
        assert expected[0] == pytest.approx(simulated, rel=0.02, abs=0.01 * scale)
        d = 1e-3
        up, _ = expected_payment(schedule, np.array([mu + d]), np.array([sigma]))
        down, _ = expected_payment(schedule, np.array([mu - d]), np.array([sigma]))
        assert slope[0] == pytest.approx((up[0] - down[0]) / (2 * d), rel=1e-4, abs=1e-6)


def _outlook(n: float, mu_pp: float, sigma_pp: float, pot: float = 0.0) -> GroupOutlook:
    """One cohort, everyone in band 0, believed to beat the counterfactual by mu_pp ± sigma_pp points."""
    def one(x: float) -> np.ndarray:
        return np.array([[x, 0.0, 0.0, 0.0]])

    return GroupOutlook(n=one(n), cf_reoffenders=one(0.35 * n), cf_reoffences=one(1.0 * n),
                        fewer_reoffenders=one(mu_pp * n / 100), var_reoffenders=one((sigma_pp * n / 100) ** 2),
                        fewer_reoffences=one(0.0), var_reoffences=one(1.0), pot=np.array([pot]))


def _contract(*components: dict, **payment) -> ContractSpec:
    return ContractSpec.model_validate({"payment": {"outcomes": list(components), **payment}})


def test_a_linear_price_is_valued_at_the_price_when_the_result_is_not_in_doubt():
    """The rule reduces to today's: 100 x price per non-reoffender, per reoffence avoided the price."""
    v_bin, v_freq, _, _ = group_values(_contract(COMPONENTS[0]), _outlook(10_000, 3.0, 0.05))
    assert v_bin[0, 0] == pytest.approx(25_000.0, rel=1e-9)
    assert v_freq[0, 0] == 0.0
    # a per-non-reoffender price is linear everywhere: the price, whatever the doubt
    v_bin, _, _, _ = group_values(_contract(COMPONENTS[3]), _outlook(400, 0.0, 3.0))
    assert v_bin[0, 0] == pytest.approx(900.0, rel=1e-9)


def test_a_trigger_pulls_effort_to_a_cohort_near_it_and_none_far_below_it():
    """Near the trigger the value of a non-reoffender exceeds the linear price; far below, it vanishes."""
    contract = _contract(COMPONENTS[1])
    plain = _contract(COMPONENTS[0])
    near, _, _, _ = group_values(contract, _outlook(3_000, 2.0, 0.8))
    near_plain, _, _, _ = group_values(plain, _outlook(3_000, 2.0, 0.8))
    far, _, _, _ = group_values(contract, _outlook(3_000, -2.0, 0.8))
    certain, _, _, _ = group_values(contract, _outlook(3_000, 6.0, 0.8))
    assert near[0, 0] > 1.5 * near_plain[0, 0]
    assert far[0, 0] < 0.01 * near_plain[0, 0]
    assert certain[0, 0] == pytest.approx(25_000.0, rel=1e-3)


def test_an_all_or_nothing_pot_is_worth_effort_only_within_reach():
    """A cohort near the target is worth a lot at the margin; one far below or sure to clear it, nothing."""
    contract = _contract(COMPONENTS[8], at_risk_share=0.5, fee_per_supervision_month=180.0)
    pot = 1_000 * 1_080.0
    within, _, _, _ = group_values(contract, _outlook(1_000, 4.5, 1.0, pot))
    out_of_reach, _, _, _ = group_values(contract, _outlook(1_000, 0.5, 1.0, pot))
    assured, _, _, _ = group_values(contract, _outlook(1_000, 12.0, 1.0, pot))
    assert within[0, 0] > 30_000.0
    assert out_of_reach[0, 0] < 0.01 * within[0, 0]
    assert assured[0, 0] < 1e-6 * within[0, 0]


def test_a_cap_per_cohort_that_binds_removes_the_value():
    """Above a cap per cohort another non-reoffender earns nothing."""
    terms = {**COMPONENTS[0], "cap_per_cohort": 50_000.0}
    capped, _, expected, _ = group_values(_contract(terms), _outlook(1_000, 4.0, 0.2))  # earns ~£1m
    assert capped[0, 0] < 1e-6
    assert expected[0] == pytest.approx(50_000.0)
    roomy, _, _, _ = group_values(_contract({**terms, "cap_per_cohort": 5e6}), _outlook(1_000, 4.0, 0.2))
    assert roomy[0, 0] == pytest.approx(25_000.0, rel=1e-6)


def test_band_prices_value_each_band_on_its_own():
    """Differential prices are judged band by band, each at its own price."""
    prices = BandPrices(low=100, medium=200, high=400, very_high=800)
    contract = _contract({"measure": "binary", "basis": "per_point", "prices_by_band": prices.model_dump()})
    n = np.full((1, 4), 5_000.0)
    outlook = GroupOutlook(n=n, cf_reoffenders=0.3 * n, cf_reoffences=n, fewer_reoffenders=0.05 * n,
                           var_reoffenders=np.ones((1, 4)), fewer_reoffences=np.zeros((1, 4)),
                           var_reoffences=np.ones((1, 4)), pot=np.zeros(1))
    v_bin, _, _, _ = group_values(contract, outlook)
    assert v_bin[0].tolist() == pytest.approx([10_000, 20_000, 40_000, 80_000], rel=1e-6)


def test_not_capped_is_the_normal_chance_of_staying_below():
    """The chance a payment stays under a cap."""
    assert not_capped(10.0, np.array([10.0]), np.array([4.0]))[0] == pytest.approx(0.5)
    assert not_capped(10.0, np.array([0.0]), np.array([0.0]))[0] == 1.0
    assert not_capped(10.0, np.array([11.0]), np.array([0.0]))[0] == 0.0


def test_pieces_pay_nothing_outside_every_piece():
    """A schedule pays only inside its pieces."""
    p = Pieces(np.array([[1.0]]), np.array([[2.0]]), np.array([[5.0]]), np.array([[1.0]]))
    assert p.at(np.array([0.5]))[0] == 0.0
    assert p.at(np.array([1.5]))[0] == 6.5
    assert p.at(np.array([2.0]))[0] == 0.0
