"""Commissioning over time: competitions, performance, failure, re-letting and volume shocks.

Behavioural contrasts run the shipped competition and volume-shock designs at
full volume over 48 months of referrals (enough for the first failures, break
points and re-competitions) on a few seeds; the contrasts are large against
their seed-to-seed variation.
"""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim import run_scenario
from pbrsim.sim.commissioning import (
    Bid,
    Commissioning,
    DataRoom,
    Life,
    evaluate,
    outcome_per_referral,
    project,
    volume_factor,
)
from pbrsim.sim.model import PbRModel
from pbrsim.sim.payments import scaled_payment
from pbrsim.sim.scenario import CohortSpec, PaymentSpec, Scenario
from pbrsim.sim.scenario_commissioning import CompetitionSpec
from pydantic import ValidationError

from pbrsim.scenario_files import load_scenario
from tests.conftest import SCENARIOS, small

SEEDS = (1, 2, 3)
MONTHS = {"contract": {"referral_months": 48}}
NO_SHOCK = {"cohort": {"volume_shocks": []}}
# fee for service at the unit price: no fees at risk, no outcomes, no volume bands
FEE_FOR_SERVICE = {"contract": {"payment": {"at_risk_share": 0.0, "outcomes": [], "volume_bands": []}}}
NO_BANDS = {"contract": {"payment": {"volume_bands": []}}}


def shipped(name: str, *overrides: dict) -> Scenario:
    """A shipped design with overrides merged in (later ones win)."""
    merged: dict = {}
    for override in (MONTHS, *overrides):
        for key, value in override.items():
            merged[key] = {**merged.get(key, {}), **value}
    return load_scenario(SCENARIOS / f"{name}.yaml", overrides=merged)


def bid(name: str, factor: float, deliverability: float = 1.0, standing: float = 1.0,
        service: float = 4.0) -> Bid:
    return Bid(name, 0, 0, factor, 4.0, 0.1, 1.0, deliverability, standing, service)


# -- pure functions ---------------------------------------------------------------------------


def test_scaled_payment_scales_prices_and_fees_not_shares():
    """A price factor scales every fee and outcome price; shares, thresholds and budget cap stay."""
    pay = PaymentSpec.model_validate({
        "fee_per_referral": 100, "fee_per_supervision_month": 180, "block_grant_per_year": 1200,
        "at_risk_share": 0.1, "outcome_cap_total": 1e6,
        "outcomes": [
            {"measure": "binary", "basis": "pot", "pot_share": 0.5, "target": 3.0},
            {"measure": "frequency", "basis": "pot", "pot_share": 0.5, "target": 10.0},
        ],
    })
    scaled = scaled_payment(pay, 0.9)
    assert scaled.fee_per_referral == pytest.approx(90)
    assert scaled.fee_per_supervision_month == pytest.approx(162)
    assert scaled.block_grant_per_year == pytest.approx(1080)
    assert scaled.at_risk_share == 0.1 and scaled.outcome_cap_total == 1e6
    assert scaled.outcomes == pay.outcomes  # pots scale through the fees withheld into them
    priced = PaymentSpec.model_validate({"outcomes": [
        {"measure": "binary", "basis": "per_point", "threshold": 1.0, "cap_per_cohort": 5000,
         "prices_by_band": {"low": 100, "medium": 200, "high": 300, "very_high": 400}}]})
    component = scaled_payment(priced, 1.5).outcomes[0]
    assert component.band_prices() == pytest.approx((150, 300, 450, 600))
    assert component.cap_per_cohort == pytest.approx(7500) and component.threshold == 1.0
    assert scaled_payment(pay, 1.0) is pay


def test_volume_factor_multiplies_the_shocks_in_force():
    """Shocks apply from their start month to their end month; overlapping shocks multiply."""
    cohort = CohortSpec.model_validate({"volume_shocks": [
        {"start_month": 13, "factor": 0.7}, {"start_month": 20, "end_month": 24, "factor": 0.5}]})
    assert [volume_factor(cohort, m) for m in (1, 12, 13, 19, 20, 24, 25)] == pytest.approx(
        [1.0, 1.0, 0.7, 0.7, 0.35, 0.35, 0.7])
    with pytest.raises(ValidationError, match="end_month"):
        CohortSpec.model_validate(
            {"volume_shocks": [{"start_month": 5, "end_month": 4, "factor": 1}]})


def test_lowest_tender_takes_the_cheapest_and_meat_refuses_an_abnormally_low_bid():
    """Price alone picks the lowest bid; MEAT prefers a deliverable bid a little dearer."""
    bids = [bid("Realist", 1.00), bid("Optimist", 0.90, deliverability=0.3)]
    lowest = evaluate(bids, CompetitionSpec(evaluation="lowest_tender"))
    assert [b.bidder for b in lowest] == ["Optimist", "Realist"]
    meat = evaluate(bids, CompetitionSpec(evaluation="meat", price_weight=0.6, quality_weight=0.4))
    assert meat[0].bidder == "Realist"
    assert meat[0].quality == pytest.approx(1.0) and meat[1].quality == pytest.approx(0.3)
    # with nothing to choose between them on quality, MEAT also takes the cheaper
    assert evaluate([bid("A", 1.0), bid("B", 0.95)], CompetitionSpec())[0].bidder == "B"
    with pytest.raises(ValidationError, match="add up to 1"):
        CompetitionSpec(evaluation="meat", price_weight=0.5, quality_weight=0.4)


def test_an_optimist_underbids_where_costs_are_fixed():
    """Believing in more referrals spreads fixed overhead thinner: the price factor falls."""
    design = load_scenario(SCENARIOS / "competition_lowest_tender.yaml")
    room = DataRoom(1000.0, np.ones(100, bool), np.ones((100, 7), bool), np.full(100, 0.35),
                    np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.15, 0.35, 0.6, 0.85]))
    spec = design.primes[0]
    life = Life(history=0, referring=42, serving=42, paid=42)
    realist = project(spec, 4.0, design.contract, room, 1000.0, 0.08, life, 17)
    optimist = project(spec, 4.0, design.contract, room, 1300.0, 0.08 * 1.3, life, 17)
    assert optimist.price_factor(0.05) < realist.price_factor(0.05) - 0.05
    # mobilisation: costs run ahead of income, so the contract needs funding
    assert realist.funding_need(realist.price_factor(0.05)) > 1e6
    assert outcome_per_referral(design.contract, room, 1000.0, 0.1) > outcome_per_referral(
        design.contract, room, 1000.0, 0.05)


def test_schema_refuses_reletting_without_a_competition():
    """Contract terms, break clauses, a performance regime or late entrants need a competition."""
    for extra, field in (({"contract": {"term_months": 36}}, "contract.term_months"),
                         ({"contract": {"performance": {}}}, "contract.performance")):
        with pytest.raises(ValueError, match=field):
            small("tr_hybrid", **extra)
    data = small("tr_hybrid").model_dump()
    data["primes"][0]["bids_from_month"] = 12
    with pytest.raises(ValidationError, match="bids_from_month"):
        Scenario.model_validate(data)


# -- the model --------------------------------------------------------------------------------


def test_direct_award_without_a_competition_is_as_before():
    """No competition: areas go to the primes in list order, at the contract's own prices."""
    model = PbRModel(small("tr_hybrid"))
    assert [p.name for p in model.areas.holders()] == [p.name for p in model.design.primes]
    assert all(model.commissioner.terms(a) is model.design.contract.payment for a in range(3))
    model.run()
    assert model.mechanism(Commissioning).competitions == 0 and not model.mechanism(Commissioning).history
    m = run_scenario(small("tr_hybrid"), 1).metrics
    assert m["competitions"] == 0 and m["procurement_costs"] == 0 and m["prime_failures"] == 0
    assert m["winning_price_factor_mean"] is None


@pytest.fixture(scope="module")
def competitions():
    """Lowest tender and MEAT on the same market and seeds."""
    return {name: [run_scenario(shipped(name), seed) for seed in SEEDS]
            for name in ("competition_lowest_tender", "competition_meat")}


def test_lowest_tender_with_optimists_fails_more_than_meat(competitions):
    """Optimists win on price, lose money and hand contracts back; MEAT lets fewer of them win."""
    lowest, meat = competitions["competition_lowest_tender"], competitions["competition_meat"]
    for lt, mt in zip(lowest, meat, strict=True):
        assert lt.metrics["prime_failures"] >= 2 and lt.metrics["handbacks"] >= 2
        assert lt.metrics["prime_failures"] > mt.metrics["prime_failures"]
        interim = "areas_with_interim_provider_months"
        assert lt.metrics[interim] > mt.metrics[interim]
        # the price of safety: MEAT pays more per unit of service
        assert lt.metrics["initial_price_factor_mean"] < mt.metrics["initial_price_factor_mean"]


def test_competition_metrics_match_the_monthly_series_and_the_ledger(competitions):
    """Counts in the metrics add up from the monthly columns; procurement is in the ledger."""
    for result in competitions["competition_lowest_tender"]:
        m, monthly = result.metrics, result.monthly
        assert monthly["competitions"].sum() == m["competitions"]
        assert monthly["prime_handbacks"].sum() == m["handbacks"]
        assert monthly["terminations"].sum() == m["terminations"]
        assert monthly["rectification_notices"].sum() == m["rectification_notices"]
        ledger = result.ledger
        procurement = ledger.loc[ledger.payee == "procurement", "amount"].sum()
        assert procurement == pytest.approx(m["procurement_costs"])
        assert m["procurement_costs"] == pytest.approx(500_000 * m["competitions"])
        # the cohort table names the prime that held the area at referral, not the last holder
        assert result.cohorts.groupby("area")["prime"].nunique().max() > 1


def test_handback_leads_to_recompetition_and_the_area_keeps_being_served():
    """After a hand-back the interim provider serves the area until a new contract is let."""
    model = PbRModel(shipped("competition_lowest_tender"), rng=1)
    model.run()
    com = model.mechanism(Commissioning)
    handbacks = [e for e in com.history if e.kind == "handback"]
    delay = model.design.competition.procurement_months
    assert handbacks
    for h in handbacks:
        after = [e for e in com.history if e.area == h.area and e.month >= h.month and e is not h]
        assert after[0].kind == "interim"
        if h.month + delay < model.referral_months:
            awards = [e for e in after if e.kind == "award"]
            assert awards and awards[0].month == h.month + delay
            assert awards[0].provider != h.provider
        assert all(e.provider != h.provider for e in after if e.kind == "award")
    failed = set(com.failed)
    assert failed and not any(p.areas for p in model.primes if p.name in failed)
    # every area has exactly one provider, and everyone engaged got at least the 4-hour floor
    assert sorted(a for p in model.primes for a in p.areas) == list(range(3))
    s = model.store.trimmed()
    assert (s["hours"][s["engaged"]] >= 4.0 * model.service_months - 1e-3).all()
    interim = com.interim
    assert interim.hours_total > 0 and interim.cash != interim.spec.capital


def test_performance_regime_terminates_an_underdelivering_prime():
    """A prime that promised 8 hours and gives the 4-hour floor gets a notice, then termination."""
    design = small("tr_hybrid", cohort={"referrals_per_year": 12000}, contract={"referral_months": 36})
    data = design.model_dump()
    data["primes"] = [{"name": "Overpromiser", "strategy": "profit_seeking", "hours_per_month": 8,
                       "capital": 20_000_000, "areas": 1}]
    data["contract"]["performance"] = {"review_months": 6, "service_tolerance": 0.1,
                                       "outcome_tolerance": None, "rectification_months": 6}
    data["competition"] = {"evaluation": "meat", "procurement_months": 3}
    model = PbRModel(Scenario.model_validate(data), rng=1)
    model.run()
    kinds = [(e.month, e.kind) for e in model.mechanism(Commissioning).history]
    assert kinds[:4] == [(0, "award"), (6, "rectification_notice"), (12, "termination"),
                         (12, "interim")]
    # barred from the area, nobody else bids: the interim provider serves it to the end
    assert model.areas.holders()[0] is model.mechanism(Commissioning).interim
    assert all(k != "award" for month, k in kinds if month > 0)


def test_same_seed_same_competitions():
    """The same design and seed give identical competitions, metrics and ledger."""
    design = shipped("competition_lowest_tender", {"contract": {"referral_months": 30}})
    a, b = run_scenario(design, 5), run_scenario(design, 5)
    assert a.metrics == b.metrics and a.ledger.equals(b.ledger) and a.monthly.equals(b.monthly)


def test_volume_shock_puts_fee_for_service_primes_into_loss():
    """Bids priced on the plan meet 30% fewer referrals: fees fall, fixed overhead does not."""
    for seed in SEEDS[:2]:
        shock = run_scenario(shipped("volume_shock", FEE_FOR_SERVICE), seed).metrics
        plan = run_scenario(shipped("volume_shock", FEE_FOR_SERVICE, NO_SHOCK), seed).metrics
        assert shock["referrals_vs_plan"] < 0.8 < plan["referrals_vs_plan"]
        assert shock["primes_with_losses"] >= 1
        assert shock["prime_losses"] > plan["prime_losses"] + 1e6
        assert shock["prime_margin"] < plan["prime_margin"] - 5e6
        # loss-making contracts are walked away from at the break and re-let dearer
        assert shock["contract_breaks"] >= 1
        assert shock["winning_price_factor_mean"] > plan["winning_price_factor_mean"]


@pytest.fixture(scope="module")
def volume_runs():
    """volume_shock's metrics by (seed, shocked, banded), each run once."""
    cache: dict[tuple[int, bool, bool], dict] = {}

    def run(seed: int, shocked: bool = True, banded: bool = False) -> dict:
        key = (seed, shocked, banded)
        if key not in cache:
            extra = ([] if shocked else [NO_SHOCK]) + ([] if banded else [NO_BANDS])
            cache[key] = run_scenario(shipped("volume_shock", *extra), seed).metrics
        return cache[key]

    return run


def test_volume_shock_loss_flows_down_to_subprimes(volume_runs):
    """With volume promises not honoured, sub-primes lose work, margin and members after a shock."""
    losses, exits = {True: 0.0, False: 0.0}, {True: 0.0, False: 0.0}
    for seed in SEEDS:
        for shocked in (True, False):
            m = volume_runs(seed, shocked)
            losses[shocked] += m["subprime_losses"]
            exits[shocked] += m["subprime_exits"]
            net = m["subprime_income"] - m["subprime_delivery_cost"] - m["subprime_overhead"]
            if shocked:
                shock_margin, shock_candy = net / m["subprime_income"], m["bid_candy_share"]
            else:
                assert shock_margin < net / m["subprime_income"] - 0.01
                assert shock_candy > m["bid_candy_share"] + 0.03  # promised hours never referred
    assert losses[True] > losses[False] and exits[True] > exits[False]


def test_volume_bands_partly_cushion_the_primes_from_a_shock(volume_runs):
    """Bands top up fees in a year 30% below plan: primes lose less, and walk away no more, than without."""
    for seed in SEEDS[:2]:
        banded, unbanded = volume_runs(seed, banded=True), volume_runs(seed)
        plan = volume_runs(seed, shocked=False)
        assert banded["paid_fee_reconciliation"] > 1e6 and unbanded["paid_fee_reconciliation"] == 0
        # partly: better off than without bands, still worse off than with no shock
        assert unbanded["prime_margin"] + 3e6 < banded["prime_margin"] < plan["prime_margin"] - 3e6
        assert banded["contract_breaks"] <= unbanded["contract_breaks"]
