"""The commissioner's counterfactual: what it believes a cohort's outcome would have been without the service.

The commissioner never sees the truth; it sees one of these. Each returns the
expected number of reoffenders and of reoffences for the people counted in a
cohort, by payment group (assessed risk band), so payments can be judged on
the whole cohort or band by band.

* historical baseline: rates by payment group on a cohort measured before the
  contract, optionally rolled forward by an assumed drift;
* risk-adjusted baseline: the baseline cohort's rates by predicted-risk group
  (quantiles of the assessed score), applied to each cohort's own mix;
* matched comparison group: a fresh untreated group matched on payment group,
  with sampling noise and an optional bias from unobserved differences;
* oracle: the same people's true untreated outcomes (a reference only).

Baselines are frozen at the start: neither sees true drift in the population.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from pbrsim.sim.population import CohortProfile, draw_offenders, untreated_outcomes
from pbrsim.sim.scenario import ComparisonGroup, HistoricalBaseline, Oracle, RiskAdjustedBaseline

__all__ = ["CohortView", "CounterfactualMeasure", "build_counterfactual", "counterfactual_variance"]

N_BANDS = 4


@dataclass(frozen=True)
class CohortView:
    """The counted people of the cohorts measured together (one referral month's), as the measurement needs them.

    Attributes:
        key: each counted person's cohort (0, 1, ... in order) times ``N_BANDS`` plus payment group.
        score: each counted person's assessed risk score.
        n: people counted, (cohorts, groups).
        untreated_reoffenders: reoffenders on the untreated path, (cohorts, groups).
        untreated_reoffences: reoffences on the untreated path, (cohorts, groups).
        drift: true change in risk since the baseline year for the month's referrals.
        months_since_start: months from the first referral month to theirs.

    """

    key: np.ndarray
    score: np.ndarray
    n: np.ndarray
    untreated_reoffenders: np.ndarray
    untreated_reoffences: np.ndarray
    drift: float
    months_since_start: int


class CounterfactualMeasure(Protocol):
    """Expected reoffenders and reoffences per payment group for cohorts."""

    def expected(self, cohorts: CohortView) -> tuple[np.ndarray, np.ndarray]:
        """(reoffenders, reoffences) per cohort and group, (cohorts, groups), as floats."""
        ...


def _per_band(band: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(band, weights=weights, minlength=N_BANDS).astype(float)


def _per_group(cohorts: CohortView, weights: np.ndarray) -> np.ndarray:
    """Sums of ``weights`` (per person) by cohort and group: each cohort's own bincount by band."""
    size = cohorts.n.shape[0]
    return np.bincount(cohorts.key, weights=weights, minlength=size * N_BANDS).astype(float).reshape(size, N_BANDS)


class OracleCounterfactual:
    """The true untreated outcomes of the same people (common random numbers)."""

    def expected(self, cohorts: CohortView) -> tuple[np.ndarray, np.ndarray]:
        """The untreated path's reoffenders and reoffences by cohort and band."""
        return cohorts.untreated_reoffenders.copy(), cohorts.untreated_reoffences.copy()


def _baseline_cohort(rng: np.random.Generator, profile: CohortProfile, size: int, months: int):
    people = draw_offenders(rng, size, profile, drift=0.0)
    reoffended, reoffences = untreated_outcomes(rng, people["hazard"], people["frequency"], months)
    return people, reoffended, reoffences


class HistoricalCounterfactual:
    """Rates by payment group on a pre-contract cohort, rolled forward by an assumed drift."""

    def __init__(self, spec: HistoricalBaseline, profile: CohortProfile, months: int,
                 rng: np.random.Generator) -> None:
        people, reoffended, reoffences = _baseline_cohort(rng, profile, spec.baseline_cohort_size, months)
        n = np.maximum(_per_band(people["pay_band"]), 1.0)
        self.rate = _per_band(people["pay_band"], reoffended.astype(float)) / n
        self.frequency = _per_band(people["pay_band"], reoffences.astype(float)) / n
        self.assumed_drift = spec.assumed_drift_pp_per_year / 100.0

    def expected(self, cohorts: CohortView) -> tuple[np.ndarray, np.ndarray]:
        """Baseline rates times each cohort's numbers in each band."""
        n = cohorts.n
        shift = self.assumed_drift * cohorts.months_since_start / 12.0
        rate = np.clip(self.rate + shift, 0.0, 1.0)
        scale = np.divide(rate, self.rate, out=np.ones_like(rate), where=self.rate > 0)
        return n * rate, n * self.frequency * scale


class RiskAdjustedCounterfactual:
    """Baseline rates by predicted-risk group, applied person by person to each cohort's mix."""

    def __init__(self, spec: RiskAdjustedBaseline, profile: CohortProfile, months: int,
                 rng: np.random.Generator) -> None:
        people, reoffended, reoffences = _baseline_cohort(rng, profile, spec.baseline_cohort_size, months)
        self.edges = np.quantile(people["score"], np.linspace(0, 1, spec.groups + 1)[1:-1])
        group = np.searchsorted(self.edges, people["score"], side="right")
        n = np.maximum(np.bincount(group, minlength=spec.groups), 1)
        self.rate = np.bincount(group, weights=reoffended.astype(float), minlength=spec.groups) / n
        self.frequency = np.bincount(group, weights=reoffences.astype(float), minlength=spec.groups) / n

    def expected(self, cohorts: CohortView) -> tuple[np.ndarray, np.ndarray]:
        """Each person's group rate, summed by cohort and payment group."""
        group = np.searchsorted(self.edges, cohorts.score, side="right")
        return _per_group(cohorts, self.rate[group]), _per_group(cohorts, self.frequency[group])


class ComparisonCounterfactual:
    """A matched comparison group of untreated people, drawn afresh for each cohort."""

    def __init__(self, spec: ComparisonGroup, profile: CohortProfile, months: int,
                 rng: np.random.Generator) -> None:
        self.spec, self.profile, self.months, self.rng = spec, profile, months, rng

    def expected(self, cohorts: CohortView) -> tuple[np.ndarray, np.ndarray]:
        """A comparison group for each cohort in turn (cohort order: the draws follow it)."""
        each = [self._one(n, cohorts.drift) for n in cohorts.n]
        return (np.array([e[0] for e in each]).reshape(cohorts.n.shape),
                np.array([e[1] for e in each]).reshape(cohorts.n.shape))

    def _one(self, n: np.ndarray, drift: float) -> tuple[np.ndarray, np.ndarray]:
        """The comparison group's rates by band (its overall rate where a band is empty), plus bias."""
        size = max(int(round(self.spec.size_ratio * n.sum())), 1)
        people = draw_offenders(self.rng, size, self.profile, drift=drift)
        reoffended, reoffences = untreated_outcomes(self.rng, people["hazard"], people["frequency"], self.months)
        m = _per_band(people["pay_band"])
        overall_rate = reoffended.mean()
        overall_freq = reoffences.mean()
        rate = np.where(m > 0, _per_band(people["pay_band"], reoffended.astype(float)) / np.maximum(m, 1), overall_rate)
        freq = np.where(m > 0, _per_band(people["pay_band"], reoffences.astype(float)) / np.maximum(m, 1), overall_freq)
        biased = np.clip(rate + self.spec.matching_bias_pp / 100.0, 0.0, 1.0)
        scale = np.divide(biased, rate, out=np.ones_like(rate), where=rate > 0)
        return n * biased, n * freq * scale


def build_counterfactual(
    spec: HistoricalBaseline | RiskAdjustedBaseline | ComparisonGroup | Oracle,
    profile: CohortProfile,
    months: int,
    rng: np.random.Generator,
) -> CounterfactualMeasure:
    """The counterfactual a scenario's contract names."""
    if isinstance(spec, Oracle):
        return OracleCounterfactual()
    if isinstance(spec, HistoricalBaseline):
        return HistoricalCounterfactual(spec, profile, months, rng)
    if isinstance(spec, RiskAdjustedBaseline):
        return RiskAdjustedCounterfactual(spec, profile, months, rng)
    return ComparisonCounterfactual(spec, profile, months, rng)


def counterfactual_variance(
    spec: HistoricalBaseline | RiskAdjustedBaseline | ComparisonGroup | Oracle,
    n: np.ndarray,
    band_share: np.ndarray,
    person_variance: np.ndarray,
) -> np.ndarray:
    """Sampling variance of the counterfactual's expected count for payment groups, as a provider sees it.

    A provider pricing its chance of clearing a threshold knows what kind of
    counterfactual the contract uses and how big it is, so it knows how noisy
    the commissioner's yardstick is:

    * a baseline (historical or risk-adjusted) rate comes from
      ``baseline_cohort_size`` people, ``band_share`` of them in the group's
      band: the expected count ``n x rate`` has variance
      ``n² x person_variance / (baseline_cohort_size x band_share)``, the same
      error for every cohort (a provider does not know its sign);
    * a comparison group of ``size_ratio x n`` people drawn afresh for each
      cohort: ``n x person_variance / size_ratio``;
    * the oracle: none (the untreated path of the same people; the chance in
      the treated path is counted by the provider apart).

    Args:
        spec: the contract's counterfactual.
        n: people counted in each group.
        band_share: the group's band's share of referrals.
        person_variance: variance of one person's outcome (a reoffender or not,
            or a count of reoffences) under no intervention.

    Returns:
        Variance per group, in counts squared.

    """
    if isinstance(spec, Oracle):
        return np.zeros_like(n, dtype=float)
    if isinstance(spec, HistoricalBaseline | RiskAdjustedBaseline):
        baseline = np.maximum(spec.baseline_cohort_size * band_share, 1.0)
        return np.square(n) * person_variance / baseline
    return n * person_variance / spec.size_ratio
