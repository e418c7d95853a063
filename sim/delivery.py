"""How a prime's chosen hours are delivered: the supply-chain protocol, and in-house delivery.

A prime decides how many hours of each service type each person gets (its
strategy); its supply chain decides who delivers them (make or buy), pays for
them and reports how effective they were. Every prime starts with
:class:`InHouse`; the supply-chain mechanism (sim/supply_chain.py) gives a prime
that subcontracts a chain of sub-primes behind the same protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from pbrsim.sim.ledger import Kind, Party

if TYPE_CHECKING:
    from pbrsim.sim.agents import Cohort, Prime

__all__ = ["InHouse", "SupplyChain"]


class SupplyChain(Protocol):
    """Delivery of a prime's chosen hours, and the money that follows them."""

    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray, n_needs: np.ndarray) -> np.ndarray:
        """Deliver each person's ``hours`` (split evenly over their needs); pay; return each person's dose.

        ``rows`` are the people's store rows: a chain that buys hours type by type reads their
        needs from the store itself (in-house delivery needs only ``n_needs``).
        """
        ...

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """Handle the prime being paid ``amount`` for ``cohort``'s outcomes."""
        ...

    def cost_per_hour(self) -> float:
        """Return last month's average cost of an hour to the prime, over service types."""
        ...

    def retained_outcome_share(self) -> float:
        """Return the share of its outcome payments the prime keeps after passing shares down."""
        ...


class InHouse:
    """Everything delivered by the prime's own staff at its own unit cost and effectiveness."""

    def __init__(self, prime: Prime) -> None:
        self.prime = prime

    def deliver(self, month: int, rows: np.ndarray, hours: np.ndarray, n_needs: np.ndarray) -> np.ndarray:
        """Pay the prime's staff for every hour; dose is hours on assessed needs x effectiveness.

        Hours are spread over a person's needs, so all of them fall on a need unless the
        person has none (then they are spread over every type and do nothing).
        """
        spec = self.prime.spec
        self.pay(month, float(hours.sum(dtype=np.float64)))
        return np.where(n_needs > 0, hours * np.float32(spec.effectiveness), np.float32(0.0))

    def pay(self, month: int, hours: float) -> None:
        """Pay the prime's staff for ``hours`` at its unit cost."""
        self.prime.spend(month, Party.FRONT_LINE, Kind.DELIVERY_COST, hours * self.prime.spec.unit_cost_per_hour)

    def on_outcome_payment(self, cohort: Cohort, amount: float, month: int) -> None:
        """Keep every outcome payment: in-house, there is nobody to share it with."""

    def cost_per_hour(self) -> float:
        """Return the prime's own unit cost."""
        return float(self.prime.spec.unit_cost_per_hour)

    def retained_outcome_share(self) -> float:
        """Return 1: in-house, the prime keeps everything."""
        return 1.0
