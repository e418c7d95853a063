"""The PbR model: one master clock of monthly steps plus scheduled events.

Each month, in order (docs/ODD.md, "Process overview and scheduling"):

1. referrals arrive and form one cohort per contract area;
2. primes allocate and deliver service, and pay delivery and overhead costs;
3. reoffending is drawn for everyone in their follow-up window, treated and
   untreated paths on common random numbers;
4. fees accrue to the next invoice.

Scheduled events (Mesa's event list, after the month's step): fee invoices
every ``invoice_months``; each cohort's outcome measurement and payment at the
end of its follow-up window plus proving lag; and, last of all in each month,
the monthly record.
"""

from __future__ import annotations

from functools import partial
from typing import TypeVar

import numpy as np
from mesa import Model
from mesa.time import Priority, Schedule
from pbrsim.sim.agents import Cohort, CohortTable, Commissioner, Prime
from pbrsim.sim.areas import AreaHolders
from pbrsim.sim.counterfactual import N_BANDS, build_counterfactual
from pbrsim.sim.ledger import Ledger
from pbrsim.sim.mechanisms import Mechanism, MechanismType, Settled, build_mechanisms
from pbrsim.sim.population import COHORT_TYPES, OffenderStore, Runs, draw_offenders, volume_factor
from pbrsim.sim.scenario import BAND_NAMES, Scenario

__all__ = ["PbRModel"]

M = TypeVar("M", bound=Mechanism)


def _poisson_ppf(u: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse Poisson CDF, vectorised: the draws that uniforms ``u`` give at rates ``lam``, where not 0.

    Used so the treated and untreated paths share their random numbers. Returns the
    positions of the nonzero draws and the draws there: each round adds the next term of
    the CDF for the people whose ``u`` is still above it, kept as a shrinking subset (at
    monthly rates most people stop at 0), with the same arithmetic per person.
    """
    p = np.exp(-lam)
    live = np.flatnonzero(u > p)
    k = np.zeros(live.size, dtype=np.int16)
    at = np.arange(live.size)
    u, lam, p = u[live], lam[live], p[live]
    cdf = p.copy()
    j = 0
    while at.size and j < 50:
        j += 1
        k[at] += 1
        p = p * lam / j
        cdf = cdf + p
        keep = u > cdf
        if not keep.all():
            at, u, lam, p, cdf = at[keep], u[keep], lam[keep], p[keep], cdf[keep]
    return live, k


class PbRModel(Model):
    """A payment-by-results contract played out month by month.

    Args:
        scenario: the validated scenario.
        rng: root seed; defaults to the scenario's ``seed``. Independent streams
            for the population, the outcomes, the measurement and provider
            behaviour are spawned from it, so two designs run with the same seed
            see the same people and the same random numbers for their outcomes.

    """

    def __init__(self, scenario: Scenario, rng: int | None = None) -> None:
        seed = scenario.seed if rng is None else int(rng)
        # a fifth stream for caseworkers' readings leaves the first four (and so every person and
        # outcome) as they were before it existed
        behaviour, population, outcomes, measurement, signals = np.random.SeedSequence(seed).spawn(5)
        super().__init__(rng=behaviour)
        self.seed = seed
        #: the scenario this model runs (Mesa's Model reserves the name ``scenario`` for its own)
        self.design = scenario
        contract = scenario.contract
        self.profile = COHORT_TYPES[scenario.cohort.type]
        self.population_rng = np.random.default_rng(population)
        self.outcome_rng = np.random.default_rng(outcomes)
        self.measurement_rng = np.random.default_rng(measurement)
        self.signal_rng = np.random.default_rng(signals)

        self.referral_months = contract.referral_months
        self.follow_up = contract.measure.follow_up_months
        self.service_months = contract.service.months
        lag = contract.measure.proving_lag_months
        self.end_month = self.referral_months + max(self.follow_up - 1 + lag, self.service_months - 1)
        self.measure_delay = self.follow_up - 1 + lag
        self.last_service_month = self.referral_months + self.service_months - 1

        expected = scenario.cohort.referrals_per_year / 12.0 * self.referral_months
        self.store = OffenderStore(int(expected + 6.0 * np.sqrt(expected + 1.0)) + 1024)
        self.month_start: list[int] = [0] * (self.end_month + 2)
        self.ledger = Ledger()

        self.primes: list[Prime] = []
        #: who holds each area, on what terms, month by month (the one record of it)
        self.areas = AreaHolders(scenario.areas, contract.payment)
        # optional contract mechanisms, built from the scenario (sim/mechanisms.py); the first,
        # commissioning, makes the primes and lets every area (direct award or competitions)
        self.mechanism_slots: list[tuple[MechanismType, Mechanism | None]] = build_mechanisms(self)
        self.commissioner = Commissioner(self)
        self.counterfactual = build_counterfactual(
            contract.counterfactual, self.profile, self.follow_up, self.measurement_rng
        )
        self.cohorts: list[Cohort] = []
        #: every cohort's area, referral month, people accepted and pot, by cohort index
        self.cohort_table = CohortTable(self.referral_months * scenario.areas)
        #: engaged people each cohort's holder serves (refusals apart), by cohort, status (0: not
        #: reoffended yet, 1: has) and true band; kept up to date as people first reoffend, so
        #: primes served by rule have their effort counted by cohort rather than by person
        self._engaged_status = np.zeros((self.referral_months * scenario.areas, 2, N_BANDS), dtype=np.int64)
        self._active: list[Cohort] = []
        self._settlements: list[partial[None]] = []
        #: people referred to each area, by referral month (index 0 unused)
        self._referral_counts: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * (self.referral_months + 1)
        self.monthly: list[dict[str, float]] = []
        self.month_effort = np.zeros(4)
        self._engaged_by_band: dict[int, np.ndarray] = {}

        self.schedule_recurring(
            self.commissioner.pay_invoices,
            Schedule(interval=contract.payment.invoice_months, start=contract.payment.invoice_months,
                     end=self.end_month),
        )
        if self.end_month % contract.payment.invoice_months:
            self.schedule_event(self.commissioner.pay_invoices, at=self.end_month)
        self.schedule_recurring(self.record_month, Schedule(interval=1, start=1, end=self.end_month),
                                priority=Priority.LOW)

    # -- the monthly process -------------------------------------------------
    def step(self) -> None:
        """One month: referrals, service delivery, reoffending, fees."""
        month = self.steps
        self.month_effort[:] = 0.0
        self.refer(month)
        self.deliver(month)
        self.draw_reoffending(month)
        for prime in self.primes:
            prime.learn(month)
        self.accrue_fees(month)
        for mechanism in self.mechanisms:
            mechanism.end_of_month(month)

    def run(self) -> None:
        """Run every month until the last cohort has been measured and paid for."""
        self.run_until(self.end_month)

    @property
    def mechanisms(self) -> list[Mechanism]:
        """The mechanisms this run has, in hook order (those the scenario does not ask for left out)."""
        return [m for _, m in self.mechanism_slots if m is not None]

    def mechanism(self, kind: type[M]) -> M | None:
        """The run's mechanism of class ``kind`` (e.g. the supply chain's ``Market``), or None."""
        return next((m for m in self.mechanisms if isinstance(m, kind)), None)

    def settled(self, settled: Settled) -> None:
        """Tell every mechanism of a cohort the commissioner has measured and paid for."""
        for mechanism in self.mechanisms:
            mechanism.on_settled(settled)

    def drift_at(self, month: int) -> float:
        """True change in risk since the baseline year for people referred in ``month``."""
        return self.design.cohort.drift_pp_per_year / 100.0 * (month - 1) / 12.0

    def refer(self, month: int) -> None:
        """New referrals arrive: one cohort per contract area."""
        self.month_start[month] = self.store.size
        if month > self.referral_months:
            self.month_start[month + 1] = self.store.size
            return
        areas = self.areas.count
        rate = self.design.cohort.referrals_per_year / 12.0 / areas * volume_factor(self.design.cohort, month)
        counts = self.population_rng.poisson(rate, areas)
        self._referral_counts[month] = counts
        people = draw_offenders(self.population_rng, int(counts.sum()), self.profile,
                                drift=self.drift_at(month))
        people["signal_z"] = self.signal_rng.standard_normal((int(counts.sum()), 2), dtype=np.float32)
        area = np.repeat(np.arange(areas, dtype=np.int16), counts)
        start, _ = self.store.append(people, area, month)
        self.month_start[month + 1] = self.store.size
        # engaged people referred this month by true band (the monthly record's denominators)
        self._engaged_by_band[month] = np.bincount(people["true_band"], weights=people["engaged"], minlength=4)
        first_row = start
        for a, n in enumerate(counts):
            cohort = Cohort(self, a, month, start, start + int(n))
            if self.design.contract.referral_selection:
                refused = self.areas.holder(a).screen(np.arange(start, start + int(n)))
                self.store.refused[start:start + int(n)] = refused
                cohort.accepted = int(n) - int(refused.sum())
            start += int(n)
            self.cohorts.append(cohort)
            self._active.append(cohort)
        served = people["engaged"] & ~self.store.refused[first_row:self.store.size]
        key = area.astype(np.intp) * N_BANDS + people["true_band"]
        base = (month - 1) * areas
        self._engaged_status[base:base + areas, 0] = np.bincount(
            key[served], minlength=areas * N_BANDS).reshape(areas, N_BANDS)
        # at the end of the proving lag the commissioner measures and pays for the month's cohorts
        # (Mesa holds events weakly: the model keeps each month's settlement)
        settlement = partial(self.commissioner.settle, self.cohorts[-areas:])
        self._settlements.append(settlement)
        self.schedule_event(settlement, at=month + self.measure_delay)

    def _window_start(self, month: int, months: int) -> int:
        """First store row referred within the last ``months`` months."""
        return self.month_start[max(1, month - months + 1)]

    def deliver(self, month: int) -> None:
        """Each prime serves the people in their service period; then hours and dose are stored at once.

        The rows in service are one slice of the store (referred in the last ``service_months``
        months), and each cohort in it is a run of rows held by its area's holder. Primes whose
        strategy gives every engaged person a fixed number of hours (``fixed_hours``) and who
        deliver in-house are served together, with their hours and effectiveness repeated over
        their cohorts' rows: the same rule, in one pass however many primes there are. Any other
        prime decides for its own caseload (the runs of its cohorts, in store order). Hours and
        dose are then added to the slice. Effort is counted for every prime, by band and whether
        the person has reoffended: engaged people from counts kept by cohort, hours from them too
        when every prime is served by rule, otherwise person by person in one more pass.
        """
        s = self.store
        lo, hi = self._window_start(month, self.service_months), s.size
        nobody = len(self.primes)
        holder, sizes = self._cohorts_in_service(month, nobody)
        owner = np.repeat(holder, sizes)
        selection = self.design.contract.referral_selection
        if selection:
            # people a prime refused at referral get no commissioned service (nobody serves them)
            owner[s.refused[lo:hi]] = nobody
        by_rule = np.zeros(nobody + 1, dtype=bool)
        for prime in self.primes:
            by_rule[prime.index] = prime.serves_by_rule()
        all_by_rule = bool(by_rule[:nobody].all())
        if by_rule.any():
            hours, dose, per_engaged = self._serve_by_rule(lo, hi, holder, sizes, by_rule)
            if selection:
                hours[owner == nobody] = 0.0
                dose[owner == nobody] = 0.0
            if all_by_rule:
                # everyone a prime serves by rule who engages gets the same hours: effort by prime,
                # status and band is those hours times the engaged people counted by cohort (exact:
                # sums of whole multiples of a float32, as the per-person sums are)
                engaged, effort = self._engaged_by_cohort(month, holder, nobody, per_engaged)
                cost_hours = effort.sum(axis=(1, 2))
            else:
                # hours by cohort, then by the prime holding it
                # (reduceat gives an empty cohort the row at its start: those are masked, and kept in range)
                starts = np.minimum(np.concatenate(([0], np.cumsum(sizes)[:-1])), max(hours.size - 1, 0))
                by_cohort = np.add.reduceat(hours, starts, dtype=np.float64) if hours.size else np.zeros(sizes.size)
                cost_hours = np.bincount(holder, weights=np.where(sizes > 0, by_cohort, 0.0), minlength=nobody + 1)
        else:
            hours = np.zeros(hi - lo, dtype=np.float32)
            dose = np.zeros(hi - lo, dtype=np.float32)
        runs = self._runs_of(month, by_rule) if not all_by_rule else {}
        for prime in self.primes:
            if by_rule[prime.index]:
                prime.pay_for_rule(month, float(cost_hours[prime.index]))
                continue
            caseload = Runs.of(runs.get(prime.index, []))
            if selection:
                caseload = Runs.indexed(caseload.rows[~s.refused[caseload.rows]])
            given, effective = prime.deliver(caseload, month)
            rows = caseload.rows
            if rows.size:
                hours[rows - lo] = given
                dose[rows - lo] = effective
        s.hours[lo:hi] += hours
        s.dose[lo:hi] += dose
        if not all_by_rule:
            # hours by prime, status (0: not reoffended yet, 1: has) and true band, person by person;
            # engaged people from the counts kept by cohort (the same whole numbers)
            status_band = (s.first_month[lo:hi] >= 0).view(np.int8) * np.int8(N_BANDS) + s.true_band[lo:hi]
            key = owner * (2 * N_BANDS) + status_band
            size = (nobody + 1) * 2 * N_BANDS
            effort = np.bincount(key, weights=hours, minlength=size).reshape(nobody + 1, 2, N_BANDS)
            engaged, _ = self._engaged_by_cohort(month, holder, nobody)
        status_hours, status_months = effort.sum(axis=2), engaged.sum(axis=2)
        hours_by_prime = status_hours.sum(axis=1).tolist()
        for prime in self.primes:
            i = prime.index
            prime.count_effort(status_hours[i], status_months[i], hours_by_prime[i])
        self.month_effort += effort[:nobody].sum(axis=(0, 1))

    def _referral_months_in_service(self, month: int) -> tuple[int, int]:
        """The first and last referral months whose people are in service in ``month`` (none if last < first)."""
        return max(1, month - self.service_months + 1), min(month, self.referral_months)

    def _cohorts_in_service(self, month: int, nobody: int) -> tuple[np.ndarray, np.ndarray]:
        """Each cohort in service, in store order: its holder (prime index; ``nobody``: not let) and size."""
        first, last = self._referral_months_in_service(month)
        holders = self.areas.as_array().astype(np.int64)
        holders[holders < 0] = nobody
        if last < first:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.tile(holders, last - first + 1), np.concatenate(self._referral_counts[first:last + 1])

    def _runs_of(self, month: int, by_rule: np.ndarray) -> dict[int, list[Cohort]]:
        """The cohorts in service, by the prime holding them (primes served by rule apart), in store order."""
        holders = self.areas.as_array()
        runs: dict[int, list[Cohort]] = {}
        for cohort in self._active:
            if month - cohort.month < self.service_months and cohort.stop > cohort.start:
                holder = int(holders[cohort.area])
                if holder >= 0 and not by_rule[holder]:
                    runs.setdefault(holder, []).append(cohort)
        return runs

    def _engaged_by_cohort(self, month: int, holder: np.ndarray, nobody: int,
                           per_engaged: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Engaged people by prime, status and band, from the counts kept by cohort for the cohorts in service.

        With ``per_engaged`` (the hours an engaged person gets, by prime: every prime served by
        rule), also their hours by prime, status and band.
        """
        first, last = self._referral_months_in_service(month)
        counted = self._engaged_status[(first - 1) * self.areas.count:max(last, first - 1) * self.areas.count]
        counted = counted.reshape(-1, 2 * N_BANDS).astype(np.float64)

        def by_prime(cells: np.ndarray) -> np.ndarray:
            """Sums of each (status, band) cell over the cohorts each prime holds (whole numbers: exact)."""
            return np.stack([np.bincount(holder, weights=cells[:, j], minlength=nobody + 1)
                             for j in range(2 * N_BANDS)], axis=1).reshape(nobody + 1, 2, N_BANDS)

        engaged = by_prime(counted)
        effort = None
        if per_engaged is not None:
            effort = by_prime(per_engaged[holder].astype(np.float64)[:, None] * counted)
        return engaged, effort

    def _serve_by_rule(self, lo: int, hi: int, holder: np.ndarray, sizes: np.ndarray,
                       by_rule: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hours and dose of the rows held by primes with a fixed rule (zero elsewhere), as each prime would give them.

        The rule of ``UniformStrategy.allocate``, the floor of ``Prime.deliver`` and the dose of
        ``InHouse.deliver``, with the same float32 results (hours are never negative, so
        multiplying by a 0/1 flag or taking the larger of the hours and a floor of 0 is the
        choice they make), each prime's parameters repeated over its cohorts' rows. Also returns
        the hours an engaged person gets, by prime index.
        """
        s = self.store
        rule = np.zeros(by_rule.size, dtype=np.float32)
        effectiveness = np.zeros(by_rule.size, dtype=np.float32)
        for prime in self.primes:
            if by_rule[prime.index]:
                rule[prime.index] = prime.strategy.fixed_hours
                effectiveness[prime.index] = prime.spec.effectiveness
        engaged = s.engaged[lo:hi]
        hours = np.repeat(rule[holder], sizes) * engaged
        floor = self.design.contract.service.min_hours_per_month
        per_engaged = rule
        if floor > 0 and (rule[by_rule] < np.float32(floor)).any():
            # the service floor tops up everyone who engages (over their needs, all types if none);
            # where every rule gives at least the floor it changes nothing
            floor_by_prime = np.where(by_rule, np.float32(floor), np.float32(0.0))
            topped = np.repeat(floor_by_prime[holder], sizes) * engaged
            hours = np.maximum(hours, topped)
            per_engaged = np.maximum(rule, floor_by_prime)
        served = effectiveness[by_rule]
        if (served == served[0]).all():  # one effectiveness for all: the same float32 product
            dose = hours * served[0] * (s.n_needs[lo:hi] > 0)
        else:
            dose = hours * np.repeat(effectiveness[holder], sizes) * (s.n_needs[lo:hi] > 0)
        return hours, dose, per_engaged

    def draw_reoffending(self, month: int) -> None:
        """Draw this month's reoffences for everyone in their follow-up window.

        The monthly hazard is cut by service matched to needs, with diminishing
        returns: ``h * (1 - responsiveness * (1 - exp(-dose / complexity)))``.
        The same uniforms drive the untreated path, so every person's true
        counterfactual is known.
        """
        s = self.store
        lo, hi = self._window_start(month, self.follow_up), s.size
        if hi == lo:
            return
        u = self.outcome_rng.random(hi - lo, dtype=np.float32)
        u_later = self.outcome_rng.random(hi - lo, dtype=np.float32)
        hazard = s.hazard[lo:hi]
        effect = 1.0 - s.responsiveness[lo:hi] * (1.0 - np.exp(-s.dose[lo:hi] / s.complexity[lo:hi]))
        frequency = s.frequency[lo:hi]
        for first_col, count_col, cut in (("first_month", "reoffences", effect),
                                          ("untreated_first_month", "untreated_reoffences", None)):
            first = s.columns[first_col][lo:hi]
            count = s.columns[count_col][lo:hi]
            before = first >= 0
            h = hazard if cut is None else hazard * cut
            new = u < h
            new &= ~before
            # a first reoffence (a few people a month): nobody without one has any counted yet,
            # so the count becomes 1
            first_now = np.flatnonzero(new)
            first[first_now] = month
            count[first_now] = 1
            if cut is not None:
                self._now_reoffended(lo + first_now)
            idx = np.flatnonzero(before)
            if idx.size:
                lam = frequency[idx] if cut is None else frequency[idx] * cut[idx]
                drawn, later = _poisson_ppf(u_later[idx], lam)
                count[idx[drawn]] += later

    def _now_reoffended(self, rows: np.ndarray) -> None:
        """Move people who have just first reoffended to the 'has reoffended' status of their cohort's count."""
        s = self.store
        rows = rows[s.engaged[rows] & ~s.refused[rows]]
        cohort = (s.referral_month[rows].astype(np.intp) - 1) * self.areas.count + s.area[rows]
        cell = (cohort * 2) * N_BANDS + s.true_band[rows]
        flat = self._engaged_status.reshape(-1)
        np.subtract.at(flat, cell, 1)
        np.add.at(flat, cell + N_BANDS, 1)

    def accrue_fees(self, month: int) -> None:
        """Accrue this month's block grant, referral and supervision fees for the cohorts in service.

        Cohorts are in referral order, so those in service are the last ones referred: the
        ones whose service has ended leave from the front.
        """
        done = 0
        while done < len(self._active) and month - self._active[done].month >= self.service_months:
            self._active[done].leave_service()
            done += 1
        del self._active[:done]
        first = self._active[0].index if self._active else len(self.cohorts)
        self.commissioner.accrue_fees(month, slice(first, len(self.cohorts)), month <= self.referral_months)

    def record_month(self) -> None:
        """Append this month's record (after the month's events): volumes, effort, cash."""
        month = self.steps
        s = self.store
        lo = self._window_start(month, self.service_months)
        first, last = self._referral_months_in_service(month)
        in_service = sum((self._engaged_by_band[m] for m in range(first, last + 1)), np.zeros(4))
        row: dict[str, float] = {
            "month": month,
            "referrals": self.month_start[month + 1] - self.month_start[month],
            "in_service": s.size - lo,
        }
        for b, band in enumerate(BAND_NAMES):
            row[f"effort_{band}"] = self.month_effort[b] / in_service[b] if in_service[b] else 0.0
        for prime in self.primes:
            row[f"cash_{prime.name}"] = prime.cash
        for mechanism in self.mechanisms:
            row.update(mechanism.monthly_row())
        self.monthly.append(row)
        # the holders after this month's events serve next month's referrals
        self.areas.record()
