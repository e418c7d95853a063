"""Every movement of money in a run, as double entries.

Agents change their own cash as they pay and are paid; the ledger records the
same movements independently, so tests can hold the two to each other
(conservation of money).
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from pbrsim.sim.vocabulary import Kind, Party

__all__ = ["Kind", "Ledger", "Party"]


class Ledger:
    """An append-only journal of payments: month, payer, payee, kind, amount."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, str, str, str, float]] = []
        self._by_kind: dict[str, float] = defaultdict(float)

    def record(self, month: int, payer: str, payee: str, kind: Kind, amount: float) -> None:
        """Record a payment; zero payments are skipped, negative ones refused, unknown kinds refused."""
        kind = Kind(kind)
        if amount < 0:
            raise ValueError(f"negative payment {amount} for {kind} from {payer} to {payee}")
        if amount == 0:
            return
        # plain strings in the journal: the frame and ledger.csv hold the kinds' values
        self._rows.append((month, str(payer), str(payee), kind.value, float(amount)))
        self._by_kind[kind.value] += float(amount)

    def total(self, kind: Kind | None = None, payer: str | None = None, payee: str | None = None) -> float:
        """Sum of payments matching every given filter."""
        if kind is not None and payer is None and payee is None:
            return self._by_kind.get(kind, 0.0)
        return sum(
            amount
            for _, p_from, p_to, p_kind, amount in self._rows
            if (kind is None or p_kind == kind)
            and (payer is None or p_from == payer)
            and (payee is None or p_to == payee)
        )

    def frame(self) -> pd.DataFrame:
        """The journal as a table."""
        return pd.DataFrame(self._rows, columns=["month", "payer", "payee", "kind", "amount"])

    def __len__(self) -> int:
        return len(self._rows)
