"""Supply chains: who delivers each service type a prime has chosen to give.

A prime decides how many hours of each service type each person gets (its
strategy); its supply chain decides who delivers them (make or buy), pays for
them and reports how effective they were. :class:`InHouse` is the prime that
delivers everything itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sim.agents import Cohort, Prime
    from sim.model import PbRModel

__all__ = ["InHouse", "SupplyChain", "build_market"]


class SupplyChain(Protocol):
    """Delivery of a prime's chosen hours, and the money that follows them."""

    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray, needs: np.ndarray) -> np.ndarray:
        """Deliver ``hours`` (people x service types); pay for them; return each person's dose."""
        ...

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """The prime has been paid ``amount`` for ``cohort``'s outcomes."""
        ...


class InHouse:
    """Everything delivered by the prime's own staff at its own unit cost and effectiveness."""

    def __init__(self, prime: Prime) -> None:
        self.prime = prime

    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray, needs: np.ndarray) -> np.ndarray:
        """Pay the prime's staff for every hour; dose is hours on assessed needs times effectiveness."""
        spec = self.prime.spec
        self.prime.spend(month, "front_line_delivery", "delivery_cost", float(hours.sum()) * spec.unit_cost_per_hour)
        return (hours * needs).sum(axis=1) * spec.effectiveness

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """In-house, the prime keeps every outcome payment."""


def build_market(model: PbRModel) -> None:
    """The market of sub-primes a scenario names, with each prime's supply chain set; None if it names none.

    With no sub-primes every prime keeps its :class:`InHouse` supply chain.
    """
    return None
