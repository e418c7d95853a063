"""Every movement of money in a run, as double entries.

Agents change their own cash as they pay and are paid; the ledger records the
same movements independently, so tests can hold the two to each other
(conservation of money).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
from pbrsim.sim.vocabulary import Kind, Party

__all__ = ["Kind", "Ledger", "Party"]


class Ledger:
    """An append-only journal of payments: month, payer, payee, kind, amount."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, str, str, str, float]] = []
        self._by_kind: dict[str, float] = defaultdict(float)
        # the journal as arrays for filtered totals, brought up to date when a total is asked for
        self._codes: dict[str, int] = {}
        self._payer: list[int] = []
        self._payee: list[int] = []
        self._kind: list[int] = []
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

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
        code = self._code
        self._payer.append(code(str(payer)))
        self._payee.append(code(str(payee)))
        self._kind.append(code(kind.value))
        self._arrays = None

    def _code(self, name: str) -> int:
        return self._codes.setdefault(name, len(self._codes))

    def total(self, kind: Kind | None = None, payer: str | None = None, payee: str | None = None) -> float:
        """Sum of payments matching every given filter."""
        if kind is not None and payer is None and payee is None:
            return self._by_kind.get(kind, 0.0)
        if self._arrays is None:
            self._arrays = (np.array(self._payer, dtype=np.int32), np.array(self._payee, dtype=np.int32),
                            np.array(self._kind, dtype=np.int32),
                            np.array([row[4] for row in self._rows], dtype=np.float64))
        payers, payees, kinds, amounts = self._arrays
        match = np.ones(amounts.size, dtype=bool)
        for wanted, codes in ((kind, kinds), (payer, payers), (payee, payees)):
            if wanted is not None:
                code = self._codes.get(str(wanted.value if isinstance(wanted, Kind) else wanted))
                if code is None:
                    return 0
                match &= codes == code
        # Python's own sum() over the rows in journal order (compensated since Python 3.12): the same
        # number as summing the journal's rows, found without a Python loop over every row
        return sum(amounts[match].tolist())

    def frame(self) -> pd.DataFrame:
        """The journal as a table."""
        return pd.DataFrame(self._rows, columns=["month", "payer", "payee", "kind", "amount"])

    def __len__(self) -> int:
        return len(self._rows)
