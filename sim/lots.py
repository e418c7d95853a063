"""A contract area as a contract: its holder, the bid it was let on, its pending events and history.

Used by the commissioning mechanism (:mod:`pbrsim.sim.commissioning`); who holds
the area is asked of the model's one record of it (:mod:`pbrsim.sim.areas`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mesa.time import Event
    from pbrsim.sim.agents import Prime
    from pbrsim.sim.bidding import Bid
    from pbrsim.sim.commissioning import Commissioning

__all__ = ["ContractEvent", "Lot"]


@dataclass(frozen=True)
class ContractEvent:
    """Something that happened to an area's contract (for analysis and tests).

    Attributes:
        month: when (0: the first competitions, before the first month).
        area: the area.
        kind: ``award``, ``no_bid``, ``interim``, ``handback``, ``rectification_notice``,
            ``termination`` or ``break``.
        provider: the provider concerned (the winner of an award; the holder otherwise).

    """

    month: int
    area: int
    kind: str
    provider: str


class Lot:
    """One contract area as a contract: who holds it, on which bid, and its pending events.

    Its scheduled events are its own bound methods, so the lot (held by
    :class:`Commissioning`) keeps them alive: Mesa holds callbacks weakly.
    """

    def __init__(self, commissioning: Commissioning, area: int, interim: bool = False) -> None:
        self.commissioning = commissioning
        self.area = area
        self.bid: Bid | None = None
        self.awarded = 0
        self.interim = interim
        self.notice: int | None = None
        self.barred: set[str] = set()
        self.measured_cf = 0.0
        self.measured = 0.0
        self.measured_cohorts = 0
        self._events: list[Event] = []

    @property
    def holder(self) -> Prime:
        """The provider holding the area now (sim/areas.py keeps the record)."""
        return self.commissioning.model.areas.holder(self.area)

    @property
    def factor(self) -> float:
        """The price factor its terms are scaled by."""
        if self.bid is not None:
            return self.bid.price_factor
        spec = self.commissioning.spec
        return spec.interim.price_factor if (self.interim and spec is not None) else 1.0

    def start(self, bid: Bid | None, month: int, interim: bool) -> None:
        """Begin a contract or an interim arrangement, forgetting the last one's events."""
        for event in self._events:
            event.cancel()
        self._events = []
        self.bid, self.awarded, self.interim = bid, month, interim
        self.notice = None
        self.measured_cf = self.measured = 0.0
        self.measured_cohorts = 0
        model = self.commissioning.model
        contract = model.design.contract
        if interim or bid is None:
            return
        end = month + contract.term_months if contract.term_months is not None else None
        last = min(end, model.referral_months) if end is not None else model.referral_months
        if end is not None and end < model.referral_months:
            self._events.append(model.schedule_event(self.end_of_term, at=end))
        step = contract.break_clause_months
        if step is not None:
            for at in range(month + step, last, step):
                self._events.append(model.schedule_event(self.break_point, at=at))

    def schedule_recompete(self, at: int) -> None:
        """Let a new contract in month ``at`` (after a hand-back, termination or no bid)."""
        self._events.append(self.commissioning.model.schedule_event(self.recompete, at=at))

    def end_of_term(self) -> None:
        """Re-compete the area (scheduled at the contract's end)."""
        self.commissioning.compete(self, self.commissioning.model.steps)

    def break_point(self) -> None:
        """Let either party end the contract (scheduled at each break point)."""
        self.commissioning.break_point(self, self.commissioning.model.steps)

    def recompete(self) -> None:
        """Let a new contract (scheduled after a failure, termination or empty competition)."""
        self.commissioning.compete(self, self.commissioning.model.steps)
