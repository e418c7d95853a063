"""Typed schema of a supply chain: the market of sub-primes and the primes' subcontracting policy.

Kept apart from :mod:`sim.scenario` (which imports it) so the two cannot form
an import cycle; both take their vocabulary from :mod:`sim.vocabulary`.

A scenario's ``market`` names groups of sub-primes (``subprimes``), how often
subcontracts are re-let (``renewal_months``), when sub-primes leave, how new
ones enter, and the subcontracting ``policy`` of every prime that does not set
its own (``primes[].subcontracting``). A policy is the terms a prime offers
(fee margin, outcome share passed down, payment lag, volume commitment) and
how far it will improve them when sub-primes decline. Whether sub-primes
accept, survive and carry risk is not set here: it follows from the terms,
their reserves and their cash flow (:mod:`sim.supply_chain`).

Defaults are illustrative, not calibrated. The shape of the market follows the
Clinks surveys of Transforming Rehabilitation (docs/sources.md):
about 300 subcontractors named in bids, three quarters voluntary or mutual,
voluntary-sector reserves small.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pbrsim.sim.vocabulary import SECTORS, SERVICE_TYPES
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["EntrySpec", "MarketSpec", "SubPrimeSpec", "SubcontractPolicy"]

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0)]
Margin = Annotated[float, Field(ge=-0.5, le=2.0)]
# Literal of a tuple is the Literal of its members: the vocabulary is written once, in sim/vocabulary.py
Sector = Literal[SECTORS]
ServiceType = Literal[SERVICE_TYPES]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubPrimeSpec(_Strict):
    """A group of similar sub-primes, ``count`` in all, one service type each.

    Members' capacity, unit cost and reserves are drawn around the group's
    values (log-normal, ``spread``), so members do not all run out of cash in
    the same month.
    """

    name: str | None = None
    """Name stem (default: sector and service type); members are numbered."""
    sector: Sector = "voluntary"
    service_types: Annotated[list[ServiceType], Field(min_length=1)] = Field(
        default_factory=lambda: list(SERVICE_TYPES)
    )
    """Service types the members specialise in, dealt out in turn."""
    count: Annotated[int, Field(ge=1, le=1000)] = 1
    capacity_hours_per_month: Annotated[float, Field(gt=0.0)] = 900.0
    unit_cost_per_hour: Annotated[float, Field(gt=0.0)] = 34.0
    """Variable cost of an hour of front-line delivery."""
    overhead_per_month: Money = 6_000.0
    """Fixed cost of the service line, paid in every month it holds a subcontract."""
    effectiveness: Annotated[float, Field(gt=0.0, le=5.0)] = 1.25
    """Effect of an hour against a prime's in-house hour at 1 (specialists: above 1)."""
    reserves: Money = 130_000.0
    """Cash at the start (voluntary sector: a few months of costs)."""
    risk_tolerance: Share = 0.2
    """Share of its income it will leave at risk on outcomes when it has full bargaining power."""
    min_margin: Annotated[float, Field(ge=-0.5, le=1.0)] = 0.0
    """Lowest expected margin over full cost it takes with no bargaining power. Negative for
    organisations that subsidise a mission from reserves (Clinks 2018: a third did)."""
    spread: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    """Log-normal spread of members' capacity (unit cost: a third of it; reserves: twice it)."""


class EntrySpec(_Strict):
    """How new sub-primes enter where primes want to subcontract and cannot."""

    probability_per_month: Share = 0.1
    """Chance, each month, that a service type with unmet demand for subcontracting draws an
    entrant (who enters only if the terms on offer would suit it)."""
    sector_mix: dict[Sector, Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=lambda: {"voluntary": 0.75, "social_enterprise": 0.15, "private": 0.10}
    )
    """Relative chance of each sector among entrants (Clinks: three quarters voluntary or mutual).
    An entrant is drawn like a member of the first ``subprimes`` group of its sector; sectors with
    no group are skipped."""


class SubcontractPolicy(_Strict):
    """The subcontract terms a prime offers, and how far it goes to have them accepted."""

    max_subprimes_per_type: Annotated[int, Field(ge=0, le=50)] = 2
    """Sub-primes it holds per service type (0: it delivers everything in-house)."""
    fee_margin_over_cost: Margin = 0.08
    """Price of an hour, as a margin over the sub-prime's full cost (open book) ..."""
    max_fee_margin_over_cost: Margin = 0.25
    """... raised by ``fee_margin_step`` while every candidate declines, up to this and never
    past the price at which buying stops being better value than in-house delivery."""
    fee_margin_step: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    outcome_share_passed: Share = 0.0
    """Share of the outcome payment earned by a sub-prime's work (its part of each cohort's
    effective hours) passed down to it. The prime cuts the fee by the share's expected value."""
    payment_lag_months: Annotated[int, Field(ge=0, le=24)] = 1
    """Months from delivery to payment of the fee."""
    volume_commitment_share: Share = 0.0
    """Share of the contracted hours a month promised, referred or not."""
    honour_volume_commitment: bool = False
    """Pay the fee on promised hours never referred (a Merlin-style stewardship rule)."""
    expected_reduction: Share = 0.08
    """Relative fall in reoffending the prime expects to be measured. It values the outcome
    share before any cohort has been paid for; payments outweigh it as cohorts are measured."""

    @model_validator(mode="after")
    def _margins_ordered(self) -> SubcontractPolicy:
        if self.max_fee_margin_over_cost < self.fee_margin_over_cost:
            raise ValueError("max_fee_margin_over_cost must be at least fee_margin_over_cost")
        return self


class MarketSpec(_Strict):
    """The pool of sub-primes shared by the primes, and the rules of exit and entry."""

    subprimes: Annotated[list[SubPrimeSpec], Field(min_length=1)]
    renewal_months: Annotated[int, Field(ge=1, le=120)] = 12
    """Every subcontract is re-let this often (from the start), so terms can change."""
    policy: SubcontractPolicy = Field(default_factory=SubcontractPolicy)
    """Subcontracting policy of every prime that does not set its own ``subcontracting``."""
    entry: EntrySpec = Field(default_factory=EntrySpec)
    demanded_margin: Annotated[float, Field(ge=0.0, le=1.0)] = 0.10
    """Expected margin over full cost that a sub-prime with full bargaining power insists on."""
    runway_half_months: Annotated[float, Field(gt=0.0)] = 3.0
    """Months of costs in reserve that give a sub-prime half of full bargaining power."""
    discount_rate_per_month: Annotated[float, Field(ge=0.0, le=0.1)] = 0.005
    """Sub-primes' cost of waiting for money (late fees; outcome shares 18 months on)."""
    exit_loss_months: Annotated[int, Field(ge=1, le=120)] = 12
    """A sub-prime leaves after this many months of losses in a row ..."""
    exit_reserve_share: Share = 0.5
    """... once its cash is below this share of its starting reserves. Below zero: insolvent."""
