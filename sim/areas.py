"""Who holds each contract area, on what terms, month by month: the one owner of that fact.

Letting (direct award or a competition, ``sim/commissioning.py``) assigns
areas; everything else asks: the model's referral and delivery steps, the
commissioner's fees and outcome payments, the cohort table and the
mechanisms. Delivery reads the holders as one numpy array (prime index by
area), kept in step with every assignment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pbrsim.sim.agents import Prime
    from pbrsim.sim.scenario import PaymentSpec

__all__ = ["AreaHolders"]


class AreaHolders:
    """The holder and payment terms of each contract area, and who held it in each month.

    Args:
        count: number of contract areas.
        base_terms: the contract's payment terms, in force until an area is let at a bid's price.

    """

    def __init__(self, count: int, base_terms: PaymentSpec) -> None:
        self.count = count
        self.base_terms = base_terms
        self._holders: list[Prime | None] = [None] * count
        self._index = np.full(count, -1, dtype=np.int16)
        self._terms: list[PaymentSpec] = [base_terms] * count
        self._held: list[int] | None = None  # areas held by prime index, worked out when asked
        # prime index by area in force for referrals of month m (row m - 1), recorded at each month's end
        self._history: list[np.ndarray] = []

    def assign(self, area: int, prime: Prime, terms: PaymentSpec | None = None) -> None:
        """Give ``area`` to ``prime``, on ``terms`` (default: the terms in force there)."""
        self._holders[area] = prime
        self._index[area] = prime.index
        self._held = None
        if terms is not None:
            self._terms[area] = terms

    def holder(self, area: int) -> Prime:
        """Return the provider holding ``area`` now."""
        prime = self._holders[area]
        if prime is None:
            raise LookupError(f"area {area} has not been let")
        return prime

    def holders(self) -> list[Prime]:
        """Return the holder of every area, in area order."""
        return [self.holder(a) for a in range(self.count)]

    def held_by(self, index: int) -> int:
        """Return how many areas the prime with ``index`` holds now."""
        if self._held is None:
            held = self._index[self._index >= 0]
            self._held = np.bincount(held, minlength=int(held.max(initial=-1)) + 1).tolist()
        return self._held[index] if index < len(self._held) else 0

    def as_array(self) -> np.ndarray:
        """Return the holder's prime index by area (read-only view for vectorised delivery)."""
        view = self._index.view()
        view.flags.writeable = False
        return view

    def terms(self, area: int | None) -> PaymentSpec:
        """Return the terms in force in ``area`` (None: the contract's own terms)."""
        return self.base_terms if area is None else self._terms[area]

    def record(self) -> None:
        """Note the holders now in force: they serve the next month's referrals."""
        self._history.append(self._index.copy())

    def holder_at(self, area: int, month: int, primes: list[Prime]) -> Prime:
        """Return the provider that held ``area`` when ``month``'s referrals were made."""
        if not self._history:
            return self.holder(area)
        row = self._history[min(month, len(self._history)) - 1]
        return primes[int(row[area])]
