"""Stewardship rules: how the commissioner looks after its supply chains and its money.

The scenario field is ``contract.stewardship`` (:class:`~sim.scenario_stewardship.StewardshipSpec`);
the minimum service specification, the fourth rule of DESIGN.md section 4, is
``contract.service.min_hours_per_month`` and is applied by the prime.

* **Merlin-style supply-chain standard** (DWP Merlin Standard, 2012; see
  ../shared/CALIBRATION.md). A limit on the terms a prime may offer, not a
  choice of terms: the prime still prices, picks its outcome share, payment lag
  and volume commitment to suit itself (:mod:`sim.supply_chain`), within

  - risk passed down no larger than the prime's own: the outcome share is cut,
    where it must be, so that the expected share of a sub-prime's payment that
    depends on outcomes is no greater than the share of the prime's own expected
    income that does (:func:`merlin_outcome_share`). Sub-primes' at-risk share
    of income over prime income's at-risk share is the risk transfer ratio, so
    the rule aims it at 1 or less;
  - prompt payment: fees paid at most :data:`MERLIN_MAX_PAYMENT_LAG_MONTHS`
    after delivery;
  - honoured volumes: hours promised and not referred are paid for
    (:func:`merlin_policy`).

* **Open-book reporting**: the commissioner sees each prime's costs. Reported
  as ``open_book_prime_costs`` and ``open_book_prime_margin_share``; without
  open book these are null, as the commissioner cannot see them.

* **Cap on prime margin** (needs open book; the schema refuses a cap without
  it). At every ``reconcile_months`` and at the end of the run the
  commissioner compares each prime's margin over the contract to date (its
  income from the commissioner less its costs, less what has already been
  clawed back) with ``margin_cap`` times its income and claws back the excess
  (:func:`sim.payments.margin_clawback`), as a payment from the prime to the
  commissioner in the ledger. Primes do not anticipate the cap when they
  allocate effort: a known simplification (docs/ODD.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mesa.time import Priority, Schedule
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.mechanisms import Mechanism, MechanismType
from pbrsim.sim.payments import margin_clawback

if TYPE_CHECKING:
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.scenario_stewardship import StewardshipSpec
    from pbrsim.sim.scenario_supply import SubcontractPolicy

__all__ = [
    "CLAWBACK",
    "MERLIN_MAX_PAYMENT_LAG_MONTHS",
    "MarginCap",
    "build_margin_cap",
    "merlin_outcome_share",
    "merlin_policy",
    "stewardship_metrics",
]

logger = logging.getLogger(__name__)

#: Prompt payment under the Merlin-style standard: fees paid within a month of delivery.
MERLIN_MAX_PAYMENT_LAG_MONTHS = 1
#: Ledger kind of margin clawed back by the commissioner.
CLAWBACK = Kind.MARGIN_CLAWBACK


# -- the Merlin-style standard: pure limits on terms --------------------------------------------


def merlin_policy(policy: SubcontractPolicy) -> SubcontractPolicy:
    """Return the prime's subcontracting policy within the standard's payment rules.

    The payment lag is cut to :data:`MERLIN_MAX_PAYMENT_LAG_MONTHS` if it is
    longer, and volume commitments are honoured. Everything else (margins,
    outcome share sought, how much volume to promise) stays the prime's choice.
    """
    return policy.model_copy(update={
        "payment_lag_months": min(policy.payment_lag_months, MERLIN_MAX_PAYMENT_LAG_MONTHS),
        "honour_volume_commitment": True,
    })


def merlin_outcome_share(wanted: float, value_of_full_share: float, price_per_hour: float,
                         prime_at_risk_share: float) -> float:
    """Return the largest outcome share, up to ``wanted``, the standard lets a prime pass down.

    A sub-prime's at-risk share of an hour's expected payment is
    ``share * value_of_full_share / price_per_hour`` (the prime cuts the fee by
    the share's expected value, so the price does not move with the share);
    it may not exceed the prime's own ``prime_at_risk_share``.

    Args:
        wanted: the outcome share the prime's policy would pass down.
        value_of_full_share: expected outcome payment per hour if the whole of it were passed down.
        price_per_hour: expected payment per hour, fee plus expected share.
        prime_at_risk_share: share of the prime's own expected income that depends on outcomes.

    """
    if value_of_full_share <= 0 or wanted <= 0:
        return wanted
    return float(min(wanted, max(prime_at_risk_share, 0.0) * price_per_hour / value_of_full_share))


# -- open book and the margin cap ------------------------------------------------------------------


class MarginCap(Mechanism):
    """The commissioner's reconciliation of each prime's margin against the cap (open book).

    Args:
        model: the model, with its primes made.
        spec: the contract's stewardship rules (``margin_cap`` set).

    """

    def __init__(self, model: PbRModel, spec: StewardshipSpec) -> None:
        assert spec.margin_cap is not None
        self.model = model
        self.cap = spec.margin_cap
        self.clawed_back: dict[str, float] = {p.name: 0.0 for p in model.primes}
        self.reconciliations: list[dict[str, float]] = []
        every, end = spec.reconcile_months, model.end_month
        # LOW priority: after the month's invoices and outcome payments, so the books are complete
        if every <= end:
            model.schedule_recurring(self.reconcile, Schedule(interval=every, start=every, end=end),
                                     priority=Priority.LOW)
        if end % every:
            model.schedule_event(self.reconcile, at=end, priority=Priority.LOW)

    def reconcile(self) -> None:
        """Claw back from each prime its margin to date above the cap."""
        model = self.model
        month = model.steps
        ledger = model.ledger
        for prime in model.primes:
            clawed = self.clawed_back.setdefault(prime.name, 0.0)
            income = ledger.total(payer=Party.COMMISSIONER, payee=prime.name)
            costs = ledger.total(payer=prime.name) - clawed
            due = margin_clawback(income, costs, self.cap, clawed)
            self.reconciliations.append({"month": float(month), "prime_index": float(prime.index),
                                         "income": income, "costs": costs, "clawback": due})
            if due > 0:
                prime.spend(month, Party.COMMISSIONER, CLAWBACK, due)
                self.clawed_back[prime.name] += due
                logger.debug("month %d: %.0f clawed back from %s", month, due, prime.name)

    @property
    def total(self) -> float:
        """Margin clawed back from all primes."""
        return float(sum(self.clawed_back.values()))

    def metrics(self) -> dict[str, float | None]:
        """Return the run's stewardship measures, with what the cap clawed back."""
        return stewardship_metrics(self.model, self)


def build_margin_cap(model: PbRModel) -> MarginCap | None:
    """Return the contract's margin cap, scheduled on the model's clock, or None without one."""
    spec = model.design.contract.stewardship
    return MarginCap(model, spec) if spec.margin_cap is not None else None


def stewardship_metrics(model: PbRModel, cap: MarginCap | None = None) -> dict[str, float | None]:
    """Return the run's stewardship measures (definitions in docs/ODD.md, "Observation").

    ``margin_clawed_back`` is what the commissioner recovered under the cap;
    ``open_book_prime_costs`` and ``open_book_prime_margin_share`` (before any
    clawback) are what open-book reporting shows it, null without open book.
    ``merlin_outcome_share_cut`` is the share of subcontract offers whose
    outcome share the Merlin-style rule cut below what the prime sought.
    """
    spec = model.design.contract.stewardship
    ledger = model.ledger
    clawed = cap.total if cap is not None else 0.0
    m: dict[str, float | None] = {
        "merlin_standard": float(spec.merlin),
        "open_book": float(spec.open_book),
        "margin_cap": spec.margin_cap,
        "margin_clawed_back": clawed,
        "open_book_prime_costs": None,
        "open_book_prime_margin_share": None,
        "merlin_outcome_share_cut": None,
    }
    if spec.open_book:
        names = [p.name for p in model.primes]
        income = sum(ledger.total(payer=Party.COMMISSIONER, payee=name) for name in names)
        costs = sum(ledger.total(payer=name) for name in names) - clawed
        m["open_book_prime_costs"] = costs
        m["open_book_prime_margin_share"] = (income - costs) / income if income > 0 else None
    from pbrsim.sim.supply_chain import Market  # the Merlin rule acts inside the supply chain

    market = model.mechanism(Market)
    if spec.merlin and market is not None and market.decisions:
        sought = {chain.prime.name: chain.sought_outcome_share for chain in market.chains}
        cut = sum(d.outcome_share < sought[d.prime] - 1e-12 for d in market.decisions)
        m["merlin_outcome_share_cut"] = cut / len(market.decisions)
    return m


def _without_cap(model: PbRModel) -> dict[str, float | None]:
    return stewardship_metrics(model, None)


#: Stewardship rules as a mechanism (sim/mechanisms.py): the margin cap reconciles on the clock;
#: the Merlin standard acts inside the supply chain (``merlin_policy``); open book is reporting.
#: Every run reports the rules in force, with or without a cap.
MECHANISM = MechanismType("stewardship", build=build_margin_cap, absent_metrics=_without_cap)
