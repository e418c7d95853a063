"""The model's invariants: money and people are conserved, runs are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim import run_scenario
from pbrsim.sim.bases import basis_of
from pbrsim.sim.commissioning import Commissioning
from pbrsim.sim.investment import SocialImpactBond
from pbrsim.sim.model import PbRModel

from pbrsim.scenario_files import load_scenario
from tests.conftest import SHIPPED, small, with_primes


@pytest.fixture(scope="module", params=SHIPPED, ids=lambda p: p.stem)
def shipped_run(request):
    """Every shipped scenario, run once at full size, with its model kept."""
    model = PbRModel(load_scenario(request.param))
    model.run()
    return model


def test_money_is_conserved(shipped_run):
    """Every pound the commissioner pays lands with a prime (or a bond's investors) and is spent or kept."""
    model = shipped_run
    ledger = model.ledger.frame()
    investors = [model.mechanism(SocialImpactBond).name] if model.mechanism(SocialImpactBond) is not None else []
    # under a bond the commissioner pays the investors, and they pay the prime
    paid_out = ledger.loc[ledger.payer.isin(["commissioner", *investors]), "amount"].sum()
    received = ledger.loc[ledger.payee.isin([p.name for p in model.primes] + investors), "amount"].sum()
    # the commissioner's cost of running competitions leaves the model (sim/commissioning.py)
    procurement = ledger.loc[ledger.payee == "procurement", "amount"].sum()
    assert procurement == pytest.approx(model.mechanism(Commissioning).procurement_costs, rel=1e-12)
    assert paid_out == pytest.approx(received + procurement, rel=1e-12)
    for name in investors:
        flows = (ledger.loc[ledger.payee == name, "amount"].sum()
                 - ledger.loc[ledger.payer == name, "amount"].sum())
        bond = model.mechanism(SocialImpactBond)
        assert bond.cash - bond.spec.investor_capital == pytest.approx(flows, rel=1e-9, abs=1e-3)
    for prime in model.primes:
        income = ledger.loc[ledger.payee == prime.name, "amount"].sum()
        spent = ledger.loc[ledger.payer == prime.name, "amount"].sum()
        assert prime.cash - prime.spec.capital == pytest.approx(income - spent, rel=1e-9, abs=1e-3)
    assert all(v == 0 for v in model.commissioner.accrued.values()), "fees accrued but never invoiced"


def test_withheld_fees_are_earned_back_or_forfeited(shipped_run):
    """Fees withheld at risk either come back through pot payments or stay with the commissioner."""
    model = shipped_run
    com = model.commissioner
    pot_paid = sum(c.result["outcome_paid"] for c in model.cohorts) if any(
        basis_of(o).draws_on_pot for o in model.design.contract.payment.outcomes) else 0.0
    assert com.withheld_total == pytest.approx(pot_paid + com.pot_forfeited, rel=1e-9, abs=1e-6)


def test_people_are_conserved(shipped_run):
    """Every referred offender is in exactly one cohort and every cohort was measured."""
    model = shipped_run
    sizes = [c.size for c in model.cohorts]
    assert sum(sizes) == model.store.size
    starts = np.array([c.start for c in model.cohorts])
    assert (np.diff(starts) >= 0).all() and model.cohorts[0].start == 0
    assert all(a.stop == b.start for a, b in zip(model.cohorts, model.cohorts[1:], strict=False))
    assert all(c.result is not None for c in model.cohorts), "a cohort was never measured"
    counted = sum(c.result["counted"] for c in model.cohorts)
    refused = int(model.store.refused[: model.store.size].sum())
    assert sum(c.accepted for c in model.cohorts) + refused == model.store.size
    if model.design.contract.measure.cohort_definition == "all_referrals":
        assert counted + refused == model.store.size
    referrals = sum(row["referrals"] for row in model.monthly)
    assert referrals == model.store.size


def test_treated_never_worse_than_untreated_per_person(shipped_run):
    """Service only lowers hazard, so on common random numbers nobody reoffends earlier or more when served."""
    s = shipped_run.store.trimmed()
    t_first = np.where(s["first_month"] < 0, 10_000, s["first_month"])
    u_first = np.where(s["untreated_first_month"] < 0, 10_000, s["untreated_first_month"])
    assert (t_first >= u_first).all()
    assert (s["reoffences"] <= s["untreated_reoffences"]).all()


def test_same_seed_same_results():
    """The same scenario and seed give identical metrics, monthly series and ledger."""
    design = small("tr_hybrid")
    a, b = run_scenario(design, 7), run_scenario(design, 7)
    assert a.metrics == b.metrics
    assert a.monthly.equals(b.monthly)
    assert a.ledger.equals(b.ledger)
    c = run_scenario(design, 8)
    assert c.metrics != a.metrics


def test_designs_share_people_and_random_numbers():
    """Two designs run with the same seed see the same offenders and the same untreated outcomes."""
    a = run_scenario(small("fee_for_service"), 3)
    b = run_scenario(small("binary_pbr"), 3)
    for key in ("referrals", "untreated_reoffending_rate", "untreated_reoffences_per_offender"):
        assert a.metrics[key] == b.metrics[key]


def test_more_service_means_fewer_reoffences():
    """Doubling every engaged person's hours lowers true reoffending (dose response)."""
    base = with_primes(small("fee_for_service"), floor=0.0, strategy="uniform", hours_per_month=4.0)
    more = with_primes(base, hours_per_month=8.0)
    none = with_primes(base, hours_per_month=0.0)
    r_more, r_base, r_none = (run_scenario(d, 11).metrics for d in (more, base, none))
    assert r_none["true_impact_pp"] == 0.0
    assert 0 < r_base["true_impact_pp"] < r_more["true_impact_pp"]


def test_service_floor_tops_up_effort():
    """A minimum service specification lifts everyone engaged to the floor."""
    design = with_primes(small("fee_for_service"), floor=6.0, strategy="uniform", hours_per_month=4.0)
    m = run_scenario(design, 5).metrics
    assert m["hours_per_engaged_person_low"] == pytest.approx(72.0)


def test_oracle_counterfactual_has_no_measurement_error():
    """Measured against the oracle, measured impact equals true impact."""
    design = small("tr_hybrid", contract={"counterfactual": {"kind": "oracle"}})
    m = run_scenario(design, 2).metrics
    assert m["measurement_error_pp"] == pytest.approx(0.0, abs=1e-9)


def test_drift_fools_a_historical_baseline_but_not_the_oracle():
    """Falling population risk makes a frozen historical baseline overstate impact."""
    drift = {"drift_pp_per_year": -2.0, "referrals_per_year": 12000}
    hist = run_scenario(small("fee_for_service", cohort=drift), 4).metrics
    assert hist["measurement_error_pp"] > 1.0
    adjusted = small("fee_for_service", cohort=drift,
                     contract={"counterfactual": {"kind": "historical_baseline", "assumed_drift_pp_per_year": -2.0}})
    assert abs(run_scenario(adjusted, 4).metrics["measurement_error_pp"]) < hist["measurement_error_pp"] / 2


def test_comparison_group_error_is_sampling_noise_plus_bias():
    """A matched comparison group is unbiased on average; a matching bias shifts it by that bias."""
    errors = []
    for seed in range(6):
        d = small("fee_for_service", contract={"counterfactual": {"kind": "comparison_group"}})
        errors.append(run_scenario(d, seed).metrics["measurement_error_pp"])
    assert abs(np.mean(errors)) < 0.6
    biased = small("fee_for_service",
                   contract={"counterfactual": {"kind": "comparison_group", "matching_bias_pp": 3.0}})
    err = np.mean([run_scenario(biased, s).metrics["measurement_error_pp"] for s in range(6)])
    assert err == pytest.approx(3.0 + np.mean(errors), abs=0.5)


def test_engaged_only_cohort_definition_flatters_the_measure():
    """Counting only those who engage (lower risk) against an all-referrals baseline overstates impact."""
    design = small("fee_for_service", contract={"measure": {"cohort_definition": "engaged"}})
    m = run_scenario(design, 6).metrics
    assert m["people_measured"] < m["referrals"]
    assert m["measurement_error_pp"] > 1.0
