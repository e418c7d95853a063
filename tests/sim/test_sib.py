"""Social impact bond: Peterborough-style triggers by hand, investors' money, the shipped design."""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim import run_scenario
from pbrsim.sim.investment import FEE_KIND, OUTCOME_KIND, SocialImpactBond, annualised_irr, annualised_return
from pbrsim.sim.model import PbRModel
from pbrsim.sim.payments import sib_cohort_payment, sib_final_payment, sib_reduction_pct, sib_triggered

from pbrsim.scenario_files import ScenarioFileError, load_scenario
from tests.conftest import SCENARIOS

PETERBOROUGH = SCENARIOS / "peterborough_sib.yaml"
PRICE = 10_000.0


def bond(**fields):
    """The shipped Peterborough design with some of its bond's fields changed."""
    return load_scenario(PETERBOROUGH, overrides={"contract": {"social_impact_bond": fields}})


def run(design, seed: int | None = None) -> PbRModel:
    model = PbRModel(design, rng=seed)
    model.run()
    return model


# -- the triggers, worked by hand -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cf", "measured", "reduction", "early"),
    [
        (1000.0, 901.0, 9.9, 0.0),               # 9.9%: just short of the 10% cohort trigger
        (1550.0, 1395.0, 10.0, 155 * PRICE),     # exactly 10% (155 of 1,550 events): paid early
        (1000.0, 899.0, 10.1, 101 * PRICE),      # 10.1%: paid for all 101 events avoided
        (1550.0, 1420.0, 8.387, 0.0),            # Peterborough cohort 1: 142 v 155 per 100 (-8.4%)
        (1000.0, 1050.0, -5.0, 0.0),             # worse than the comparison group
    ],
)
def test_cohort_trigger_by_hand(cf, measured, reduction, early):
    """A cohort is paid for early only at a fall of 10% or more, per reoffence avoided."""
    assert sib_reduction_pct(cf, measured) == pytest.approx(reduction, abs=1e-3)
    assert sib_cohort_payment(cf, measured, PRICE, 10.0) == pytest.approx(early)


def test_trigger_is_reached_at_the_trigger_despite_rounding():
    """155/1550 and 348.75/4650 are exactly 10% and 7.5% in decimals, whatever rounding does."""
    assert sib_triggered(sib_reduction_pct(1550.0, 1395.0), 10.0)
    assert sib_triggered(sib_reduction_pct(4650.0, 4301.25), 7.5)
    assert not sib_triggered(sib_reduction_pct(4650.0, 4302.0), 7.5)


@pytest.mark.parametrize(
    ("cf", "measured", "paid_early", "final"),
    [
        # three cohorts of 1,550 events; 7.5% overall = 348.75 avoided: everything paid at the end
        ([1550.0] * 3, [1450.0, 1420.0, 1431.25], 0.0, 348.75 * PRICE),
        # 7.4% overall: nothing at the end
        ([1000.0] * 3, [926.0, 926.0, 926.0], 0.0, 0.0),
        # cohort 1 paid early at 12% (120 events); pilot 235/3000 = 7.83%: pays the other 115
        ([1000.0] * 3, [880.0, 950.0, 935.0], 120 * PRICE, 115 * PRICE),
        # cohort 1 paid early; pilot 5.67%: nothing more, and the early payment is not refunded
        ([1000.0] * 3, [880.0, 980.0, 970.0], 120 * PRICE, 0.0),
        # pilot 230/3000 = 7.67% but early payments (300 events) exceed it: nothing more, no refund
        ([1000.0] * 3, [700.0, 1040.0, 1030.0], 300 * PRICE, 0.0),
    ],
)
def test_final_trigger_by_hand(cf, measured, paid_early, final):
    """At the end a 7.5% fall across the pilot pays for every cohort, less what was paid early."""
    assert sib_final_payment(cf, measured, PRICE, 7.5, paid_early) == pytest.approx(final)


def test_investor_return_by_hand():
    """£100 out in month 0 and £110 back in month 12 is 10% a year; nothing back is -100%."""
    flows = np.zeros(13)
    flows[0], flows[12] = -100.0, 110.0
    assert annualised_irr(flows) == pytest.approx(0.10, abs=1e-9)
    assert annualised_return(flows) == pytest.approx(0.10, abs=1e-9)
    # £50 out in months 0 and 12, £121 back in month 24: the money was out 18 months on average
    flows = np.zeros(25)
    flows[0], flows[12], flows[24] = -50.0, -50.0, 121.0
    assert annualised_return(flows) == pytest.approx(1.21 ** (12 / 18) - 1)
    # 50 x^2 + 50 x = 121 for x = 1 + r a year: x = (-50 + sqrt(26,700)) / 100 = 1.13401
    assert annualised_irr(flows) == pytest.approx((-50 + 26_700 ** 0.5) / 100 - 1, abs=1e-9)
    assert annualised_irr([-100.0, 0.0]) == -1.0 and annualised_return([-100.0, 0.0]) == -1.0
    assert annualised_irr([0.0, 0.0]) is None and annualised_return([0.0, 5.0]) is None


# -- the schema -----------------------------------------------------------------------------------


def test_a_bond_replaces_the_commissioners_payments(tmp_path):
    """Fees or outcome payments to the prime beside a bond, or a margin cap, are refused."""
    for text in ("contract:\n  payment:\n    fee_per_supervision_month: 100\n",
                 "contract:\n  stewardship:\n    open_book: true\n    margin_cap: 0.1\n"):
        path = tmp_path / "bad.yaml"
        path.write_text(f"extends: {PETERBOROUGH}\n{text}")
        with pytest.raises(ScenarioFileError, match="social_impact_bond"):
            load_scenario(path)
    path.write_text(f"extends: {PETERBOROUGH}\n"
                    "contract:\n  social_impact_bond:\n    investor_capitol: 1\n")
    with pytest.raises(ScenarioFileError, match=r"contract\.social_impact_bond\.investor_capitol"):
        load_scenario(path)


# -- in the model ---------------------------------------------------------------------------------


def recomputed(model: PbRModel) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The bond's payments worked out again from the cohort table and the bond's own rules."""
    spec = model.design.contract.social_impact_bond
    k = np.array([(c.month - 1) // spec.cohort_months for c in model.cohorts])
    cf = np.bincount(k, weights=[c.result["cf_reoffences"] for c in model.cohorts])
    measured = np.bincount(k, weights=[c.result["reoffences"] for c in model.cohorts])
    price = spec.price_per_reoffence_avoided
    early = np.array([sib_cohort_payment(a, b, price, spec.cohort_trigger_pct)
                      for a, b in zip(cf, measured, strict=True)])
    final = sib_final_payment(cf, measured, price, spec.overall_trigger_pct, early.sum())
    return cf, measured, float(early.sum()), final


def test_shipped_bond_pays_by_its_rules_and_moves_money_through_investors():
    """Investors pay the provider, the commissioner pays the investors, exactly by the triggers."""
    model = run(load_scenario(PETERBOROUGH))
    bond_ = model.mechanism(SocialImpactBond)
    ledger = model.ledger.frame()
    assert set(ledger.loc[ledger.payer == "commissioner", "payee"]) == {bond_.name}
    assert set(ledger.loc[ledger.payer == bond_.name, "kind"]) == {FEE_KIND}
    assert set(ledger.loc[ledger.payee == bond_.name, "kind"]) == {OUTCOME_KIND}
    _, _, early, final = recomputed(model)
    assert bond_.paid_early.sum() == pytest.approx(early)
    assert bond_.final_paid == pytest.approx(final)
    cap = model.design.contract.social_impact_bond.outcome_cap
    assert bond_.repaid == pytest.approx(min(early + final, cap))
    # the capital paid every cost, so the provider neither gains nor loses
    prime = model.primes[0]
    assert bond_.drawn == pytest.approx(ledger.loc[ledger.payer == prime.name, "amount"].sum())
    assert prime.cash == pytest.approx(prime.spec.capital)
    m = run_scenario(load_scenario(PETERBOROUGH)).metrics
    for key in ("investor_capital", "investor_repaid", "investor_return", "investor_loss"):
        assert m[key] is not None
    assert m["investor_repaid"] == pytest.approx(bond_.repaid)
    assert m["investor_loss"] == pytest.approx(max(bond_.drawn - bond_.repaid, 0.0))
    assert m["prime_income"] == pytest.approx(bond_.drawn)
    assert m["commissioner_outlay"] == pytest.approx(bond_.repaid)


def test_the_cohort_trigger_is_exact_in_the_model():
    """Same people and outcomes, cohort trigger at cohort 1's measured fall or a hair above it."""
    first = run(bond(cohort_trigger_pct=100.0, overall_trigger_pct=100.0))
    cf, measured, _, _ = recomputed(first)
    assert first.mechanism(SocialImpactBond).repaid == 0.0  # unreachable triggers: investors lose what they put in
    never = run_scenario(bond(cohort_trigger_pct=100.0, overall_trigger_pct=100.0)).metrics
    assert never["investor_return"] == -1.0 and never["investor_loss"] == never["investor_drawn"]
    fall = sib_reduction_pct(cf[0], measured[0])
    at = run(bond(cohort_trigger_pct=fall, overall_trigger_pct=100.0))
    above = run(bond(cohort_trigger_pct=fall + 0.01, overall_trigger_pct=100.0))
    assert at.mechanism(SocialImpactBond).paid_early[0] == pytest.approx(PRICE * (cf[0] - measured[0]))
    assert above.mechanism(SocialImpactBond).paid_early[0] == 0.0
    # the overall trigger at the pilot's fall pays for the whole pilot
    pilot = sib_reduction_pct(cf.sum(), measured.sum())
    end = run(bond(cohort_trigger_pct=100.0, overall_trigger_pct=pilot))
    assert end.mechanism(SocialImpactBond).final_paid == pytest.approx(PRICE * (cf.sum() - measured.sum()))
    short = run(bond(cohort_trigger_pct=100.0, overall_trigger_pct=pilot + 0.01))
    assert short.mechanism(SocialImpactBond).final_paid == 0.0


def test_cap_and_capital_bind():
    """Outcome payments stop at the cap; with the capital drawn the provider bears its own costs."""
    capped = run(bond(cohort_trigger_pct=0.0, overall_trigger_pct=0.0, outcome_cap=1_000_000.0))
    assert capped.mechanism(SocialImpactBond).repaid == pytest.approx(1_000_000.0)
    short = run(bond(investor_capital=1_000_000.0))
    b = short.mechanism(SocialImpactBond)
    assert b.drawn == pytest.approx(1_000_000.0) and b.cash == pytest.approx(b.repaid)
    assert b.capital_exhausted_month is not None
    prime = short.primes[0]
    costs = short.ledger.total(payer=prime.name)
    assert prime.cash - prime.spec.capital == pytest.approx(1_000_000.0 - costs)


def test_same_seed_same_bond():
    """The same scenario and seed give the same payments and returns."""
    design = load_scenario(PETERBOROUGH)
    a, b = run_scenario(design, 4), run_scenario(design, 4)
    assert a.metrics == b.metrics
    assert a.ledger.equals(b.ledger)
