"""Typed schema of the commissioner's stewardship rules (``contract.stewardship``).

Kept apart from :mod:`sim.scenario` (which imports it) so the schema cannot
form an import cycle with the modules that apply the rules
(:mod:`sim.stewardship`, :mod:`sim.supply_chain`).

Each rule is one field (DESIGN.md section 4, "Stewardship rules"):

* ``merlin``: the Merlin-style supply-chain standard (DWP, 2012; see
  docs/sources.md). It limits the terms a prime may offer its
  sub-primes; it does not set them: outcome risk passed down no larger than the
  prime's own, prompt payment, promised volumes paid for.
* ``open_book``: the commissioner sees the prime's costs.
* ``margin_cap``: the most a prime may keep as margin, as a share of its
  income; enforceable only with ``open_book`` (without it the commissioner
  cannot see the margin), so a cap without open book is refused.

The minimum service specification (the anti-parking floor) is
``contract.service.min_hours_per_month``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["StewardshipSpec"]


class StewardshipSpec(BaseModel):
    """Stewardship rules the commissioner applies to the primes holding its contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    merlin: bool = False
    """Merlin-style supply-chain standard: a sub-prime's share of its income at risk on outcomes
    may not exceed the prime's own; fees paid at most a month after delivery; promised volumes
    paid for whether referred or not. Binds only where the scenario has a ``market``."""
    open_book: bool = False
    """The commissioner sees each prime's costs (reported as ``open_book_*`` metrics)."""
    margin_cap: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Most a prime may keep as margin, as a share of its income from the commissioner. Margin
    above it, over the contract to date, is clawed back at each reconciliation."""
    reconcile_months: Annotated[int, Field(ge=1, le=120)] = 12
    """How often the margin is reconciled against the cap (and once more at the end of the run)."""

    @model_validator(mode="after")
    def _cap_needs_open_book(self) -> StewardshipSpec:
        # Without open-book reporting the commissioner cannot see the prime's costs, so it
        # cannot know its margin: a cap it cannot measure is a cap it cannot enforce.
        if self.margin_cap is not None and not self.open_book:
            raise ValueError("margin_cap can only be enforced with open_book: true "
                             "(without open-book reporting the commissioner cannot see the margin)")
        return self
