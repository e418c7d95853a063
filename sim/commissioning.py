"""Commissioning over time: competitions, awards, performance management, failure and re-letting.

Without a ``competition`` in the scenario, areas are directly awarded to the
primes in list order (the first prime holds its ``areas`` first) and keep
them for the whole run, at the contract's own prices: the model as it was
before commissioning was modelled.

With a ``competition`` (:class:`~sim.scenario_commissioning.CompetitionSpec`),
every contract area is a lot, let by competition at the start, at the end of
each contract (``contract.term_months``), at a break point a holder walks
away from, and after a failure or termination:

* Bids. The commissioner opens a data room: the planned referrals a month
  per area (``cohort.referrals_per_year``; at a re-competition, the last
  twelve months' actual referrals) and a sample of past referrals. Each
  eligible prime projects the contract month by month over its life
  (:func:`project`: mobilisation from an empty caseload, or the caseload it
  would take over; the run-off if it is the last contract) from its own cost
  structure (overhead, unit cost, the hours it offers: its
  ``hours_per_month`` or the contract's floor if higher) and its own beliefs:
  the fall in reoffending its ``prior_effect`` implies for the sample, priced
  by the contract's own payment rules. Its bid is a *price factor*: the
  share of every list fee and outcome price it asks to be paid, covering its
  projected cost plus its ``bid_margin``. An ``optimism_bias`` makes it
  believe volumes and its effect are that much bigger than they are, so it
  spreads its overhead thinner, expects more outcome income, and underbids.
  It bids only if its capital covers the funding it believes the contract
  needs. Its bid promises the hours it offers and the fall it expects.
* Evaluation (:func:`evaluate`). ``lowest_tender``: the lowest price factor
  wins. ``meat``: ``price_weight`` x (lowest price / price) +
  ``quality_weight`` x quality, where quality is deliverability x the mean of
  the service offered (effective hours against the best bid's) and financial
  standing (capital against the funding the bid needs, for every area the
  bidder would hold). Deliverability is the commissioner's abnormally-low-
  tender test (Public Contracts Regulations 2015, regulation 69): the bid's
  income at the *planned* volume and the commissioner's own assumed reduction
  against the bidder's declared cost of the specification. Promises are not
  scored: anyone can promise; the contract monitors them.
* Award. The winner holds the area. Its price factor scales the contract's
  terms in that area (:func:`sim.payments.scaled_payment`), so the payment
  rules stay pure functions of (terms, outcomes); its adaptive strategy
  weighs outcomes at its own prices.
* Performance (``contract.performance``). Every ``review_months`` each
  competitively let area is compared with its bid: the hours a month per
  engaged person its holder delivered, against the hours promised; the fall
  in proven reoffending measured on the area's cohorts referred under the
  holder (once a review period's worth has been measured), against the fall
  promised. A shortfall beyond the tolerance earns a rectification notice;
  still short at a review ``rectification_months`` on, the contract is
  terminated, and the holder may not bid for that area again.
* Break clauses (``contract.break_clause_months``). At each break point the
  commissioner ends a contract under a rectification notice (a
  termination), and a holder whose worth fell over the last year walks away
  (a break) and may not bid for the area again. The area is re-let at once:
  a break is planned, so nobody needs to step in.
* Failure. A prime whose losses exceed its capital (cash, plus fees accrued
  to the next invoice, plus fees withheld in the pots of its areas' cohorts
  still to be measured, below zero) hands every contract back and never
  bids again. The area goes to the public interim provider (the provider of
  last resort: fewer hours, less effect an hour) until a new contract is let
  ``procurement_months`` later.
* The contract passes whole to each new holder (a novation): the caseload in
  service, its fees, and the outcome payments of cohorts measured while it
  holds the area, at its own prices. Every area always has a provider.

Every competition for an area costs the commissioner ``procurement_cost``
(ledger: ``commissioner -> procurement``). Referral volumes can depart from
the plan through ``cohort.volume_shocks`` (:func:`volume_factor`); bids priced
on the plan then meet different volumes.

Bid noise draws from a stream of its own, spawned from the run's root seed,
so competitions do not shift the random numbers of a scenario's supply chain
or its offenders: two evaluation rules run on the same seed see the same
people, the same random numbers for their outcomes and the same first bids.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
from mesa.time import Schedule
from pbrsim.sim.agents import Prime
from pbrsim.sim.bidding import (
    Bid,
    DataRoom,
    Life,
    Projection,
    believed_reduction,
    evaluate,
    open_data_room,
    outcome_per_referral,
    project,
)
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.lots import ContractEvent, Lot
from pbrsim.sim.mechanisms import Mechanism, MechanismType
from pbrsim.sim.payments import (
    REOFFENCES_PER_REOFFENDER,
    scaled_payment,
)
from pbrsim.sim.population import volume_factor
from pbrsim.sim.scenario import PaymentSpec, PrimeSpec, Strategy
from pbrsim.sim.scenario_commissioning import CompetitionSpec, PerformanceSpec
from pbrsim.sim.scenario_supply import SubcontractPolicy
from pbrsim.sim.strategies import block_grant_per_referral

if TYPE_CHECKING:
    from pbrsim.sim.model import PbRModel

__all__ = [
    "REOFFENCES_PER_REOFFENDER",
    "Bid",
    "Commissioning",
    "ContractEvent",
    "DataRoom",
    "Life",
    "Lot",
    "Projection",
    "believed_reduction",
    "commissioning_metrics",
    "evaluate",
    "open_data_room",
    "outcome_per_referral",
    "project",
    "volume_factor",
]

logger = logging.getLogger(__name__)

#: Spawn key of the commissioning stream: a child of the root seed the model's own five never use.
_STREAM_KEY = 101
#: Months of history a re-competition's data room and a holder's view of its losses look back.
_YEAR = 12



# -- the lots and the commissioner's commissioning ----------------------------------------------


class Commissioning(Mechanism):
    """Who holds each area, on what terms; the competitions, reviews and failures that change it.

    Made by the model before the commissioner and the market: it makes the
    primes (and, with a competition, the interim provider) and lets every
    area, filling ``model.primes`` and ``model.areas`` (sim/areas.py).

    Args:
        model: the model, with its ledger, an empty ``primes`` and its ``areas`` not yet let.

    """

    def __init__(self, model: PbRModel) -> None:
        self.model = model
        scenario = model.design
        self.spec: CompetitionSpec | None = scenario.competition
        self.base: PaymentSpec = scenario.contract.payment
        n_areas = scenario.areas
        self.bidders: list[Prime] = []
        for spec in scenario.primes:
            prime = Prime(model, spec, len(model.primes))
            model.primes.append(prime)
            self.bidders.append(prime)
        self.interim: Prime | None = None
        self.lots: list[Lot] = []
        self.awards: list[Bid] = []
        self.history: list[ContractEvent] = []
        self.failed: list[str] = []
        self.competitions = 0
        self.handbacks = 0
        self.terminations = 0
        self.notices = 0
        self.breaks = 0
        self.procurement_costs = 0.0
        self.interim_months = 0
        self._month = {"competitions": 0, "prime_handbacks": 0, "terminations": 0,
                       "rectification_notices": 0, "contract_breaks": 0}
        self._next_settled = 0
        self._service_seen: dict[str, tuple[float, float]] = {}
        self._worth: dict[str, list[float]] = {p.name: [] for p in self.bidders}
        self._reductions: dict[str, float] = {}
        if self.spec is None:
            self._direct_award()
            model.areas.record()
            return
        stream = np.random.SeedSequence(model.seed, spawn_key=(_STREAM_KEY,))
        self.rng = np.random.default_rng(stream)
        self.interim = Prime(model, self._interim_spec(), len(model.primes))
        model.primes.append(self.interim)
        for area in range(n_areas):
            model.areas.assign(area, self.interim)
        planned = scenario.cohort.referrals_per_year / 12.0 / n_areas
        self.room = open_data_room(self.rng, model.profile, self.spec.data_room_size, planned)
        self.lots = [Lot(self, area, interim=True) for area in range(n_areas)]
        for lot in self.lots:
            self.compete(lot, 0)
        model.areas.record()
        model.schedule_recurring(self.review, Schedule(interval=1, start=1, end=model.end_month))

    # -- set-up
    def _direct_award(self) -> None:
        """Give areas to the primes in list order, each its ``areas``, at the contract's prices."""
        model = self.model
        area = 0
        for prime in self.bidders:
            for _ in range(prime.spec.areas):
                model.areas.assign(area, prime)
                self.lots.append(Lot(self, area))
                area += 1

    def _interim_spec(self) -> PrimeSpec:
        interim = self.spec.interim
        return PrimeSpec(
            name=interim.name, strategy=Strategy.UNIFORM, hours_per_month=interim.hours_per_month,
            unit_cost_per_hour=interim.unit_cost_per_hour,
            overhead_per_month=interim.overhead_per_month, capital=interim.capital,
            effectiveness=interim.effectiveness,
            # a public service stood up in a hurry delivers in-house
            subcontracting=SubcontractPolicy(max_subprimes_per_type=0),
        )

    # -- competitions
    def _room(self, month: int) -> DataRoom:
        """Return the data room: the plan at first; later, the last year's referrals per area."""
        model = self.model
        if month < 1:
            return self.room
        first = max(1, month - _YEAR + 1)
        referred = model.month_start[month + 1] - model.month_start[first]
        return self.room.at_volume(referred / (month - first + 1) / model.areas.count)

    def _eligible(self, lot: Lot, month: int) -> list[Prime]:
        cap = self.spec.max_areas_per_prime
        return [
            p for p in self.bidders
            if p.name not in self.failed and p.name not in lot.barred
            and p.spec.bids_from_month <= month
            and (cap is None or sum(a != lot.area for a in p.areas) < cap)
        ]

    def _life(self, month: int) -> Life:
        """Return the months of a contract awarded now: to its term's end, or the run's."""
        model = self.model
        term = model.design.contract.term_months
        history = min(month, model.referral_months)
        if term is not None and month + term < model.referral_months:
            return Life(history, term, term, term)
        # the last contract: referrals to the end, then the run-off of service and measurement
        return Life(history, model.referral_months - month, model.last_service_month - month,
                    model.end_month - month)

    def _bid(self, prime: Prime, lot: Lot, month: int, room: DataRoom) -> Bid | None:
        """Return the prime's scored tender for the lot, or None if it cannot fund the contract.

        The prime projects the contract at the volume and effect it believes
        in; it bids only if its capital covers the funding it believes the
        areas it would hold need. The commissioner projects the same bid at
        the planned volume and its own assumed reduction.
        """
        spec, competition = prime.spec, self.spec
        model = self.model
        contract = model.design.contract
        hours = max(contract.service.min_hours_per_month, spec.hours_per_month)
        if spec.name not in self._reductions:
            self._reductions[spec.name] = believed_reduction(
                spec.prior_effect, hours, room, contract.measure.follow_up_months,
                contract.service.months)
        optimism = 1.0 + spec.optimism_bias
        reduction = min(self._reductions[spec.name] * optimism, 0.95)
        life = self._life(month)
        # volume bands are priced against the contract's plan, whatever the data room shows
        planned = model.design.cohort.referrals_per_year / 12.0 / len(self.lots)
        believed = project(spec, hours, contract, room, room.volume * optimism, reduction, life,
                           model.measure_delay, planned)
        sigma = competition.bid_noise
        noise = math.exp(sigma * float(self.rng.standard_normal()) - sigma * sigma / 2.0)
        factor = believed.price_factor(spec.bid_margin) * noise
        held = sum(a != lot.area for a in prime.areas) + 1
        if believed.funding_need(factor) * held > spec.capital:
            return None
        # the commissioner's view: the bidder's declared costs at the planned volume
        declared = project(spec, hours, contract, room, room.volume, competition.assumed_reduction,
                           life, model.measure_delay, planned)
        cost, income = float(declared.cost.sum()), float(declared.income.sum())
        if cost > 0 and income > 0:
            shortfall = max(1.0 - factor * income / cost, 0.0)
            deliverability = float(np.clip(1.0 - shortfall / competition.abnormally_low, 0.0, 1.0))
        else:
            deliverability = 1.0
        cover = competition.standing_cover * declared.funding_need(factor) * held
        standing = min(1.0, max(spec.capital, 0.0) / cover) if cover > 0 else 1.0
        return Bid(spec.name, lot.area, month, factor, hours, reduction,
                   float(believed.cost.mean()) if believed.cost.size else 0.0,
                   deliverability, standing, hours * spec.effectiveness)

    def compete(self, lot: Lot, month: int) -> None:
        """Run a competition for the lot and award it (to the interim provider if nobody wins)."""
        model, competition = self.model, self.spec
        cost = competition.procurement_cost
        model.ledger.record(month, Party.COMMISSIONER, Party.PROCUREMENT, Kind.PROCUREMENT, cost)
        self.procurement_costs += cost
        self.competitions += 1
        self._month["competitions"] += 1
        room = self._room(month)
        cap = competition.max_price_factor
        bids = [self._bid(p, lot, month, room) for p in self._eligible(lot, month)]
        bids = [b for b in bids if b is not None and (cap is None or b.price_factor <= cap)]
        ranked = evaluate(bids, competition)
        if not ranked:
            logger.debug("month %d: no acceptable bid for area %d", month, lot.area)
            self.history.append(ContractEvent(month, lot.area, "no_bid", lot.holder.name))
            self._to_interim(lot, month)
            return
        winner = ranked[0]
        self.awards.append(winner)
        self.history.append(ContractEvent(month, lot.area, "award", winner.bidder))
        self._award(lot, next(p for p in self.bidders if p.name == winner.bidder), winner, month)
        logger.debug("month %d: area %d to %s at %.3f", month, lot.area, winner.bidder,
                     winner.price_factor)

    def _award(self, lot: Lot, holder: Prime, bid: Bid | None, month: int,
               interim: bool = False) -> None:
        """Hand the area, its caseload and its outcome book to ``holder`` on the bid's terms."""
        model = self.model
        old = lot.holder
        lot.start(bid, month, interim)
        model.areas.assign(lot.area, holder, scaled_payment(self.base, lot.factor))
        self._retune(old)
        self._retune(holder)

    def _retune(self, prime: Prime) -> None:
        """Have the prime's strategy weigh outcomes at its own prices (its areas' mean factor)."""
        if not prime.areas:
            return
        factor = float(np.mean([self.lots[a].factor for a in prime.areas]))
        contract = self.model.design.contract
        scaled = contract.model_copy(update={"payment": scaled_payment(self.base, factor)})
        prime.strategy.reprice(scaled, block_grant_per_referral(self.model.design) * factor)

    def _to_interim(self, lot: Lot, month: int) -> None:
        """Give the area to the interim provider until a new contract is let."""
        self._award(lot, self.interim, None, month, interim=True)
        self.history.append(ContractEvent(month, lot.area, "interim", self.interim.name))
        at = month + max(self.spec.procurement_months, 1)
        if at < self.model.referral_months:
            lot.schedule_recompete(at)

    # -- the monthly review: failures, performance, interim months
    def review(self) -> None:
        """Review the month (scheduled after each step): hand-backs, performance, interim months."""
        model = self.model
        month = model.steps
        self._collect_outcomes()
        self._check_failures(month)
        performance = model.design.contract.performance
        if (performance is not None and month % performance.review_months == 0
                and month <= model.referral_months):
            self._review_performance(month, performance)
        if month <= model.referral_months:
            self.interim_months += sum(lot.interim for lot in self.lots)

    def net_worth(self, prime: Prime, pots: list[float] | None = None) -> float:
        """Return cash, plus fees accrued to the next invoice, plus its areas' unmeasured pots."""
        pots = self._pending_pots() if pots is None else pots
        accrued = self.model.commissioner.accrued.get(prime.name, 0.0)
        return prime.cash + accrued + sum(pots[a] for a in prime.areas)

    def _pending_pots(self) -> list[float]:
        pots = [0.0] * len(self.lots)
        # cohorts are measured in the order they were referred: the unmeasured ones are the last
        for cohort in reversed(self.model.cohorts):
            if cohort.result is not None:
                break
            pots[cohort.area] += cohort.pot
        return pots

    def _check_failures(self, month: int) -> None:
        """Make every prime whose losses exceed its capital hand its contracts back."""
        pots = self._pending_pots()
        for prime in self.bidders:
            worth = self.net_worth(prime, pots)
            self._worth[prime.name].append(worth)
            if prime.areas and prime.name not in self.failed and worth < 0:
                self.failed.append(prime.name)
                logger.debug("month %d: %s fails, hands back %s", month, prime.name, prime.areas)
                for area in list(prime.areas):
                    self.history.append(ContractEvent(month, area, "handback", prime.name))
                    self.handbacks += 1
                    self._month["prime_handbacks"] += 1
                    self._to_interim(self.lots[area], month)

    def _collect_outcomes(self) -> None:
        """Tally newly measured cohorts by area, if referred under the current contract."""
        cohorts = self.model.cohorts
        while self._next_settled < len(cohorts) and cohorts[self._next_settled].result is not None:
            cohort = cohorts[self._next_settled]
            self._next_settled += 1
            lot = self.lots[cohort.area]
            if lot.bid is not None and not lot.interim and cohort.month > lot.awarded:
                lot.measured_cf += cohort.result["cf_reoffenders"]
                lot.measured += cohort.result["reoffenders"]
                lot.measured_cohorts += 1

    def _service_rates(self) -> dict[str, float | None]:
        """Return the hours a month per engaged person each prime gave since the last review."""
        rates: dict[str, float | None] = {}
        for prime in self.bidders:
            hours, months = prime.hours_total, float(prime.months_by_status.sum())
            seen_hours, seen_months = self._service_seen.get(prime.name, (0.0, 0.0))
            self._service_seen[prime.name] = (hours, months)
            if months > seen_months:
                rates[prime.name] = (hours - seen_hours) / (months - seen_months)
            else:
                rates[prime.name] = None
        return rates

    def _review_performance(self, month: int, performance: PerformanceSpec) -> None:
        """Compare each competitively let area with its bid; serve notice, or terminate."""
        rates = self._service_rates()
        for lot in self.lots:
            if lot.interim or lot.bid is None:
                continue
            short = False
            rate = rates.get(lot.holder.name)
            if (performance.service_tolerance is not None and rate is not None
                    and rate < (1.0 - performance.service_tolerance) * lot.bid.promised_hours):
                short = True
            # outcomes are judged on a review period's worth of cohorts, never on one noisy month
            if (performance.outcome_tolerance is not None
                    and lot.measured_cohorts >= performance.review_months and lot.measured_cf > 0):
                achieved = (lot.measured_cf - lot.measured) / lot.measured_cf
                if achieved < (1.0 - performance.outcome_tolerance) * lot.bid.promised_reduction:
                    short = True
                lot.measured_cf = lot.measured = 0.0
                lot.measured_cohorts = 0
            if not short:
                lot.notice = None
            elif lot.notice is None:
                lot.notice = month
                self.notices += 1
                self._month["rectification_notices"] += 1
                self.history.append(
                    ContractEvent(month, lot.area, "rectification_notice", lot.holder.name))
            elif month - lot.notice >= performance.rectification_months:
                self._terminate(lot, month)

    def _terminate(self, lot: Lot, month: int) -> None:
        """End a contract for poor performance; its holder may not bid for the area again."""
        self.terminations += 1
        self._month["terminations"] += 1
        lot.barred.add(lot.holder.name)
        self.history.append(ContractEvent(month, lot.area, "termination", lot.holder.name))
        logger.debug("month %d: area %d terminated (%s)", month, lot.area, lot.holder.name)
        self._to_interim(lot, month)

    def break_point(self, lot: Lot, month: int) -> None:
        """End a contract under notice, or let a holder losing money walk away and re-let."""
        if lot.interim or lot.bid is None:
            return
        worth = self._worth[lot.holder.name]
        if lot.notice is not None:
            self._terminate(lot, month)
        elif len(worth) > _YEAR and worth[-1] < worth[-1 - _YEAR]:
            # it lost money over the last year: it leaves rather than lose more, and does not return
            self.breaks += 1
            self._month["contract_breaks"] += 1
            self.history.append(ContractEvent(month, lot.area, "break", lot.holder.name))
            lot.barred.add(lot.holder.name)
            self.compete(lot, month)

    # -- observation
    def monthly_row(self) -> dict[str, float]:
        """Return the month's competitions, hand-backs, notices, terminations and breaks."""
        row = {key: float(value) for key, value in self._month.items()}
        row["areas_interim"] = float(sum(lot.interim for lot in self.lots))
        for key in self._month:
            self._month[key] = 0
        return row

    def metrics(self) -> dict[str, float | None]:
        """Return the run's commissioning measures (:func:`commissioning_metrics`)."""
        return commissioning_metrics(self)


def commissioning_metrics(c: Commissioning) -> dict[str, float | None]:
    """Return the run's measures of commissioning and market churn (docs/ODD.md 4.11.1).

    ``prime_losses`` adds up the losses of primes whose cash ended below their
    starting capital; ``referrals_vs_plan`` is referrals over the plan.
    """
    model = c.model
    factors = [b.price_factor for b in c.awards]
    initial = [b.price_factor for b in c.awards if b.month == 0]
    planned = model.design.cohort.referrals_per_year / 12.0 * model.referral_months
    return {
        "competitions": float(c.competitions),
        "prime_failures": float(len(c.failed)),
        "handbacks": float(c.handbacks),
        "terminations": float(c.terminations),
        "rectification_notices": float(c.notices),
        "contract_breaks": float(c.breaks),
        "procurement_costs": float(c.procurement_costs),
        "areas_with_interim_provider_months": float(c.interim_months),
        "winning_price_factor_mean": float(np.mean(factors)) if factors else None,
        "winning_price_factor_min": min(factors) if factors else None,
        "winning_price_factor_max": max(factors) if factors else None,
        "initial_price_factor_mean": float(np.mean(initial)) if initial else None,
        "prime_losses": float(sum(max(p.spec.capital - p.cash, 0.0) for p in c.bidders)),
        "primes_with_losses": float(sum(p.cash < p.spec.capital for p in c.bidders)),
        "referrals_vs_plan": float(model.store.size / planned) if planned > 0 else None,
    }


#: The letting of areas and commissioning over time, as a mechanism (sim/mechanisms.py). Every run
#: has one: without a ``competition`` it is the direct award, whose measures are the zeros of no churn.
MECHANISM = MechanismType("commissioning", build=Commissioning)
