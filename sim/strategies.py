"""How a prime allocates service effort across its caseload.

A strategy sees a :class:`Caseload` (what the prime can observe about the
people it is serving this month) and returns hours of service by service type
for each of them. It never sees true risk, complexity or responsiveness: it
sees the assessed band and needs, the reoffences proven so far (the proving
lag hides the last months' reoffences), and, where the prime's caseworkers
read people (``signal_noise``), a noisy private view of each person's
prospects. The contract's service floor is applied by the prime after the
strategy has chosen, so a strategy cannot undercut it.

A strategy is one object with the whole protocol a prime asks of it
(:class:`ProviderStrategy`): allocate effort, screen referrals where the
contract lets the prime refuse them, observe the outcomes it saw, and reprice
when it holds the contract at new terms. :func:`make_strategy` builds it from
the scenario; nothing else in the model asks which strategy a prime follows.

The adaptive strategies follow the rule in DESIGN.md's appendix: raise effort
on a person until the believed marginal revenue of an hour meets its marginal
cost, where the marginal revenue is the derivative of the prime's *expected*
payment under the contract's real terms (triggers, pots, caps: see
:mod:`pbrsim.sim.valuation`), given its belief about each live cohort's
measured result. Nothing in them names creaming, parking or the binary cliff;
those follow from the contract's terms, the measure and the prime's beliefs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from pbrsim.sim.bases import BAND_MIDPOINTS, REOFFENCES_PER_REOFFENDER, basis_of
from pbrsim.sim.counterfactual import counterfactual_variance
from pbrsim.sim.population import COMPLEXITY_SPREAD, LOG_RESPONSIVENESS_VAR
from pbrsim.sim.scenario import ContractSpec, PrimeSpec, Scenario, Strategy
from pbrsim.sim.valuation import GroupOutlook, group_values, not_capped

__all__ = [
    "Beliefs",
    "believed_complexity",
    "block_grant_per_referral",
    "Caseload",
    "MarginalStrategy",
    "MissionDrivenStrategy",
    "Observation",
    "ProfitSeekingStrategy",
    "ProviderStrategy",
    "Referrals",
    "UniformStrategy",
    "make_strategy",
    "marginal_values",
]

#: Band midpoints of 12-month risk, the prior a prime starts from before it has seen outcomes.
_BAND_MIDPOINTS = BAND_MIDPOINTS
#: Typical complexity per assessed need: public knowledge of how costly multiple needs are.
_COMPLEXITY_BASE, _COMPLEXITY_PER_NEED = 20.0, 0.35
#: Prior monthly rate of further reoffences once someone has reoffended.
_PRIOR_LATER_RATE = 0.24
#: Largest effect a prime believes service can have (a relative cut in hazard).
_MAX_EFFECT = 0.95
#: Overdispersion of a person's count of reoffences: its variance over its mean (reoffences come
#: in bursts; 2.9 reoffences per reoffender, docs/sources.md).
_COUNT_DISPERSION = 2.0


@dataclass(frozen=True)
class Caseload:
    """The people a prime serves this month, as the prime sees them.

    Attributes:
        rows: rows of the offender store.
        month: the current month.
        months_in_service: months since referral (0 in the referral month).
        observed_band: assessed risk band (from the noisy score, never true risk).
        needs: assessed needs by service type (None: not read; the model gives ``n_needs``).
        engaged: whether the person engages with services.
        reoffended: whether the prime knows of a proven reoffence since referral
            (one committed in the last ``proving_lag_months`` is not proven yet).
        dose: effective service given so far.
        reoffences_known: proven reoffences the prime knows of.
        cohort: each person's cohort, as ``referral_month * areas + area``.
        counted: whether the contract's measure counts the person.
        signal: the prime's caseworkers' private reading of each person's prospects
            (:func:`pbrsim.sim.population.caseworker_signals`), or None if it has none.
        cap_headroom: the prime's share of what a contract-wide outcome cap still
            allows (None: no cap).
        n_needs: number of assessed needs (None: counted from ``needs``).
        books: the prime's income, costs (open book, clawbacks apart) and margin
            clawed back, contract to date (None: not known).

    """

    rows: np.ndarray
    month: int
    engaged: np.ndarray
    needs: np.ndarray | None = None
    # what a prime that allocates by its beliefs reads (a uniform one reads only the number of needs and engagement)
    months_in_service: np.ndarray | None = None
    observed_band: np.ndarray | None = None
    reoffended: np.ndarray | None = None
    dose: np.ndarray | None = None
    reoffences_known: np.ndarray | None = None
    cohort: np.ndarray | None = None
    counted: np.ndarray | None = None
    signal: np.ndarray | None = None
    cap_headroom: float | None = None
    n_needs: np.ndarray | None = None
    books: tuple[float, float, float] | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def need_count(self) -> np.ndarray:
        """Number of assessed needs of each person."""
        return self.n_needs if self.n_needs is not None else self.needs.sum(axis=1)


def believed_complexity(needs: np.ndarray) -> np.ndarray:
    """Complexity a prime expects from a person's number of assessed needs (it cannot see the rest).

    ``needs`` is the count of needs per person, or the (people, types) matrix of them.
    """
    count = needs.sum(axis=1) if needs.ndim == 2 else needs
    return _COMPLEXITY_BASE * (1.0 + _COMPLEXITY_PER_NEED * count.astype(np.float32))


@dataclass(frozen=True)
class Referrals:
    """New referrals as a prime sees them when it decides whether to take them on.

    Attributes:
        observed_band: assessed risk band (from the noisy score, never true risk).
        needs: assessed needs by service type (None: not read; the model gives ``n_needs``).
        engaged: whether the person engages with services.

    """

    observed_band: np.ndarray
    needs: np.ndarray
    engaged: np.ndarray


@dataclass(frozen=True)
class Observation:
    """What a month's caseload did by the month's end (the prime learns it once it is proven).

    Attributes:
        caseload: the caseload as it was when served.
        served: whether each person got any hours.
        dose: effective service given so far, this month's included.
        first: whether each person's first reoffence fell this month.
        later: further reoffences this month by people who had reoffended before.
        in_window: whether each person is still inside the measurement window.
        reoffended_before: whether each person had reoffended before this month (the
            truth of the month, which the prime learns with the rest of it).

    """

    caseload: Caseload
    served: np.ndarray
    dose: np.ndarray
    first: np.ndarray
    later: np.ndarray
    in_window: np.ndarray
    reoffended_before: np.ndarray | None = None


class ProviderStrategy(Protocol):
    """Everything a prime asks of its strategy.

    Attributes:
        learns: whether :meth:`observe` uses what the prime saw (if not, the
            prime need not record it).
        fixed_hours: hours a month every engaged person gets whatever else the prime
            knows of them, or None if :meth:`allocate` decides person by person. The
            model serves every prime with a fixed rule and in-house delivery in one pass
            over the month's service window, without asking :meth:`allocate`.

    """

    learns: bool
    fixed_hours: float | None

    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Hours this month per person (float32); the prime spreads them evenly over the person's needs.

        ``retained_share`` is the share of outcome payments the prime keeps after passing
        shares down its supply chain; ``cost_per_hour`` what an hour costs it.
        """
        ...

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Which referrals the prime refuses where the contract lets it choose (bool per person)."""
        ...

    def observe(self, seen: Observation) -> None:
        """Learn from one month of outcomes in the caseload."""
        ...

    def reprice(self, contract: ContractSpec, block_grant_per_referral: float) -> None:
        """Weigh outcomes at new terms (the contract at the price the prime holds it)."""
        ...


class UniformStrategy:
    """Same hours for every engaged person, split evenly over their assessed needs.

    The no-behaviour reference: it ignores the contract entirely, so any
    difference in effort between groups under it comes from who engages, not
    from incentives.
    """

    learns: ClassVar[bool] = False

    def __init__(self, hours_per_month: float) -> None:
        self.hours_per_month = hours_per_month

    @property
    def fixed_hours(self) -> float:
        """``hours_per_month``, for every engaged person: :meth:`allocate` is this rule."""
        return self.hours_per_month

    @classmethod
    def build(cls, spec: PrimeSpec, scenario: Scenario, rng: np.random.Generator | None = None) -> UniformStrategy:
        """The strategy for a prime's scenario entry: its ``hours_per_month``."""
        return cls(spec.hours_per_month)

    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """``hours_per_month`` for each engaged person (spread over their needs by the prime)."""
        return np.where(caseload.engaged, np.float32(self.hours_per_month), np.float32(0.0))

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Take everyone."""
        return np.zeros(referrals.observed_band.size, dtype=bool)

    def observe(self, seen: Observation) -> None:
        """Learn nothing: effort never depends on outcomes."""

    def reprice(self, contract: ContractSpec, block_grant_per_referral: float) -> None:
        """Ignore the terms."""


def _pot_per_person(contract: ContractSpec, block_grant_per_referral: float) -> float:
    """Fees withheld at risk for one person over their service: what a pot pays back per person."""
    pay = contract.payment
    per_person_fees = (pay.fee_per_referral + pay.fee_per_supervision_month * contract.service.months
                       + block_grant_per_referral)
    return pay.at_risk_share * per_person_fees


def marginal_values(contract: ContractSpec, block_grant_per_referral: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """What the contract pays at the margin by observed band, as if every outcome were paid at its price.

    Returns:
        (value of one more person without a proven reoffence, value of one
        reoffence avoided), each per band, in pounds. Fee-for-service pays
        neither. Pots are linearised between threshold and target; thresholds
        and caps are ignored. A block grant counts towards a pot at
        ``block_grant_per_referral``: the grant of one area's month spread over
        that month's referrals. This is the linear price; a prime's own values
        (:class:`MarginalStrategy`) weigh the real terms and reduce to it when the
        contract is linear and the cohort's result is not in doubt.

    """
    pot_per_person = _pot_per_person(contract, block_grant_per_referral)
    binary = np.zeros(4)
    frequency = np.zeros(4)
    for component in contract.payment.outcomes:
        binary_c, frequency_c = basis_of(component).marginal_values(pot_per_person)
        binary += binary_c
        frequency += frequency_c
    return binary, frequency


class Beliefs:
    """A prime's beliefs, by observed band, about how people reoffend and respond to service.

    Among people who engage, a person at risk with reach r (``1 - exp(-dose /
    complexity)``, times the caseworker's reading of their responsiveness) has a
    first-reoffence chance ``h (1 - e r)`` this month. Two things the prime can see
    also move that chance and go with how much service people get: the number of
    assessed needs (more needs, higher risk, and more costly to reach), and the
    months since referral (people still at risk later in their window are, more and
    more, the lower-risk ones). So the prime fits ``y = a + g r + d m + k n`` (m the
    months since referral, n the number of needs) by Bayesian weighted least squares
    on every engaged person-month at risk, served or not (sufficient statistics X'X
    and X'y; each month weighted by the Bernoulli variance ``h``), and reads the
    effect as ``e = -g / h_r``, with ``h_r`` the fitted hazard of the people it served
    (their reach-weighted means of m and n). The untreated hazard it values people at
    is ``a + k n̄`` (its engaged people's mean number of needs, at referral). People
    served at low effort still teach a little, and the comparison is with people like
    them (those who do not engage are a riskier group and are left out).

    The prior is the band's midpoint hazard ``h₀`` for a and ``-h₀ e₀`` for g, each
    worth ``prior_weight`` person-months (precision ``w / h₀``), and no trend in m or
    n (a hundredth of that precision). The rate of further reoffences λ after a first
    is Gamma-Poisson with prior 0.24 a month, from everyone who has reoffended.

    A prime allocates on a draw from the posterior (Thompson sampling), so a band
    whose effect it has underrated is still tried now and then while its belief is
    uncertain, and a wrong early belief is corrected.
    """

    #: covariates: intercept, reach, months since referral, number of needs
    _K = 4
    _PAIRS = [(i, j) for i in range(4) for j in range(i, 4)]

    def __init__(self, prior_effect: float, prior_weight: float) -> None:
        self.w = max(prior_weight, 1e-9)
        self.prior_hazard = 1.0 - (1.0 - _BAND_MIDPOINTS) ** (1.0 / 12.0)
        self.prior_effect = prior_effect
        self.xtx = np.zeros((4, self._K, self._K))
        self.xty = np.zeros((4, self._K))
        self.later = np.zeros((2, 4))  # exposure, events
        self._cached: tuple[np.ndarray, np.ndarray] | None = None  # the posterior, until new evidence
        self._derived: dict[str, np.ndarray] = {}  # what is read from it (hazard, effect, ...), as long

    @property
    def exposure(self) -> np.ndarray:
        """Engaged person-months at risk seen, by band."""
        return self.xtx[:, 0, 0]

    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean of (a, g, d, k) and its covariance, by band: shapes (4, 4) and (4, 4, 4)."""
        if self._cached is None:
            self._cached = self._solve()
            self._derived = {}
        return self._cached

    def _kept(self, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A quantity read from the posterior, worked out once per posterior (a month's questions share it)."""
        self._posterior()
        value = self._derived.get(name)
        if value is None:
            value = self._derived[name] = compute()
        return value

    def _solve(self) -> tuple[np.ndarray, np.ndarray]:
        h0, w = self.prior_hazard, self.w
        precision0 = w / h0
        n, y = self.xtx[:, 0, 0], self.xty[:, 0]
        h = (w * h0 + y) / (w + n)  # the Bernoulli variance each month is weighted by
        precision = self.xtx / h[:, None, None]
        prior = np.stack([precision0, precision0, precision0 / 100.0, precision0 / 100.0], axis=1)
        precision[:, np.arange(self._K), np.arange(self._K)] += prior
        rhs = self.xty / h[:, None]
        rhs[:, 0] += precision0 * h0
        rhs[:, 1] += precision0 * (-h0 * self.prior_effect)
        covariance = np.linalg.inv(precision)
        return np.einsum("bij,bj->bi", covariance, rhs), covariance

    def _served_point(self) -> np.ndarray:
        """Reach-weighted means of the covariates over the served, by band (1, 0, m̄, n̄); prior: (1, 0, 0, 0)."""
        return self._kept("served_point", self._served_point_now)

    def _served_point_now(self) -> np.ndarray:
        reach = self.xtx[:, 1, 0]
        point = np.zeros((4, self._K))
        point[:, 0] = 1.0
        served = reach > 0
        point[served, 2] = self.xtx[served, 1, 2] / reach[served]
        point[served, 3] = self.xtx[served, 1, 3] / reach[served]
        return point

    def _effect_of(self, theta: np.ndarray) -> np.ndarray:
        served_hazard = np.einsum("bi,bi->b", theta, self._served_point())
        return np.clip(-theta[:, 1] / np.maximum(served_hazard, 1e-5), 0.0, _MAX_EFFECT)

    @property
    def hazard(self) -> np.ndarray:
        """Believed untreated monthly hazard at referral among people who engage, by band."""
        return self._kept("hazard", self._hazard_now)

    def _hazard_now(self) -> np.ndarray:
        mean, _ = self._posterior()
        n = self.xtx[:, 0, 0]
        mean_needs = np.divide(self.xtx[:, 0, 3], n, out=np.zeros(4), where=n > 0)
        return np.maximum(mean[:, 0] + mean[:, 3] * mean_needs, 1e-5)

    @property
    def effect(self) -> np.ndarray:
        """Believed largest relative cut in hazard that service achieves (posterior mean), by band."""
        return self._kept("effect", lambda: self._effect_of(self._posterior()[0]))

    @property
    def effect_sd(self) -> np.ndarray:
        """Posterior standard deviation of the effect (delta method), by band."""
        mean, cov = self._posterior()
        point = self._served_point()
        served_hazard = np.maximum(np.einsum("bi,bi->b", mean, point), 1e-5)
        grad = mean[:, 1, None] / served_hazard[:, None] ** 2 * point
        grad[:, 1] -= 1.0 / served_hazard
        return np.sqrt(np.maximum(np.einsum("bi,bij,bj->b", grad, cov, grad), 0.0))

    def sample_effect(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of the effect per band from the posterior (Thompson sampling)."""
        mean, cov = self._posterior()
        z = rng.standard_normal((4, self._K))
        root = self._kept("cholesky", lambda: np.linalg.cholesky(cov))
        return self._effect_of(mean + np.einsum("bij,bj->bi", root, z))

    @property
    def later_rate(self) -> np.ndarray:
        """Believed monthly rate of further reoffences after a first, by band."""
        return self._kept("later_rate", lambda: (self.w * _PRIOR_LATER_RATE + self.later[1]) / (self.w + self.later[0]))

    @classmethod
    def evidence(cls, band: np.ndarray, at_risk: np.ndarray, reach: np.ndarray, first: np.ndarray,
                 reoffended_before: np.ndarray, later: np.ndarray,
                 months_in_service: np.ndarray | None = None,
                 n_needs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One month's sufficient statistics by band: X'X (4, K, K), X'y (4, K), later (2, 4).

        ``at_risk`` should hold only people who engage. One weighted ``bincount`` each.
        """
        # only people at risk add to the fit (the rest would add zeros): work on them alone
        rows = np.flatnonzero(at_risk)
        return cls._evidence_of(
            band[rows], reach[rows], first[rows],
            np.zeros(rows.size) if months_in_service is None else months_in_service[rows],
            np.zeros(rows.size) if n_needs is None else n_needs[rows],
            band, reoffended_before, later,
        )

    @classmethod
    def _evidence_of(cls, band: np.ndarray, reach: np.ndarray, first: np.ndarray, months: np.ndarray,
                     needs: np.ndarray, all_band: np.ndarray, reoffended_before: np.ndarray,
                     later: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The statistics from the people at risk alone (band, reach, y, m, n of each), and the later ones."""
        b = band.astype(np.intp)

        def total(weights: np.ndarray) -> np.ndarray:
            return np.bincount(b, weights=weights, minlength=4)

        covariates = [np.ones(b.size), reach,  # reach in its own dtype, so the products are what they were
                      months.astype(np.float64), needs.astype(np.float64)]
        y = first.astype(np.float64)
        xtx = np.zeros((4, cls._K, cls._K))
        xty = np.zeros((4, cls._K))
        # sums of products of whole numbers (1, m, n, y) are exact in any order: count people by
        # (band, m, n, y) once and weight the counts; only the sums with reach go person by person
        m_int, n_int, y_int = months.astype(np.intp), needs.astype(np.intp), first.astype(np.intp)
        m_span, n_span = int(m_int.max(initial=0)) + 1, int(n_int.max(initial=0)) + 1
        key = ((b * m_span + m_int) * n_span + n_int) * 2 + y_int
        counts = np.bincount(key, minlength=4 * m_span * n_span * 2).reshape(4, m_span, n_span, 2)
        m_of = np.arange(m_span, dtype=np.float64)[None, :, None, None]
        n_of = np.arange(n_span, dtype=np.float64)[None, None, :, None]
        y_of = np.arange(2, dtype=np.float64)[None, None, None, :]
        whole = {0: 1.0, 2: m_of, 3: n_of}
        for i, j in cls._PAIRS:
            if i != 1 and j != 1:
                xtx[:, i, j] = xtx[:, j, i] = (counts * (whole[i] * whole[j])).sum(axis=(1, 2, 3))
            else:
                xtx[:, i, j] = xtx[:, j, i] = total(covariates[i] * covariates[j])
        for i in (0, 2, 3):
            xty[:, i] = (counts * (whole[i] * y_of)).sum(axis=(1, 2, 3))
        xty[:, 1] = total(reach * y)
        before = np.flatnonzero(reoffended_before)
        b_before = all_band[before].astype(np.intp)
        later_stats = np.stack([np.bincount(b_before, minlength=4).astype(np.float64),
                                np.bincount(b_before, weights=later[before].astype(np.float64), minlength=4)])
        return xtx, xty, later_stats

    def absorb(self, evidence: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Add one month's sufficient statistics (from :meth:`evidence`)."""
        xtx, xty, later = evidence
        self.xtx += xtx
        self.xty += xty
        self.later += later
        self._cached = None

    def observe(self, band: np.ndarray, at_risk: np.ndarray, reach: np.ndarray, first: np.ndarray,
                reoffended_before: np.ndarray, later: np.ndarray,
                months_in_service: np.ndarray | None = None, n_needs: np.ndarray | None = None) -> None:
        """Update at once from one month of outcomes (no proving lag)."""
        self.absorb(self.evidence(band, at_risk, reach, first, reoffended_before, later, months_in_service,
                                  n_needs))


#: The covariate pairs (i <= j) of X'X, as index arrays, in the order of ``Beliefs._PAIRS``.
_ROWS, _COLS = (np.array(x, dtype=np.intp) for x in zip(*Beliefs._PAIRS, strict=True))
#: The complexity a prime expects of a person with 0, 1, ... 7 assessed needs (:func:`believed_complexity`).
_TYPICAL_COMPLEXITY = believed_complexity(np.arange(8, dtype=np.int8))
#: A segment's target where a person is worth nothing (no needs, or does not engage), by number of
#: needs: the complexity times the log of the least ratio of value to cost (as any other target).
_IDLE_TARGET = _TYPICAL_COMPLEXITY * np.log(np.maximum(np.zeros(8), 1e-300))
#: The last axis of a segment: known to have reoffended or not.
_IS_KNOWN = np.array([False, True])
#: By place within a cohort's segments ((band * 8 + needs) * 2 + engaged) * 2 + known: its band, its
#: typical complexity, whether its people have needs and engage, and whether they are known to have reoffended.
_WITHIN = np.arange(128)
_WITHIN_BAND = _WITHIN >> 5
_WITHIN_COMPLEXITY = _TYPICAL_COMPLEXITY[(_WITHIN >> 2) & 7]
_WITHIN_WORKABLE = (((_WITHIN >> 2) & 7) > 0) & ((_WITHIN >> 1) & 1 == 1)
_WITHIN_KNOWN = (_WITHIN & 1) == 1
_WITHIN_NEEDS = ((_WITHIN >> 2) & 7).astype(np.float64)
#: A segment's group (cohort * 4 + band) is its index shifted by this (8 needs x 2 x 2 per band),
#: and its cohort's place among the caseload's cohorts by this (128 segments a cohort).
_GROUP_SHIFT, _COHORT_SHIFT = 5, 7


def _outlook_terms(cut: np.ndarray, window: tuple[np.ndarray, ...], known: np.ndarray,
                   counts: np.ndarray | float) -> tuple[np.ndarray, ...]:
    """Each person's (or segment's) part in the belief about their group's measured result.

    ``cut`` is the relative cut in hazard the planned dose gives. ``window`` holds the
    believed hazard h and later rate λ, months of window left and not yet proven,
    ``exp(-h unseen)`` (no reoffence hidden in the unseen months), ``1 - exp(-h F)`` and
    ``h F (1 + λ F / 2)`` (what the counterfactual credits), and ``1 + λ unseen / 2``.
    ``counts`` are the reoffences known of those known to have reoffended.

    Returns:
        expected counterfactual less measured reoffenders and its variance, and the same
        of reoffences.

    """
    h, lam, remaining, clean, cf_rate, cf_count, unseen_later = window
    spared = 1.0 - cut
    treated_h = h * spared
    p_reoffender = np.where(known, 1.0, 1.0 - clean * np.exp(-treated_h * remaining))
    fewer_r = cf_rate - p_reoffender
    var_r = p_reoffender * (1.0 - p_reoffender)
    later_rate = lam * spared
    later = later_rate * remaining
    unknown_count = ((1.0 - clean) * (unseen_later + later)
                     + clean * treated_h * remaining * (1.0 + later_rate * remaining / 2.0))
    count = np.where(known, counts + later, unknown_count)
    return fewer_r, var_r, cf_count - count, _COUNT_DISPERSION * count


def _outlook_terms_each(cut: np.ndarray, group: np.ndarray, tables: list[np.ndarray], known: np.ndarray,
                        counts: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """:func:`_outlook_terms` person by person, the window's arrays taken from tables by group.

    The same operations on the same numbers, in place where a temporary would do; ``counts``
    are everyone's known reoffences, of which ``rows`` are these people's.
    """
    h, lam, remaining, clean, cf_rate, cf_count, unseen_later = (t.take(group) for t in tables)
    spared = np.subtract(1.0, cut, out=cut)
    treated_h = np.multiply(h, spared, out=h)
    p_reoffender = treated_h * remaining
    np.negative(p_reoffender, out=p_reoffender)
    np.exp(p_reoffender, out=p_reoffender)
    p_reoffender *= clean
    np.subtract(1.0, p_reoffender, out=p_reoffender)
    any_known = bool(known.any())
    if any_known:
        p_reoffender[known] = 1.0
    fewer_r = np.subtract(cf_rate, p_reoffender, out=cf_rate)
    var_r = np.subtract(1.0, p_reoffender)
    var_r *= p_reoffender
    later_rate = np.multiply(lam, spared, out=lam)
    later = later_rate * remaining
    # (1 - clean) (unseen_later + later) + clean h' r (1 + λ' r / 2)
    unknown_count = np.add(unseen_later, later, out=unseen_later)
    unknown_count *= np.subtract(1.0, clean, out=spared)
    tail = np.multiply(later_rate, remaining, out=later_rate)
    tail /= 2.0
    tail += 1.0
    first = np.multiply(clean, treated_h, out=clean)
    first *= remaining
    first *= tail
    count = np.add(unknown_count, first, out=unknown_count)
    if any_known:
        count[known] = counts[rows[known]].astype(float) + later[known]
    return [fewer_r, var_r, np.subtract(cf_count, count, out=cf_count), np.multiply(_COUNT_DISPERSION, count, out=tail)]


def _cohorts(cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct cohort keys present and each person's index into them, without a sort.

    Keys of a caseload span a few hundred values at most (months in service x areas), so a
    ``bincount`` over the span does what ``np.unique(..., return_inverse=True)`` does, in linear time.
    """
    if cohort.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.intp)
    lo = int(cohort.min())
    offset = (cohort - lo).astype(np.intp)
    present = np.bincount(offset) > 0
    keys = lo + np.flatnonzero(present)
    return keys, (np.cumsum(present) - 1)[offset]


def block_grant_per_referral(scenario: Scenario) -> float:
    """One area's monthly block grant spread over that month's expected referrals."""
    per_area_month = scenario.cohort.referrals_per_year / 12.0 / max(scenario.areas, 1)
    grant = scenario.contract.payment.block_grant_per_year / 12.0
    return grant / per_area_month if per_area_month > 0 else 0.0


class MarginalStrategy:
    """Adaptive allocation of effort: what profit-seeking and mission-driven primes share.

    For each person the prime computes the believed value of one more hour:
    the marginal value of keeping them from a (first) reoffence or of a
    reoffence avoided *in their cohort's payment group* (the derivative of the
    expected payment under the contract's real terms, :mod:`pbrsim.sim.valuation`),
    times the believed effect of the hour on that outcome over the rest of their
    window, which falls with the dose already given (diminishing returns) and
    with complexity. It gives hours until that value falls to the marginal cost
    of an hour. The closed form below is the solution of
    ``value * exp(-(dose + x) / c) / c = cost`` for ``x``.

    Its belief about each cohort's measured result comes from its own plan: the
    dose it means to give each person, the reoffences proven so far, and the
    chance and counterfactual noise a cohort of that size carries. It is formed
    as the month's hours are chosen and used the next month (a new cohort starts
    from the belief the last new cohort of its area ended its first month with),
    so a prime's valuation and its plan settle on each other over the months.

    It learns its beliefs from what it sees once it is proven, reprices outcomes
    at the terms it holds the contract at, and takes every referral.
    """

    learns: ClassVar[bool] = True
    fixed_hours: ClassVar[None] = None
    #: Value the prime puts on a reoffence avoided beside any payment for it.
    social_value_per_reoffence: float = 0.0

    def __init__(self, spec: PrimeSpec, scenario: Scenario, rng: np.random.Generator | None = None) -> None:
        contract = scenario.contract
        self.spec = spec
        self.follow_up = contract.measure.follow_up_months
        self.lag = contract.measure.proving_lag_months
        self.counterfactual = contract.counterfactual
        self.areas = max(scenario.areas, 1)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.beliefs = Beliefs(spec.prior_effect, spec.prior_weight)
        # the caseload last allocated to, with its readings: learning reads the same people
        self._last_reading: tuple[Caseload, np.ndarray, np.ndarray] | None = None
        # or, without readings, the caseload last allocated to with its cohorts' keys, each person's
        # segment and one person of each segment
        self._last_segments: tuple[Caseload, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._pending: deque[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = deque()
        self._arange = np.zeros(0, dtype=np.intp)
        if spec.signal_noise is None:
            self._signal_weight = None
        else:
            noise = spec.signal_noise ** 2
            # the share of a reading's spread that is the person rather than the noise (shrinkage)
            self._signal_weight = (LOG_RESPONSIVENESS_VAR / (LOG_RESPONSIVENESS_VAR + noise),
                                   COMPLEXITY_SPREAD ** 2 / (COMPLEXITY_SPREAD ** 2 + noise))
        # belief about each cohort it has served, by cohort key: sums by band of n, fewer and var of
        # reoffenders, fewer and var of reoffences (5, 4), kept from month to month
        self._outlook: dict[int, np.ndarray] = {}
        self._intake = np.full((self.areas, 4, 4), np.nan)  # per-person template for a new cohort, by area
        # expected outcome payment of each cohort and its variance, as last valued (a contract-wide cap)
        self._expected: dict[int, tuple[float, float]] = {}
        self.reprice(contract, block_grant_per_referral(scenario))

    @classmethod
    def build(cls, spec: PrimeSpec, scenario: Scenario, rng: np.random.Generator | None = None) -> MarginalStrategy:
        """The strategy for a prime's scenario entry, valuing outcomes at the contract's terms."""
        return cls(spec, scenario, rng)

    # -- what a person is like, as the prime believes ---------------------------------------------
    def _reading(self, caseload: Caseload,
                 typical: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each person's believed responsiveness relative to their band, and believed complexity.

        Without a caseworker's reading: 1, and the typical complexity for the number of
        assessed needs. With one, each is moved towards the reading by the share of the
        reading's spread that is the person rather than the noise (the normal shrinkage
        ``var / (var + noise²)`` on the log scale).
        """
        complexity = believed_complexity(caseload.need_count()) if typical is None else typical
        if self._signal_weight is None or caseload.signal is None:
            return np.ones(len(caseload), dtype=np.float32), complexity
        w_resp, w_cplx = self._signal_weight
        return np.exp(w_resp * caseload.signal[:, 0]), complexity * np.exp(w_cplx * caseload.signal[:, 1])

    # -- valuing each cohort's payment groups --------------------------------------------------------
    def _group_values(self, caseload: Caseload, keys: np.ndarray,
                      groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Marginal values per live cohort and band, (cohorts, 4) each, from the belief about its groups.

        ``groups`` holds the people counted in each cohort's bands, (cohorts, 4).
        """
        month = caseload.month
        new = keys // self.areas == month
        outlook_of = self._outlook
        chance = np.zeros((keys.size, 4, 4))  # fewer and var of reoffenders, of reoffences; by band
        held = [outlook_of.get(key) for key in keys.tolist()]
        ready = np.fromiter((row is not None for row in held), dtype=bool, count=keys.size)
        if ready.all():
            chance[:] = np.stack(held)[:, 1:]
        elif ready.any():
            chance[ready] = np.stack([row for row in held if row is not None])[:, 1:]
        # a new cohort: its people at the intake template of its area (the last new cohort's first month)
        fresh = np.flatnonzero(new)
        if fresh.size:
            template = self._intake[keys[fresh] % self.areas]  # per person, (new cohorts, 4 stats, 4 bands)
            missing = np.isnan(template)
            chance[fresh] = groups[fresh, None, :] * np.where(missing, 0.0, template)
            ready[fresh] = ~missing.any(axis=(1, 2))
        cf_rate, cf_count = self.beliefs._kept("credited", self._credited)
        n = groups
        share = np.maximum(n / np.maximum(n.sum(axis=1, keepdims=True), 1.0), 1e-3)
        var_r = chance[:, 1] + counterfactual_variance(self.counterfactual, n, share, cf_rate * (1 - cf_rate))
        var_o = chance[:, 3] + counterfactual_variance(self.counterfactual, n, share,
                                                       cf_count * (1.0 + cf_count) * _COUNT_DISPERSION / 2.0)
        outlook = GroupOutlook(
            n=n, cf_reoffenders=n * cf_rate, cf_reoffences=n * cf_count,
            fewer_reoffenders=chance[:, 0], var_reoffenders=var_r,
            fewer_reoffences=chance[:, 2], var_reoffences=var_o,
            pot=n.sum(axis=1) * self._pot_per_person,
        )
        v_bin, v_freq, expected, variance = group_values(self.contract, outlook)
        if not ready.all():
            # a cohort the prime has no belief about yet is valued at the linear price
            v_bin = np.where(ready[:, None], v_bin, self.linear_binary[None, :])
            v_freq = np.where(ready[:, None], v_freq, self.linear_frequency[None, :])
        if caseload.cap_headroom is not None:
            # kept only for a contract-wide cap (a caseload carries one for every month of a run or none)
            for key, e, v in zip(keys[ready].tolist(), expected[ready].tolist(), variance[ready].tolist(),
                                 strict=True):
                self._expected[key] = (e, v)
            cap = self._total_cap_factor(keys, month, caseload.cap_headroom)
            v_bin, v_freq = v_bin * cap[:, None], v_freq * cap[:, None]
        if fresh.size:
            # what the newest cohorts are worth, band by band: the prime's view at referral (their mean)
            self.binary_value = v_bin[fresh].sum(axis=0) / fresh.size
            self.contract_frequency_value = v_freq[fresh].sum(axis=0) / fresh.size
        return v_bin, v_freq

    def _credited(self) -> np.ndarray:
        """What the counterfactual is believed to credit a person, by band: reoffender or not, and reoffences."""
        b = self.beliefs
        h, lam = b.hazard, b.later_rate
        return np.stack([1.0 - np.exp(-h * self.follow_up), h * self.follow_up * (1.0 + lam * self.follow_up / 2.0)])

    def _total_cap_factor(self, keys: np.ndarray, month: int, headroom: float) -> np.ndarray:
        """Chance, per live cohort, that the contract-wide cap still has room when it is paid.

        Cohorts are paid in the order they were referred, so a cohort's payment comes
        after those of every earlier cohort still awaiting measurement.
        """
        first = min(max(month - self.follow_up - self.lag, 0) * self.areas, int(keys.min()))
        last = (month + 1) * self.areas
        pending = sorted(k for k in self._expected if first <= k < last)
        pending_exp = np.cumsum([0.0] + [self._expected[k][0] for k in pending])
        pending_var = np.cumsum([0.0] + [self._expected[k][1] for k in pending])
        # each cohort: the running totals up to and including it (cohorts with no value add nothing)
        upto = np.searchsorted(np.asarray(pending, dtype=np.int64), keys, side="right")
        return not_capped(headroom, pending_exp[upto], pending_var[upto])

    def _store_outlook(self, keys: np.ndarray, month: int, sums: np.ndarray) -> None:
        """Keep the belief about each cohort's groups, (cohorts, 5, 4), for next month; new cohorts set the intake."""
        self._outlook.update(zip(keys.tolist(), sums, strict=True))
        new = np.flatnonzero(keys // self.areas == month)
        if new.size:
            people, slots = sums[new, :1, :], keys[new] % self.areas
            self._intake[slots] = np.where(people > 0, sums[new, 1:, :] / np.maximum(people, 1.0), self._intake[slots])

    def _record_outlook(self, caseload: Caseload, keys: np.ndarray, local: np.ndarray, band: np.ndarray,
                        counted: np.ndarray, cut: np.ndarray, window: tuple[np.ndarray, ...],
                        known: np.ndarray, counts: np.ndarray) -> None:
        """Form the belief about each cohort's measured result from this month's plan, for next month.

        Person by person (people with a caseworker's reading); ``window`` as for :func:`_outlook_terms`.
        """
        fewer_r, var_r, fewer_o, var_o = _outlook_terms(cut, window, known, counts)
        slot = local * 4 + band
        size = keys.size * 4
        if counted.all():  # the usual case: nothing to weight out
            rows = (None, fewer_r, var_r, fewer_o, var_o)
        else:
            w = counted.astype(float)
            rows = (w, w * fewer_r, w * var_r, w * fewer_o, w * var_o)
        sums = np.empty((keys.size, 5, 4))
        for i, row in enumerate(rows):
            sums[:, i, :] = np.bincount(slot, weights=row, minlength=size).reshape(-1, 4)
        self._store_outlook(keys, caseload.month, sums)

    # -- the protocol ------------------------------------------------------------------------------
    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Hours that equate believed marginal revenue and marginal cost, person by person.

        Only the retained share of outcome payments counts as the prime's revenue; a mission
        weight on reoffences avoided is the prime's own and is not passed down.

        Without a caseworker's reading everyone in a *segment* (the same cohort, band and
        number of needs, engaged or not, known to have reoffended or not) has the same
        target dose, so it is worked out once per segment and gathered (the same arithmetic
        as person by person, so the same numbers), and the belief about each cohort's groups
        is summed segment by segment (:meth:`_allocate_by_segment`); with a reading, person
        by person.
        """
        cost_per_hour, retained_share = self._under_margin_cap(caseload, cost_per_hour, retained_share)
        sampled = self.beliefs.sample_effect(self.rng)
        if self._signal_weight is None or caseload.signal is None:
            return self._allocate_by_segment(caseload, cost_per_hour, retained_share, sampled)
        return self._allocate_by_person(caseload, cost_per_hour, retained_share, sampled)

    def _allocate_by_person(self, caseload: Caseload, cost_per_hour: float, retained_share: float,
                            sampled: np.ndarray) -> np.ndarray:
        """The rule person by person, for people read by caseworkers."""
        n = len(caseload)
        band = caseload.observed_band.astype(np.intp)
        b = self.beliefs
        cohort = caseload.cohort if caseload.cohort is not None else np.full(n, caseload.month * self.areas)
        counted = caseload.counted if caseload.counted is not None else np.ones(n, dtype=bool)
        keys, local = _cohorts(cohort)
        paid = bool(n and self.contract.payment.outcomes)
        if paid:
            groups = np.bincount(local * 4 + band, weights=counted, minlength=keys.size * 4).reshape(-1, 4)
            v_bin, v_freq = self._group_values(caseload, keys, groups)
        else:
            v_bin = np.broadcast_to(self.linear_binary, (keys.size, 4))
            v_freq = np.broadcast_to(self.linear_frequency, (keys.size, 4))
        known = caseload.reoffended
        factor, complexity = self._reading(caseload)
        workable = (caseload.need_count() > 0) & caseload.engaged
        mis, group = caseload.months_in_service, local * 4 + band
        remaining = np.maximum(self.follow_up - mis, 0).astype(float)
        unseen = np.minimum(mis, self.lag).astype(float)
        hazard, later = b.hazard[band], b.later_rate[band]
        effect = np.minimum(sampled[band] * factor, _MAX_EFFECT)
        clean = np.where(known, 0.0, np.exp(-hazard * unseen))
        # d(outcome)/d(relative cut in hazard) over the rest of the window, at the margin
        binary_gain = clean * hazard * remaining * np.exp(-hazard * remaining)
        frequency_gain = (clean * hazard * remaining * (1.0 + later * remaining / 2.0)
                          + (1.0 - clean) * later * remaining)
        binary_value = v_bin.ravel()[group] * retained_share
        frequency_value = v_freq.ravel()[group] * retained_share + self.social_value_per_reoffence
        value = effect * (binary_value * binary_gain + frequency_value * frequency_gain)
        value = np.where(workable, value, 0.0)
        ratio = value / (complexity * max(cost_per_hour, 1e-9))
        with np.errstate(divide="ignore"):
            target = complexity * np.log(np.maximum(ratio, 1e-300))
        mean_effect = np.minimum(b.effect[band] * factor, _MAX_EFFECT)
        self._last_reading = (caseload, factor, complexity)  # observe() reads the same people
        hours = np.clip(target - caseload.dose, 0.0, self.spec.max_hours_per_month)
        if paid:
            planned = np.maximum(caseload.dose, target)
            cut = np.where(workable, mean_effect * (1.0 - np.exp(-planned / complexity)), 0.0)
            follow = float(self.follow_up)
            window = (hazard, later, remaining, np.exp(-hazard * unseen), 1.0 - np.exp(-hazard * follow),
                      hazard * follow * (1.0 + later * follow / 2.0), 1.0 + later * unseen / 2.0)
            counts = (caseload.reoffences_known if caseload.reoffences_known is not None
                      else known.astype(float)).astype(float)
            self._record_outlook(caseload, keys, local, band, counted, cut, window, known, counts)
        return hours.astype(np.float32)

    def _positions(self, n: int) -> np.ndarray:
        """``np.arange(n)``, from one kept as long as the largest caseload yet."""
        held = self._arange
        if held.size < n:
            held = self._arange = np.arange(max(n, 2 * held.size), dtype=np.intp)
        return held[:n]

    #: a segment within a cohort: band (4), number of needs (0-7), engaged or not, known to have reoffended or not
    _SEGMENT = (4, 8, 2, 2)

    def _segments(self, caseload: Caseload, cohort: np.ndarray, n_needs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cohorts present (their keys, ascending) and each person's segment (int64).

        A caseload is made of whole cohorts, each a run of rows, in the order they were
        referred: each run's cohort index is repeated over it (no gather). Any other order is
        sorted out by a ``bincount`` over the span of keys (a few hundred at most).
        """
        bands, needs, engaged, seen = self._SEGMENT
        per_cohort = bands * needs * engaged * seen
        within = caseload.observed_band.astype(np.int8)
        within *= needs
        within += n_needs
        within *= engaged
        within += caseload.engaged
        within *= seen
        within += caseload.reoffended
        ends = np.flatnonzero(cohort[1:] != cohort[:-1])
        bounds = np.empty(ends.size + 2, dtype=np.intp)  # where each run starts, and the end
        bounds[0], bounds[-1] = 0, cohort.size
        np.add(ends, 1, out=bounds[1:-1])
        keys = cohort[bounds[:-1]].astype(np.int64, copy=False)
        if keys.size == 1 or bool((keys[1:] > keys[:-1]).all()):
            segment = np.repeat(np.arange(0, keys.size * per_cohort, per_cohort, dtype=np.int64),
                                bounds[1:] - bounds[:-1])
        else:
            lo = int(cohort.min())
            offset = cohort - lo
            present = np.bincount(offset) > 0
            keys = lo + np.flatnonzero(present)
            segment = ((np.cumsum(present) - 1) * per_cohort)[offset]
        segment += within
        return keys, segment

    def _allocate_by_segment(self, caseload: Caseload, cost_per_hour: float, retained_share: float,
                             sampled: np.ndarray) -> np.ndarray:
        """The rule segment by segment, for people without a caseworker's reading.

        A person's segment is ``cohort * 128 + ((band * 8 + needs) * 2 + engaged) * 2 + known``,
        so the rule's quantities are arrays of shape (cohorts, band, needs, engaged, known),
        each element worked out as it would be person by person. Only the hours (which take
        off the dose given so far) are person by person, and so is the belief of the few
        people already given more than their target (their planned dose is what they had).
        """
        n = len(caseload)
        month = caseload.month
        self._last_reading = self._last_segments = None
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        b = self.beliefs
        bands, needs, engaged, seen = self._SEGMENT
        per_cohort = bands * needs * engaged * seen
        cohort = caseload.cohort if caseload.cohort is not None else np.full(n, month * self.areas, dtype=np.int64)
        counted = caseload.counted
        if counted is not None and counted.all():
            counted = None
        known = caseload.reoffended
        n_needs = caseload.need_count()
        keys, segment = self._segments(caseload, cohort, n_needs)
        size = keys.size * per_cohort
        people = (np.bincount(segment, minlength=size) if counted is None
                  else np.bincount(segment, weights=counted, minlength=size)).astype(float)
        groups = people.reshape(keys.size, bands, -1).sum(axis=2)  # whole numbers: exact in any order
        paid = bool(self.contract.payment.outcomes)
        if paid:
            v_bin, v_freq = self._group_values(caseload, keys, groups)
        else:
            v_bin = np.broadcast_to(self.linear_binary, (keys.size, 4))
            v_freq = np.broadcast_to(self.linear_frequency, (keys.size, 4))
        # (cohort, band, needs, engaged, known) by broadcasting: cohort and band first
        mis = month - keys // self.areas
        remaining = np.maximum(self.follow_up - mis, 0).astype(float)[:, None, None, None, None]
        unseen = np.minimum(mis, self.lag).astype(float)[:, None, None, None, None]
        hazard = b.hazard[None, :, None, None, None]
        later = b.later_rate[None, :, None, None, None]
        effect = np.minimum(sampled, _MAX_EFFECT)[None, :, None, None, None]
        unseen_clean = np.exp(-hazard * unseen)
        clean = np.where(_IS_KNOWN, 0.0, unseen_clean)
        # d(outcome)/d(relative cut in hazard) over the rest of the window, at the margin
        binary_gain = clean * hazard * remaining * np.exp(-hazard * remaining)
        frequency_gain = (clean * hazard * remaining * (1.0 + later * remaining / 2.0)
                          + (1.0 - clean) * later * remaining)
        binary_value = (v_bin * retained_share)[:, :, None, None, None]
        frequency_value = (v_freq * retained_share + self.social_value_per_reoffence)[:, :, None, None, None]
        value = effect * (binary_value * binary_gain + frequency_value * frequency_gain)  # (cohort, band, 1, 1, known)
        # by (cohort, band, needs, engaged, known): a person with no needs or who does not engage
        # is worth nothing (ratio 0, the floor's log), the rest by their value and complexity
        per_hour = _TYPICAL_COMPLEXITY[1:, None, None] * max(cost_per_hour, 1e-9)
        target = np.empty((keys.size, bands, needs, engaged, seen))
        target[...] = _IDLE_TARGET[:, None, None]
        with np.errstate(divide="ignore"):
            ratio = value / per_hour
            target[:, :, 1:, 1:] = _TYPICAL_COMPLEXITY[1:, None, None] * np.log(np.maximum(ratio, 1e-300))
        target = target.ravel()  # flat: one target per segment
        # people of one segment have had the same service, so the same dose: each segment's is taken
        # from one of its people, and anyone whose differs is taken person by person (nobody in-house;
        # most people where sub-primes of different effectiveness by service type deliver)
        dose = caseload.dose
        rep = np.zeros(size, dtype=np.intp)  # one person of each segment (the last), 0 for an empty one
        rep[segment] = self._positions(n)
        each_dose = dose[rep]
        if caseload.cohort is not None:  # observe() reads the same people by segment
            self._last_segments = (caseload, keys, segment, rep)
        own = dose != each_dose[segment]
        own = np.flatnonzero(own) if own.any() else np.zeros(0, dtype=np.intp)
        top = self.spec.max_hours_per_month
        if 4 * own.size > n:
            # many doses differ from their segment's (sub-primes of different effectiveness by service
            # type): everyone's target gathered, less their own dose (the same numbers either way)
            each_target = target.take(segment)
            hours = np.clip(each_target - dose, 0.0, top).astype(np.float32)
            planned_own = np.maximum(dose[own], each_target[own])
        else:
            hours = np.clip(target - each_dose, 0.0, top).astype(np.float32)[segment]
            planned_own = None
            if own.size:
                hours[own] = np.clip(target[segment[own]] - dose[own], 0.0, top)
        if paid:
            cf_rate, cf_count = self.beliefs._kept("credited", self._credited)[:, None, :, None, None, None]
            window = (hazard, later, remaining, unseen_clean, cf_rate, cf_count, 1.0 + later * unseen / 2.0)
            counts = (caseload.reoffences_known if caseload.reoffences_known is not None
                      else known)
            mean_effect = np.minimum(b.effect, _MAX_EFFECT)
            if planned_own is None:
                planned_own = np.maximum(dose[own], target[segment[own]])
            planned = np.maximum(each_dose, target), planned_own
            self._outlook_by_segment(caseload, keys, segment, people, counted, planned, own, window, counts,
                                     mean_effect)
        return hours

    def _outlook_by_segment(self, caseload: Caseload, keys: np.ndarray, segment: np.ndarray, people: np.ndarray,
                            counted: np.ndarray | None, planned: tuple[np.ndarray, np.ndarray], own: np.ndarray,
                            window: tuple[np.ndarray, ...], counts: np.ndarray, mean_effect: np.ndarray) -> None:
        """The belief about each cohort's groups (as :meth:`_record_outlook`), summed segment by segment.

        ``people`` counts the counted people of each segment. ``planned`` holds each segment's
        planned dose (its target, or the dose given so far where that is more), and that of
        the people ``own`` whose dose is not their segment's, taken person by person.
        ``window`` is by (cohort, band), as the arrays of :func:`_outlook_terms`.
        """
        bands, needs, engaged, seen = self._SEGMENT
        per_group = needs * engaged * seen
        groups = keys.size * bands
        shape = (keys.size, bands, needs, engaged, seen)
        known = caseload.reoffended
        each, planned_own = planned
        # the known reoffences of the known people counted (those taken person by person apart)
        rows = np.flatnonzero(known)
        weights = counts[rows].astype(float)
        if counted is not None:
            weights *= counted[rows]
        if own.size:
            apart = np.zeros(known.size, dtype=bool)
            apart[own] = True
            weights *= ~apart[rows]
        reoffences = np.bincount(segment[rows] // per_group, weights=weights, minlength=groups)
        per_segment = people
        if own.size:
            seg = segment[own]
            if counted is None:  # whole numbers either way
                per_segment = people - np.bincount(seg, minlength=people.size)
            else:
                counted_own = counted[own]
                per_segment = people - np.bincount(seg, weights=counted_own.astype(float), minlength=people.size)
                if not counted_own.all():  # those not counted would add x * 0: they are left out
                    own, seg, planned_own = own[counted_own], seg[counted_own], planned_own[counted_own]
        # everyone else has their segment's belief, with no reoffence known so far
        # people with needs who engage: their segment's planned dose cuts their hazard; anyone
        # else's is not cut, so their part depends on cohort, band and known only (one value each)
        # so the arrays are (cohort, band, 8, known): the first of the 8 the people not worked with
        # (cut 0), the rest those who engage by their number of needs (1-7)
        n = per_segment.reshape(shape)
        counts_by = np.empty((keys.size, bands, needs, seen))
        counts_by[:, :, 1:] = n[:, :, 1:, 1, :]
        np.add(n[:, :, 0].sum(axis=2), n[:, :, 1:, 0].sum(axis=2), out=counts_by[:, :, 0])  # whole numbers
        cut = np.zeros((keys.size, bands, needs, seen))
        cut[:, :, 1:] = mean_effect[None, :, None, None] * (
            1.0 - np.exp(-each.reshape(shape)[:, :, 1:, 1, :] / _TYPICAL_COMPLEXITY[1:, None]))
        terms = _outlook_terms(cut, tuple(x[:, :, :, 0] for x in window), _IS_KNOWN, 0.0)
        sums = np.empty((keys.size, 5, bands))
        sums[:, 0] = people.reshape(keys.size, bands, per_group).sum(axis=2)
        weighted = np.empty((keys.size, 4, bands, needs, seen))
        for i, term in enumerate(terms):
            np.multiply(term, counts_by, out=weighted[:, i])
        sums[:, 1:] = weighted.sum(axis=(3, 4))
        reoffences = reoffences.reshape(-1, bands)
        sums[:, 3] -= reoffences
        sums[:, 4] += _COUNT_DISPERSION * reoffences
        if own.size:
            # person by person, from tables: by group (cohort, band) and by place within the cohort
            group = seg >> _GROUP_SHIFT
            within = seg & (per_group * bands - 1)
            # a cut only for people with needs who engage (0 x reach is the 0 of the rest)
            coefficient = np.where(_WITHIN_WORKABLE, mean_effect[_WITHIN_BAND], 0.0)
            reach = planned_own / _WITHIN_COMPLEXITY.take(within)
            np.negative(reach, out=reach)
            np.exp(reach, out=reach)
            np.subtract(1.0, reach, out=reach)
            cut_p = coefficient.take(within)
            cut_p *= reach
            tables = [np.broadcast_to(x, (keys.size, bands, 1, 1, 1)).reshape(groups) for x in window]
            terms = _outlook_terms_each(cut_p, group, tables, _WITHIN_KNOWN.take(within), counts, own)
            for i, x in enumerate(terms, start=1):  # each counted (a weight of 1)
                sums[:, i] += np.bincount(group, weights=x, minlength=groups).reshape(-1, bands)
        self._store_outlook(keys, caseload.month, sums)

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Take everyone."""
        return np.zeros(referrals.observed_band.size, dtype=bool)

    def _under_margin_cap(self, caseload: Caseload, cost_per_hour: float,
                          retained_share: float) -> tuple[float, float]:
        """The cost of an hour and the share of revenue kept once a cap on margin binds.

        Under a cap the commissioner claws back margin to date above ``margin_cap`` x
        income (docs/ODD.md 7.14). While the prime's books are above the cap, another
        pound of income leaves it ``margin_cap`` of a pound and another pound of cost
        costs it nothing (the clawback falls by as much): it is paid its costs, as under
        cost-plus, so it gives every hour worth anything. Below the cap, nothing changes.
        """
        cap = self.contract.stewardship.margin_cap
        if cap is None or caseload.books is None:
            return cost_per_hour, retained_share
        income, costs, clawed = caseload.books
        if income > 0 and income - costs - clawed > cap * income:
            return 0.0, retained_share * cap
        return cost_per_hour, retained_share

    def observe(self, seen: Observation) -> None:
        """Note a month's outcomes; learn them once they are proven (``proving_lag_months`` later)."""
        caseload = seen.caseload
        before = seen.reoffended_before if seen.reoffended_before is not None else caseload.reoffended
        segments = self._last_segments
        if segments is not None and segments[0] is caseload:
            evidence = self._evidence_by_segment(seen, before, segments[1], segments[2], segments[3])
        else:
            rows = np.flatnonzero(seen.in_window & ~before & caseload.engaged)  # at risk: only they add to the fit
            n_needs = caseload.need_count()[rows]
            if self._signal_weight is None or caseload.signal is None:
                # no reading: a responsiveness factor of 1 and the typical complexity for the needs
                reach = 1.0 - np.exp(-seen.dose[rows] / _TYPICAL_COMPLEXITY[n_needs])
            else:
                last = self._last_reading
                if last is not None and last[0] is caseload:
                    _, factor, complexity = last
                else:
                    factor, complexity = self._reading(caseload)
                reach = factor[rows] * (1.0 - np.exp(-seen.dose[rows] / complexity[rows]))
            evidence = Beliefs._evidence_of(
                caseload.observed_band[rows], reach, seen.first[rows], caseload.months_in_service[rows],
                n_needs, caseload.observed_band, seen.in_window & before, seen.later,
            )
        self._pending.append((caseload.month, evidence))
        while self._pending and self._pending[0][0] + self.lag <= caseload.month:
            self.beliefs.absorb(self._pending.popleft()[1])

    def _evidence_by_segment(self, seen: Observation, before: np.ndarray, keys: np.ndarray,
                             segment: np.ndarray, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`Beliefs.evidence` from people counted by segment and first reoffence or not.

        The covariates (reach, months since referral, number of needs) are the same for
        everyone at risk in a segment who had the same service, which is everyone as a rule:
        each segment's dose is that of one of its people (``rep``, as allocation took it), and
        anyone whose dose differs adds to the statistics person by person. The further
        reoffences of people who had reoffended before are counted in the same ``bincount``
        (their number by band) and added up from the few who had any.
        """
        caseload = seen.caseload
        bands, needs, engaged, seen_ = self._SEGMENT
        per_cohort = bands * needs * engaged * seen_
        size = keys.size * per_cohort
        at_risk = seen.in_window & ~before
        at_risk &= caseload.engaged  # only they add to the fit
        again = seen.in_window & before  # their further reoffences teach the later rate
        # each person's state: 0 neither, 1 reoffended before (in the window), 2 at risk, 3 at risk
        # and a first reoffence this month; and their cell, segment by state
        state = at_risk.view(np.int8) * np.int8(2)
        state += seen.first & at_risk
        state += again
        cell = segment * 4
        cell += state
        counts = np.bincount(cell, minlength=size * 4).reshape(size, 4)
        people = counts[:, 2:]  # at risk, by first or not
        dose = seen.dose[rep]
        own = at_risk & (seen.dose != dose[segment])  # nobody in-house; most people under a market
        apart = None  # the people at risk taken person by person, by segment and first or not
        if own.any():
            own = np.flatnonzero(own)
            seg_own = segment[own]
            cell_own = seg_own * 2
            cell_own += seen.first[own]
            apart = np.bincount(cell_own, minlength=size * 2).reshape(size, 2)
            people = people - apart
        else:
            own = None
        # each segment's covariates (people at risk engage): months since referral, number of needs, reach
        shape = (keys.size, bands, needs, engaged, seen_)
        people = people.reshape(*shape, 2)[:, :, :, 1]
        reach = 1.0 - np.exp(-dose.reshape(shape)[:, :, :, 1] / _TYPICAL_COMPLEXITY[:, None])
        if not people[:, :, :, 1].any():  # as a rule nobody known to have reoffended is at risk
            people, reach = people[:, :, :, 0], reach[:, :, :, 0]
            n = np.arange(needs, dtype=float)
            m = (caseload.month - keys // self.areas).astype(float)[:, None, None]
        else:
            n = np.arange(needs, dtype=float)[:, None]
            m = (caseload.month - keys // self.areas).astype(float)[:, None, None, None]
        # as person by person: each person's product of covariates (reach in its own dtype), then summed;
        # the products written straight into one array, X'X's ten then X'y's four
        terms = np.empty((14, *people.shape[:-1]))
        first, at_risk_people = terms[10], terms[0]
        first[...] = people[..., 1]
        np.add(first, people[..., 0], out=at_risk_people)
        for k, covariate in enumerate((reach, m, n, reach * reach, reach * m, reach * n, m * m, m * n, n * n), start=1):
            np.multiply(at_risk_people, covariate, out=terms[k])
        for k, covariate in enumerate((reach, m, n), start=11):
            np.multiply(first, covariate, out=terms[k])
        sums = terms.reshape(14, keys.size, bands, -1).sum(axis=(1, 3))
        xtx = np.empty((4, Beliefs._K, Beliefs._K))
        xtx[:, _ROWS, _COLS] = sums[:len(Beliefs._PAIRS)].T
        xtx[:, _COLS, _ROWS] = sums[:len(Beliefs._PAIRS)].T
        xty = sums[len(Beliefs._PAIRS):].T.copy()
        if own is not None:
            self._evidence_apart(seen, keys, own, seg_own, apart, xtx, xty)
        # further reoffences: how many people by band (from the cells), and their reoffences
        again_people = counts[:, 1].reshape(keys.size, bands, -1).sum(axis=(0, 2)).astype(np.float64)
        some = np.flatnonzero(again & (seen.later != 0))
        events = np.bincount(caseload.observed_band[some].astype(np.intp),
                             weights=seen.later[some].astype(np.float64), minlength=4)
        return xtx, xty, np.stack([again_people, events])

    def _evidence_apart(self, seen: Observation, keys: np.ndarray, own: np.ndarray, segment: np.ndarray,
                        apart: np.ndarray, xtx: np.ndarray, xty: np.ndarray) -> None:
        """Add to X'X and X'y the people at risk ``own`` (of segments ``segment``) whose dose is not their segment's.

        The sums of whole numbers (1, months, needs, first) are exact in any order, so they
        are counted by segment (``apart``: these people by segment and first or not); the
        sums with reach person by person, as :meth:`Beliefs._evidence_of` adds them.
        """
        caseload = seen.caseload
        bands, needs, engaged, seen_ = self._SEGMENT
        # by cohort, band and number of needs: people at risk and first reoffences
        people = apart.reshape(keys.size, bands, needs, engaged * seen_, 2).sum(axis=3).astype(np.float64)
        at_risk = people.sum(axis=3)
        m = (caseload.month - keys // self.areas).astype(float)
        n = np.arange(needs, dtype=float)
        m_powers, n_powers = np.stack([np.ones_like(m), m, m * m]), np.stack([np.ones_like(n), n, n * n])
        whole = np.einsum("kbn,ak,cn->bac", at_risk, m_powers, n_powers)  # whole numbers: exact in any order
        firsts = np.einsum("kbn,ak,cn->bac", people[..., 1], m_powers[:2], n_powers[:2])
        for (i, j), (a, c) in (((0, 0), (0, 0)), ((0, 2), (1, 0)), ((0, 3), (0, 1)), ((2, 2), (2, 0)),
                               ((2, 3), (1, 1)), ((3, 3), (0, 2))):
            xtx[:, i, j] += whole[:, a, c]
            if i != j:
                xtx[:, j, i] += whole[:, a, c]
        xty[:, 0] += firsts[:, 0, 0]
        xty[:, 2] += firsts[:, 1, 0]
        xty[:, 3] += firsts[:, 0, 1]
        # with reach: person by person, by band (as Beliefs._evidence_of: reach in its own dtype)
        within = segment & (needs * engaged * seen_ * bands - 1)
        band = _WITHIN_BAND.take(within)
        reach = seen.dose[own] / _WITHIN_COMPLEXITY.take(within)
        np.negative(reach, out=reach)
        np.exp(reach, out=reach)
        np.subtract(np.float32(1.0), reach, out=reach)
        months = m.take(segment >> _COHORT_SHIFT)

        def total(weights: np.ndarray) -> np.ndarray:
            return np.bincount(band, weights=weights, minlength=4)

        for (i, j), products in (((0, 1), reach.astype(np.float64)), ((1, 1), reach * reach),
                                 ((1, 2), reach * months), ((1, 3), reach * _WITHIN_NEEDS.take(within))):
            s = total(products)
            xtx[:, i, j] += s
            if i != j:
                xtx[:, j, i] += s
        xty[:, 1] += total(reach * seen.first[own].astype(np.float64))

    def reprice(self, contract: ContractSpec, block_grant_per_referral: float) -> None:
        """Weigh outcomes at the new terms (beliefs are kept)."""
        self.contract = contract
        self._pot_per_person = _pot_per_person(contract, block_grant_per_referral)
        self.linear_binary, self.linear_frequency = marginal_values(contract, block_grant_per_referral)
        self.binary_value, self.contract_frequency_value = self.linear_binary, self.linear_frequency


class ProfitSeekingStrategy(MarginalStrategy):
    """Maximises believed profit: effort by the marginal rule, and refuses referrals that lose money."""

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Refuse a person whose expected income falls short of the cost of the service owed to them.

        Expected income is the fees, plus the outcome payments the prime believes
        the specified service would earn on them at what its newest cohorts' groups
        are worth to it, plus any payment for an outcome that needs no effort at all
        (a basis's effortless value, such as a price per non-reoffender).
        """
        contract = self.contract
        pay, months = contract.payment, contract.service.months
        band = referrals.observed_band.astype(np.intp)
        beliefs = self.beliefs
        risk = 1.0 - (1.0 - beliefs.hazard[band]) ** contract.measure.follow_up_months
        hours = contract.service.min_hours_per_month * months * referrals.engaged
        reach = 1.0 - np.exp(-hours / believed_complexity(referrals.needs))
        fewer_reoffenders = risk * beliefs.effect[band] * reach
        income = (pay.fee_per_referral + pay.fee_per_supervision_month * months) * (1.0 - pay.at_risk_share)
        income = income + retained_share * (self.binary_value[band] * fewer_reoffenders
                                            + self.contract_frequency_value[band] * fewer_reoffenders
                                            * REOFFENCES_PER_REOFFENDER)
        for component in pay.outcomes:
            effortless = basis_of(component).effortless_value()
            if effortless.any():
                income = income + retained_share * effortless[band] * (1.0 - risk)
        return income < hours * cost_per_hour


class MissionDrivenStrategy(MarginalStrategy):
    """Weighs a social value per reoffence avoided beside the contract's payments; takes everyone."""

    def __init__(self, spec: PrimeSpec, scenario: Scenario, rng: np.random.Generator | None = None) -> None:
        super().__init__(spec, scenario, rng)
        self.social_value_per_reoffence = spec.social_value_per_reoffence


#: The class each scenario ``strategy`` names: the one place a strategy's name becomes behaviour.
_STRATEGIES: dict[Strategy, Callable[..., ProviderStrategy]] = {
    Strategy.UNIFORM: UniformStrategy.build,
    Strategy.PROFIT_SEEKING: ProfitSeekingStrategy.build,
    Strategy.MISSION_DRIVEN: MissionDrivenStrategy.build,
}


def make_strategy(spec: PrimeSpec, scenario: Scenario, rng: np.random.Generator | None = None) -> ProviderStrategy:
    """Build the strategy named in a prime's scenario entry (``rng``: its draws, e.g. Thompson samples)."""
    return _STRATEGIES[spec.strategy](spec, scenario, rng)
