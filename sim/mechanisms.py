"""Optional contract mechanisms behind one protocol, called by the model at fixed hooks.

A mechanism is a part of a contract scenario that not every scenario has: the
sub-prime market and its supply chains, stewardship rules, a social impact
bond, and commissioning over time (competitions, performance management,
re-letting). The model core (``sim/model.py``, ``sim/agents.py``,
``sim/results.py``) names none of them: it builds the list with
:func:`build_mechanisms` and calls every mechanism at the same hooks, in the
order of :data:`MECHANISM_MODULES`:

1. ``end_of_month(month)``: last in each month's step, after fees have accrued
   (a market pays its sub-primes, ends and lets subcontracts, sees exits and
   entries);
2. ``on_settled(settled)``: each time the commissioner has measured a cohort
   and made its outcome payments (a bond adds the cohort to its own and pays
   investors on its triggers);
3. ``monthly_row()``: last of all in a month, the mechanism's columns of the
   monthly record;
4. ``metrics()``: once, at the end of the run, its final measures (with
   ``absent_metrics(model)`` standing in for a mechanism a scenario does not
   have, so every run reports the same keys).

Anything not monthly a mechanism schedules itself on Mesa's clock when it is
built (bound methods: Mesa holds callbacks by weak reference).

A new mechanism is one module that defines a :class:`Mechanism` subclass and
a module-level ``MECHANISM = MechanismType(...)``, its schema, one scenario,
its tests, and one line in :data:`MECHANISM_MODULES` (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from pbrsim.sim.agents import Cohort
    from pbrsim.sim.model import PbRModel
    from pbrsim.sim.payments import MeasuredOutcome

__all__ = ["MECHANISM_MODULES", "Mechanism", "MechanismType", "Settled", "build_mechanisms", "mechanism_metrics"]

Metrics = dict[str, float | None]
M = TypeVar("M", bound="Mechanism")


@dataclass(frozen=True)
class Settled:
    """A cohort the commissioner has just measured and paid for.

    Attributes:
        cohort: the monthly cohort.
        outcome: what the commissioner measured, by payment group, with its counterfactual.
        untreated_reoffences: the same people's reoffences had they not been served (the truth).
        month: the month of measurement.

    """

    cohort: Cohort
    outcome: MeasuredOutcome
    untreated_reoffences: float
    month: int


class Mechanism:
    """One optional mechanism of a contract; every hook does nothing unless overridden."""

    def end_of_month(self, month: int) -> None:
        """Act at the end of the month's step (after referrals, delivery, reoffending and fees)."""

    def on_settled(self, settled: Settled) -> None:
        """Act on a cohort the commissioner has measured and paid for."""

    def monthly_row(self) -> dict[str, float]:
        """Return this month's columns of the monthly record."""
        return {}

    def metrics(self) -> Metrics:
        """Return the mechanism's final measures (keys in the measure catalogue, sim/measures.py)."""
        return {}


def _nothing(model: PbRModel) -> Metrics:
    return {}


@dataclass(frozen=True)
class MechanismType:
    """How a mechanism enters a run: built from the scenario, and what a run without it reports.

    Attributes:
        name: what the mechanism is, for messages and docs.
        build: makes the mechanism for a model whose primes and areas exist, or returns None when
            the scenario does not ask for it.
        absent_metrics: the measures a run without the mechanism reports (usually nulls or the
            rule's off-values), so every run of every scenario has the same keys.

    """

    name: str
    build: Callable[[PbRModel], Mechanism | None]
    absent_metrics: Callable[[PbRModel], Metrics] = field(default=_nothing)


#: Modules that each define ``MECHANISM``, in the order they are built and their hooks called
#: (so the order their monthly columns and metrics appear). Commissioning comes first: it makes
#: the primes and lets the areas, which the others need.
MECHANISM_MODULES: tuple[str, ...] = (
    "pbrsim.sim.commissioning",
    "pbrsim.sim.supply_chain",
    "pbrsim.sim.stewardship",
    "pbrsim.sim.investment",
)


def mechanism_types() -> list[MechanismType]:
    """Every registered mechanism type, in hook order."""
    return [importlib.import_module(name).MECHANISM for name in MECHANISM_MODULES]


def build_mechanisms(model: PbRModel) -> list[tuple[MechanismType, Mechanism | None]]:
    """Build each registered mechanism the scenario asks for (None for one it does not)."""
    return [(kind, kind.build(model)) for kind in mechanism_types()]


def mechanism_metrics(model: PbRModel) -> Metrics:
    """Every mechanism's final measures, or its absent measures where the run has none."""
    out: Metrics = {}
    for kind, mechanism in model.mechanism_slots:
        out.update(mechanism.metrics() if mechanism is not None else kind.absent_metrics(model))
    return out
