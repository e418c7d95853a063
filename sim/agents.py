"""The agents: commissioner, primes, and monthly cohorts of offenders.

A cohort agent holds a slice of the offender store, never a Python object per
offender. Primes decide effort through their strategy and pay their own
costs; the commissioner refers, invoices, measures and pays.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import mesa
import numpy as np
from pbrsim.sim.bases import PaymentBasis, basis_of
from pbrsim.sim.counterfactual import N_BANDS, CohortView
from pbrsim.sim.delivery import InHouse, SupplyChain
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.mechanisms import Settled
from pbrsim.sim.payments import (
    MeasuredOutcome,
    apply_total_cap,
    block_grant,
    fee_reconciliation,
    fees,
    withheld,
)
from pbrsim.sim.population import Runs, caseworker_signals
from pbrsim.sim.scenario import OutcomeComponent, PaymentSpec, PrimeSpec
from pbrsim.sim.strategies import Caseload, Observation, Referrals, make_strategy

if TYPE_CHECKING:
    from pbrsim.sim.model import PbRModel

__all__ = ["Cohort", "CohortTable", "Commissioner", "Prime"]

#: the payment terms fees() and withheld() read
_FEE_TERMS = ("block_grant_per_year", "fee_per_referral", "fee_per_supervision_month", "at_risk_share")



class Prime(mesa.Agent):
    """A prime provider holding the contract in one or more areas, delivering in-house."""

    def __init__(self, model: PbRModel, spec: PrimeSpec, index: int) -> None:
        super().__init__(model)
        self.spec = spec
        self.name = spec.name
        self.index = index
        self.strategy = make_strategy(spec, model.design, model.rng)
        self._seen: tuple[np.ndarray, ...] | None = None
        self._truth: tuple[np.ndarray, np.ndarray] = (np.zeros(0, dtype=np.int16), np.zeros(0, dtype=bool))
        self.cash = float(spec.capital)
        self.min_cash = self.cash
        self.hours_total = 0.0
        # the prime's books to date, as open-book reporting shows them (a margin cap reads them)
        self.income = 0.0
        self.costs = 0.0
        self.clawed_back = 0.0
        self._own_staff = InHouse(self)
        self.supply: SupplyChain = self._own_staff
        # hours and engaged person-months before and after a first reoffence (binary cliff)
        self.effort_by_status = np.zeros(2)
        self.months_by_status = np.zeros(2)

    @property
    def areas(self) -> list[int]:
        """The contract areas it holds now (asked of the model's one record of who holds what)."""
        holders = self.model.areas.as_array()
        return [int(a) for a in np.flatnonzero(holders == self.index)]

    def cost_per_hour(self) -> float:
        """Marginal cost of an hour as the prime weighs it: dearer as its cash runs below its capital.

        A prime with little risk appetite treats every pound as worth more when
        its reserves are being eaten into, so it cuts discretionary effort first.
        """
        spec = self.spec
        stress = float(np.clip(1.0 - self.cash / max(spec.capital, 1.0), 0.0, 1.0)) if spec.capital > 0 else 1.0
        return self.supply.cost_per_hour() * (1.0 + 3.0 * (1.0 - spec.risk_appetite) * stress)

    def screen(self, rows: np.ndarray) -> np.ndarray:
        """Which new referrals the prime refuses, where the contract lets it choose (its strategy's call)."""
        store = self.model.store
        referrals = Referrals(observed_band=store.pay_band[rows], needs=store.needs[rows],
                              engaged=store.engaged[rows])
        return self.strategy.screen(referrals, self.cost_per_hour(), self.supply.retained_outcome_share())

    def learn(self, month: int) -> None:
        """Show the strategy what this month's caseload did (it learns each reoffence once proven)."""
        if self._seen is None:
            return
        runs, caseload, served, count_before, before = self._seen
        self._seen = None
        store = self.model.store
        first = runs.take(store.first_month) == month
        self.strategy.observe(Observation(
            caseload=caseload, served=served, dose=runs.take(store.dose), first=first,
            later=runs.take(store.reoffences) - count_before - first,
            in_window=caseload.months_in_service < self.model.follow_up,
            reoffended_before=before,
        ))

    def caseload(self, runs: Runs, month: int) -> Caseload:
        """The month's caseload as the prime sees it: reoffences only once proven, its caseworkers' reading.

        A strategy that does not learn (uniform) reads only needs and engagement.
        """
        store = self.model.store
        model = self.model
        take = runs.take
        rows = runs.rows
        engaged = take(store.engaged)
        if not self.strategy.learns:
            return Caseload(rows=rows, month=month, n_needs=take(store.n_needs), engaged=engaged)
        lag = model.design.contract.measure.proving_lag_months
        first = take(store.first_month)
        reoffences = take(store.reoffences)
        # the truth so far, kept for learning at the month's end (Prime.learn)
        self._truth = (reoffences, first >= 0)
        # a reoffence in month m is proven, and known to the prime, from month m + lag + 1
        known = (first >= 0) & (first <= month - 1 - lag)
        counted = ~take(store.refused)
        if model.design.contract.measure.cohort_definition == "engaged":
            counted = counted & engaged
        n_needs = take(store.n_needs)
        noise = self.spec.signal_noise
        signal = None if noise is None else caseworker_signals(
            take(store.responsiveness), take(store.complexity), n_needs, take(store.signal_z), noise)
        cap = model.design.contract.payment.outcome_cap_total
        headroom = None
        if cap is not None:
            share = len(self.areas) / max(model.areas.count, 1)
            headroom = max(cap - model.commissioner.outcome_paid, 0.0) * share
        if runs.whole:
            # months in service and cohort key are the same for a whole cohort (same dtypes as per person)
            months = np.array(runs.months, dtype=np.int16)
            months_in_service = runs.repeat(month - months)
            cohort = runs.repeat(months.astype(np.int64) * model.areas.count + np.array(runs.areas, dtype=np.int16))
        else:
            referral_month = take(store.referral_month)
            months_in_service = month - referral_month
            cohort = referral_month.astype(np.int64) * model.areas.count + take(store.area)
        return Caseload(
            rows=rows,
            month=month,
            months_in_service=months_in_service,
            observed_band=take(store.pay_band),
            n_needs=n_needs,
            engaged=engaged,
            reoffended=known,
            dose=take(store.dose),
            reoffences_known=np.where(known, reoffences, 0),
            cohort=cohort,
            counted=counted,
            signal=signal,
            cap_headroom=headroom,
            books=(self.income, self.costs, self.clawed_back),
        )

    def receive(self, month: int, kind: Kind, amount: float) -> None:
        """Be paid by the commissioner."""
        self.model.ledger.record(month, Party.COMMISSIONER, self.name, kind, amount)
        self.cash += amount
        self.income += amount

    def spend(self, month: int, payee: str, kind: Kind, amount: float) -> None:
        """Pay a cost out of cash."""
        self.model.ledger.record(month, self.name, payee, kind, amount)
        self.cash -= amount
        self.min_cash = min(self.min_cash, self.cash)
        if kind == Kind.MARGIN_CLAWBACK:
            self.clawed_back += amount
        else:
            self.costs += amount

    def spend_many(self, month: int, payees: list[str] | np.ndarray, kind: Kind, amounts: np.ndarray) -> None:
        """Pay several costs of one kind, in order: the ledger rows, cash path and books of one spend() each.

        ``payees`` are names or the ledger's party codes (:meth:`Ledger.parties`). Cash and books
        become numpy floats, as spend() of numpy amounts leaves them.
        """
        amounts = np.asarray(amounts, dtype=np.float64)
        if amounts.size == 0:
            return
        self.model.ledger.record_many(month, self.name, payees, kind, amounts)
        # accumulate runs left to right: the same subtractions and additions, in order, as one spend() each
        cash = np.subtract.accumulate(np.concatenate(([self.cash], amounts)))
        self.cash = cash[-1]
        self.min_cash = min(self.min_cash, cash[1:].min())
        books = "clawed_back" if kind == Kind.MARGIN_CLAWBACK else "costs"
        setattr(self, books, np.add.accumulate(np.concatenate(([getattr(self, books)], amounts)))[-1])

    def deliver(self, runs: Runs, month: int) -> tuple[np.ndarray, np.ndarray]:
        """Serve this month's caseload: decide hours, deliver and pay for them, pay the overhead.

        Returns each person's hours and dose (in the order of ``runs.rows``); the model adds them
        to the store and counts effort for every prime at once (``PbRModel.deliver``).
        """
        floor = self.model.design.contract.service.min_hours_per_month
        total = dose = _NO_HOURS
        rows = runs.rows
        if rows.size:
            caseload = self.caseload(runs, month)
            total = self.strategy.allocate(caseload, self.cost_per_hour(), self.supply.retained_outcome_share())
            if floor > 0:
                # the service floor tops up everyone who engages (over their needs, all types if none)
                total = np.where(caseload.engaged, np.maximum(total, np.float32(floor)), total)
            dose = self.supply.deliver(month, rows, total, caseload.n_needs)
            if self.strategy.learns:
                # the truth of who has reoffended (read with the caseload), for learning once proven
                self._seen = (runs, caseload, total > 0, *self._truth)
        self._pay_overhead(month)
        return total, dose

    def serves_by_rule(self) -> bool:
        """Whether the model may serve this prime's caseload by its strategy's fixed rule, delivered in-house."""
        return self.strategy.fixed_hours is not None and self.supply is self._own_staff

    def pay_for_rule(self, month: int, hours: float) -> None:
        """Pay for a month served by the fixed rule (``hours`` in all), and the overhead."""
        if hours:
            self.supply.pay(month, hours)
        self._pay_overhead(month)

    def _pay_overhead(self, month: int) -> None:
        if month <= self.model.last_service_month:
            self.spend(month, Party.OVERHEAD, Kind.OVERHEAD,
                       self.spec.overhead_per_month * self.model.areas.held_by(self.index))

    def count_effort(self, hours: np.ndarray, engaged_months: np.ndarray, total: float) -> None:
        """Add a month's hours and engaged person-months, before and after a first reoffence (``total`` hours)."""
        self.effort_by_status += hours
        self.months_by_status += engaged_months
        self.hours_total += total


_NO_HOURS = np.zeros(0, dtype=np.float32)


class CohortTable:
    """Every cohort's area, referral month, people accepted and pot, as arrays by cohort index.

    The monthly fees of all cohorts in service are priced and withheld into their pots at once
    (``Commissioner.accrue_fees``); a ``Cohort`` reads and writes its own row. ``capacity`` is
    every cohort a run makes: one per area in each referral month.
    """

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self.area = np.zeros(capacity, dtype=np.int32)
        self.month = np.zeros(capacity, dtype=np.int32)
        self.accepted = np.zeros(capacity, dtype=np.int64)
        self.pot = np.zeros(capacity, dtype=np.float64)

    def add(self, area: int, month: int, accepted: int) -> int:
        """Add a cohort; returns its index."""
        index = self.size
        self.area[index], self.month[index], self.accepted[index] = area, month, accepted
        self.size += 1
        return index


class Cohort(mesa.Agent):
    """One month's referrals in one contract area: a slice of the offender store."""

    def __init__(self, model: PbRModel, area: int, month: int, start: int, stop: int) -> None:
        super().__init__(model)
        self.area = area
        self.month = month
        self.start = start
        self.stop = stop
        #: its place in the model's cohort table (``model.cohort_table``), which holds its pot
        self.index = model.cohort_table.add(area, month, stop - start)
        self.result: dict[str, float] | None = None
        self._rows: np.ndarray | None = None

    @property
    def pot(self) -> float:
        """Fees withheld at risk for this cohort so far (what ``pot`` components can earn back)."""
        return float(self.model.cohort_table.pot[self.index])

    @pot.setter
    def pot(self, value: float) -> None:
        self.model.cohort_table.pot[self.index] = value

    @property
    def accepted(self) -> int:
        """People the prime took on (all of them unless the contract lets it refuse referrals)."""
        return int(self.model.cohort_table.accepted[self.index])

    @accepted.setter
    def accepted(self, value: int) -> None:
        self.model.cohort_table.accepted[self.index] = value

    @property
    def rows(self) -> np.ndarray:
        """Its store rows as an index array, made once and kept while the cohort is in service."""
        if self._rows is None:
            self._rows = np.arange(self.start, self.stop)
        return self._rows

    def leave_service(self) -> None:
        """Drop the index array once the cohort's service period is over."""
        self._rows = None

    @property
    def size(self) -> int:
        """People referred."""
        return self.stop - self.start



class Commissioner(mesa.Agent):
    """Owns the contract: refers people, pays fees and outcome payments, measures against its counterfactual."""

    def __init__(self, model: PbRModel) -> None:
        super().__init__(model)
        self.payment = model.design.contract.payment
        self.accrued: dict[str, float] = {p.name: 0.0 for p in model.primes}
        self.outcome_paid = 0.0
        self.pot_forfeited = 0.0
        self.gross_fees = {"block_grant": 0.0, "referral_fees": 0.0, "supervision_fees": 0.0}
        self.withheld_total = 0.0
        # payment basis and ledger kind by outcome component (id), with the component kept alive
        self._bases: dict[int, tuple[OutcomeComponent, PaymentBasis, Kind]] = {}
        # volume bands: fees for service paid at the unit price, reconciled each contract year
        self.band_fees: dict[tuple[int, str], float] = {}
        self.reconciliations: list[dict[str, float]] = []
        self._year_start = 1
        if self.payment.volume_bands:
            year_ends = [m for m in range(12, model.referral_months, 12)]
            # the last year's reconciliation waits for its run-off: its people's supervision fees
            for month in (*year_ends, model.last_service_month):
                model.schedule_event(self.reconcile_volumes, at=month)

    def terms(self, area: int | None) -> PaymentSpec:
        """Payment terms in force in an area: the contract's, at its holder's winning price (sim/areas.py)."""
        return self.model.areas.terms(area)

    def accrue_fees(self, month: int, cohorts: slice, in_contract: bool) -> None:
        """Add a month's fees for the cohorts in service to the next invoices, withholding the at-risk share.

        ``cohorts`` are the cohorts in service, rows of the model's cohort table. Each cohort's
        fees are priced on its area's terms and held by its area's holder: the block grant for a
        month in which it was referred (within the contract), referral fees in that month, and
        supervision fees every month of service, for the people accepted. The at-risk share of
        them goes into the cohort's pot. All cohorts of the month are priced at once.
        """
        if cohorts.stop <= cohorts.start:
            return
        model = self.model
        table = model.cohort_table
        area = table.area[cohorts].astype(np.intp)
        accepted = table.accepted[cohorts].astype(np.float64)
        new = table.month[cohorts] == month
        terms = [self.terms(a) for a in range(model.areas.count)]
        # each cohort's area's terms as arrays, priced elementwise by the same fees() and withheld()
        pay = SimpleNamespace(**{field: np.array([getattr(t, field) for t in terms])[area] for field in _FEE_TERMS})
        referrals = np.where(new, accepted, 0.0)
        months = (new & in_contract).astype(np.float64)
        gross = fees(pay, referrals, accepted, months)
        held = withheld(pay, gross)
        grant = block_grant(pay.block_grant_per_year, months)
        referral_fees = pay.fee_per_referral * referrals
        supervision_fees = pay.fee_per_supervision_month * accepted
        self.gross_fees["block_grant"] += float(grant.sum())
        self.gross_fees["referral_fees"] += float(referral_fees.sum())
        self.gross_fees["supervision_fees"] += float(supervision_fees.sum())
        self.withheld_total += float(held.sum())
        holder = model.areas.as_array()[area].astype(np.intp)
        owed = np.bincount(holder, weights=gross - held, minlength=len(model.primes))
        holding = np.bincount(holder, minlength=len(model.primes))
        for prime in model.primes:
            if holding[prime.index]:
                self.accrued[prime.name] += float(owed[prime.index])
        table.pot[cohorts] += held
        if any(t.volume_bands for t in terms):
            paid = (referral_fees + supervision_fees) * (1.0 - pay.at_risk_share)
            for a, h, fee in zip(area.tolist(), holder.tolist(), paid.tolist(), strict=True):
                if terms[a].volume_bands:
                    key = (a, model.primes[h].name)
                    self.band_fees[key] = self.band_fees.get(key, 0.0) + fee

    def reconcile_volumes(self) -> None:
        """Reprice the contract year's fees for service by the volume band of each area's referrals.

        Scheduled at the end of each contract year (the last year's at the end
        of its run-off of service). Volume is everybody referred to an area in
        the year, against the plan (``cohort.referrals_per_year`` shared
        equally between areas, before any volume shock). Only the fees paid
        are repriced: fees withheld into pots stay at the unit price. A
        repayment is paid by the prime to the commissioner.
        """
        model = self.model
        month = model.steps
        first, last = self._year_start, min(month, model.referral_months)
        self._year_start = last + 1
        areas = model.areas.count
        referred = np.zeros(areas)
        for cohort in model.cohorts:
            if first <= cohort.month <= last:
                referred[cohort.area] += cohort.size
        planned = model.design.cohort.referrals_per_year / areas * (last - first + 1) / 12.0
        primes = {p.name: p for p in model.primes}
        for (area, name), paid in sorted(self.band_fees.items()):
            due = fee_reconciliation(self.payment.volume_bands, referred[area], planned, paid)
            share = referred[area] / planned if planned > 0 else 0.0
            self.reconciliations.append({"month": float(month), "area": float(area),
                                         "share_of_plan": share, "fees": paid, "reconciliation": due})
            if due > 0:
                primes[name].receive(month, Kind.FEE_RECONCILIATION, due)
            elif due < 0:
                primes[name].spend(month, Party.COMMISSIONER, Kind.FEE_RECONCILIATION, -due)
        self.band_fees.clear()

    def pay_invoices(self) -> None:
        """Pay each prime the fees accrued since the last invoice."""
        month = self.model.steps
        for prime in self.model.primes:
            amount = self.accrued[prime.name]
            if amount:
                prime.receive(month, Kind.FEES, amount)
                self.accrued[prime.name] = 0.0

    def settle(self, cohorts: list[Cohort]) -> None:
        """Measure cohorts referred in the same month against the counterfactual, and pay for each.

        The cohorts are one run of store rows (area by area), so each one's counts by payment
        group come from one pass over the month's people; then each is judged and paid in area
        order.
        """
        model = self.model
        store = model.store
        rows = slice(cohorts[0].start, cohorts[-1].stop)
        # people refused at referral are not the prime's cohort: the measure never sees them
        counted = ~store.refused[rows]
        if model.design.contract.measure.cohort_definition == "engaged":
            counted &= store.engaged[rows]
        everyone = bool(counted.all())

        def column(name: str) -> np.ndarray:
            values = store.columns[name][rows]
            return values if everyone else values[counted]

        band = column("pay_band").astype(np.intp)
        reoffended = column("first_month") >= 0
        reoffences = column("reoffences").astype(float)
        u_reoffended = column("untreated_first_month") >= 0
        u_reoffences = column("untreated_reoffences").astype(float)
        score = column("score")
        sizes = np.array([c.stop - c.start for c in cohorts])
        # each cohort's counted people: where its run of rows starts and stops among the counted
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        if not everyone:
            bounds = np.concatenate(([0], np.cumsum(counted)))[bounds]
        key = np.repeat(np.arange(len(cohorts)) * N_BANDS, np.diff(bounds)) + band
        groups = len(cohorts) * N_BANDS

        def by_band(w: np.ndarray | None = None) -> np.ndarray:
            """Sums by cohort and payment group, (cohorts, groups): each cohort's own bincount."""
            return np.bincount(key, weights=w, minlength=groups).astype(float).reshape(len(cohorts), N_BANDS)

        n_all, reoffenders_all, reoffences_all = by_band(), by_band(reoffended.astype(float)), by_band(reoffences)
        u_reoffenders_all, u_reoffences_all = by_band(u_reoffended.astype(float)), by_band(u_reoffences)
        cf_reoffenders_all, cf_reoffences_all = model.counterfactual.expected(CohortView(
            key=key, score=score, n=n_all, untreated_reoffenders=u_reoffenders_all,
            untreated_reoffences=u_reoffences_all, drift=model.drift_at(cohorts[0].month),
            months_since_start=cohorts[0].month - 1,
        ))
        # each cohort's whole-cohort counts, summed over its groups as numpy sums four values
        totals = np.stack([n_all, reoffenders_all, reoffences_all, cf_reoffenders_all, cf_reoffences_all,
                           u_reoffenders_all, u_reoffences_all]).sum(axis=2)
        pots = np.array([c.pot for c in cohorts])
        # what each component pays each cohort (before the contract-wide cap) and would pay for its
        # true impact alone, for the cohorts on the same terms at once
        due: list[list[float]] = [[] for _ in cohorts]
        deserved: list[list[float]] = [[] for _ in cohorts]
        on_terms: dict[int, list[int]] = {}
        for c, cohort in enumerate(cohorts):
            on_terms.setdefault(id(self.terms(cohort.area).outcomes), []).append(c)
        for members in on_terms.values():
            chosen = np.array(members)
            some = MeasuredOutcome(*(x[chosen] for x in (n_all, reoffenders_all, reoffences_all,
                                                         cf_reoffenders_all, cf_reoffences_all)),
                                   pot=pots[chosen])
            for component in self.terms(cohorts[members[0]].area).outcomes:
                basis, _ = self._basis(component)
                pays = basis.pay_many(some).tolist()
                worth = basis.true_values(some, u_reoffenders_all[chosen], u_reoffences_all[chosen]).tolist()
                for k, c in enumerate(members):
                    due[c].append(pays[k])
                    deserved[c].append(worth[k])
        for c, cohort in enumerate(cohorts):
            outcome = MeasuredOutcome(n_all[c], reoffenders_all[c], reoffences_all[c], cf_reoffenders_all[c],
                                      cf_reoffences_all[c], pot=cohort.pot)
            self._pay_for(cohort, outcome, due[c], deserved[c], totals[:, c].tolist())

    def _pay_for(self, cohort: Cohort, outcome: MeasuredOutcome, due: list[float], deserved: list[float],
                 totals: list[float]) -> None:
        """Make a measured cohort's outcome payments, and record what it cost and deserved.

        ``due`` is what each outcome component earns before the contract-wide cap, ``deserved``
        what it would pay for the cohort's true impact alone; ``totals`` are its counted people,
        reoffenders, reoffences, the counterfactual's reoffenders and reoffences, and untreated
        reoffenders and reoffences.
        """
        model = self.model
        prime = model.areas.holder(cohort.area)
        month = model.steps
        paid_total = deadweight = 0.0
        pot_paid = 0.0
        result: dict[str, float] = {}
        for i, component in enumerate(self.terms(cohort.area).outcomes):
            basis, kind = self._basis(component)
            paid = apply_total_cap(due[i], self.outcome_paid, self.payment.outcome_cap_total)
            self.outcome_paid += paid
            paid_total += paid
            if basis.draws_on_pot:
                pot_paid += paid
            prime.receive(month, kind, paid)
            prime.supply.on_outcome_payment(cohort, paid, month)
            deadweight += max(paid - deserved[i], 0.0)
            result[f"outcome_payment_{i}"] = paid
        self.pot_forfeited += max(cohort.pot - pot_paid, 0.0)
        counted, reoffenders, reoffences, cf_reoffenders, cf_reoffences, untreated_reoffenders, \
            untreated_reoffences = totals
        result.update(
            counted=counted,
            reoffenders=reoffenders,
            reoffences=reoffences,
            cf_reoffenders=cf_reoffenders,
            cf_reoffences=cf_reoffences,
            untreated_reoffenders=untreated_reoffenders,
            untreated_reoffences=untreated_reoffences,
            outcome_paid=paid_total,
            deadweight=deadweight,
            pot=cohort.pot,
        )
        cohort.result = result
        # mechanisms act on the measured cohort (a social impact bond pays its investors on its own)
        model.settled(Settled(cohort, outcome, untreated_reoffences, month))

    def _basis(self, component: OutcomeComponent) -> tuple[PaymentBasis, Kind]:
        """The component's payment basis and the ledger kind of its payments, made once per component."""
        known = self._bases.get(id(component))
        if known is None or known[0] is not component:
            known = (component, basis_of(component), Kind.outcome(component.measure))
            self._bases[id(component)] = known
        return known[1], known[2]
