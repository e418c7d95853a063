"""Offenders: how a cohort is drawn, and the store that holds every offender as numpy arrays.

Offenders never exist as Python objects. Each monthly referral is a block of
rows appended to one :class:`OffenderStore`; because referral months are
appended in order, everybody in service or in their follow-up window at a
given month is one contiguous slice of the store, so the monthly work is a
handful of vectorised operations whatever the number of areas or cohorts.

Calibration (sources in docs/sources.md and docs/ODD.md):

* ``risk`` is the probability of a proven reoffence within 12 months with no
  intervention, drawn from a Beta distribution whose mean is the Ministry of
  Justice proven reoffending rate of the cohort type (Proven reoffending
  statistics, April-June 2023 cohort; Peterborough comparison group 55.7%).
* reoffences per reoffender average about 2.9 (MoJ, 2011; Peterborough
  comparison group 155 events per 100 people against 55.7% reoffenders: 2.8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pbrsim.sim.scenario import SERVICE_TYPES, CohortSpec, CohortType

__all__ = [
    "BAND_EDGES",
    "COMPLEXITY_SPREAD",
    "LOG_RESPONSIVENESS_MEAN",
    "LOG_RESPONSIVENESS_VAR",
    "caseworker_signals",
    "volume_factor",
    "COHORT_TYPES",
    "CohortProfile",
    "OffenderStore",
    "Runs",
    "band_of",
    "draw_offenders",
    "untreated_outcomes",
]

#: Upper edges of the risk bands on the 12-month probability (low < 0.25 <= medium < 0.5 ...).
BAND_EDGES = np.array([0.25, 0.5, 0.75])

#: Share of offenders with each need at average risk (illustrative, OASys-like; not calibrated).
_NEED_BASE = np.array([0.30, 0.50, 0.40, 0.35, 0.30, 0.25, 0.60])
#: How fast each need's prevalence rises with risk (log-odds per unit of risk).
_NEED_SLOPE = 3.0
#: exp(-logit(base)): the odds against each need at the base rate
_NEED_ODDS_AGAINST = (1.0 - _NEED_BASE) / _NEED_BASE
#: Responsiveness is Beta(3, 7): mean 0.3, the largest relative cut in hazard service can make
#: (illustrative; docs/ODD.md 5.2).
_RESPONSIVENESS_BETA = (3.0, 7.0)
#: Mean and variance of log responsiveness under Beta(3, 7): digamma(3) - digamma(10) and
#: trigamma(3) - trigamma(10) = sum of 1/k² for k = 3..9. A provider's caseworkers read
#: a person's prospects against this spread.
LOG_RESPONSIVENESS_MEAN = -1.3289683
LOG_RESPONSIVENESS_VAR = sum(1.0 / k**2 for k in range(3, 10))
#: Standard deviation of log complexity around the typical complexity for a person's number of
#: needs (a lognormal factor; illustrative).
COMPLEXITY_SPREAD = 0.3


@dataclass(frozen=True)
class CohortProfile:
    """Parameters of one published cohort type.

    Attributes:
        base_rate: mean 12-month proven reoffending probability with no intervention.
        concentration: Beta concentration of risk around the mean (lower is more spread).
        frequency_rate: monthly rate of further reoffences after the first, at average risk,
            set so reoffences per reoffender come out near the published figure.
        source: where ``base_rate`` comes from.

    """

    base_rate: float
    concentration: float
    frequency_rate: float
    source: str


_MOJ = "MoJ Proven reoffending statistics, April-June 2023 cohort"
#: Calibrated profiles; ``frequency_rate`` is tuned so reoffences per reoffender is about 2.9
#: (MoJ 2011) -- see tests/test_calibration.py, which holds the model to both figures.
COHORT_TYPES: dict[CohortType, CohortProfile] = {
    CohortType.ALL_OFFENDERS: CohortProfile(0.275, 3.0, 0.226, _MOJ + ": all offenders 27.5%"),
    CohortType.ADULTS: CohortProfile(0.273, 3.0, 0.225, _MOJ + ": adults 27.3%"),
    CohortType.ADULTS_CUSTODY_OR_COURT_ORDER: CohortProfile(
        0.352, 3.0, 0.240, _MOJ + ": adults released from custody or starting court orders 35.2%"
    ),
    CohortType.ADULTS_SHORT_CUSTODY: CohortProfile(
        0.592, 4.0, 0.260, _MOJ + ": adults released from sentences under 12 months 59.2%"
    ),
    CohortType.ADULTS_CUSTODY_6M_OR_LESS: CohortProfile(
        0.623, 4.0, 0.259, _MOJ + ": adults released from sentences of 6 months or less 62.3%"
    ),
    CohortType.PETERBOROUGH_SHORT_SENTENCE_MEN: CohortProfile(
        0.557, 4.0, 0.245,
        "Peterborough SIB cohort 1 comparison group: 55.7% binary, 155 events per 100",
    ),
}


def band_of(p: np.ndarray) -> np.ndarray:
    """Risk band index (0 = low ... 3 = very high) of 12-month probabilities.

    The number of band edges at or below ``p`` (``searchsorted(..., side="right")``), counted
    with one comparison per edge: a quarter of the cost of a search on a few million people.
    """
    p = np.asarray(p)
    band = (p >= BAND_EDGES[0]).view(np.int8).copy()
    for edge in BAND_EDGES[1:]:
        band += (p >= edge).view(np.int8)
    return band


def draw_offenders(
    rng: np.random.Generator,
    n: int,
    profile: CohortProfile,
    drift: float = 0.0,
    score_noise: float = 0.08,
) -> dict[str, np.ndarray]:
    """Draw ``n`` offenders of a cohort type.

    Args:
        rng: the random stream to draw from.
        n: how many.
        profile: the cohort type's calibration.
        drift: change in every offender's true risk (probability units) since the baseline year.
        score_noise: standard deviation of the assessed risk score around the baseline-year risk.

    Returns:
        Column arrays, one row per offender (see docs/ODD.md, "State variables").

    """
    a = profile.base_rate * profile.concentration
    b = (1.0 - profile.base_rate) * profile.concentration
    base_risk = np.clip(rng.beta(a, b, n), 0.005, 0.98)
    risk = np.clip(base_risk + drift, 0.001, 0.99)
    # The assessed score sees static factors only: it cannot see drift since the baseline year.
    score = np.clip(base_risk + rng.normal(0.0, score_noise, n), 0.001, 0.999)
    # P(need) = 1 / (1 + exp(-(logit(base) + slope * (risk - base rate)))), with the exponential
    # factored into a per-type and a per-person part: n exponentials instead of n x 7. The
    # threshold can differ from the unfactored one in its last bit only, so a need drawn on
    # the same uniform differs with a chance of about 1e-16 a cell.
    per_person = np.exp(-_NEED_SLOPE * (base_risk - profile.base_rate))
    chance = _NEED_ODDS_AGAINST[None, :] * per_person[:, None]
    chance += 1.0
    np.divide(1.0, chance, out=chance)  # 1 / (1 + odds x per person), without temporaries
    needs = rng.random((n, len(SERVICE_TYPES))) < chance
    n_needs = needs.view(np.uint8) @ np.ones(len(SERVICE_TYPES), dtype=np.uint8)  # a quarter of sum(axis=1)'s time
    complexity = 20.0 * (1.0 + 0.35 * n_needs) * rng.lognormal(0.0, COMPLEXITY_SPREAD, n)
    responsiveness = rng.beta(*_RESPONSIVENESS_BETA, n)
    frequency = profile.frequency_rate * (0.5 + base_risk / (2.0 * profile.base_rate)) * rng.gamma(2.0, 0.5, n)
    engaged = rng.random(n) < (0.95 - 0.3 * base_risk)
    female = rng.random(n) < 0.15
    u_age = rng.random(n)
    young = 0.10 + 0.35 * base_risk
    # 0 below young, 1 up to young + 0.45, 2 above: the number of those edges at or below u
    age_group = (u_age >= young).view(np.int8) + (u_age >= young + 0.45).view(np.int8)
    return {
        "risk": risk.astype(np.float32),
        "hazard": (1.0 - (1.0 - risk) ** (1.0 / 12.0)).astype(np.float32),
        "score": score.astype(np.float32),
        "pay_band": band_of(score),
        "true_band": band_of(risk),
        "needs": needs,
        "n_needs": n_needs.astype(np.int8),
        "complexity": complexity.astype(np.float32),
        "responsiveness": responsiveness.astype(np.float32),
        "frequency": frequency.astype(np.float32),
        "engaged": engaged,
        "female": female,
        "age_group": age_group,
    }


def caseworker_signals(responsiveness: np.ndarray, complexity: np.ndarray, n_needs: np.ndarray,
                       noise_z: np.ndarray, noise: float) -> np.ndarray:
    """A caseworker's private, noisy reading of each person's prospects, shape (people, 2).

    Column 0 reads log responsiveness less its population mean, column 1 log
    complexity less the log of the typical complexity for the person's number of
    needs; each with normal noise of standard deviation ``noise`` (``noise_z`` are
    standard normal draws fixed per person at referral, so a provider with less
    noise reads the same person more truly). The commissioner's payment groups
    never see it.
    """
    typical = 20.0 * (1.0 + 0.35 * n_needs.astype(np.float32))
    signal = np.empty((responsiveness.shape[0], 2), dtype=np.float32)
    signal[:, 0] = np.log(responsiveness) - LOG_RESPONSIVENESS_MEAN + noise * noise_z[:, 0]
    signal[:, 1] = np.log(complexity / typical) + noise * noise_z[:, 1]
    return signal


def untreated_outcomes(
    rng: np.random.Generator, hazard: np.ndarray, frequency: np.ndarray, months: int
) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes over a window with no intervention, in closed form (no monthly loop).

    The first reoffence month is geometric in the monthly hazard; further
    reoffences are Poisson at the offender's frequency rate for the months
    after it. This is the same law as the monthly simulation, so baseline and
    comparison cohorts drawn with it are comparable with treated cohorts.

    Returns:
        (reoffended, reoffences) per person.

    """
    n = hazard.shape[0]
    u = rng.random(n)
    p_any = 1.0 - (1.0 - hazard.astype(np.float64)) ** months
    reoffended = u < p_any
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.ceil(np.log1p(-u) / np.log1p(-hazard.astype(np.float64)))
    first = np.clip(np.nan_to_num(first, nan=months), 1, months)
    later = rng.poisson(frequency * np.maximum(months - first, 0.0))
    reoffences = np.where(reoffended, 1 + later, 0)
    return reoffended, reoffences


class OffenderStore:
    """Every referred offender, as growable column arrays in referral order.

    Rows are never removed or reordered, so a (start, stop) pair identifies a
    cohort for the whole run.
    """

    _SPEC: dict[str, tuple[type, tuple[int, ...]]] = {
        "risk": (np.float32, ()),
        "hazard": (np.float32, ()),
        "score": (np.float32, ()),
        "pay_band": (np.int8, ()),
        "true_band": (np.int8, ()),
        "needs": (np.bool_, (len(SERVICE_TYPES),)),
        "n_needs": (np.int8, ()),
        "complexity": (np.float32, ()),
        "responsiveness": (np.float32, ()),
        "frequency": (np.float32, ()),
        "engaged": (np.bool_, ()),
        "refused": (np.bool_, ()),
        "female": (np.bool_, ()),
        "age_group": (np.int8, ()),
        # standard normal noise of a caseworker's reading of the person (caseworker_signals)
        "signal_z": (np.float32, (2,)),
        # state
        "area": (np.int16, ()),
        "referral_month": (np.int16, ()),
        "hours": (np.float32, ()),
        "dose": (np.float32, ()),
        "first_month": (np.int16, ()),
        "reoffences": (np.int16, ()),
        "untreated_first_month": (np.int16, ()),
        "untreated_reoffences": (np.int16, ()),
    }
    _NEVER = np.int16(-1)
    #: columns append() sets from its arguments rather than the referrals' columns
    _SET_AT_APPEND = frozenset({"area", "referral_month", "first_month", "untreated_first_month"})

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self._capacity = max(int(capacity), 16)
        # uninitialised: append() writes every column of the rows it adds (zeroing the freshly
        # allocated columns here would cost as much as the writes, for rows that may never exist)
        self.columns: dict[str, np.ndarray] = {
            name: np.empty((self._capacity, *shape), dtype=dtype)
            for name, (dtype, shape) in self._SPEC.items()
        }

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def nbytes(self) -> int:
        """Memory held by the columns."""
        return sum(c.nbytes for c in self.columns.values())

    def append(self, rows: dict[str, np.ndarray], area: np.ndarray, month: int) -> tuple[int, int]:
        """Add a block of new referrals; returns its (start, stop) rows."""
        n = int(area.shape[0])
        start, stop = self.size, self.size + n
        if stop > self._capacity:
            self._grow(stop)
        cols = self.columns
        for name, values in rows.items():
            cols[name][start:stop] = values
        cols["area"][start:stop] = area
        cols["referral_month"][start:stop] = month
        for name in ("first_month", "untreated_first_month"):
            cols[name][start:stop] = self._NEVER
        for name in self._SPEC.keys() - rows.keys() - self._SET_AT_APPEND:
            cols[name][start:stop] = 0
        self.size = stop
        return start, stop

    def _grow(self, needed: int) -> None:
        new = max(needed, int(self._capacity * 1.5))
        for name, col in self.columns.items():
            grown = np.empty((new, *col.shape[1:]), dtype=col.dtype)
            grown[: self.size] = col[: self.size]
            self.columns[name] = grown
        self._capacity = new

    def trimmed(self) -> dict[str, np.ndarray]:
        """Columns cut to the rows in use."""
        return {name: col[: self.size] for name, col in self.columns.items()}


class Runs:
    """Store rows that are whole cohorts (runs of consecutive rows), in store order.

    A prime's caseload is the cohorts in service in the areas it holds: its columns are
    gathered by slicing each run (about half the cost of indexing by row), values that are
    the same for a whole cohort are repeated over its run, and ``rows`` is the index array
    for what needs one. Rows that are not whole cohorts (``Runs.indexed``: some people left
    out) are gathered by index and have no runs.
    """

    def __init__(self, rows: np.ndarray, starts: list[int] | None = None, stops: list[int] | None = None,
                 months: list[int] | None = None, areas: list[int] | None = None) -> None:
        self.rows = rows
        self.starts, self.stops = starts, stops
        #: each run's referral month and area (whole cohorts only)
        self.months, self.areas = months, areas

    @classmethod
    def of(cls, cohorts: list) -> Runs:
        """The runs of ``cohorts`` (each with ``start``, ``stop``, ``month``, ``area`` and a ``rows`` index)."""
        rows = np.concatenate([c.rows for c in cohorts]) if cohorts else np.zeros(0, dtype=np.intp)
        return cls(rows, [c.start for c in cohorts], [c.stop for c in cohorts],
                   [c.month for c in cohorts], [c.area for c in cohorts])

    @classmethod
    def indexed(cls, rows: np.ndarray) -> Runs:
        """Any rows, gathered by index."""
        return cls(rows)

    @property
    def whole(self) -> bool:
        """Whether the rows are whole cohorts (runs)."""
        return self.starts is not None

    @property
    def size(self) -> int:
        """Rows in all."""
        return int(self.rows.shape[0])

    def take(self, column: np.ndarray) -> np.ndarray:
        """``column[rows]``: by slicing each run where the rows are whole cohorts."""
        if self.starts is None or self.stops is None:
            return column[self.rows]
        if not self.starts:
            return column[:0].copy()
        return np.concatenate([column[a:b] for a, b in zip(self.starts, self.stops, strict=True)])

    def repeat(self, values: np.ndarray) -> np.ndarray:
        """One value per run (whole cohorts only), repeated over the run's rows."""
        assert self.starts is not None and self.stops is not None
        return np.repeat(values, np.subtract(self.stops, self.starts))


def volume_factor(cohort: CohortSpec, month: int) -> float:
    """Return referrals in ``month`` as a multiple of the plan: the product of shocks in force."""
    factor = 1.0
    for shock in cohort.volume_shocks:
        if month >= shock.start_month and (shock.end_month is None or month <= shock.end_month):
            factor *= shock.factor
    return factor
