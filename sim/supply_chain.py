"""Supply chains: who delivers each service type a prime has chosen to give, and on what terms.

A prime decides how many hours of each service type each person gets (its
strategy); its supply chain decides who delivers them (make or buy), pays for
them and reports how effective they were. :class:`InHouse` is the prime that
delivers everything itself.

With a ``market`` in the scenario, :func:`build_market` creates a pool of
:class:`SubPrime` agents shared by the primes and gives each prime willing to
subcontract a :class:`SubcontractedSupply`. Then, month by month:

* Delivery. Each service type's hours go to the prime's sub-primes in order
  of value (cost per effective hour), each up to its contracted hours; the
  rest are delivered in-house. A sub-prime pays its staff at once; the prime
  pays its fee ``payment_lag_months`` later.
* Outcome payments. When the commissioner pays the prime for a cohort, each
  sub-prime that served the cohort gets its ``outcome_share`` of the part of
  the payment its effective hours earned: 18 months or more after the work.
* Make or buy, and terms. Where a prime's demand for a type exceeds what it
  has contracted and it has room for another sub-prime, it offers terms (a
  price over the sub-prime's full cost, with the fee cut by the expected value
  of any outcome share passed down; a payment lag; a volume commitment) to
  every sub-prime of that type that would be better value than in-house. Each
  answers by :func:`acceptable`: its :func:`bargaining_power` (from the months
  of costs its reserves cover and the other primes bidding for it) sets the
  margin it insists on and the share of its income it will leave at risk. If
  all decline, the prime improves the price in steps, never past in-house
  value, and then chooses among those who accept. Every subcontract is re-let
  each ``renewal_months``, so terms follow beliefs and bargaining power.
* Exit and entry. A sub-prime whose cash goes below zero is insolvent and
  leaves; one that has lost money ``exit_loss_months`` in a row with its cash
  below ``exit_reserve_share`` of its starting reserves leaves too. Its work
  goes back in-house or to another sub-prime. Where a prime still wants to
  subcontract a type and nobody will take it, an entrant of that type may
  appear (chance ``entry.probability_per_month``) if the terms on offer suit it.

Who carries outcome risk, who survives and who leaves is set nowhere: it
follows from the terms, the sub-primes' reserves and their cash flow. Every
payment is in the model's ledger; sub-primes hold their own cash, so their
cash can be held to the ledger like the primes'.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Protocol

import mesa
import numpy as np
import pandas as pd
from pbrsim.sim import payments
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.payments import REOFFENCES_PER_REOFFENDER, fees, withheld
from pbrsim.sim.stewardship import merlin_outcome_share, merlin_policy
from pbrsim.sim.vocabulary import SECTORS, SERVICE_TYPES

if TYPE_CHECKING:
    from pbrsim.sim.agents import Cohort, Prime
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.scenario_supply import MarketSpec, SubcontractPolicy, SubPrimeSpec

__all__ = [
    "REOFFENCES_PER_REOFFENDER",
    "Decision",
    "InHouse",
    "Market",
    "SubPrime",
    "Subcontract",
    "SubcontractedSupply",
    "SupplyChain",
    "Terms",
    "acceptable",
    "bargaining_power",
    "build_market",
    "expected_outcome_per_referral",
]

logger = logging.getLogger(__name__)

#: How many cohorts' worth of evidence a prime's prior value of an effective hour is worth.
_PRIOR_COHORTS = 6.0
#: A type's unmet hours below this share of the prime's hours of it are not worth a tender.
_TENDER_THRESHOLD = 0.02
_N_TYPES = len(SERVICE_TYPES)


class SupplyChain(Protocol):
    """Delivery of a prime's chosen hours, and the money that follows them."""

    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray,
                needs: np.ndarray) -> np.ndarray:
        """Deliver ``hours`` (people x service types); pay for them; return each person's dose."""
        ...

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """Handle the prime being paid ``amount`` for ``cohort``'s outcomes."""
        ...

    def cost_per_hour(self) -> float:
        """Return last month's average cost of an hour to the prime, over service types."""
        ...

    def retained_outcome_share(self) -> float:
        """Return the share of its outcome payments the prime keeps after passing shares down."""
        ...


class InHouse:
    """Everything delivered by the prime's own staff at its own unit cost and effectiveness."""

    def __init__(self, prime: Prime) -> None:
        self.prime = prime

    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray,
                needs: np.ndarray) -> np.ndarray:
        """Pay the prime's staff for every hour; dose is hours on assessed needs x effectiveness."""
        spec = self.prime.spec
        cost = float(hours.sum()) * spec.unit_cost_per_hour
        self.prime.spend(month, Party.FRONT_LINE, Kind.DELIVERY_COST, cost)
        return (hours * needs).sum(axis=1) * spec.effectiveness

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """Keep every outcome payment: in-house, there is nobody to share it with."""

    def cost_per_hour(self) -> float:
        """Return the prime's own unit cost."""
        return float(self.prime.spec.unit_cost_per_hour)

    def retained_outcome_share(self) -> float:
        """Return 1: in-house, the prime keeps everything."""
        return 1.0


# -- terms, and a sub-prime's answer: pure functions ------------------------------------------


@dataclass(frozen=True)
class Terms:
    """A subcontract offer for one service type.

    Attributes:
        fee_per_hour: paid for each hour delivered, ``payment_lag_months`` after delivery.
        outcome_share: share of the outcome payment earned by the sub-prime's effective hours
            that is passed down to it when the cohort is paid for.
        expected_share_per_hour: what the prime expects that share to be worth per hour
            delivered (disclosed with the offer: the fee was cut by it).
        payment_lag_months: months from delivery to payment of the fee.
        hours: hours a month contracted: the most the prime will refer, and capacity the
            sub-prime reserves for it.
        committed_hours: hours a month promised, referred or not.
        margin: the margin over the sub-prime's full cost the hour was priced at.

    """

    fee_per_hour: float
    outcome_share: float
    expected_share_per_hour: float
    payment_lag_months: int
    hours: float
    committed_hours: float = 0.0
    margin: float = 0.0

    @property
    def price_per_hour(self) -> float:
        """Expected payment per hour: fee plus expected outcome share."""
        return self.fee_per_hour + self.expected_share_per_hour

    @property
    def at_risk_share(self) -> float:
        """Share of the expected payment that depends on outcomes."""
        price = self.price_per_hour
        return self.expected_share_per_hour / price if price > 0 else 0.0


def bargaining_power(cash: float, monthly_cost: float, alternatives: int,
                     runway_half_months: float) -> float:
    """Return how far a sub-prime can afford to refuse terms: 0 (must take any work) to 1.

    Reserves buy time to wait for better work: with ``runway`` months of its
    costs in cash its own power is ``runway / (runway + runway_half_months)``.
    Each other prime bidding for it with terms it could live with is a way out
    too, so its remaining weakness is divided by ``1 + alternatives``.

    Args:
        cash: cash in hand (below zero counts as none).
        monthly_cost: its costs in a month at full capacity.
        alternatives: other primes tendering for its service type on terms it could accept.
        runway_half_months: months of costs in reserve that give half of full power.

    """
    if monthly_cost <= 0:
        own = 1.0
    else:
        runway = max(cash, 0.0) / monthly_cost
        own = runway / (runway + runway_half_months)
    return 1.0 - (1.0 - own) / (1.0 + max(alternatives, 0))


def acceptable(terms: Terms, *, full_cost_per_hour: float, risk_tolerance: float,
               min_margin: float, power: float, demanded_margin: float, discount_rate: float,
               outcome_delay_months: float) -> bool:
    """Return whether a sub-prime takes the terms.

    It values the fee after its lag, and the expected outcome share after the
    wait for the cohort to be measured, at its cost of waiting
    (``discount_rate`` a month), against its full cost of an hour. With no
    bargaining power it takes any terms that earn ``min_margin`` and puts up
    with any share of its income at risk; with full power it insists on
    ``demanded_margin`` and at most ``risk_tolerance`` at risk. In between
    both limits move with its power, so a sub-prime with big reserves declines
    terms that a poor one accepts.

    Args:
        terms: the offer.
        full_cost_per_hour: unit cost plus overhead spread over its capacity.
        risk_tolerance: share of income it leaves at risk when it has full power.
        min_margin: lowest margin it takes with no power (negative: it subsidises the work).
        power: from :func:`bargaining_power`.
        demanded_margin: margin it insists on with full power.
        discount_rate: monthly cost of waiting for money.
        outcome_delay_months: months from delivery to the outcome payment, on average.

    """
    wait = 1.0 + discount_rate
    value = (terms.fee_per_hour * wait ** -terms.payment_lag_months
             + terms.expected_share_per_hour * wait ** -outcome_delay_months)
    margin = value / full_cost_per_hour - 1.0
    needed = min_margin + power * max(demanded_margin - min_margin, 0.0)
    most_at_risk = risk_tolerance + (1.0 - power) * (1.0 - risk_tolerance)
    return margin >= needed - 1e-12 and terms.at_risk_share <= most_at_risk + 1e-12


def expected_outcome_per_referral(model: PbRModel, reduction: float,
                                  band_shares: np.ndarray) -> float:
    """Return the outcome payment per referral a prime expects at a measured ``reduction``.

    Applies the contract's own payment rules to a typical cohort (one area's
    monthly referrals, in the prime's mix of payment bands) whose proven
    reoffending is ``reduction`` (relative) below a counterfactual at the cohort
    type's published base rate, with :data:`REOFFENCES_PER_REOFFENDER`.
    """
    size = max(model.design.cohort.referrals_per_year / 12.0 / len(model.prime_of_area), 1.0)
    n = size * np.asarray(band_shares, dtype=float)
    return payments.expected_outcome_per_referral(model.design.contract, n, model.profile.base_rate, reduction)


# -- agents --------------------------------------------------------------------------------------


class SubPrime(mesa.Agent):
    """A specialist sub-contractor of one service type, with its own cash.

    Attributes:
        name: unique name (its name in the ledger).
        sector: voluntary, social_enterprise, private or public.
        service_type: index into :data:`~sim.vocabulary.SERVICE_TYPES`.
        cash: cash in hand; below zero at a month's end it is insolvent.
        contracts: its live subcontracts.
        claims: by cohort, its share-weighted effective hours (what outcome shares are paid on).
        active: False once it has left the market.

    """

    def __init__(self, model: PbRModel, *, name: str, sector: str, service_type: int,
                 capacity: float, unit_cost: float, overhead: float, effectiveness: float,
                 reserves: float, risk_tolerance: float, min_margin: float, entered: int,
                 n_cohorts: int) -> None:
        super().__init__(model)
        self.name = name
        self.sector = sector
        self.service_type = service_type
        self.capacity = capacity
        self.unit_cost = unit_cost
        self.overhead = overhead
        self.effectiveness = effectiveness
        self.reserves = reserves
        self.risk_tolerance = risk_tolerance
        self.min_margin = min_margin
        self.entered = entered
        self.cash = reserves
        self.min_cash = reserves
        self.contracts: list[Subcontract] = []
        self.claims = np.zeros(n_cohorts)
        self.active = True
        self.exit_month: int | None = None
        self.exit_reason: str | None = None
        self.cash_at_exit: float | None = None
        self.income = 0.0
        self.at_risk_income = 0.0
        self.expected_at_risk = 0.0
        self.costs = 0.0
        self.delivery_cost = 0.0
        self.hours_total = 0.0
        self.hours_month = 0.0
        self.max_hours_month = 0.0
        self.month_net = 0.0
        self.loss_streak = 0

    @property
    def full_cost_per_hour(self) -> float:
        """Unit cost plus overhead spread over its capacity (what open-book prices are set over)."""
        return self.unit_cost + self.overhead / self.capacity

    @property
    def monthly_cost(self) -> float:
        """Its costs in a month at full capacity."""
        return self.unit_cost * self.capacity + self.overhead

    @property
    def free_hours(self) -> float:
        """Capacity not contracted to any prime."""
        return self.capacity - sum(c.terms.hours for c in self.contracts)

    def pay(self, month: int, payee: str, kind: str, amount: float) -> None:
        """Pay a cost out of cash."""
        if amount <= 0:
            return
        self.model.ledger.record(month, self.name, payee, kind, amount)
        self.cash -= amount
        self.costs += amount
        self.month_net -= amount
        self.min_cash = min(self.min_cash, self.cash)

    def paid_by(self, prime: Prime, month: int, kind: str, amount: float) -> None:
        """Be paid by a prime (the prime's cash and the ledger move with it)."""
        if amount <= 0:
            return
        prime.spend(month, self.name, kind, amount)
        self.cash += amount
        self.income += amount
        self.month_net += amount
        if kind == Kind.OUTCOME_SHARE:
            self.at_risk_income += amount

    def deliver(self, month: int, hours: float, expected_share_per_hour: float) -> None:
        """Deliver referred hours, paying front-line staff at once."""
        cost = hours * self.unit_cost
        self.pay(month, Party.FRONT_LINE, Kind.DELIVERY_COST, cost)
        self.delivery_cost += cost
        self.hours_month += hours
        self.hours_total += hours
        self.expected_at_risk += hours * expected_share_per_hour

    def close_month(self, month: int) -> None:
        """Pay the month's overhead if it has held a subcontract this month."""
        if self.active and self.contracts:
            self.pay(month, Party.OVERHEAD, Kind.OVERHEAD, self.overhead)

    def review(self, spec: MarketSpec) -> str | None:
        """Close the month's books; return why it leaves now (insolvency, losses) or None."""
        self.max_hours_month = max(self.max_hours_month, self.hours_month)
        self.hours_month = 0.0
        self.loss_streak = self.loss_streak + 1 if self.month_net < 0 else 0
        self.month_net = 0.0
        if not self.active:
            return None
        if self.cash < 0:
            return "insolvency"
        if (self.loss_streak >= spec.exit_loss_months
                and self.cash < spec.exit_reserve_share * self.reserves):
            return "losses"
        return None


@dataclass(eq=False)
class Subcontract:
    """A live subcontract: one prime, one sub-prime, one service type, one set of terms."""

    prime: Prime
    subprime: SubPrime
    service_type: int
    terms: Terms
    start: int
    referred: float = 0.0
    """Hours referred in the current month."""

    @property
    def cost_per_effective_hour(self) -> float:
        """The prime's expected cost of an hour of effect bought this way."""
        return self.terms.price_per_hour / self.subprime.effectiveness


# -- a prime's supply chain ----------------------------------------------------------------------


class SubcontractedSupply:
    """A prime's supply chain: its subcontracts by service type, and in-house for the rest.

    It also holds what the prime believes an effective hour (an hour on an
    assessed need, times the deliverer's effectiveness) earns in outcome
    payments, to value the share it passes down: a prior from the contract's
    payment rules and the policy's ``expected_reduction``, outweighed by what
    is actually paid as cohorts are measured.
    """

    def __init__(self, prime: Prime, market: Market) -> None:
        self.prime = prime
        self.market = market
        policy = prime.spec.subcontracting or market.spec.policy
        # The Merlin-style standard limits the terms the prime may offer; it still chooses them.
        self.merlin = market.model.design.contract.stewardship.merlin
        self.sought_outcome_share = policy.outcome_share_passed
        self.policy: SubcontractPolicy = merlin_policy(policy) if self.merlin else policy
        self.settled_referrals = 0.0
        self._own_at_risk: tuple[int, float] = (-1, 0.0)
        self.by_type: list[list[Subcontract]] = [[] for _ in range(_N_TYPES)]
        self.demand = np.zeros(_N_TYPES)
        self.matched = np.ones(_N_TYPES)
        self.claimants: list[SubPrime] = []
        self.outcome_paid = 0.0
        self.outcome_dose = 0.0
        self._settled: set[int] = set()
        self._cohort_dose: tuple[int, float] = (-1, 0.0)
        self._rows = np.zeros(0, dtype=np.intp)
        self._band_shares: np.ndarray | None = None
        self._last_cost = float(prime.spec.unit_cost_per_hour)
        self._last_retained = 1.0

    # -- the prime's view of value
    @property
    def inhouse_cost_per_effective_hour(self) -> float:
        """What an hour of effect costs the prime with its own staff."""
        return self.prime.spec.unit_cost_per_hour / self.prime.spec.effectiveness

    def outcome_value_per_effective_hour(self) -> float:
        """Return the outcome payment the prime believes an effective hour earns."""
        model = self.market.model
        observed = self.outcome_paid / self.outcome_dose if self.outcome_dose > 0 else 0.0
        rows = self._rows
        if rows.size == 0 or self._band_shares is None:
            return observed
        store = model.store
        # dose per referral over the service period, from the current caseload's dose so far
        months = float((model.steps - store.referral_month[rows] + 1).sum())
        per_referral = float(store.dose[rows].sum(dtype=np.float64)) / months * model.service_months
        if per_referral <= 0:
            return observed
        prior = expected_outcome_per_referral(model, self.policy.expected_reduction,
                                              self._band_shares) / per_referral
        size = model.design.cohort.referrals_per_year / 12.0 / len(model.prime_of_area)
        weight = _PRIOR_COHORTS * size * per_referral
        return (prior * weight + self.outcome_paid) / (weight + self.outcome_dose)

    def own_at_risk_share(self) -> float:
        """Return the share of its own expected income the prime has at risk on outcomes.

        Fees it keeps per referral (after any withholding) against the outcome
        payments it expects per referral: a prior from the contract's payment
        rules at the policy's ``expected_reduction``, outweighed by what is paid
        as cohorts are measured (as in :meth:`outcome_value_per_effective_hour`).
        The Merlin-style standard caps sub-primes' at-risk share at this.
        """
        model = self.market.model
        if self._own_at_risk[0] == model.steps:
            return self._own_at_risk[1]
        contract = model.design.contract
        pay = contract.payment
        size = max(model.design.cohort.referrals_per_year / 12.0 / len(model.prime_of_area), 1.0)
        gross = fees(pay, size, size * contract.service.months, 1.0)
        kept = (gross - withheld(pay, gross)) / size
        bands = self._band_shares if self._band_shares is not None else np.full(4, 0.25)
        prior = expected_outcome_per_referral(model, self.policy.expected_reduction, bands)
        weight = _PRIOR_COHORTS * size
        outcome = (prior * weight + self.outcome_paid) / (weight + self.settled_referrals)
        total = kept + max(outcome, 0.0)
        share = max(outcome, 0.0) / total if total > 0 else 0.0
        self._own_at_risk = (model.steps, share)
        return share

    def offer(self, subprime: SubPrime, margin: float, hours: float,
              value_per_effective_hour: float) -> Terms:
        """Return the terms this prime offers a sub-prime at a margin over its full cost."""
        policy = self.policy
        price = subprime.full_cost_per_hour * (1.0 + margin)
        full_share = (value_per_effective_hour * subprime.effectiveness
                      * self.matched[subprime.service_type])
        share = policy.outcome_share_passed
        if self.merlin:
            share = merlin_outcome_share(share, full_share, price, self.own_at_risk_share())
        expected_share = share * full_share
        return Terms(
            fee_per_hour=max(price - expected_share, 0.0),
            outcome_share=share,
            expected_share_per_hour=expected_share,
            payment_lag_months=policy.payment_lag_months,
            hours=hours,
            committed_hours=policy.volume_commitment_share * hours,
            margin=margin,
        )

    def better_value(self, terms: Terms, subprime: SubPrime) -> bool:
        """Return whether buying on these terms beats in-house delivery, per effective hour."""
        return terms.price_per_hour / subprime.effectiveness < self.inhouse_cost_per_effective_hour

    def contracted(self, t: int) -> float:
        """Hours a month contracted for service type ``t``."""
        return sum(c.terms.hours for c in self.by_type[t])

    # -- the SupplyChain protocol
    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray,
                needs: np.ndarray) -> np.ndarray:
        """Refer each type's hours to sub-primes in order of value, up to their contracted hours.

        What is left is delivered in-house. Each person's dose uses, for each
        type, the hours-weighted effectiveness of whoever delivered it.
        """
        prime = self.prime
        spec = prime.spec
        market = self.market
        on_need = hours * needs
        # einsum: several times faster than .sum(axis=0) / matmul on tall (people x 7) arrays
        by_type = np.einsum("ij->j", hours, dtype=np.float64)
        matched = np.einsum("ij->j", on_need, dtype=np.float64)
        self.demand = by_type
        self.matched = np.divide(matched, by_type, out=np.ones(_N_TYPES), where=by_type > 0)
        self._rows = rows
        if self._band_shares is None:
            bands = np.bincount(market.model.store.pay_band[rows], minlength=4)
            self._band_shares = bands / rows.size
        effectiveness = np.full(_N_TYPES, spec.effectiveness)
        inhouse = by_type.copy()
        cost = 0.0
        shared: list[tuple[Subcontract, float]] = []
        for t in range(_N_TYPES):
            if by_type[t] <= 0 or not self.by_type[t]:
                continue
            left = by_type[t]
            effective = 0.0
            for c in self.by_type[t]:
                h = min(c.terms.hours, left)
                if h <= 0:
                    break
                c.referred += h
                c.subprime.deliver(month, h, c.terms.expected_share_per_hour)
                market.accrue_fee(month + c.terms.payment_lag_months, c, h * c.terms.fee_per_hour)
                effective += h * c.subprime.effectiveness
                # the cash cost of the hour: the outcome share passed down is weighed separately,
                # as the share of outcome payments the prime does not keep (retained_outcome_share)
                cost += h * c.terms.fee_per_hour
                if c.terms.outcome_share > 0:
                    shared.append((c, h / by_type[t]))
                left -= h
            inhouse[t] = max(left, 0.0)
            effectiveness[t] = (effective + inhouse[t] * spec.effectiveness) / by_type[t]
        market.record_hours(prime.index, by_type - inhouse, inhouse)
        inhouse_cost = float(inhouse.sum()) * spec.unit_cost_per_hour
        prime.spend(month, Party.FRONT_LINE, Kind.DELIVERY_COST, inhouse_cost)
        total = float(by_type.sum())
        self._last_cost = (cost + inhouse_cost) / total if total > 0 else spec.unit_cost_per_hour
        if shared:
            self._attribute(rows, on_need, shared, float(matched @ effectiveness))
        else:
            self._last_retained = 1.0
        return np.einsum("ij,j->i", on_need, effectiveness.astype(np.float32))

    def _attribute(self, rows: np.ndarray, on_need: np.ndarray,
                   shared: list[tuple[Subcontract, float]], total_dose: float) -> None:
        """Add each sharing sub-prime's effective hours to its claim on every cohort it served."""
        model = self.market.model
        areas = len(model.prime_of_area)
        # store rows run by referral month, then area: each cohort is one run of rows
        key = model.store.referral_month[rows].astype(np.int64) * areas + model.store.area[rows]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
        per_cohort = np.add.reduceat(on_need, starts, axis=0, dtype=np.float64)
        cohort = key[starts] - areas
        passed = 0.0
        for c, fraction in shared:
            claim = (c.terms.outcome_share * fraction * c.subprime.effectiveness
                     * per_cohort[:, c.service_type])
            np.add.at(c.subprime.claims, cohort, claim)
            passed += float(claim.sum())
        self._last_retained = 1.0 - passed / total_dose if total_dose > 0 else 1.0

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """Pass each sub-prime its share of the payment its effective hours earned for the cohort.

        The payment also teaches the prime what an effective hour earns.
        """
        model = self.market.model
        index = (cohort.month - 1) * len(model.prime_of_area) + cohort.area
        if self._cohort_dose[0] != index:
            dose = float(model.store.dose[cohort.start:cohort.stop].sum(dtype=np.float64))
            self._cohort_dose = (index, dose)
        total = self._cohort_dose[1]
        if index not in self._settled:
            self._settled.add(index)
            self.outcome_dose += total
            self.settled_referrals += cohort.size
        self.outcome_paid += amount
        if amount <= 0 or total <= 0:
            return
        for subprime in self.claimants:
            claim = subprime.claims[index]
            if claim > 0:
                share = amount * min(claim / total, 1.0)
                subprime.paid_by(self.prime, month, Kind.OUTCOME_SHARE, share)

    def cost_per_hour(self) -> float:
        """Return last month's cost of an hour: subcontract prices (with shares) and in-house."""
        return self._last_cost

    def retained_outcome_share(self) -> float:
        """Return the share of last month's effective hours whose outcome payments it keeps."""
        return self._last_retained

    # -- holding subcontracts
    def add(self, contract: Subcontract) -> None:
        """Hold a new subcontract, keeping each type's subcontracts in order of value."""
        bucket = self.by_type[contract.service_type]
        bucket.append(contract)
        bucket.sort(key=lambda c: (c.cost_per_effective_hour, c.subprime.name))
        if contract.terms.outcome_share > 0 and contract.subprime not in self.claimants:
            self.claimants.append(contract.subprime)

    def drop(self, contract: Subcontract) -> None:
        """Let a subcontract go."""
        self.by_type[contract.service_type].remove(contract)


# -- the market ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """One offer and the sub-prime's answer (for analysis and tests)."""

    month: int
    prime: str
    subprime: str
    sector: str
    service_type: str
    fee_per_hour: float
    outcome_share: float
    at_risk_share: float
    payment_lag_months: int
    margin: float
    alternatives: int
    power: float
    cash: float
    accepted: bool


class Market:
    """The pool of sub-primes shared by the primes: tenders, fees, exits and entry.

    Args:
        model: the model, with its primes already made.
        spec: the scenario's market.

    """

    def __init__(self, model: PbRModel, spec: MarketSpec) -> None:
        self.model = model
        self.spec = spec
        self.subprimes: list[SubPrime] = []
        self.chains: list[SubcontractedSupply] = []
        self.decisions: list[Decision] = []
        self.n_cohorts = model.referral_months * len(model.prime_of_area)
        # on average, service is half-way through the service period when it is given
        self.outcome_delay = model.measure_delay + model.service_months / 2.0
        self.bought = np.zeros((len(model.primes), _N_TYPES))
        self.inhouse = np.zeros((len(model.primes), _N_TYPES))
        self.exits = {"insolvency": 0, "losses": 0}
        self.entries = 0
        self.committed_hours = 0.0
        self.unreferred_hours = 0.0
        self.honoured_fees = 0.0
        self._fees_due: dict[int, list[tuple[Subcontract, float]]] = defaultdict(list)
        self._names: dict[str, int] = defaultdict(int)
        self._month = {"bought": 0.0, "inhouse": 0.0, "exits": 0, "entries": 0}
        for group in spec.subprimes:
            for i in range(group.count):
                t = SERVICE_TYPES.index(group.service_types[i % len(group.service_types)])
                self._create(group, t, entered=0)

    def _create(self, group: SubPrimeSpec, service_type: int, entered: int) -> SubPrime:
        """Make a member of ``group``: capacity, cost and reserves drawn around the group's."""
        s = group.spread
        z = self.model.rng.standard_normal(3)
        # mean-preserving log-normal draws, so the group's averages are as written
        capacity = group.capacity_hours_per_month * math.exp(s * z[0] - s * s / 2)
        unit_cost = group.unit_cost_per_hour * math.exp(s / 3 * z[1] - (s / 3) ** 2 / 2)
        reserves = group.reserves * math.exp(2 * s * z[2] - 2 * s * s)
        stem = group.name or (f"{group.sector.replace('_', ' ').capitalize()} "
                              f"{SERVICE_TYPES[service_type].replace('_', ' ')}")
        self._names[stem] += 1
        subprime = SubPrime(
            self.model, name=f"{stem} {self._names[stem]}", sector=group.sector,
            service_type=service_type, capacity=capacity, unit_cost=unit_cost,
            overhead=group.overhead_per_month, effectiveness=group.effectiveness,
            reserves=reserves, risk_tolerance=group.risk_tolerance, min_margin=group.min_margin,
            entered=entered, n_cohorts=self.n_cohorts,
        )
        self.subprimes.append(subprime)
        return subprime

    # -- money and hours
    def accrue_fee(self, due: int, contract: Subcontract, amount: float) -> None:
        """Owe a fee for delivered (or promised) hours, to be paid in month ``due``."""
        if amount > 0:
            self._fees_due[due].append((contract, amount))

    def record_hours(self, prime: int, bought: np.ndarray, inhouse: np.ndarray) -> None:
        """Count a prime's hours by type bought from sub-primes and delivered in-house."""
        self.bought[prime] += bought
        self.inhouse[prime] += inhouse
        self._month["bought"] += float(bought.sum())
        self._month["inhouse"] += float(inhouse.sum())

    def _pay_fees(self, month: int) -> None:
        """Pay the fees due; in the last month of the run, everything still owed."""
        last = month >= self.model.end_month
        for due in sorted(d for d in self._fees_due if d <= month or last):
            for contract, amount in self._fees_due.pop(due):
                contract.subprime.paid_by(contract.prime, month, Kind.SUBCONTRACT_FEE, amount)

    # -- the monthly round
    def end_of_month(self, month: int) -> None:
        """Close the month: overheads, promises, fees due, exits, re-letting, tenders, entry."""
        model = self.model
        self._month["exits"] = self._month["entries"] = 0
        for subprime in self.subprimes:
            subprime.close_month(month)
        self._count_commitments(month)
        self._pay_fees(month)
        for subprime in self.subprimes:
            reason = subprime.review(self.spec)
            if reason is not None:
                self._exit(subprime, month, reason)
        if month >= model.last_service_month:
            self._end_all()
        elif month < model.referral_months:
            # subcontracts are let while the prime's contract takes referrals; later it runs down
            if month % self.spec.renewal_months == 0:
                self._end_all()
            unmet = self._tender_round(month)
            self._entry(month, unmet)
        for chain in self.chains:
            chain.demand = np.zeros(_N_TYPES)

    def _count_commitments(self, month: int) -> None:
        """Hold promised hours against hours referred; pay any shortfall if promises are kept."""
        in_contract = month <= self.model.referral_months
        for chain in self.chains:
            for bucket in chain.by_type:
                for c in bucket:
                    if in_contract and c.terms.committed_hours > 0 and c.start < month:
                        short = max(c.terms.committed_hours - c.referred, 0.0)
                        self.committed_hours += c.terms.committed_hours
                        self.unreferred_hours += short
                        if chain.policy.honour_volume_commitment and short > 0:
                            fee = short * c.terms.fee_per_hour
                            self.honoured_fees += fee
                            self.accrue_fee(month + c.terms.payment_lag_months, c, fee)
                    c.referred = 0.0

    def _exit(self, subprime: SubPrime, month: int, reason: str) -> None:
        """Take a sub-prime out of the market: its subcontracts end, their work goes back."""
        subprime.active = False
        subprime.exit_month = month
        subprime.exit_reason = reason
        subprime.cash_at_exit = subprime.cash
        self.exits[reason] += 1
        self._month["exits"] += 1
        for c in list(subprime.contracts):
            self._end(c)
        logger.debug("month %d: %s leaves (%s, cash %.0f)", month, subprime.name, reason,
                     subprime.cash)

    def _end(self, contract: Subcontract) -> None:
        contract.subprime.contracts.remove(contract)
        contract.prime.supply.drop(contract)

    def _end_all(self) -> None:
        for chain in self.chains:
            for bucket in chain.by_type:
                for c in list(bucket):
                    self._end(c)

    # -- tendering
    def _wants(self, chain: SubcontractedSupply, t: int) -> float:
        """Hours a month of type ``t`` the prime delivers beyond what it has contracted."""
        demand = chain.demand[t]
        want = demand - chain.contracted(t)
        return want if want > _TENDER_THRESHOLD * demand and want > 0 else 0.0

    def _values(self) -> dict[int, float]:
        return {chain.prime.index: chain.outcome_value_per_effective_hour()
                if chain.policy.outcome_share_passed > 0 else 0.0 for chain in self.chains}

    def _tender_round(self, month: int) -> np.ndarray:
        """Let every prime, in a random order, tender for the hours it wants; return unmet hours."""
        order = self.model.rng.permutation(len(self.chains))
        values = self._values()
        wants = {(i, t): self._wants(chain, t)
                 for i, chain in enumerate(self.chains) for t in range(_N_TYPES)}
        unmet = np.zeros(_N_TYPES)
        for i in order:
            chain = self.chains[i]
            for t in range(_N_TYPES):
                if wants[i, t] <= 0:
                    continue
                # the other primes tendering for the same type are the sub-primes' alternatives
                rivals = [c for j, c in enumerate(self.chains) if j != i and wants[j, t] > 0]
                left = self._tender(chain, t, month, wants[i, t], values, rivals)
                if left > 0 and len(chain.by_type[t]) < chain.policy.max_subprimes_per_type:
                    unmet[t] += left
        return unmet

    def _answer(self, month: int, chain: SubcontractedSupply, subprime: SubPrime, terms: Terms,
                values: dict[int, float], rivals: list[SubcontractedSupply]) -> bool:
        """Return the sub-prime's answer to an offer, given its reserves and its alternatives."""
        spec = self.spec

        def takes(offer: Terms, power: float) -> bool:
            return acceptable(offer, full_cost_per_hour=subprime.full_cost_per_hour,
                              risk_tolerance=subprime.risk_tolerance,
                              min_margin=subprime.min_margin, power=power,
                              demanded_margin=spec.demanded_margin,
                              discount_rate=spec.discount_rate_per_month,
                              outcome_delay_months=self.outcome_delay)

        alternatives = sum(
            takes(r.offer(subprime, r.policy.fee_margin_over_cost, terms.hours,
                          values[r.prime.index]), 0.0)
            for r in rivals
        )
        power = bargaining_power(subprime.cash, subprime.monthly_cost, alternatives,
                                 spec.runway_half_months)
        accepted = takes(terms, power)
        self.decisions.append(Decision(
            month, chain.prime.name, subprime.name, subprime.sector,
            SERVICE_TYPES[subprime.service_type], terms.fee_per_hour, terms.outcome_share,
            terms.at_risk_share, terms.payment_lag_months, terms.margin, alternatives, power,
            subprime.cash, accepted,
        ))
        return accepted

    def _tender(self, chain: SubcontractedSupply, t: int, month: int, want: float,
                values: dict[int, float], rivals: list[SubcontractedSupply]) -> float:
        """Buy up to ``want`` hours a month of type ``t``; return the hours still wanted.

        First the prime asks the sub-primes it holds to take more (at the same
        margin); then, while it has room for another sub-prime, it offers its
        terms to every sub-prime of the type that would be better value than
        in-house, improving the margin step by step while all decline, and
        signs the best value of those who accept.
        """
        value = values[chain.prime.index]
        for c in list(chain.by_type[t]):
            extra = min(c.subprime.free_hours, want)
            if extra <= 0:
                continue
            terms = chain.offer(c.subprime, c.terms.margin, c.terms.hours + extra, value)
            if (chain.better_value(terms, c.subprime)
                    and self._answer(month, chain, c.subprime, terms, values, rivals)):
                self._end(c)
                self._sign(chain, c.subprime, terms, month)
                want -= extra
        policy = chain.policy
        margin = policy.fee_margin_over_cost
        while want > 0 and len(chain.by_type[t]) < policy.max_subprimes_per_type:
            held = [c.subprime for c in chain.by_type[t]]
            offers = []
            for subprime in self.subprimes:
                if subprime.active and subprime.service_type == t and subprime not in held:
                    hours = min(subprime.free_hours, want)
                    if hours > 0:
                        terms = chain.offer(subprime, margin, hours, value)
                        if chain.better_value(terms, subprime):
                            offers.append((subprime, terms))
            if not offers:
                break
            accepted = [(s, terms) for s, terms in offers
                        if self._answer(month, chain, s, terms, values, rivals)]
            if not accepted:
                margin += policy.fee_margin_step
                if margin > policy.max_fee_margin_over_cost + 1e-9:
                    break
                continue
            accepted.sort(key=lambda st: (st[1].price_per_hour / st[0].effectiveness, st[0].name))
            for subprime, terms in accepted:
                if want <= 0 or len(chain.by_type[t]) >= policy.max_subprimes_per_type:
                    break
                hours = min(subprime.free_hours, want)
                committed = policy.volume_commitment_share * hours
                self._sign(chain, subprime, replace(terms, hours=hours, committed_hours=committed),
                           month)
                want -= hours
        return max(want, 0.0)

    def _sign(self, chain: SubcontractedSupply, subprime: SubPrime, terms: Terms,
              month: int) -> None:
        contract = Subcontract(chain.prime, subprime, subprime.service_type, terms, month)
        subprime.contracts.append(contract)
        chain.add(contract)

    # -- entry
    def _entry(self, month: int, unmet: np.ndarray) -> None:
        """Where primes want to subcontract a type and nobody will take it, let an entrant try."""
        entry = self.spec.entry
        groups = {g.sector: g for g in reversed(self.spec.subprimes)}  # first group of a sector
        sectors = [s for s in SECTORS if entry.sector_mix.get(s, 0.0) > 0 and s in groups]
        if not sectors or entry.probability_per_month <= 0:
            return
        weights = np.array([entry.sector_mix[s] for s in sectors])
        rng = self.model.rng
        for t in (int(t) for t in np.flatnonzero(unmet > 0)):
            if rng.random() >= entry.probability_per_month:
                continue
            sector = sectors[int(rng.choice(len(sectors), p=weights / weights.sum()))]
            candidate = self._create(groups[sector], t, entered=month)
            values = self._values()
            wanting = [c for c in self.chains if self._wants(c, t) > 0
                       and len(c.by_type[t]) < c.policy.max_subprimes_per_type]
            if not any(self._viable(c, candidate, values[c.prime.index]) for c in wanting):
                # the opportunity does not suit this would-be entrant: it stays out
                self.subprimes.remove(candidate)
                candidate.remove()
                continue
            self.entries += 1
            self._month["entries"] += 1
            logger.debug("month %d: %s enters", month, candidate.name)
            for chain in wanting:
                rivals = [c for c in wanting if c is not chain]
                self._tender(chain, t, month, self._wants(chain, t), values, rivals)

    def _viable(self, chain: SubcontractedSupply, candidate: SubPrime, value: float) -> bool:
        """Return whether the best terms this prime would go to suit a would-be entrant."""
        policy = chain.policy
        margin = policy.max_fee_margin_over_cost
        terms = chain.offer(candidate, margin, candidate.capacity, value)
        while not chain.better_value(terms, candidate) and margin > policy.fee_margin_over_cost:
            margin = max(margin - policy.fee_margin_step, policy.fee_margin_over_cost)
            terms = chain.offer(candidate, margin, candidate.capacity, value)
        if not chain.better_value(terms, candidate):
            return False
        power = bargaining_power(candidate.cash, candidate.monthly_cost, 0,
                                 self.spec.runway_half_months)
        return acceptable(terms, full_cost_per_hour=candidate.full_cost_per_hour,
                          risk_tolerance=candidate.risk_tolerance,
                          min_margin=candidate.min_margin, power=power,
                          demanded_margin=self.spec.demanded_margin,
                          discount_rate=self.spec.discount_rate_per_month,
                          outcome_delay_months=self.outcome_delay)

    # -- measures
    def monthly_row(self) -> dict[str, float]:
        """Return the month's market health: sub-primes by sector, exits, entries, cash, hours."""
        active = [s for s in self.subprimes if s.active]
        row: dict[str, float] = {"active_subprimes": float(len(active))}
        for sector in SECTORS:
            row[f"active_subprimes_{sector}"] = float(sum(s.sector == sector for s in active))
        row["contracted_subprimes"] = float(sum(bool(s.contracts) for s in active))
        row["subprime_exits"] = float(self._month["exits"])
        row["subprime_entries"] = float(self._month["entries"])
        row["subprime_cash_total"] = float(sum(s.cash for s in active))
        hours = self._month["bought"] + self._month["inhouse"]
        row["subcontracted_hours_share"] = self._month["bought"] / hours if hours > 0 else 0.0
        self._month["bought"] = self._month["inhouse"] = 0.0
        return row

    def metrics(self) -> dict[str, float | None]:
        """Return the run's measures of risk transfer and market health.

        ``risk_transfer_ratio`` is the sub-primes' share of all outcome
        payments (their outcome-share income over what the commissioner paid
        on outcomes) divided by their share of all money (their income over
        the commissioner's outlay): above 1, they carry more of the risk than
        of the money. ``subprime_losses`` adds up the losses of sub-primes whose
        income fell short of their costs; ``subprime_deficit_at_exit`` the cash
        shortfall of those that left insolvent. ``bid_candy_share`` is the share
        of promised hours never referred. Sector shares are of sub-prime income.
        """
        ledger = self.model.ledger
        outlay = ledger.total(payer=Party.COMMISSIONER)
        outcomes = ledger.total(Kind.OUTCOME_BINARY) + ledger.total(Kind.OUTCOME_FREQUENCY)
        subs = self.subprimes
        income = sum(s.income for s in subs)
        at_risk = sum(s.at_risk_income for s in subs)
        share_of_risk, share_of_money = _ratio(at_risk, outcomes), _ratio(income, outlay)
        prime_margin = sum(p.cash - p.spec.capital for p in self.model.primes)
        losses = sum(max(s.costs - s.income, 0.0) for s in subs)
        bought = float(self.bought.sum())
        exits = [s.exit_month for s in subs if s.exit_month is not None]
        m: dict[str, float | None] = {
            "risk_transfer_ratio": (_ratio(share_of_risk, share_of_money)
                                    if share_of_risk is not None and share_of_money else None),
            "subprime_income": income,
            "subprime_at_risk_income": at_risk,
            "subprime_at_risk_share": _ratio(at_risk, income),
            "subprime_at_risk_realised": _ratio(at_risk, sum(s.expected_at_risk for s in subs)),
            "subprime_delivery_cost": sum(s.delivery_cost for s in subs),
            "subprime_overhead": sum(s.costs - s.delivery_cost for s in subs),
            "subprime_losses": losses,
            "subprime_losses_to_prime_margin": _ratio(losses, prime_margin),
            "subprime_deficit_at_exit": float(sum(max(-(s.cash_at_exit or 0.0), 0.0)
                                                  for s in subs)),
            "subprime_exits": float(sum(self.exits.values())),
            "subprime_insolvencies": float(self.exits["insolvency"]),
            "subprime_exits_losses": float(self.exits["losses"]),
            "subprime_first_exit_month": float(min(exits)) if exits else None,
            "subprime_entries": float(self.entries),
            "subprimes_ever": float(len(subs)),
            "active_subprimes_end": float(sum(s.active for s in subs)),
            "subprime_min_cash": min((s.min_cash for s in subs), default=None),
            "subcontracted_hours_share": _ratio(bought, bought + float(self.inhouse.sum())),
            "bid_candy_share": _ratio(self.unreferred_hours, self.committed_hours),
            "subprime_income_hhi": (float(sum((s.income / income) ** 2 for s in subs))
                                    if income > 0 else None),
        }
        for sector in SECTORS:
            m[f"sector_share_{sector}"] = _ratio(sum(s.income for s in subs if s.sector == sector),
                                                 income)
        return m

    def decisions_frame(self) -> pd.DataFrame:
        """Return every offer made and its answer, as a table."""
        return pd.DataFrame([asdict(d) for d in self.decisions])


def _ratio(num: float, den: float) -> float | None:
    """Return num / den, or None where undefined (reported as null, never inf)."""
    if den <= 0 or not math.isfinite(den):
        return None
    return float(num / den)


def build_market(model: PbRModel) -> Market | None:
    """Make the scenario's market of sub-primes and set each prime's supply chain.

    Returns None when the scenario names no market: every prime keeps its
    :class:`InHouse` supply chain. So does a prime whose policy holds no
    sub-primes (``max_subprimes_per_type: 0``).
    """
    spec = model.design.market
    if spec is None:
        return None
    market = Market(model, spec)
    for prime in model.primes:
        if (prime.spec.subcontracting or spec.policy).max_subprimes_per_type > 0:
            chain = SubcontractedSupply(prime, market)
            prime.supply = chain
            market.chains.append(chain)
    return market
