"""Subcontracting: the terms a prime offers, a sub-prime's answer, the sub-primes, and a prime's chain.

The pure functions (:class:`Terms`, :func:`bargaining_power`,
:func:`acceptable`) are the bargain; :class:`SubPrime` is a sub-contractor
with its own cash; :class:`SubcontractedSupply` is one prime's supply chain:
it sends each service type's hours to its sub-primes in order of value, pays
their fees late and passes outcome shares down. The market that lets the
subcontracts is :mod:`pbrsim.sim.supply_chain` (see its docstring for the
whole process).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np
from pbrsim.sim import payments
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.payments import fees, withheld
from pbrsim.sim.stewardship import merlin_outcome_share, merlin_policy
from pbrsim.sim.vocabulary import SERVICE_TYPES

if TYPE_CHECKING:
    from pbrsim.sim.agents import Cohort, Prime
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.scenario_supply import MarketSpec, SubcontractPolicy
    from pbrsim.sim.supply_chain import Market

__all__ = [
    "SubPrime",
    "Subcontract",
    "SubcontractedSupply",
    "Terms",
    "acceptable",
    "bargaining_power",
    "expected_outcome_per_referral",
    "BOOK",
    "need_codes",
]

logger = logging.getLogger(__name__)

_PRIOR_COHORTS = 6.0
#: A type's unmet hours below this share of the prime's hours of it are not worth a tender.
_TENDER_THRESHOLD = 0.02
_N_TYPES = len(SERVICE_TYPES)
#: a person's assessed needs as one number (bit t: a need of service type t), and each code's bits
_N_CODES = 1 << _N_TYPES
_POWERS = (1 << np.arange(_N_TYPES)).astype(np.uint8)
_BITS = ((np.arange(_N_CODES)[:, None] >> np.arange(_N_TYPES)) & 1).astype(np.float64)
_SHIFTS = np.arange(_N_TYPES, dtype=np.uint8)[:, None]
#: the columns of a sub-prime's book (its row of the market's books)
BOOK = ("cash", "income", "month_net", "at_risk_income")


def need_codes(needs: np.ndarray) -> np.ndarray:
    """Return each person's assessed needs (people x types, bool) as one code: bit t for type t."""
    return needs.view(np.uint8) @ _POWERS


def _dose(per_type: np.ndarray, codes: np.ndarray, effectiveness: np.ndarray) -> np.ndarray:
    """Each person's dose: their hours on each assessed need times its type's effectiveness, summed.

    ``per_type`` is each person's hours of each type they get (float32), ``effectiveness`` the
    deliverers' (float32) by type. The same float32 products, added in the same order, as the
    (people x types) product ``np.einsum("ij,j->i", hours_on_need, effectiveness)`` this
    replaces (its four-lane sum: types 0+4, 1+5, 2+6 and 3, then pairwise), on a (types x
    people) array whose rows are contiguous; a type that is not a need of the person adds an
    exact zero.
    """
    terms = ((codes >> _SHIFTS) & np.uint8(1)).astype(np.float32)
    terms *= effectiveness[:, None]
    terms *= per_type
    np.add(terms[:3], terms[4:], out=terms[:3])
    np.add(terms[0], terms[1], out=terms[0])
    np.add(terms[2], terms[3], out=terms[2])
    return terms[0] + terms[2]


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
    size = max(model.design.cohort.referrals_per_year / 12.0 / model.areas.count, 1.0)
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
        claims: by cohort, its share-weighted effective hours (what outcome shares are paid on):
            its row ``claim_row`` of the market's matrix of claims (sub-primes x cohorts).
        book: its cash, income, month's net and at-risk income (:data:`BOOK`), row ``claim_row``
            of the market's books, so that a prime pays many sub-primes their shares at once.
        active: False once it has left the market.

    """

    def __init__(self, model: PbRModel, *, name: str, sector: str, service_type: int,
                 capacity: float, unit_cost: float, overhead: float, effectiveness: float,
                 reserves: float, risk_tolerance: float, min_margin: float, entered: int,
                 claims: np.ndarray, claim_row: int, book: np.ndarray) -> None:
        super().__init__(model)
        self.book = book
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
        self.claims = claims
        self.claim_row = claim_row
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
    def cash(self) -> float:
        """Cash in hand."""
        return self.book[0]

    @cash.setter
    def cash(self, value: float) -> None:
        self.book[0] = value

    @property
    def income(self) -> float:
        """Everything primes have paid it."""
        return self.book[1]

    @income.setter
    def income(self, value: float) -> None:
        self.book[1] = value

    @property
    def month_net(self) -> float:
        """The month's income less its costs so far."""
        return self.book[2]

    @month_net.setter
    def month_net(self, value: float) -> None:
        self.book[2] = value

    @property
    def at_risk_income(self) -> float:
        """Outcome shares paid to it."""
        return self.book[3]

    @at_risk_income.setter
    def at_risk_income(self, value: float) -> None:
        self.book[3] = value

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

    def pay(self, month: int, payee: str, kind: Kind, amount: float) -> None:
        """Pay a cost out of cash."""
        if amount <= 0:
            return
        self.model.ledger.record(month, self.name, payee, kind, amount)
        book = self.book
        book[0] -= amount  # cash
        self.costs += amount
        book[2] -= amount  # the month's net
        self.min_cash = min(self.min_cash, book[0])

    def paid_by(self, prime: Prime, month: int, kind: Kind, amount: float) -> None:
        """Be paid by a prime (the prime's cash and the ledger move with it)."""
        if amount <= 0:
            return
        prime.spend(month, self.name, kind, amount)
        book = self.book
        book[0] += amount  # cash
        book[1] += amount  # income
        book[2] += amount  # the month's net
        if kind == Kind.OUTCOME_SHARE:
            book[3] += amount

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
        # the claimants' rows in the market's claims matrix and their party codes in the ledger
        self._claim_rows = np.zeros(0, dtype=np.intp)
        self._codes = np.zeros(0, dtype=np.intp)
        self.outcome_paid = 0.0
        self.outcome_dose = 0.0
        self._settled: set[int] = set()
        self._cohort_dose: tuple[int, float] = (-1, 0.0)
        self._rows = np.zeros(0, dtype=np.intp)
        # the caseload's cohorts (people, referral month), and a month's dose per referral and prior
        self._runs = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))
        self._prior: tuple[int, float, float] = (-1, 0.0, 0.0)
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
        if self._prior[0] != model.steps:
            # once a month (the caseload and its dose change only with delivery): dose per
            # referral over the service period, from the current caseload's dose so far; its
            # person-months in service from its cohorts' sizes and referral months
            sizes, months = self._runs
            served = float((sizes * (model.steps - months + 1)).sum())
            per_referral = (float(model.store.dose[rows].sum(dtype=np.float64)) / served
                            * model.service_months)
            prior = (expected_outcome_per_referral(model, self.policy.expected_reduction,
                                                   self._band_shares) / per_referral
                     if per_referral > 0 else 0.0)
            self._prior = (model.steps, per_referral, prior)
        _, per_referral, prior = self._prior
        if per_referral <= 0:
            return observed
        size = model.design.cohort.referrals_per_year / 12.0 / model.areas.count
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
        size = max(model.design.cohort.referrals_per_year / 12.0 / model.areas.count, 1.0)
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
    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray, n_needs: np.ndarray) -> np.ndarray:
        """Refer each type's hours to sub-primes in order of value, up to their contracted hours.

        What is left is delivered in-house. Each person's dose uses, for each
        type, the hours-weighted effectiveness of whoever delivered it.
        """
        prime = self.prime
        spec = prime.spec
        market = self.market
        codes = market.need_codes(rows)
        # each person's hours of each type they get: spread evenly over their needs, or over every
        # type if they have none (float32, as the hours are)
        spread = n_needs.astype(np.float32)
        spread[n_needs == 0] = _N_TYPES
        per_type = (hours / spread).astype(np.float32, copy=False)
        # hours by cohort and need code (one float64 bincount; code 0: no assessed need, spread over
        # every type and on none); by type through the codes' bits: a (codes x types) product, not a
        # (people x types) one
        at, columns = market.cohort_runs(rows)
        run = np.repeat(np.arange(at.size), np.diff(at, append=rows.size))
        by_cohort = np.bincount(run * _N_CODES + codes, weights=per_type,
                                minlength=at.size * _N_CODES).reshape(at.size, _N_CODES)
        by_code = by_cohort.sum(axis=0)
        matched = by_code @ _BITS
        by_type = matched + by_code[0]
        self.demand = by_type
        self.matched = np.divide(matched, by_type, out=np.ones(_N_TYPES), where=by_type > 0)
        self._rows = rows
        self._runs = (np.diff(at, append=rows.size), columns // market.model.areas.count + 1)
        self._prior = (-1, 0.0, 0.0)
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
            self._attribute(by_cohort @ _BITS, columns, shared, float(matched @ effectiveness))
        else:
            self._last_retained = 1.0
        return _dose(per_type, codes, effectiveness.astype(np.float32))

    def _attribute(self, per_cohort: np.ndarray, cohort: np.ndarray,
                   shared: list[tuple[Subcontract, float]], total_dose: float) -> None:
        """Add each sharing sub-prime's effective hours to its claim on every cohort it served.

        ``per_cohort`` holds the hours on need by type (cohorts x types) of the cohorts served,
        whose columns of the claims matrix are ``cohort``.
        """
        # each sharing contract's claims on these cohorts, a row each: (share x fraction x effectiveness)
        # x the cohort's hours on need of its type, added to the sub-primes' rows of the claims matrix
        # in contract order (add.at: a sub-prime or cohort met twice is added to twice, in order)
        factor = np.array([c.terms.outcome_share * fraction * c.subprime.effectiveness
                           for c, fraction in shared])
        types = np.fromiter((c.service_type for c, _ in shared), dtype=np.intp, count=len(shared))
        owners = np.fromiter((c.subprime.claim_row for c, _ in shared), dtype=np.intp, count=len(shared))
        claim = np.multiply(factor[:, None], per_cohort.T[types], order="C")
        np.add.at(self.market.claims, (owners[:, None], cohort), claim)
        passed = 0.0
        for row in claim:
            passed += float(row.sum())
        self._last_retained = 1.0 - passed / total_dose if total_dose > 0 else 1.0

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """Pass each sub-prime its share of the payment its effective hours earned for the cohort.

        The payment also teaches the prime what an effective hour earns.
        """
        model = self.market.model
        index = (cohort.month - 1) * model.areas.count + cohort.area
        if self._cohort_dose[0] != index:
            dose = float(model.store.dose[cohort.start:cohort.stop].sum(dtype=np.float64))
            self._cohort_dose = (index, dose)
        total = self._cohort_dose[1]
        if index not in self._settled:
            self._settled.add(index)
            self.outcome_dose += total
            self.settled_referrals += cohort.size
        self.outcome_paid += amount
        if amount <= 0 or total <= 0 or not self.claimants:
            return
        # every claimant's share at once, each as amount * min(claim / total, 1): one vector payment
        claims = self.market.claims[self._claim_rows, index]
        shares = amount * np.minimum(claims / total, 1.0)
        paid = np.flatnonzero((claims > 0) & (shares > 0))
        if paid.size == 0:
            return
        shares = shares[paid]
        self.prime.spend_many(month, self._codes[paid], Kind.OUTCOME_SHARE, shares)
        # the sub-primes' side of paid_by() for each (claimants are distinct): cash, income, the
        # month's net and at-risk income, each up by its share
        self.market.books[self._claim_rows[paid]] += shares[:, None]

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
            self._claim_rows = np.append(self._claim_rows, contract.subprime.claim_row)
            self._codes = np.append(self._codes, self.market.model.ledger.party(contract.subprime.name))

    def drop(self, contract: Subcontract) -> None:
        """Let a subcontract go."""
        self.by_type[contract.service_type].remove(contract)
