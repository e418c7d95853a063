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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pbrsim.sim.delivery import InHouse, SupplyChain
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.mechanisms import Mechanism, MechanismType
from pbrsim.sim.payments import REOFFENCES_PER_REOFFENDER
from pbrsim.sim.subcontracting import (
    _N_TYPES,
    _TENDER_THRESHOLD,
    BOOK,
    Subcontract,
    SubcontractedSupply,
    SubPrime,
    Terms,
    acceptable,
    bargaining_power,
    expected_outcome_per_referral,
    need_codes,
)
from pbrsim.sim.vocabulary import SECTORS, SERVICE_TYPES

if TYPE_CHECKING:
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.scenario_supply import MarketSpec, SubPrimeSpec

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


class Market(Mechanism):
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
        self.n_cohorts = model.referral_months * model.areas.count
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
        #: claims on outcome payments, sub-primes (by ``claim_row``) x cohorts; each sub-prime's
        #: ``claims`` is its row (grown as sub-primes are made: rows are never reused)
        self.claims = np.zeros((sum(g.count for g in spec.subprimes) + 32, self.n_cohorts))
        #: each sub-prime's book (cash, income, month's net, at-risk income: ``BOOK``), by ``claim_row``
        self.books = np.zeros((self.claims.shape[0], len(BOOK)))
        self._claimers: list[SubPrime] = []
        #: each store row's need code (sim/subcontracting.need_codes), for rows ``[0, _coded)``
        self._need_codes = np.zeros(0, dtype=np.uint8)
        self._coded = 0
        #: each cohort's first store row and its column of claims, for the model's cohorts so far
        self._cohort_starts = np.zeros(0, dtype=np.int64)
        self._cohort_columns = np.zeros(0, dtype=np.intp)
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
            entered=entered, claims=self._claims_row(), claim_row=len(self._claimers),
            book=self.books[len(self._claimers)],
        )
        self._claimers.append(subprime)
        self.subprimes.append(subprime)
        return subprime

    def _claims_row(self) -> np.ndarray:
        """Return the next free row of the claims matrix, growing it if full."""
        row = len(self._claimers)
        if row == self.claims.shape[0]:
            grown = np.zeros((2 * row, self.n_cohorts))
            grown[:row] = self.claims
            self.claims = grown
            books = np.zeros((2 * row, len(BOOK)))
            books[:row] = self.books
            self.books = books
            for subprime in self._claimers:
                subprime.claims = grown[subprime.claim_row]
                subprime.book = books[subprime.claim_row]
        return self.claims[row]

    def need_codes(self, rows: np.ndarray) -> np.ndarray:
        """Return the need codes of these store rows (coded once per row: rows never change)."""
        store = self.model.store
        done, size = self._coded, store.size
        if size > done:
            if size > self._need_codes.size:
                grown = np.zeros(max(size, 2 * self._need_codes.size), dtype=np.uint8)
                grown[:done] = self._need_codes[:done]
                self._need_codes = grown
            self._need_codes[done:size] = need_codes(store.needs[done:size])
            self._coded = size
        return self._need_codes[rows]

    def cohort_runs(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return where each cohort's run of ``rows`` starts, and the cohorts' columns of claims.

        ``rows`` are a prime's caseload as ``PbRModel.deliver`` gives them: runs of its cohorts'
        store rows, in store order (ascending). Cohorts with no rows here are left out.
        """
        model = self.model
        cohorts = model.cohorts
        known = self._cohort_starts.size
        if len(cohorts) > known:
            new = cohorts[known:]
            self._cohort_starts = np.concatenate((self._cohort_starts, [c.start for c in new]))
            self._cohort_columns = np.concatenate(
                (self._cohort_columns, [(c.month - 1) * model.areas.count + c.area for c in new]))
        if rows.size == 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        starts = self._cohort_starts
        # the cohorts from the one holding the first row to the one holding the last (an empty
        # cohort starts where the next does, and its run is empty)
        lo = int(np.searchsorted(starts, rows[0], side="right")) - 1
        hi = int(np.searchsorted(starts, rows[-1], side="right"))
        at = np.searchsorted(rows, starts[lo:hi])
        held = np.diff(at, append=rows.size) > 0
        return at[held], self._cohort_columns[lo:hi][held]

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
        # what sub-primes kept: everything primes paid them less everything they spent (each summed
        # in journal order by numpy, as a column of the ledger's frame is)
        names = ledger.payees(Kind.SUBCONTRACT_FEE, Kind.OUTCOME_SHARE)
        m["subprime_margin"] = float(ledger.amounts(payees=names).sum()
                                     - ledger.amounts(payers=names).sum())
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


#: The sub-prime market and primes' supply chains, as a mechanism (sim/mechanisms.py).
MECHANISM = MechanismType("supply chain", build=build_market)
