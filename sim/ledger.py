"""Every movement of money in a run, as double entries.

Agents change their own cash as they pay and are paid; the ledger records the
same movements independently, so tests can hold the two to each other
(conservation of money).

The journal is kept as columns of numpy arrays (parties and kinds as integer
codes), grown as rows are added: one payment is a row written in place, many
payments of one kind from one payer are written at once (:meth:`Ledger.record_many`),
and the total by kind is kept as rows are recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pbrsim.sim.vocabulary import Kind, Party

__all__ = ["Kind", "Ledger", "Party"]

_COLUMNS = ["month", "payer", "payee", "kind", "amount"]
_KINDS: tuple[Kind, ...] = tuple(Kind)
#: a kind's value (or the Kind itself: a StrEnum hashes as its value) -> its code in the journal
_KIND_CODES: dict[str, int] = {k.value: i for i, k in enumerate(_KINDS)}


class Ledger:
    """An append-only journal of payments: month, payer, payee, kind, amount."""

    def __init__(self, capacity: int = 4096) -> None:
        self._n = 0
        self._month = np.empty(capacity, dtype=np.int64)
        self._payer = np.empty(capacity, dtype=np.int32)
        self._payee = np.empty(capacity, dtype=np.int32)
        self._kind = np.empty(capacity, dtype=np.int8)
        self._amount = np.empty(capacity, dtype=np.float64)
        # parties by code, and their codes by name
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        # each kind's total, added to payment by payment in journal order as it is recorded
        self._by_kind: dict[str, float] = {}

    # -- recording
    def record(self, month: int, payer: str, payee: str, kind: Kind, amount: float) -> None:
        """Record a payment; zero payments are skipped, negative ones refused, unknown kinds refused."""
        k = _KIND_CODES.get(kind)
        if k is None:
            k = _KIND_CODES[Kind(kind).value]  # refuses an unknown kind (ValueError)
        if amount < 0:
            raise ValueError(f"negative payment {amount} for {Kind(kind)} from {payer} to {payee}")
        if amount == 0:
            return
        amount = float(amount)
        value = _KINDS[k].value
        self._by_kind[value] = self._by_kind.get(value, 0.0) + amount
        i = self._n
        if i == self._amount.size:
            self._grow(i + 1)
        codes = self._codes
        p = codes.get(payer)
        if p is None:
            p = self.party(payer)
        q = codes.get(payee)
        if q is None:
            q = self.party(payee)
        self._month[i] = month
        self._payer[i] = p
        self._payee[i] = q
        self._kind[i] = k
        self._amount[i] = amount
        self._n = i + 1

    def record_many(self, month: int, payer: str, payees: Sequence[str] | np.ndarray, kind: Kind,
                    amounts: Sequence[float] | np.ndarray) -> None:
        """Record payments of one kind from one payer, in order: the same as :meth:`record` of each.

        ``payees`` are names, or party codes (an integer array, from :meth:`parties`).
        Zero payments are skipped; if any payment is negative none is recorded.
        """
        kind = Kind(kind)
        amounts = np.asarray(amounts, dtype=np.float64)
        if isinstance(payees, np.ndarray) and payees.dtype.kind in "iu":
            codes = payees
        else:
            codes = self.parties(payees)
        if codes.shape != amounts.shape or amounts.ndim != 1:
            raise ValueError(f"{codes.size} payees for {amounts.size} payments")
        kept = amounts > 0
        if not kept.all():
            negative = np.flatnonzero(amounts < 0)
            if negative.size:
                i = int(negative[0])
                raise ValueError(f"negative payment {amounts[i]} for {kind} from {payer} "
                                 f"to {self._names[int(codes[i])]}")
            kept |= np.isnan(amounts)  # recorded, as record() records them
            amounts, codes = amounts[kept], codes[kept]
        m = amounts.size
        if m == 0:
            return
        # the kind's total by the same additions, in the same order, as one record() each
        running = np.add.accumulate(np.concatenate(([self._by_kind.get(kind.value, 0.0)], amounts)))
        self._by_kind[kind.value] = float(running[-1])
        start = self._n
        stop = start + m
        if stop > self._amount.size:
            self._grow(stop)
        self._month[start:stop] = month
        self._payer[start:stop] = self.party(payer)
        self._payee[start:stop] = codes
        self._kind[start:stop] = _KIND_CODES[kind.value]
        self._amount[start:stop] = amounts
        self._n = stop

    def party(self, name: str) -> int:
        """Return a party's code in the journal (a new party gets the next code)."""
        name = str(name)
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._names)
            self._names.append(name)
        return code

    def parties(self, names: Sequence[str]) -> np.ndarray:
        """Return the parties' codes, as an array for :meth:`record_many`."""
        codes = self._codes
        return np.fromiter((codes[n] if n in codes else self.party(n) for n in names),
                           dtype=np.int32, count=len(names))

    def _grow(self, needed: int) -> None:
        size = max(needed, 2 * self._amount.size)
        for name in ("_month", "_payer", "_payee", "_kind", "_amount"):
            old = getattr(self, name)
            new = np.empty(size, dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    # -- reading
    def total(self, kind: Kind | None = None, payer: str | None = None, payee: str | None = None) -> float:
        """Sum of payments matching every given filter."""
        if kind is not None and payer is None and payee is None:
            return self._by_kind.get(kind, 0.0)
        n = self._n
        match = np.ones(n, dtype=bool)
        if kind is not None:
            code = _KIND_CODES.get(str(kind.value if isinstance(kind, Kind) else kind))
            if code is None:
                return 0
            match &= self._kind[:n] == code
        for wanted, codes in ((payer, self._payer), (payee, self._payee)):
            if wanted is not None:
                code = self._codes.get(str(wanted))
                if code is None:
                    return 0
                match &= codes[:n] == code
        # Python's own sum() over the rows in journal order (compensated since Python 3.12): the same
        # number as summing the journal's rows, found without a Python loop over every row
        return sum(self._amount[:n][match].tolist())

    def payees(self, *kinds: Kind) -> set[str]:
        """Return the names of everyone paid any of ``kinds``."""
        n = self._n
        wanted = np.isin(self._kind[:n], [_KIND_CODES[Kind(k).value] for k in kinds])
        return {self._names[c] for c in np.unique(self._payee[:n][wanted]).tolist()}

    def amounts(self, *, payers: set[str] | None = None, payees: set[str] | None = None) -> np.ndarray:
        """Return the amounts paid by any of ``payers`` (or to any of ``payees``), in journal order."""
        n = self._n
        match = np.ones(n, dtype=bool)
        for wanted, codes in ((payers, self._payer), (payees, self._payee)):
            if wanted is not None:
                known = [self._codes[str(w)] for w in wanted if str(w) in self._codes]
                match &= np.isin(codes[:n], known)
        return self._amount[:n][match]

    def frame(self) -> pd.DataFrame:
        """The journal as a table."""
        n = self._n
        if n == 0:
            return pd.DataFrame([], columns=_COLUMNS)
        names = pd.array(self._names, dtype="str")
        kinds = pd.array([k.value for k in _KINDS], dtype="str")
        return pd.DataFrame({
            "month": self._month[:n].copy(),
            "payer": names.take(self._payer[:n]),
            "payee": names.take(self._payee[:n]),
            "kind": kinds.take(self._kind[:n]),
            "amount": self._amount[:n].copy(),
        })

    def __len__(self) -> int:
        return self._n
