"""Outcome measures and payment bases: one object each, and the one registry that names them.

A contract's outcome component says in strings which ``measure`` it is judged
on (``binary`` or ``frequency``) and on which ``basis`` it pays (``per_point``,
``per_non_reoffender``, ``per_reoffence_avoided``, ``pot``). This module is the
only place those strings are turned into behaviour: :func:`measure_of` and
:func:`basis_of` look them up, and the schema's allowed names
(:data:`MEASURE_NAMES`, :data:`BASIS_NAMES`) are the registries' keys.

A payment basis knows everything the model asks of it:

* :meth:`~PaymentBasis.pay`: what one cohort's measured outcome earns, by
  payment group, with its threshold (trigger or deductible) and its cap per
  cohort;
* :meth:`~PaymentBasis.true_value`: what it would pay for the cohort's true
  impact only (payment above it is deadweight);
* :meth:`~PaymentBasis.marginal_values`: what one more non-reoffender and one
  reoffence avoided are worth to a provider, by band (a provider's strategy
  weighs effort against these);
* :meth:`~PaymentBasis.effortless_value`: what it pays for a person who does
  not reoffend whatever the provider does (a provider screening referrals
  counts it as income that needs no service);
* :attr:`~PaymentBasis.draws_on_pot`: whether it is paid out of fees withheld
  at risk rather than at a price;
* :meth:`~PaymentBasis.validate`: which measures and terms it accepts.

Everything here is a pure function of contract terms and outcome counts, and
nothing imports the schema at run time, so :mod:`pbrsim.sim.scenario` can take
its names and its validation rules from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:
    from pbrsim.sim.payments import MeasuredOutcome
    from pbrsim.sim.scenario import OutcomeComponent

__all__ = [
    "BAND_MIDPOINTS",
    "BASIS_NAMES",
    "MEASURE_NAMES",
    "REOFFENCES_PER_REOFFENDER",
    "OutcomeMeasure",
    "PaymentBasis",
    "PerNonReoffender",
    "PerPoint",
    "PerReoffenceAvoided",
    "Pieces",
    "Pot",
    "basis_of",
    "measure_of",
]

#: Reoffences per reoffender (MoJ proven reoffending statistics, 2011): what providers assume
#: when they price outcomes before any are measured.
REOFFENCES_PER_REOFFENDER = 2.9
#: Band midpoints of 12-month risk: a provider's prior, and its rule of thumb for a band's reoffences.
BAND_MIDPOINTS = np.array([0.125, 0.375, 0.625, 0.875])


def whole(groups: np.ndarray) -> float:
    """A cohort's total over its payment groups, as numpy's ``sum`` gives it, without its per-call cost.

    numpy adds fewer than eight values left to right, so a Python loop over the same values
    gives the same float (a settlement adds up a few groups some twenty times a cohort);
    longer arrays are summed by numpy.
    """
    if groups.size >= 8:
        return float(groups.sum())
    total = 0.0
    for value in groups.tolist():
        total += value
    return total


def _cohorts(outcomes: MeasuredOutcome) -> list[MeasuredOutcome]:
    """Many cohorts' outcomes, (cohorts, groups) arrays, as one outcome per cohort."""
    pots = np.broadcast_to(np.asarray(outcomes.pot, dtype=float), outcomes.n.shape[:1])
    return [type(outcomes)(outcomes.n[c], outcomes.reoffenders[c], outcomes.reoffences[c],
                           outcomes.cf_reoffenders[c], outcomes.cf_reoffences[c], float(pots[c]))
            for c in range(outcomes.n.shape[0])]


# -- outcome measures --------------------------------------------------------------------------


class OutcomeMeasure(Protocol):
    """How an outcome is measured against the counterfactual, in the unit thresholds use."""

    name: ClassVar[str]
    per_person: ClassVar[bool]

    def improvement(self, n: float, reoffenders: float, reoffences: float,
                    cf_reoffenders: float, cf_reoffences: float) -> float:
        """Improvement on the counterfactual (percentage points or per cent, see the classes)."""
        ...

    def improvements(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                     cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`improvement` of many cohorts at once (one value per cohort, the same floats)."""
        ...

    def per_point(self, value: float) -> tuple[np.ndarray | float, np.ndarray | float]:
        """Split ``value`` (money per person per unit of improvement) into its marginal values.

        Returns:
            (value of one more non-reoffender, value of one reoffence avoided), by band or one
            number for every band.

        """
        ...


class Binary:
    """The proven reoffending rate: improvement in percentage points of the cohort."""

    name: ClassVar[str] = "binary"
    #: Whether improvement is measured over people (binary) rather than over reoffences (frequency).
    per_person: ClassVar[bool] = True

    def improvement(self, n: float, reoffenders: float, reoffences: float,
                    cf_reoffenders: float, cf_reoffences: float) -> float:
        """Percentage points of reduction in the rate below the counterfactual (0 for nobody)."""
        if n <= 0:
            return 0.0
        return 100.0 * (cf_reoffenders - reoffenders) / n

    def per_point(self, value: float) -> tuple[np.ndarray | float, np.ndarray | float]:
        """A point per person is one non-reoffender in a hundred: all of it is binary value."""
        return value, 0.0

    def improvements(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                     cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`improvement` of many cohorts at once, element by element."""
        out = np.zeros(n.shape)
        np.divide(100.0 * (cf_reoffenders - reoffenders), n, out=out, where=n > 0)
        return out


class Frequency:
    """The number of proven reoffences: improvement in per cent of the counterfactual's."""

    name: ClassVar[str] = "frequency"
    per_person: ClassVar[bool] = False

    def improvement(self, n: float, reoffenders: float, reoffences: float,
                    cf_reoffenders: float, cf_reoffences: float) -> float:
        """Per cent reduction in reoffences below the counterfactual (0 if it expects none)."""
        if cf_reoffences <= 0:
            return 0.0
        return 100.0 * (cf_reoffences - reoffences) / cf_reoffences

    def per_point(self, value: float) -> tuple[np.ndarray | float, np.ndarray | float]:
        """A per cent of a band's counterfactual reoffences, at its midpoint risk, is this many reoffences."""
        return 0.0, value / np.maximum(BAND_MIDPOINTS * REOFFENCES_PER_REOFFENDER, 0.1)

    def improvements(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                     cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`improvement` of many cohorts at once, element by element."""
        out = np.zeros(n.shape)
        np.divide(100.0 * (cf_reoffences - reoffences), cf_reoffences, out=out, where=cf_reoffences > 0)
        return out


_BINARY = Binary()
_MEASURES: dict[str, OutcomeMeasure] = {m.name: m for m in (_BINARY, Frequency())}
#: Outcome measures a component may name (the schema's ``measure`` values).
MEASURE_NAMES: tuple[str, ...] = tuple(_MEASURES)


def measure_of(name: str) -> OutcomeMeasure:
    """The outcome measure called ``name`` (one of :data:`MEASURE_NAMES`)."""
    return _MEASURES[name]


# -- payment schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pieces:
    """A payment as a piecewise-linear function of a group's measured improvement ``x``.

    Piece ``k`` pays ``intercept[k] + slope[k] * x`` for ``lower[k] <= x < upper[k]``
    and the pieces do not overlap; outside every piece nothing is paid. Each
    attribute has shape (pieces, groups): one schedule per payment group, so a
    provider can value many cohorts at once (sim/valuation.py). ``x`` is in the
    measure's unit (percentage points for binary, per cent of the
    counterfactual for frequency), as thresholds and targets are.
    """

    lower: np.ndarray
    upper: np.ndarray
    intercept: np.ndarray
    slope: np.ndarray
    #: lower and upper as one (2, pieces, groups) array, where they were made together (None: stack them)
    edges: np.ndarray | None = None

    def at(self, x: np.ndarray) -> np.ndarray:
        """Money paid at improvement ``x`` (one value per group)."""
        x = np.asarray(x, dtype=float)
        inside = (self.lower <= x) & (x < self.upper)
        return np.where(inside, self.intercept + self.slope * x, 0.0).sum(axis=0)


def _pieces(*pieces: tuple[object, object, object, object], groups: int) -> Pieces:
    """Stack pieces given as (lower, upper, intercept, slope), each a scalar or one value per group."""
    cols = np.empty((4, len(pieces), groups))
    for k, piece in enumerate(pieces):
        for i in range(4):
            cols[i, k] = piece[i]
    return Pieces(cols[0], cols[1], cols[2], cols[3], edges=cols[:2])


# -- payment bases ------------------------------------------------------------------------------


class PaymentBasis(Protocol):
    """One outcome component's payment rule, bound to the component's terms.

    Attributes:
        name: the basis as scenario files name it.
        measures: outcome measures it can be judged on.
        draws_on_pot: whether it pays out of fees withheld at risk (``at_risk_share``)
            rather than at a price.
        component: the contract terms it applies.

    """

    name: ClassVar[str]
    measures: ClassVar[tuple[str, ...]]
    draws_on_pot: ClassVar[bool]
    component: OutcomeComponent

    def validate(self) -> None:
        """Raise ``ValueError`` if the component's terms do not fit the basis."""
        ...

    def pay(self, outcome: MeasuredOutcome) -> float:
        """Money the component pays for one cohort's measured outcome, after its cap per cohort."""
        ...

    def true_value(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                   untreated_reoffenders: np.ndarray, untreated_reoffences: np.ndarray,
                   pot: float = 0.0) -> float:
        """What the component would pay for the cohort's true impact only (never below 0)."""
        ...

    def pay_many(self, outcomes: MeasuredOutcome) -> np.ndarray:
        """:meth:`pay` for many cohorts at once: ``outcomes`` holds (cohorts, groups) arrays and a pot per cohort."""
        ...

    def true_values(self, outcomes: MeasuredOutcome, untreated_reoffenders: np.ndarray,
                    untreated_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`true_value` for many cohorts at once, (cohorts, groups) arrays, the pots in ``outcomes``."""
        ...

    def marginal_values(self, pot_per_person: float) -> tuple[np.ndarray, np.ndarray]:
        """Value to a provider of one more non-reoffender and of one reoffence avoided, by band.

        ``pot_per_person`` is the fee withheld at risk for one person, which a pot pays back.
        """
        ...

    def effortless_value(self) -> np.ndarray:
        """Paid per person without a proven reoffence whether or not service had any effect, by band."""
        ...

    def schedule(self, n: np.ndarray, cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray,
                 price: np.ndarray, pot: np.ndarray) -> Pieces:
        """The payment for payment groups as a function of their measured improvement.

        The same rule as :meth:`pay` (tests hold the two to each other), before the
        cap per cohort, for groups of ``n`` people with the counterfactual's
        expected ``cf_reoffenders`` and ``cf_reoffences``, at ``price`` (each
        group's price) and, for a pot, the ``pot`` each group can earn back.
        """
        ...

    @property
    def judged_by_band(self) -> bool:
        """Whether each payment group (band) is judged on its own, rather than the whole cohort."""
        ...


class _Basis(ABC):
    """What every basis shares: binding to a component, measure check, cap per cohort."""

    name: ClassVar[str]
    measures: ClassVar[tuple[str, ...]]
    draws_on_pot: ClassVar[bool] = False

    def __init__(self, component: OutcomeComponent) -> None:
        self.component = component

    def validate(self) -> None:
        """Refuse a measure the basis cannot be judged on, then terms that do not fit it."""
        if self.component.measure not in self.measures:
            raise ValueError(f"basis '{self.name}' needs measure '{self.measures[0]}'")
        self._validate_terms()

    @abstractmethod
    def _validate_terms(self) -> None:
        """Raise ``ValueError`` for terms the basis cannot pay on."""

    def pay(self, outcome: MeasuredOutcome) -> float:
        """Money the component pays for one cohort, capped at ``cap_per_cohort``."""
        amount = self._earned(outcome)
        if self.component.cap_per_cohort is not None:
            amount = min(amount, self.component.cap_per_cohort)
        return float(amount)

    @abstractmethod
    def _earned(self, outcome: MeasuredOutcome) -> float:
        """Money earned for the cohort before the cap per cohort."""

    def pay_many(self, outcomes: MeasuredOutcome) -> np.ndarray:
        """Money paid for each of many cohorts: :meth:`pay`, with the cap per cohort, the same floats.

        A basis that can judge whole cohorts elementwise does (``_earned_many``); otherwise
        each cohort is paid as :meth:`pay` pays it.
        """
        earned = self._earned_many(outcomes)
        if earned is None:
            return np.array([self.pay(one) for one in _cohorts(outcomes)])
        if self.component.cap_per_cohort is not None:
            earned = np.minimum(earned, self.component.cap_per_cohort)
        return earned

    def _earned_many(self, outcomes: MeasuredOutcome) -> np.ndarray | None:
        """Money earned by each cohort before the cap, or None where only :meth:`_earned` can say."""
        return None

    def true_values(self, outcomes: MeasuredOutcome, untreated_reoffenders: np.ndarray,
                    untreated_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`true_value` of each cohort, one at a time unless the basis has an elementwise rule."""
        return np.array([
            self.true_value(one.n, one.reoffenders, one.reoffences, u_r, u_o, one.pot)
            for one, u_r, u_o in zip(_cohorts(outcomes), untreated_reoffenders, untreated_reoffences, strict=True)
        ])

    def effortless_value(self) -> np.ndarray:
        """Nothing, unless the basis pays for outcomes that need no effort."""
        return np.zeros(4)

    @property
    def judged_by_band(self) -> bool:
        """Judged on the whole cohort unless priced band by band."""
        return False

    def _paid_from(self) -> float:
        """The lowest improvement that is paid for: the threshold, and never a worsening."""
        return max(self.component.threshold, 0.0)

    def _deducted(self) -> float:
        """Improvement taken off before paying: the threshold under a deductible, else nothing."""
        c = self.component
        return c.threshold if c.threshold_mode == "deductible" else 0.0


class _Priced(_Basis):
    """A basis paid at a price (uniform, or by payment band), judged per group."""

    def _validate_terms(self) -> None:
        component = self.component
        if (component.price is None) == (component.prices_by_band is None):
            raise ValueError(f"basis '{self.name}' needs exactly one of 'price' or 'prices_by_band'")
        if component.pot_share is not None or component.target is not None:
            raise ValueError("'pot_share' and 'target' belong to basis 'pot' only")

    def _earned(self, outcome: MeasuredOutcome) -> float:
        """Uniform prices are judged on the whole cohort; differential prices band by band."""
        c = self.component
        if c.prices_by_band is None:
            return self._group(
                whole(outcome.n),
                whole(outcome.reoffenders),
                whole(outcome.reoffences),
                whole(outcome.cf_reoffenders),
                whole(outcome.cf_reoffences),
                c.price or 0.0,
            )
        return sum(
            self._group(outcome.n[b], outcome.reoffenders[b], outcome.reoffences[b],
                        outcome.cf_reoffenders[b], outcome.cf_reoffences[b], price)
            for b, price in enumerate(c.band_prices())
        )

    @abstractmethod
    def _group(self, n: float, reoffenders: float, reoffences: float, cf_reoffenders: float,
               cf_reoffences: float, price: float) -> float:
        """Payment for one payment group at one price."""

    def _paid_improvement(self, n: float, reoffenders: float, reoffences: float, cf_reoffenders: float,
                          cf_reoffences: float) -> float:
        """Improvement paid for once the threshold rule is applied (the measure's unit)."""
        c = self.component
        achieved = measure_of(c.measure).improvement(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)
        if achieved < c.threshold or achieved <= 0:
            return 0.0
        if c.threshold_mode == "deductible":
            return achieved - c.threshold
        return achieved

    def _prices(self) -> np.ndarray:
        return np.asarray(self.component.band_prices())

    def _earned_many(self, outcomes: MeasuredOutcome) -> np.ndarray | None:
        """A uniform price judges each whole cohort: the same floats as :meth:`_earned`, elementwise.

        Prices by band are summed over the bands one cohort at a time, as :meth:`_earned` sums them.
        """
        c = self.component
        if c.prices_by_band is not None:
            return None
        # a cohort's totals over groups, as numpy sums a few values (left to right), per row
        totals = [x.sum(axis=1) for x in (outcomes.n, outcomes.reoffenders, outcomes.reoffences,
                                          outcomes.cf_reoffenders, outcomes.cf_reoffences)]
        return self._groups(*totals, c.price or 0.0)

    def _groups(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray, price: float) -> np.ndarray:
        """:meth:`_group` for many groups at once."""
        raise NotImplementedError

    def _paid_improvements(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                           cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`_paid_improvement` for many groups at once."""
        c = self.component
        achieved = measure_of(c.measure).improvements(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)
        paid = achieved - c.threshold if c.threshold_mode == "deductible" else achieved
        return np.where((achieved < c.threshold) | (achieved <= 0), 0.0, paid)

    def true_values(self, outcomes: MeasuredOutcome, untreated_reoffenders: np.ndarray,
                    untreated_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`true_value` of each cohort, elementwise."""
        return np.maximum(self._trues(untreated_reoffenders - outcomes.reoffenders,
                                      untreated_reoffences - outcomes.reoffences), 0.0)

    @abstractmethod
    def _trues(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> np.ndarray:
        """:meth:`_true` of many cohorts, (cohorts, groups) arrays summed over groups."""

    @property
    def judged_by_band(self) -> bool:
        """Differential prices are judged band by band; a uniform price on the whole cohort."""
        return self.component.prices_by_band is not None

    def true_value(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                   untreated_reoffenders: np.ndarray, untreated_reoffences: np.ndarray,
                   pot: float = 0.0) -> float:
        """The price of the net true impact, with no threshold or trigger; never below 0."""
        return max(self._true(untreated_reoffenders - reoffenders, untreated_reoffences - reoffences), 0.0)

    @abstractmethod
    def _true(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> float:
        """Price of ``extra_non_reoffenders`` and ``avoided`` reoffences, by band, summed."""


class PerPoint(_Priced):
    """``price`` per percentage point of reduction in the binary rate, per offender in the cohort."""

    name: ClassVar[str] = "per_point"
    measures: ClassVar[tuple[str, ...]] = ("binary",)

    def _group(self, n: float, reoffenders: float, reoffences: float, cf_reoffenders: float,
               cf_reoffences: float, price: float) -> float:
        return price * self._paid_improvement(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences) * n

    def _groups(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray, price: float) -> np.ndarray:
        return price * self._paid_improvements(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences) * n

    def _true(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> float:
        # a point per offender is a hundredth of a non-reoffender: 100 * price per extra non-reoffender
        return float(np.sum(100.0 * self._prices() * extra_non_reoffenders))

    def _trues(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> np.ndarray:
        return np.sum(100.0 * self._prices() * extra_non_reoffenders, axis=-1)

    def marginal_values(self, pot_per_person: float) -> tuple[np.ndarray, np.ndarray]:
        """One more non-reoffender is 100 points of one person: 100 times the price."""
        return 100.0 * self._prices(), np.zeros(4)

    def schedule(self, n: np.ndarray, cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray,
                 price: np.ndarray, pot: np.ndarray) -> Pieces:
        """``price * n`` per point from the threshold (less the deductible); nothing below it or below 0."""
        per_point = price * n
        return _pieces((self._paid_from(), np.inf, -per_point * self._deducted(), per_point), groups=n.size)


class PerNonReoffender(_Priced):
    """``price`` for each person in the cohort without a proven reoffence, counterfactual or not.

    Its threshold is a trigger on the improvement in the binary rate.
    """

    name: ClassVar[str] = "per_non_reoffender"
    measures: ClassVar[tuple[str, ...]] = ("binary",)

    def _validate_terms(self) -> None:
        if self.component.threshold_mode == "deductible":
            raise ValueError("basis 'per_non_reoffender' pays per person: its threshold can only be a 'trigger'")
        super()._validate_terms()

    def _group(self, n: float, reoffenders: float, reoffences: float, cf_reoffenders: float,
               cf_reoffences: float, price: float) -> float:
        threshold = self.component.threshold
        if threshold > 0:
            achieved = _BINARY.improvement(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)
            if achieved < threshold:
                return 0.0
        return price * (n - reoffenders)

    def _groups(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray, price: float) -> np.ndarray:
        paid = price * (n - reoffenders)
        threshold = self.component.threshold
        if threshold > 0:
            achieved = _BINARY.improvements(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)
            paid = np.where(achieved < threshold, 0.0, paid)
        return paid

    def _true(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> float:
        return float(np.sum(self._prices() * extra_non_reoffenders))

    def _trues(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> np.ndarray:
        return np.sum(self._prices() * extra_non_reoffenders, axis=-1)

    def marginal_values(self, pot_per_person: float) -> tuple[np.ndarray, np.ndarray]:
        """One more non-reoffender earns the price."""
        return self._prices(), np.zeros(4)

    def schedule(self, n: np.ndarray, cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray,
                 price: np.ndarray, pot: np.ndarray) -> Pieces:
        """``price * (n - reoffenders)``, where reoffenders = cf - n x / 100; from the trigger if any."""
        threshold = self.component.threshold
        lower = threshold if threshold > 0 else -np.inf
        return _pieces((lower, np.inf, price * (n - cf_reoffenders), price * n / 100.0), groups=n.size)

    def effortless_value(self) -> np.ndarray:
        """Every non-reoffender is paid for, including those who would not have reoffended anyway."""
        return self._prices()


class PerReoffenceAvoided(_Priced):
    """``price`` per reoffence below the counterfactual number (the frequency measure)."""

    name: ClassVar[str] = "per_reoffence_avoided"
    measures: ClassVar[tuple[str, ...]] = ("frequency",)

    def _group(self, n: float, reoffenders: float, reoffences: float, cf_reoffenders: float,
               cf_reoffences: float, price: float) -> float:
        # the paid per cent of the counterfactual, in reoffences
        paid = self._paid_improvement(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)
        return price * paid / 100.0 * cf_reoffences

    def _groups(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray, price: float) -> np.ndarray:
        paid = self._paid_improvements(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)
        return price * paid / 100.0 * cf_reoffences

    def _true(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> float:
        return float(np.sum(self._prices() * avoided))

    def _trues(self, extra_non_reoffenders: np.ndarray, avoided: np.ndarray) -> np.ndarray:
        return np.sum(self._prices() * avoided, axis=-1)

    def marginal_values(self, pot_per_person: float) -> tuple[np.ndarray, np.ndarray]:
        """One reoffence avoided earns the price."""
        return np.zeros(4), self._prices()

    def schedule(self, n: np.ndarray, cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray,
                 price: np.ndarray, pot: np.ndarray) -> Pieces:
        """``price`` per reoffence: x per cent of ``cf_reoffences``, from the threshold, less a deductible."""
        per_pct = price * cf_reoffences / 100.0
        return _pieces((self._paid_from(), np.inf, -per_pct * self._deducted(), per_pct), groups=n.size)


class Pot(_Basis):
    """A ``pot_share`` of the fees withheld at risk, earned back between ``threshold`` and ``target``.

    With ``all_or_nothing`` the whole share is earned at the target and
    nothing below it. The pot is judged on the whole cohort.
    """

    name: ClassVar[str] = "pot"
    measures: ClassVar[tuple[str, ...]] = MEASURE_NAMES
    draws_on_pot: ClassVar[bool] = True

    def _validate_terms(self) -> None:
        component = self.component
        if component.pot_share is None or component.target is None:
            raise ValueError("basis 'pot' needs 'pot_share' and 'target'")
        if component.price is not None or component.prices_by_band is not None:
            raise ValueError("basis 'pot' is paid from withheld fees: give no 'price'")
        if not component.all_or_nothing and component.target <= component.threshold:
            raise ValueError("'target' must be above 'threshold' for a linear pot")

    def fraction(self, achieved: float) -> float:
        """Share of the pot earned at an improvement of ``achieved``."""
        c = self.component
        assert c.target is not None
        if c.all_or_nothing:
            return 1.0 if achieved >= c.target else 0.0
        span = c.target - c.threshold
        return min(max(float((achieved - c.threshold) / span), 0.0), 1.0)

    def _share(self, pot: float, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
               cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray) -> float:
        achieved = measure_of(self.component.measure).improvement(
            whole(n), whole(reoffenders), whole(reoffences), whole(cf_reoffenders), whole(cf_reoffences),
        )
        return (self.component.pot_share or 0.0) * pot * self.fraction(achieved)

    def _earned(self, outcome: MeasuredOutcome) -> float:
        return self._share(outcome.pot, outcome.n, outcome.reoffenders, outcome.reoffences,
                           outcome.cf_reoffenders, outcome.cf_reoffences)

    def _shares(self, pot: np.ndarray, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`_share` of many cohorts at once: (cohorts, groups) arrays, each cohort judged whole."""
        c = self.component
        assert c.target is not None
        achieved = measure_of(c.measure).improvements(
            *(x.sum(axis=1) for x in (n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)))
        if c.all_or_nothing:
            fraction = np.where(achieved >= c.target, 1.0, 0.0)
        else:
            # as fraction(): min(max(.., 0), 1), a NaN kept as Python's max and min keep it
            fraction = np.minimum(np.maximum((achieved - c.threshold) / (c.target - c.threshold), 0.0), 1.0)
        return (c.pot_share or 0.0) * pot * fraction

    def _earned_many(self, outcomes: MeasuredOutcome) -> np.ndarray | None:
        return self._shares(np.asarray(outcomes.pot, dtype=float), outcomes.n, outcomes.reoffenders,
                            outcomes.reoffences, outcomes.cf_reoffenders, outcomes.cf_reoffences)

    def true_values(self, outcomes: MeasuredOutcome, untreated_reoffenders: np.ndarray,
                    untreated_reoffences: np.ndarray) -> np.ndarray:
        """:meth:`true_value` of each cohort, elementwise."""
        return np.maximum(self._shares(np.asarray(outcomes.pot, dtype=float), outcomes.n, outcomes.reoffenders,
                                       outcomes.reoffences, untreated_reoffenders, untreated_reoffences), 0.0)

    def true_value(self, n: np.ndarray, reoffenders: np.ndarray, reoffences: np.ndarray,
                   untreated_reoffenders: np.ndarray, untreated_reoffences: np.ndarray,
                   pot: float = 0.0) -> float:
        """The pot rule (threshold and target kept) applied to the improvement on untreated outcomes."""
        return max(self._share(pot, n, reoffenders, reoffences, untreated_reoffenders, untreated_reoffences), 0.0)

    def marginal_values(self, pot_per_person: float) -> tuple[np.ndarray, np.ndarray]:
        """The pot linearised: its share of one person's withheld fee per unit from threshold to target."""
        c = self.component
        span = (c.target or 1.0) - (0.0 if c.all_or_nothing else c.threshold)
        per_unit = (c.pot_share or 0.0) * pot_per_person * 100.0 / max(span, 1e-9)
        binary, frequency = measure_of(c.measure).per_point(per_unit)
        return np.zeros(4) + binary, np.zeros(4) + frequency

    def schedule(self, n: np.ndarray, cf_reoffenders: np.ndarray, cf_reoffences: np.ndarray,
                 price: np.ndarray, pot: np.ndarray) -> Pieces:
        """The pot's share, earned linearly from threshold to target (or all at once at the target)."""
        c = self.component
        assert c.target is not None
        whole = (c.pot_share or 0.0) * pot
        if c.all_or_nothing:
            return _pieces((c.target, np.inf, whole, 0.0), groups=n.size)
        span = c.target - c.threshold
        return _pieces((c.threshold, c.target, -whole * c.threshold / span, whole / span),
                       (c.target, np.inf, whole, 0.0), groups=n.size)


_BASES: dict[str, type[_Basis]] = {b.name: b for b in (PerPoint, PerNonReoffender, PerReoffenceAvoided, Pot)}
#: Payment bases a component may name (the schema's ``basis`` values).
BASIS_NAMES: tuple[str, ...] = tuple(_BASES)


def basis_of(component: OutcomeComponent) -> PaymentBasis:
    """The payment basis the component names, bound to its terms: the one map from name to rule."""
    return _BASES[component.basis](component)
