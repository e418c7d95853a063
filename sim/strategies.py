"""How a prime allocates service effort across its caseload.

A strategy sees a :class:`Caseload` (what the prime can observe about the
people it is serving this month) and returns hours of service by service type
for each of them. It never sees true risk. The contract's service floor is
applied by the prime after the strategy has chosen, so a strategy cannot
undercut it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.scenario import SERVICE_TYPES, Strategy

__all__ = ["Caseload", "EffortStrategy", "UniformStrategy", "make_strategy"]


@dataclass(frozen=True)
class Caseload:
    """The people a prime serves this month, as the prime sees them.

    Attributes:
        rows: rows of the offender store.
        month: the current month.
        months_in_service: months since referral (0 in the referral month).
        observed_band: assessed risk band (from the noisy score, never true risk).
        needs: assessed needs by service type.
        engaged: whether the person engages with services.
        reoffended: whether a reoffence has been seen since referral.
    """

    rows: np.ndarray
    month: int
    months_in_service: np.ndarray
    observed_band: np.ndarray
    needs: np.ndarray
    engaged: np.ndarray
    reoffended: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.shape[0])


class EffortStrategy(Protocol):
    """Decides hours of service by type for everyone in a caseload."""

    def allocate(self, caseload: Caseload) -> np.ndarray:
        """Hours this month, shape (people, service types)."""
        ...


class UniformStrategy:
    """Same hours for every engaged person, split evenly over their assessed needs.

    The no-behaviour reference: it ignores the contract entirely, so any
    difference in effort between groups under it comes from who engages, not
    from incentives.
    """

    def __init__(self, hours_per_month: float) -> None:
        self.hours_per_month = hours_per_month

    def allocate(self, caseload: Caseload) -> np.ndarray:
        """Spread ``hours_per_month`` over each engaged person's needs (all types if none)."""
        needs = caseload.needs.astype(np.float32)
        n_needs = needs.sum(axis=1, keepdims=True)
        share = np.where(n_needs > 0, needs / np.maximum(n_needs, 1.0), 1.0 / len(SERVICE_TYPES))
        hours = self.hours_per_month * caseload.engaged.astype(np.float32)
        return (share * hours[:, None]).astype(np.float32)


def make_strategy(kind: Strategy, hours_per_month: float) -> EffortStrategy:
    """Build the strategy named in a prime's scenario entry."""
    if kind is Strategy.UNIFORM:
        return UniformStrategy(hours_per_month)
    raise ValueError(f"unknown strategy {kind!r}")
