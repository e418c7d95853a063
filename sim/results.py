"""Running one replication and measuring what happened.

:func:`run_scenario` is the model as a function: a validated scenario and a
seed in, a :class:`RunResult` out (final metrics with stable snake_case keys,
a monthly series, a table of cohorts and the money ledger). Any runner can
drive it; it knows nothing of files or processes.

Every metric is defined in docs/ODD.md ("Observation").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.mechanisms import mechanism_metrics
from pbrsim.sim.model import PbRModel
from pbrsim.sim.scenario import BAND_NAMES, Scenario
from pbrsim.sim.strategies import block_grant_per_referral, marginal_values
from pbrsim.sim.vocabulary import AGE_GROUPS

__all__ = ["RunResult", "compute_metrics", "run_scenario"]




@dataclass
class RunResult:
    """What one replication produced."""

    scenario: Scenario
    seed: int
    metrics: dict[str, float | None]
    monthly: pd.DataFrame
    cohorts: pd.DataFrame
    ledger: pd.DataFrame


def _ratio(num: float, den: float) -> float | None:
    """Num / den, or None where the ratio is undefined (reported as null, never inf)."""
    if den <= 0 or not math.isfinite(den):
        return None
    return float(num / den)


def run_scenario(scenario: Scenario, seed: int | None = None) -> RunResult:
    """Run one replication of a scenario to the end of its outcome run-off."""
    model = PbRModel(scenario, rng=seed)
    model.run()
    cohorts = pd.DataFrame(
        [
            # the prime that held the area when the cohort was referred (areas can be re-let)
            {"month": c.month, "area": c.area, "prime": model.areas.holder_at(c.area, c.month, model.primes).name,
             "referred": c.size, **(c.result or {})}
            for c in model.cohorts
        ]
    )
    ledger = model.ledger.frame()
    monthly = _monthly(model, ledger)
    return RunResult(scenario, model.seed, compute_metrics(model, cohorts), monthly, cohorts, ledger)


def _monthly(model: PbRModel, ledger: pd.DataFrame) -> pd.DataFrame:
    monthly = pd.DataFrame(model.monthly).set_index("month")
    if len(ledger):
        money = ledger.pivot_table(index="month", columns="kind", values="amount", aggfunc="sum")
        money = money.reindex(monthly.index, fill_value=0.0).fillna(0.0)
        monthly = monthly.join(money.add_prefix("paid_"))
    return monthly.reset_index()


def _creaming_and_parking(s: dict[str, np.ndarray], hours: np.ndarray, engaged: np.ndarray,
                          model: PbRModel) -> dict[str, float | None]:
    """Where effort went: creaming, parking and the binary cliff (definitions in docs/ODD.md)."""
    m: dict[str, float | None] = {}
    h = hours[engaged]
    band = s["true_band"][engaged]
    mean = float(h.mean()) if h.size else 0.0
    # Creaming: effort on the people it truly pays best to work with, against the rest. Profitability is
    # the contract's marginal value times the true effect of a first hour on the paid outcome over the
    # window; where it does not vary (fee for service) there is nothing to cream and the index is 1.
    binary_value, frequency_value = marginal_values(model.design.contract, block_grant_per_referral(model.design))
    pay_band = s["pay_band"][engaged].astype(np.intp)
    hazard = s["hazard"][engaged].astype(float)
    months = float(model.follow_up)
    effect = s["responsiveness"][engaged] / s["complexity"][engaged] * (s["n_needs"][engaged] > 0)
    profit = effect * (binary_value[pay_band] * np.exp(-hazard * months) * hazard * months
                       + frequency_value[pay_band] * hazard * months * (1.0 + s["frequency"][engaged] * months / 2))
    if h.size and np.ptp(profit) > 0:
        better = profit >= np.median(profit)
        m["creaming_index"] = _ratio(h[better].mean(), h[~better].mean()) if (~better).any() else None
    else:
        m["creaming_index"] = 1.0 if h.size else None
    parked = h < 0.5 * mean if mean > 0 else np.ones(h.shape, dtype=bool)
    m["parking_share"] = _ratio(parked.sum(), h.size)
    for b, name in enumerate(BAND_NAMES):
        in_band = band == b
        m[f"parking_share_{name}"] = _ratio(parked[in_band].sum(), in_band.sum())
    m["effort_ratio_very_high"] = _ratio(h[band == 3].mean() if (band == 3).any() else 0.0, mean)
    before = sum(p.effort_by_status[0] for p in model.primes) / max(sum(p.months_by_status[0] for p in model.primes), 1)
    after = sum(p.effort_by_status[1] for p in model.primes) / max(sum(p.months_by_status[1] for p in model.primes), 1)
    m["effort_ratio_after_reoffence"] = _ratio(after, before)
    return m


def compute_metrics(model: PbRModel, cohorts: pd.DataFrame) -> dict[str, float | None]:
    """Final measures of a finished run (definitions in docs/ODD.md)."""
    s = model.store.trimmed()
    led = model.ledger
    com = model.commissioner
    n = len(s["risk"])
    treated = s["first_month"] >= 0
    untreated = s["untreated_first_month"] >= 0
    reoffences = s["reoffences"].astype(float)
    u_reoffences = s["untreated_reoffences"].astype(float)
    counted = cohorts["counted"].sum() if "counted" in cohorts else 0.0

    m: dict[str, float | None] = {"referrals": float(n), "people_measured": float(counted)}
    refused = s["refused"]
    m["referral_selection"] = float(model.design.contract.referral_selection)
    m["referrals_refused"] = float(refused.sum())
    for b, band in enumerate(BAND_NAMES):
        in_band = s["true_band"] == b
        m[f"refusal_rate_{band}"] = _ratio(refused[in_band].sum(), in_band.sum())
    # True outcomes, over everybody referred
    m["true_reoffending_rate"] = _ratio(treated.sum(), n)
    m["untreated_reoffending_rate"] = _ratio(untreated.sum(), n)
    m["true_reoffences_per_offender"] = _ratio(reoffences.sum(), n)
    m["untreated_reoffences_per_offender"] = _ratio(u_reoffences.sum(), n)
    m["reoffences_per_reoffender"] = _ratio(reoffences.sum(), treated.sum())
    m["untreated_reoffences_per_reoffender"] = _ratio(u_reoffences.sum(), untreated.sum())
    m["true_impact_pp"] = 100.0 * (untreated.sum() - treated.sum()) / n if n else None
    avoided_true = float(u_reoffences.sum() - reoffences.sum())
    m["reoffences_avoided_true"] = avoided_true
    # What the commissioner measured, over the people its cohort definition counts
    if counted:
        m["measured_reoffending_rate"] = float(cohorts["reoffenders"].sum() / counted)
        m["counterfactual_reoffending_rate"] = float(cohorts["cf_reoffenders"].sum() / counted)
        m["measured_reoffences_per_offender"] = float(cohorts["reoffences"].sum() / counted)
        m["counterfactual_reoffences_per_offender"] = float(cohorts["cf_reoffences"].sum() / counted)
        gap = float(cohorts["cf_reoffenders"].sum() - cohorts["reoffenders"].sum())
        m["measured_impact_pp"] = 100.0 * gap / counted
        m["reoffences_avoided_measured"] = float(cohorts["cf_reoffences"].sum() - cohorts["reoffences"].sum())
    else:
        for key in ("measured_reoffending_rate", "counterfactual_reoffending_rate",
                    "measured_reoffences_per_offender", "counterfactual_reoffences_per_offender",
                    "measured_impact_pp", "reoffences_avoided_measured"):
            m[key] = None
    m["measurement_error_pp"] = (
        m["measured_impact_pp"] - m["true_impact_pp"]
        if m["measured_impact_pp"] is not None and m["true_impact_pp"] is not None else None
    )
    # Money
    keep = 1.0 - model.design.contract.payment.at_risk_share
    for kind, gross in com.gross_fees.items():
        m[f"paid_{kind}"] = gross * keep
    m["paid_fees"] = led.total(Kind.FEES)
    # volume bands: top-ups paid less repayments made at the annual reconciliations
    m["paid_fee_reconciliation"] = (led.total(Kind.FEE_RECONCILIATION, payer=Party.COMMISSIONER)
                                    - led.total(Kind.FEE_RECONCILIATION, payee=Party.COMMISSIONER))
    m["paid_outcome_binary"] = led.total(Kind.OUTCOME_BINARY)
    m["paid_outcome_frequency"] = led.total(Kind.OUTCOME_FREQUENCY)
    m["paid_outcomes"] = m["paid_outcome_binary"] + m["paid_outcome_frequency"]
    m["withheld_fees"] = com.withheld_total
    m["withheld_fees_not_earned"] = com.pot_forfeited
    # net of money returned to the commissioner (margin clawed back under a cap)
    outlay = led.total(payer=Party.COMMISSIONER) - led.total(payee=Party.COMMISSIONER)
    m["commissioner_outlay"] = outlay
    m["outlay_per_referral"] = _ratio(outlay, n)
    m["deadweight_payments"] = float(cohorts["deadweight"].sum()) if "deadweight" in cohorts else 0.0
    m["cost_per_reoffence_avoided_true"] = _ratio(outlay, avoided_true)
    m["cost_per_reoffence_avoided_measured"] = _ratio(outlay, m["reoffences_avoided_measured"] or 0.0)
    # The primes' own spending: with a supply chain, sub-primes pay their own delivery and overhead.
    primes = {p.name for p in model.primes}
    delivery = sum(led.total(Kind.DELIVERY_COST, payer=name) for name in primes)
    overhead = sum(led.total(Kind.OVERHEAD, payer=name) for name in primes)
    spent = sum(led.total(payer=name) for name in primes)
    repaid = sum(led.total(payer=name, payee=Party.COMMISSIONER) for name in primes)
    subcontracted = spent - delivery - overhead - repaid
    # from the commissioner, or from investors under a social impact bond
    income = sum(led.total(payee=name) for name in primes)
    m["prime_income"] = income
    m["prime_delivery_cost"] = delivery
    m["prime_overhead"] = overhead
    m["prime_subcontract_cost"] = subcontracted
    m["prime_repaid_to_commissioner"] = repaid
    m["prime_margin"] = income - spent
    m["prime_margin_share"] = _ratio(income - spent, income)
    m["prime_min_cash"] = min(p.min_cash for p in model.primes)
    m["primes_in_deficit"] = float(sum(p.min_cash < 0 for p in model.primes))
    # front-line delivery by primes and sub-primes alike
    m["front_line_share"] = _ratio(led.total(Kind.DELIVERY_COST), outlay)
    # Effort and outcomes by true risk band and protected group (equality reporting)
    hours = s["hours"].astype(float)
    engaged = s["engaged"]
    m["hours_per_person"] = _ratio(hours.sum(), n)
    groups = {band: s["true_band"] == b for b, band in enumerate(BAND_NAMES)}
    groups |= {"female": s["female"], "male": ~s["female"]}
    groups |= {f"age_{g}": s["age_group"] == i for i, g in enumerate(AGE_GROUPS)}
    for name, mask in groups.items():
        size = int(mask.sum())
        m[f"share_{name}"] = _ratio(size, n)
        m[f"hours_per_engaged_person_{name}"] = _ratio(hours[mask & engaged].sum(), (mask & engaged).sum())
        m[f"true_reoffending_rate_{name}"] = _ratio(treated[mask].sum(), size)
        m[f"untreated_reoffending_rate_{name}"] = _ratio(untreated[mask].sum(), size)
        m[f"true_impact_pp_{name}"] = (
            100.0 * float(untreated[mask].sum() - treated[mask].sum()) / size if size else None
        )
    m.update(_creaming_and_parking(s, hours, engaged, model))
    # supply chain, stewardship, social impact bond, commissioning: whatever the scenario has
    m.update(mechanism_metrics(model))
    return {k: (None if v is None else float(v)) for k, v in m.items()}
