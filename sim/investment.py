"""Social impact bond: investors fund the service up front and are paid on results.

The scenario field is ``contract.social_impact_bond``
(:class:`~sim.scenario_investment.SocialImpactBondSpec`). The model follows
the Peterborough bond (HMP Peterborough, from September 2010; figures in
../shared/CALIBRATION.md):

* Funding. Investors commit ``investor_capital``. Each month they pay every
  prime its month's costs (delivery, overhead, any sub-primes' fees), plus
  ``provider_margin`` on them, until the capital is used up; after that the
  prime bears its own costs. The prime is paid by the investors, never by the
  commissioner (the schema refuses fees or outcome payments beside a bond).
* Measurement. Consecutive ``cohort_months`` of referrals form one bond
  cohort (Peterborough: about 1,000 men released from short sentences).
  Each monthly cohort is measured by the commissioner as usual, against the
  contract's counterfactual (Peterborough: a propensity-score-matched
  national comparison group); the bond adds up its cohorts' proven
  reoffences and counterfactual reoffences.
* Payment, by :func:`sim.payments.sib_cohort_payment` and
  :func:`sim.payments.sib_final_payment`: when a bond cohort's last month has
  been measured, a fall of at least ``cohort_trigger_pct`` pays for it at
  once; when every cohort has been measured, a fall of at least
  ``overall_trigger_pct`` across them all pays for all of them, less what was
  paid early. Payments are ``price_per_reoffence_avoided`` per reoffence below
  the counterfactual, capped in total at ``outcome_cap``.

Money moves in the ledger as ``investors -> prime`` (``sib_service_fee``) and
``commissioner -> investors`` (``outcome_frequency``); the investors' cash is
their committed capital less what they have drawn plus what they have been
repaid, so it can be held to the ledger like any agent's.

What the investors made is reported as ``investor_return``, their money
multiple spread over the months their money was out (:func:`annualised_return`),
and ``investor_irr``, the internal rate of return of their monthly cash flows
where it has one (:func:`annualised_irr`).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from mesa.time import Schedule
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.mechanisms import Mechanism, MechanismType, Settled
from pbrsim.sim.payments import (
    MeasuredOutcome,
    apply_total_cap,
    sib_cohort_payment,
    sib_final_payment,
    sib_reduction_pct,
)

if TYPE_CHECKING:
    from pbrsim.sim.agents import Cohort
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.scenario_investment import SocialImpactBondSpec

__all__ = [
    "FEE_KIND",
    "OUTCOME_KIND",
    "SocialImpactBond",
    "annualised_irr",
    "annualised_return",
    "build_social_impact_bond",
    ]

logger = logging.getLogger(__name__)

#: Ledger kind of the investors' payments to the provider.
FEE_KIND = Kind.SIB_SERVICE_FEE
#: Ledger kind of the commissioner's payments to the investors (the bond pays on frequency).
OUTCOME_KIND = Kind.OUTCOME_FREQUENCY


def annualised_irr(flows: np.ndarray | list[float]) -> float | None:
    """Return the annualised internal rate of return of monthly cash flows.

    ``flows[t]`` is the net flow to the investor in month ``t`` (drawdowns
    negative, repayments positive). The monthly rate ``r`` solving
    ``sum(flows[t] / (1 + r) ** t) == 0`` is found by bisection and returned
    as ``(1 + r) ** 12 - 1``. Nothing repaid is a total loss: -1. Returns None
    where there is no rate to find: nothing invested, or flows whose net present
    value does not change sign between a monthly rate of -99.9% and a very high
    one (capital drawn after a repayment can do that).
    """
    f = np.asarray(flows, dtype=float)
    if not (f < 0).any():
        return None
    if not (f > 0).any():
        return -1.0
    t = np.arange(f.size, dtype=float)

    def npv(rate: float) -> float:
        return float(np.sum(f * np.exp(-t * math.log1p(rate))))

    lo, hi = -0.999, 1.0
    # Money first out then back, so NPV falls as the rate rises; widen the bracket if needed.
    while npv(hi) > 0 and hi < 1e6:
        hi *= 2.0
    if npv(lo) < 0 or npv(hi) > 0:
        return None
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if npv(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-14:
            break
    return float((1.0 + 0.5 * (lo + hi)) ** 12 - 1.0)


def annualised_return(flows: np.ndarray | list[float]) -> float | None:
    """Return the investors' return a year: their money multiple spread over the time it was out.

    ``(repaid / drawn) ** (12 / D) - 1``, where ``D`` is the months between the
    money-weighted mean month of the repayments and that of the drawdowns.
    With one drawdown and one repayment this is the internal rate of return;
    unlike it, it exists for every pattern of flows (a bond draws capital after
    an early repayment, and then the IRR may have no root or several). Nothing
    repaid is -1; None if nothing was drawn or the money came back before it
    went out on average.
    """
    f = np.asarray(flows, dtype=float)
    t = np.arange(f.size, dtype=float)
    out, back = np.where(f < 0, -f, 0.0), np.where(f > 0, f, 0.0)
    drawn, repaid = float(out.sum()), float(back.sum())
    if drawn <= 0:
        return None
    if repaid <= 0:
        return -1.0
    months = float(t @ back) / repaid - float(t @ out) / drawn
    if months <= 0:
        return None
    return float((repaid / drawn) ** (12.0 / months) - 1.0)


class SocialImpactBond(Mechanism):
    """The investors in a social impact bond: their capital, drawdowns and repayments.

    Args:
        model: the model, with its primes made.
        spec: the contract's bond.

    """

    def __init__(self, model: PbRModel, spec: SocialImpactBondSpec) -> None:
        self.model = model
        self.spec = spec
        self.name = spec.investors
        self.cash = float(spec.investor_capital)
        self.drawn = 0.0
        self.repaid = 0.0
        self.flows: dict[int, float] = defaultdict(float)
        self.capital_exhausted_month: int | None = None
        n = math.ceil(model.referral_months / spec.cohort_months)
        areas = model.areas.count
        starts = spec.cohort_months * np.arange(n)
        months = np.minimum(spec.cohort_months, model.referral_months - starts)
        #: monthly cohorts (one per area and referral month) in each bond cohort
        self.expected = months * areas
        self.measured_cohorts = np.zeros(n, dtype=int)
        self.referred = np.zeros(n)
        self.cf_reoffences = np.zeros(n)
        self.reoffences = np.zeros(n)
        self.untreated_reoffences = np.zeros(n)
        self.paid_early = np.zeros(n)
        self.final_paid = 0.0
        self._marks = {p.name: p.cash for p in model.primes}
        model.schedule_recurring(self.draw_down, Schedule(interval=1, start=1, end=model.end_month))

    # -- money out: funding the service
    def draw_down(self) -> None:
        """Pay each prime its costs since the last drawdown, out of the capital left."""
        month = self.model.steps
        for prime in self.model.primes:
            # Under a bond nobody else pays the prime, so what its cash fell by is what it spent.
            spent = self._marks.get(prime.name, prime.spec.capital) - prime.cash
            # only committed capital is drawn: outcome payments already received are not reinvested
            undrawn = self.spec.investor_capital - self.drawn
            amount = min(max(spent, 0.0) * (1.0 + self.spec.provider_margin), undrawn)
            if amount > 0:
                self.model.ledger.record(month, self.name, prime.name, FEE_KIND, amount)
                prime.cash += amount
                self.cash -= amount
                self.drawn += amount
                self.flows[month] -= amount
                if undrawn - amount <= 1e-9 and self.capital_exhausted_month is None:
                    self.capital_exhausted_month = month
                    logger.info("month %d: the bond's capital is used up", month)
            self._marks[prime.name] = prime.cash

    # -- money in: outcome payments
    def on_settled(self, settled: Settled) -> None:
        """Take each cohort the commissioner measures into the bond's own cohorts."""
        self.on_measured(settled.cohort, settled.outcome, settled.untreated_reoffences)

    def on_measured(self, cohort: Cohort, outcome: MeasuredOutcome,
                    untreated_reoffences: float) -> None:
        """Add a measured monthly cohort to its bond cohort; pay whatever that triggers.

        Called by the commissioner once it has measured ``cohort``.
        """
        spec = self.spec
        k = min((cohort.month - 1) // spec.cohort_months, self.expected.size - 1)
        self.referred[k] += cohort.size
        self.cf_reoffences[k] += float(outcome.cf_reoffences.sum())
        self.reoffences[k] += float(outcome.reoffences.sum())
        self.untreated_reoffences[k] += untreated_reoffences
        self.measured_cohorts[k] += 1
        if self.measured_cohorts[k] == self.expected[k]:
            due = sib_cohort_payment(self.cf_reoffences[k], self.reoffences[k],
                                     spec.price_per_reoffence_avoided, spec.cohort_trigger_pct)
            self.paid_early[k] = self._pay(due)
        if (self.measured_cohorts == self.expected).all() and self.final_paid == 0.0:
            due = sib_final_payment(self.cf_reoffences, self.reoffences,
                                    spec.price_per_reoffence_avoided, spec.overall_trigger_pct,
                                    float(self.paid_early.sum()))
            self.final_paid = self._pay(due)

    def _pay(self, due: float) -> float:
        """Pay the investors ``due`` from the commissioner, within the cap; return what was paid."""
        paid = apply_total_cap(due, self.repaid, self.spec.outcome_cap)
        if paid > 0:
            month = self.model.steps
            self.model.ledger.record(month, Party.COMMISSIONER, self.name, OUTCOME_KIND, paid)
            self.cash += paid
            self.repaid += paid
            self.flows[month] += paid
        return paid

    # -- measures
    def cash_flows(self) -> np.ndarray:
        """Return the investors' net cash flow in each month from 0 to the end of the run."""
        f = np.zeros(self.model.end_month + 1)
        for month, amount in self.flows.items():
            f[month] += amount
        return f

    def metrics(self) -> dict[str, float | None]:
        """Return what the bond paid and what the investors made."""
        spec = self.spec
        cf, measured, untreated = (float(a.sum()) for a in
                                   (self.cf_reoffences, self.reoffences, self.untreated_reoffences))
        true_value = spec.price_per_reoffence_avoided * max(untreated - measured, 0.0)
        flows = self.cash_flows()
        m: dict[str, float | None] = {
            "investor_capital": float(spec.investor_capital),
            "investor_drawn": self.drawn,
            "investor_repaid": self.repaid,
            "investor_return": annualised_return(flows),
            "investor_irr": annualised_irr(flows),
            "investor_loss": max(self.drawn - self.repaid, 0.0),
            "investor_multiple": self.repaid / self.drawn if self.drawn > 0 else None,
            "investor_capital_exhausted_month": (
                float(self.capital_exhausted_month)
                if self.capital_exhausted_month is not None else None),
            "sib_cohorts": float(self.expected.size),
            "sib_cohorts_paid_early": float((self.paid_early > 0).sum()),
            "sib_early_payments": float(self.paid_early.sum()),
            "sib_final_payment": self.final_paid,
            "sib_pilot_reduction_pct": sib_reduction_pct(cf, measured),
            "sib_pilot_true_reduction_pct": sib_reduction_pct(untreated, measured),
            "sib_deadweight_payments": max(self.repaid - true_value, 0.0),
        }
        # the bond's are the only outcome payments (the schema allows no others), so the run's
        # payment for deadweight is the bond's, not the monthly cohorts' (which pay nothing)
        m["deadweight_payments"] = m["sib_deadweight_payments"]
        for k in range(self.expected.size):
            m[f"sib_cohort_{k + 1}_reduction_pct"] = sib_reduction_pct(self.cf_reoffences[k],
                                                                       self.reoffences[k])
        return m


def build_social_impact_bond(model: PbRModel) -> SocialImpactBond | None:
    """Return the contract's social impact bond, scheduled on the model's clock, or None."""
    spec = model.design.contract.social_impact_bond
    return SocialImpactBond(model, spec) if spec is not None else None


_EMPTY = ("investor_capital", "investor_drawn", "investor_repaid", "investor_return",
          "investor_irr", "investor_loss", "investor_multiple")


def _without_bond(model: PbRModel) -> dict[str, float | None]:
    """Without a bond, the investor measures are null."""
    return dict.fromkeys(_EMPTY)


#: A social impact bond as a mechanism (sim/mechanisms.py).
MECHANISM = MechanismType("social impact bond", build=build_social_impact_bond, absent_metrics=_without_bond)
