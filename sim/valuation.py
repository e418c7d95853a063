"""What one more unit of outcome is worth to a provider under the contract's real payment terms.

A provider does not know its cohort's measured result in advance: it has a
belief about it, an expected improvement ``mu`` and a spread ``sigma`` (the
chance in who reoffends in a cohort of this size, and the noise of the
commissioner's counterfactual). Its marginal revenue from improving a payment
group is the derivative of its *expected* payment with respect to ``mu``,
taken under the real payment schedule of each outcome component
(:class:`~pbrsim.sim.bases.Pieces`, built by the payment basis itself):

``d E[pay(X)] / d mu``, X ~ Normal(mu, sigma²)

For a piece paying ``a + b x`` on ``[L, U)``, with ``l = (L - mu) / sigma``,
``u = (U - mu) / sigma``, Φ and φ the standard normal cdf and density:

* ``E = a (Φ(u) - Φ(l)) + b (mu (Φ(u) - Φ(l)) + sigma (φ(l) - φ(u)))``
* ``dE/dmu = a (φ(l) - φ(u)) / sigma + b (Φ(u) - Φ(l) + (L φ(l) - U φ(u)) / sigma)``

(docs/ODD.md 7.5 derives them). The ``b (Φ(u) - Φ(l))`` term is the price
where the cohort is sure to be paid linearly: with a linear schedule and
``sigma`` small beside the distance to any kink, it is the slope, so the rule
reduces to valuing outcomes at the linear price. The ``φ`` terms are the
pull of a trigger or an all-or-nothing target: large when the cohort is near
it, nothing when the target is far out of reach or already certain. A cap per
cohort or on the contract's total multiplies the value by the chance that the
cap does not bind (the slope above a cap is 0).

Everything here is vectorised over payment groups (cohort x band): a prime
values all its live cohorts at once, per group, never per person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pbrsim.sim.bases import PaymentBasis, Pieces, basis_of, measure_of
from pbrsim.sim.scenario import ContractSpec
from scipy.special import ndtr

__all__ = ["GroupOutlook", "expected_payment", "group_values", "not_capped"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
#: The least spread a belief about a measured result can have (in the measure's unit): a
#: cohort's measured rate moves in steps of one person, so a belief is never a point.
_MIN_SIGMA = 1e-3


def _density(z: np.ndarray) -> np.ndarray:
    """Standard normal density, 0 at ±infinity."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(np.isfinite(z), np.exp(-0.5 * np.square(z)) / _SQRT_2PI, 0.0)


def _edges(pieces: Pieces) -> np.ndarray:
    """Both edges of every piece, (2, pieces, groups)."""
    if pieces.edges is not None:
        return pieces.edges
    lower, upper = pieces.lower, pieces.upper
    return np.stack([lower, upper] if np.shape(lower) == np.shape(upper) else np.broadcast_arrays(lower, upper))


def expected_payment(pieces: Pieces, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected payment and its derivative in ``mu``, per group, for X ~ Normal(mu, sigma²).

    Args:
        pieces: the payment schedule, shape (pieces, groups).
        mu: expected improvement per group, in the measure's unit.
        sigma: its standard deviation per group.

    Returns:
        (E[pay(X)], d E[pay(X)] / d mu), one value per group.

    """
    s = np.maximum(sigma, _MIN_SIGMA)
    # both edges of every piece at once: (2, pieces, groups)
    edges = _edges(pieces)
    with np.errstate(invalid="ignore"):
        z = (edges - mu) / s
        cdf, pdf = ndtr(z), _density(z)
        # L φ(l) and U φ(u), 0 at an infinite edge (the density falls faster than the edge grows)
        edge = np.where(np.isfinite(edges), edges * pdf, 0.0)
    (cdf_lo, cdf_hi), (pdf_lo, pdf_hi), (edge_lo, edge_hi) = cdf, pdf, edge
    mass = cdf_hi - cdf_lo
    first_moment = mu * mass + s * (pdf_lo - pdf_hi)
    a, b = pieces.intercept, pieces.slope
    expected = (a * mass + b * first_moment).sum(axis=0)
    slope = (a * (pdf_lo - pdf_hi) / s + b * (mass + (edge_lo - edge_hi) / s)).sum(axis=0)
    return expected, slope


def not_capped(cap: float, expected: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Chance that a payment believed Normal(expected, variance) stays below ``cap``."""
    sd = np.sqrt(np.maximum(variance, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (cap - expected) / np.where(sd > 0, sd, 1.0), np.where(expected < cap, np.inf, -np.inf))
    return ndtr(z)


@dataclass(frozen=True)
class GroupOutlook:
    """A provider's belief about the measured outcome of its payment groups.

    Every array has shape (cohorts, 4): one row per live cohort, one column per
    payment group (observed risk band). Counts are of the people the contract's
    cohort definition counts.

    Attributes:
        n: people counted.
        cf_reoffenders: reoffenders the provider expects the counterfactual to credit.
        cf_reoffences: reoffences the provider expects the counterfactual to credit.
        fewer_reoffenders: expected counterfactual reoffenders less measured reoffenders.
        var_reoffenders: variance of that difference (chance and counterfactual noise).
        fewer_reoffences: expected counterfactual reoffences less measured reoffences.
        var_reoffences: variance of that difference.
        pot: fees withheld at risk that each cohort's pot will hold (one value per cohort).

    """

    n: np.ndarray
    cf_reoffenders: np.ndarray
    cf_reoffences: np.ndarray
    fewer_reoffenders: np.ndarray
    var_reoffenders: np.ndarray
    fewer_reoffences: np.ndarray
    var_reoffences: np.ndarray
    pot: np.ndarray

    def pooled(self) -> GroupOutlook:
        """The same belief for each cohort as a whole (one group per cohort, in column 0)."""
        def whole(x: np.ndarray) -> np.ndarray:
            return x.sum(axis=1, keepdims=True)

        return GroupOutlook(whole(self.n), whole(self.cf_reoffenders), whole(self.cf_reoffences),
                            whole(self.fewer_reoffenders), whole(self.var_reoffenders),
                            whole(self.fewer_reoffences), whole(self.var_reoffences), self.pot)


def _terms_of(contract: ContractSpec) -> list[tuple[PaymentBasis, np.ndarray, bool, bool, float | None]]:
    """Each outcome component's basis, prices by band, whether judged by band, per person, cap per cohort.

    Worked out once per contract (a contract is frozen; a prime holds one until it reprices).
    """
    held = _TERMS.get(id(contract))
    if held is not None and held[0] is contract:
        return held[1]
    terms = []
    for component in contract.payment.outcomes:
        basis = basis_of(component)
        terms.append((basis, np.asarray(component.band_prices(), dtype=float), basis.judged_by_band,
                      measure_of(component.measure).per_person, component.cap_per_cohort))
    if len(_TERMS) > 256:
        _TERMS.clear()
    _TERMS[id(contract)] = (contract, terms)
    return terms


#: :func:`_terms_of` by contract (the contract kept beside them, so its id is not reused while here)
_TERMS: dict[int, tuple[ContractSpec, list[tuple[PaymentBasis, np.ndarray, bool, bool, float | None]]]] = {}


def group_values(contract: ContractSpec,
                 outlook: GroupOutlook) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Marginal value of one more non-reoffender and of one reoffence avoided, per payment group.

    Each outcome component is valued under its own schedule on the groups it is
    judged on (band by band for differential prices, otherwise the whole cohort),
    times the chance that its cap per cohort does not bind.

    Args:
        contract: the contract at the terms the provider holds it at (its outcome
            components, their prices, thresholds and caps).
        outlook: the provider's belief about its live cohorts' measured outcomes.

    Returns:
        (value of a non-reoffender, value of a reoffence avoided), each of shape
        (cohorts, 4); and the expected outcome payment per cohort with its variance,
        each of shape (cohorts,), for a contract-wide cap.

    """
    cohorts = outlook.n.shape[0]
    v_binary = v_frequency = expected_total = variance_total = None
    views: dict[bool, tuple[GroupOutlook, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    valued = []  # each component: its view, per person, cap, valid groups, unit, mu, sigma, schedule
    for basis, band_prices, by_band, per_person, cap in _terms_of(contract):
        held = views.get(by_band)
        if held is None:
            view = outlook if by_band else outlook.pooled()
            groups = view.n.shape[1]
            pot = np.empty(view.n.shape)
            pot[:] = view.pot[:, None]
            held = views[by_band] = (view, view.n.ravel(), view.cf_reoffenders.ravel(), view.cf_reoffences.ravel(),
                                     pot.ravel())
        view, n, cf_r, cf_o, pot = held
        groups = view.n.shape[1]
        price = np.empty(view.n.shape)
        price[:] = band_prices[:groups]
        if per_person:
            size, fewer, var = view.n, view.fewer_reoffenders, view.var_reoffenders
        else:
            size, fewer, var = view.cf_reoffences, view.fewer_reoffences, view.var_reoffences
        valid = size > 0
        unit = np.divide(100.0, size, out=np.zeros(size.shape), where=valid)
        mu, sigma = fewer * unit, np.sqrt(np.maximum(var, 0.0)) * unit
        schedule = basis.schedule(n, cf_r, cf_o, price.ravel(), pot)
        valued.append((view, per_person, cap, valid, unit, mu, sigma, schedule))
    # every component's expected payment and slope at once where their schedules have as many pieces
    # (elementwise per group: the same numbers as one component at a time)
    if len(valued) > 1 and len({v[-1].intercept.shape[0] for v in valued}) == 1:
        bounds = np.cumsum([0] + [v[5].size for v in valued])
        edges = np.concatenate([_edges(v[-1]) for v in valued], axis=-1)
        both = Pieces(edges[0], edges[1], np.concatenate([v[-1].intercept for v in valued], axis=-1),
                      np.concatenate([v[-1].slope for v in valued], axis=-1), edges=edges)
        both_expected, both_slope = expected_payment(both, np.concatenate([v[5].ravel() for v in valued]),
                                                     np.concatenate([v[6].ravel() for v in valued]))
        paid = [(both_expected[a:b], both_slope[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    else:
        paid = [expected_payment(v[-1], v[5].ravel(), v[6].ravel()) for v in valued]
    for (view, per_person, cap, valid, unit, _, sigma, _), (expected, slope) in zip(valued, paid, strict=True):
        groups = view.n.shape[1]
        if not valid.all():
            expected = np.where(valid.ravel(), expected, 0.0)
            slope = np.where(valid.ravel(), slope, 0.0)
        expected, slope = expected.reshape(view.n.shape), slope.reshape(view.n.shape)
        # delta method: the payment's variance is its slope squared times the result's
        pay_var = np.square(slope * sigma)
        if groups == 1:
            cohort_expected, cohort_var = expected[:, 0], pay_var[:, 0]
        else:
            cohort_expected, cohort_var = expected.sum(axis=1), pay_var.sum(axis=1)
        if cap is not None:
            slope = slope * not_capped(cap, cohort_expected, cohort_var)[:, None]
            cohort_expected = np.minimum(cohort_expected, cap)
        value = slope * unit  # money per non-reoffender (binary) or per reoffence avoided (frequency)
        value = np.broadcast_to(value, (cohorts, 4)) if groups == 1 else value
        if per_person:
            v_binary = 0.0 + value if v_binary is None else v_binary + value
        else:
            v_frequency = 0.0 + value if v_frequency is None else v_frequency + value
        expected_total = 0.0 + cohort_expected if expected_total is None else expected_total + cohort_expected
        variance_total = 0.0 + cohort_var if variance_total is None else variance_total + cohort_var
    zeros = np.zeros((cohorts, 4))
    return (zeros if v_binary is None else v_binary, zeros.copy() if v_frequency is None else v_frequency,
            np.zeros(cohorts) if expected_total is None else expected_total,
            np.zeros(cohorts) if variance_total is None else variance_total)
