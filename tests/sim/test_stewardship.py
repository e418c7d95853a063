"""Stewardship rules: Merlin-style standard, open book, margin cap; the shipped designs."""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim import run_scenario
from pbrsim.sim.model import PbRModel
from pbrsim.sim.payments import margin_clawback
from pbrsim.sim.scenario_supply import SubcontractPolicy
from pbrsim.sim.stewardship import (
    CLAWBACK,
    MERLIN_MAX_PAYMENT_LAG_MONTHS,
    MarginCap,
    merlin_outcome_share,
    merlin_policy,
)
from pbrsim.sim.supply_chain import Market

from pbrsim.scenario_files import ScenarioFileError, load_scenario
from tests.conftest import SCENARIOS, small

RISK_DOWN = SCENARIOS / "supply_chain_risk_passed_down.yaml"
MERLIN = SCENARIOS / "merlin_stewardship.yaml"
SEEDS = (20111, 7)


def run(design, seed: int | None = None) -> PbRModel:
    model = PbRModel(design, rng=seed)
    model.run()
    return model


# -- pure rules, worked by hand -------------------------------------------------------------------


def test_merlin_outcome_share_caps_risk_at_the_primes_own():
    """The share passed down is cut only as far as the prime's own at-risk share requires."""
    # a whole share is worth £10 an hour on a £50 price: 20% at risk; the prime has 10% at risk
    # 0.5 x 10 / 50 = 10% at risk
    assert merlin_outcome_share(1.0, 10.0, 50.0, 0.10) == pytest.approx(0.5)
    # 0.3 x 10 / 50 = 6% at risk: within the rule, the prime's choice stands
    assert merlin_outcome_share(0.3, 10.0, 50.0, 0.10) == pytest.approx(0.3)
    # a prime with nothing at risk passes none down; under pure PbR all its income is at risk
    assert merlin_outcome_share(1.0, 10.0, 50.0, 0.0) == 0.0
    assert merlin_outcome_share(1.0, 10.0, 50.0, 1.0) == 1.0
    # a share worth nothing puts nothing at risk
    assert merlin_outcome_share(0.7, 0.0, 50.0, 0.10) == 0.7


def test_merlin_policy_caps_the_lag_and_honours_volumes_but_leaves_choices():
    """Prompt payment and honoured volumes; margins, shares and promised volume stay the prime's."""
    late = SubcontractPolicy(payment_lag_months=3, volume_commitment_share=0.5,
                             outcome_share_passed=0.8, fee_margin_over_cost=0.1)
    fair = merlin_policy(late)
    assert fair.payment_lag_months == MERLIN_MAX_PAYMENT_LAG_MONTHS == 1
    assert fair.honour_volume_commitment
    kept = (fair.volume_commitment_share, fair.outcome_share_passed, fair.fee_margin_over_cost)
    assert kept == (0.5, 0.8, 0.1)
    assert merlin_policy(SubcontractPolicy(payment_lag_months=0)).payment_lag_months == 0


@pytest.mark.parametrize(
    ("income", "costs", "cap", "clawed", "expected"),
    [
        (100.0, 80.0, 0.10, 0.0, 10.0),    # year 1: margin 20, allowed 10: claw back 10
        (200.0, 190.0, 0.10, 10.0, 0.0),   # year 2 to date: 10 - 10 clawed = 0 <= 20: no refund
        (300.0, 250.0, 0.10, 10.0, 10.0),  # year 3 to date: 50 - 10 clawed - 30 allowed = 10
        (100.0, 60.0, 0.0, 0.0, 40.0),     # a zero cap takes every pound of margin
        (100.0, 120.0, 0.10, 0.0, 0.0),    # a loss: nothing to claw back
        (0.0, 10.0, 0.10, 0.0, 0.0),       # no income yet
    ],
)
def test_margin_clawback_by_hand(income, costs, cap, clawed, expected):
    """Clawback is the margin to date above the cap, less what was already clawed back."""
    assert margin_clawback(income, costs, cap, clawed) == pytest.approx(expected)


# -- the schema -----------------------------------------------------------------------------------


def test_margin_cap_needs_open_book(tmp_path):
    """Without open book the commissioner cannot see the margin, so a cap is refused."""
    path = tmp_path / "cap.yaml"
    path.write_text(f"extends: {SCENARIOS / 'frequency_pbr.yaml'}\n"
                    "contract:\n  stewardship:\n    margin_cap: 0.1\n")
    with pytest.raises(ScenarioFileError, match=r"contract\.stewardship.*open_book"):
        load_scenario(path)
    path.write_text(f"extends: {SCENARIOS / 'frequency_pbr.yaml'}\n"
                    "contract:\n  stewardship:\n    merlinn: true\n")
    with pytest.raises(ScenarioFileError, match=r"contract\.stewardship\.merlinn"):
        load_scenario(path)


# -- the Merlin-style standard in the market -------------------------------------------------------


def test_merlin_limits_offers_and_the_prime_chooses_within():
    """Offers put no more of a sub-prime's pay at risk than the prime's; smaller choices stand."""
    overrides = {"cohort": {"referrals_per_year": 6000}, "contract": {"referral_months": 24}}
    model = PbRModel(load_scenario(MERLIN, overrides=overrides))
    model.run_until(3)
    chain = model.mechanism(Market).chains[0]
    sub = next(s for s in model.mechanism(Market).subprimes if s.active)
    value = chain.outcome_value_per_effective_hour()
    own = chain.own_at_risk_share()
    assert 0.0 < own < 0.2  # 10% of fees at risk, earned back in part
    terms = chain.offer(sub, 0.08, 100.0, value)
    assert terms.at_risk_share == pytest.approx(own)  # binding: it wanted to pass everything down
    assert terms.outcome_share < chain.sought_outcome_share == 1.0
    assert terms.payment_lag_months == 1 and chain.policy.honour_volume_commitment
    # without the rule the same offer carries more risk
    free = PbRModel(load_scenario(RISK_DOWN, overrides=overrides))
    free.run_until(3)
    loose = free.mechanism(Market).chains[0].offer(sub, 0.08, 100.0, value)
    assert loose.outcome_share == 1.0 and loose.at_risk_share > own
    # a prime seeking a small share keeps its choice
    chain.policy = chain.policy.model_copy(update={"outcome_share_passed": 0.1})
    assert chain.offer(sub, 0.08, 100.0, value).outcome_share == pytest.approx(0.1)


@pytest.fixture(scope="module")
def merlin_pair():
    """Risk passed down with and without the Merlin-style standard, full size, same seeds."""
    risk, merlin = load_scenario(RISK_DOWN), load_scenario(MERLIN)
    return {seed: (run(risk, seed), run(merlin, seed)) for seed in SEEDS}


def test_merlin_lowers_risk_transfer_and_exits(merlin_pair):
    """Against the same design without it, risk transfer falls to about 1 and exits fall."""
    for risk, merlin in merlin_pair.values():
        r, m = risk.mechanism(Market).metrics(), merlin.mechanism(Market).metrics()
        assert r["risk_transfer_ratio"] > 1.1
        assert m["risk_transfer_ratio"] < r["risk_transfer_ratio"] - 0.1
        assert m["risk_transfer_ratio"] < 1.05
        assert m["subprime_exits"] <= r["subprime_exits"] - 15
        assert m["subprime_insolvencies"] < r["subprime_insolvencies"]
        assert m["subprime_at_risk_share"] < r["subprime_at_risk_share"]
        # every offer within the rule: fees within a month, promised hours paid for
        d = merlin.mechanism(Market).decisions_frame()
        assert d["payment_lag_months"].max() <= MERLIN_MAX_PAYMENT_LAG_MONTHS
        # promises are honoured only under the rule (whether any go unreferred depends on demand;
        # the payment itself is tested in tests/test_supply_chain.py::test_promised_volumes_and_bid_candy)
        assert all(chain.policy.honour_volume_commitment for chain in merlin.mechanism(Market).chains)
        assert risk.mechanism(Market).honoured_fees == 0


def test_money_is_conserved_under_merlin(merlin_pair):
    """Sub-primes' cash still matches the ledger when the standard changes their terms."""
    for _, model in merlin_pair.values():
        ledger = model.ledger.frame()
        received = ledger.groupby("payee")["amount"].sum()
        paid = ledger.groupby("payer")["amount"].sum()
        for sub in model.mechanism(Market).subprimes:
            flows = received.get(sub.name, 0.0) - paid.get(sub.name, 0.0)
            assert sub.cash - sub.reserves == pytest.approx(flows, rel=1e-9, abs=1e-3)


# -- open book and the margin cap -----------------------------------------------------------------


#: Outcome prices generous enough that the primes' margin passes the cap even while they spend on service.
GENEROUS = {"payment": {"outcomes": [{"measure": "frequency", "basis": "per_reoffence_avoided", "price": 30000}]}}


def test_margin_cap_claws_back_exactly_the_excess():
    """At every reconciliation the clawback is the margin to date above the cap, from the ledger."""
    design = small("margin_cap", contract=GENEROUS)
    model = run(design, 3)
    ledger = model.ledger.frame()
    cap = design.contract.stewardship.margin_cap
    every = design.contract.stewardship.reconcile_months
    months = sorted({int(r["month"]) for r in model.mechanism(MarginCap).reconciliations})
    expected_months = list(range(every, model.end_month + 1, every))
    if model.end_month % every:
        expected_months.append(model.end_month)
    assert months == expected_months
    for prime in model.primes:
        clawed = 0.0
        for month in months:
            upto = ledger[ledger.month <= month]
            paid_by = upto.payer == prime.name
            income = upto.loc[(upto.payer == "commissioner") & (upto.payee == prime.name),
                              "amount"].sum()
            costs = upto.loc[paid_by & (upto.kind != CLAWBACK), "amount"].sum()
            due = max(income - costs - clawed - cap * income, 0.0)
            now = (upto.month == month) & paid_by & (upto.kind == CLAWBACK)
            got = upto.loc[now, "amount"].sum()
            assert got == pytest.approx(due, rel=1e-9, abs=1e-6)
            clawed += got
        # after the last reconciliation the prime keeps at most the cap
        income = ledger.loc[(ledger.payer == "commissioner") & (ledger.payee == prime.name),
                            "amount"].sum()
        kept = income - ledger.loc[ledger.payer == prime.name, "amount"].sum()
        assert kept <= cap * income + 1e-6
    m = run_scenario(design, 3).metrics
    assert m["margin_clawed_back"] == pytest.approx(model.mechanism(MarginCap).total)
    assert m["margin_clawed_back"] > 0
    assert m["prime_margin_share"] <= cap + 1e-9
    # what the books showed the commissioner: the margin before clawback
    before = (m["prime_margin"] + m["margin_clawed_back"]) / m["prime_income"]
    assert m["open_book_prime_margin_share"] == pytest.approx(before)


def test_a_binding_margin_cap_is_spent_on_service():
    """Where prices are generous, primes whose books pass the cap spend the excess on more hours."""
    for seed in (1, 2):
        capped = run_scenario(small("margin_cap", contract=GENEROUS), seed).metrics
        free = run_scenario(small("frequency_pbr", contract=GENEROUS), seed).metrics
        assert free["prime_margin_share"] > 0.5
        assert capped["prime_margin_share"] <= 0.15 + 1e-9
        assert capped["hours_per_person"] > 1.3 * free["hours_per_person"]


def test_margin_cap_changes_money_not_behaviour():
    """Primes do not anticipate the cap: same outcomes; outlay falls by the clawback."""
    capped = run_scenario(small("margin_cap"), 5).metrics
    free = run_scenario(small("frequency_pbr"), 5).metrics
    assert capped["true_impact_pp"] == free["true_impact_pp"]
    net = free["commissioner_outlay"] - capped["margin_clawed_back"]
    assert capped["commissioner_outlay"] == pytest.approx(net)
    assert free["margin_clawed_back"] == 0.0
    assert free["open_book_prime_costs"] is None and capped["open_book_prime_costs"] > 0


# -- other shipped designs ------------------------------------------------------------------------


def test_service_floor_lifts_those_with_least_against_binary_pbr():
    """A minimum service specification lifts those with least and keeps effort after a reoffence.

    Measured as the share under half the mean effort; the hardest to help are still left at
    the bare minimum, now the floor (``parking_share`` does not fall, docs/ODD.md 4.11.1).
    """
    floor = run_scenario(small("service_floor"), 20111).metrics
    plain = run_scenario(small("binary_pbr"), 20111).metrics
    assert floor["share_under_half_mean_effort"] < plain["share_under_half_mean_effort"] - 0.3
    assert floor["share_under_half_mean_effort_very_high"] < plain["share_under_half_mean_effort_very_high"]
    assert floor["effort_ratio_after_reoffence"] > 4 * plain["effort_ratio_after_reoffence"]
    assert floor["true_impact_pp"] > plain["true_impact_pp"]


def test_doncaster_pays_all_or_nothing_at_five_points():
    """Each cohort earns back its whole withheld 10% at a 5-point fall, and nothing below it."""
    model = run(load_scenario(SCENARIOS / "doncaster_pilot.yaml"), 20111)
    pay = model.design.contract.payment
    assert pay.at_risk_share == 0.1 and pay.block_grant_per_year > 0
    hit = 0
    for c in model.cohorts:
        r = c.result
        fall = 100.0 * (r["cf_reoffenders"] - r["reoffenders"]) / r["counted"]
        if fall >= 5.0:
            hit += 1
            assert r["outcome_paid"] == pytest.approx(r["pot"])
        else:
            assert r["outcome_paid"] == 0.0
    assert 0 < hit < len(model.cohorts)
    earned = sum(c.result["outcome_paid"] for c in model.cohorts)
    assert np.isclose(model.commissioner.withheld_total, earned + model.commissioner.pot_forfeited)
