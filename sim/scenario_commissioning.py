"""Typed schema of commissioning over time: competitions, performance regimes and volume shocks.

Kept apart from :mod:`sim.scenario` (which imports it), as
:mod:`sim.scenario_supply` is, so the two cannot form an import cycle. The
behaviour lives in :mod:`sim.commissioning`.

A scenario's ``competition`` says how contract areas (lots) are let: who may
bid, how bids are scored (lowest tender or MEAT, the glossary's Most
Economically Advantageous Tender), what a competition costs, how long a new
contract takes to let after a failure, and who serves an area meanwhile.
``contract.performance`` is the performance regime written into the contract
(monitoring, rectification notice, termination). ``cohort.volume_shocks`` moves
referral volumes away from the plan that bids were priced on.

Defaults are illustrative, not calibrated: see docs/ODD.md (section 7.14).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CompetitionSpec", "InterimProviderSpec", "PerformanceSpec", "VolumeShock"]

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeShock(_Strict):
    """Referrals run at ``factor`` times the plan from ``start_month`` (to ``end_month``, if given).

    Transforming Rehabilitation's paid volumes came in 15-48% below plan
    against a modelled 2% fall (docs/sources.md). Shocks that overlap
    multiply. Bids are priced on the plan (``cohort.referrals_per_year``).
    """

    start_month: Annotated[int, Field(ge=1)]
    factor: Annotated[float, Field(ge=0.0, le=10.0)]
    end_month: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> VolumeShock:
        if self.end_month is not None and self.end_month < self.start_month:
            raise ValueError("end_month must not be before start_month")
        return self


class PerformanceSpec(_Strict):
    """The contract's performance regime: what is monitored, and what follows a shortfall.

    Every ``review_months`` the commissioner compares each competitively let
    area with its holder's bid. A shortfall on any monitored measure earns a
    rectification notice; still short at a review ``rectification_months`` or
    more after the notice, the contract is terminated and re-let.
    """

    review_months: Annotated[int, Field(ge=1, le=60)] = 6
    service_tolerance: Share | None = 0.1
    """Shortfall allowed on the hours a month per engaged person the bid promised (none: not
    monitored)."""
    outcome_tolerance: Share | None = 0.6
    """Shortfall allowed on the promised relative fall in proven reoffending, judged on the
    ``review_months`` or more cohorts referred under the holder and measured since the last
    judgement (none: not monitored)."""
    rectification_months: Annotated[int, Field(ge=1, le=60)] = 6


class InterimProviderSpec(_Strict):
    """The public-sector provider of last resort that holds an area between contracts.

    It steps in when a prime hands a contract back or is terminated and holds
    the area until a new contract is let: a service stood up in a hurry, with
    fewer hours (never below the contract's floor) and less effect an hour. It
    cannot fail and never bids.
    """

    name: Annotated[str, Field(min_length=1)] = "Public provider (interim)"
    hours_per_month: Annotated[float, Field(ge=0.0, le=100.0)] = 2.0
    unit_cost_per_hour: Money = 45.0
    overhead_per_month: Money = 60_000.0
    effectiveness: Annotated[float, Field(gt=0.0, le=5.0)] = 0.8
    capital: Money = 10_000_000.0
    """Working capital from the public purse (it cannot fail: this only sets its starting cash)."""
    price_factor: Annotated[float, Field(gt=0.0, le=5.0)] = 1.0
    """It is paid the contract's own terms times this."""


class CompetitionSpec(_Strict):
    """How contract areas (lots) are let: at the start, at contract end and after a failure."""

    evaluation: Literal["lowest_tender", "meat"] = "meat"
    """``lowest_tender``: the lowest price factor wins. ``meat`` (Most Economically Advantageous
    Tender): ``price_weight`` x (lowest price / price) + ``quality_weight`` x quality."""
    price_weight: Share = 0.6
    quality_weight: Share = 0.4
    areas: Annotated[int, Field(ge=1, le=500)] | None = None
    """Contract areas let; none: the sum of the primes' ``areas``."""
    max_areas_per_prime: Annotated[int, Field(ge=1)] | None = None
    """Most areas one prime may hold (a market-share cap); none: no cap."""
    max_price_factor: Annotated[float, Field(gt=0.0)] | None = None
    """Bids priced above this share of the contract's list prices are refused (affordability)."""
    bid_noise: Annotated[float, Field(ge=0.0, le=0.5)] = 0.03
    """Log-normal spread of each bid's price around the bidder's own costing (estimation error)."""
    abnormally_low: Annotated[float, Field(gt=0.0, le=1.0)] = 0.10
    """MEAT deliverability falls from 1 to 0 as a bid's income at the planned volume falls from
    its declared cost to this share below it (an abnormally low tender)."""
    standing_cover: Annotated[float, Field(ge=0.0)] = 1.0
    """MEAT financial standing is full when a bidder's capital covers this multiple of the funding
    its bid needs at the planned volume (its deepest projected loss before income catches up with
    costs), for every area it would hold."""
    assumed_reduction: Share = 0.05
    """Relative fall in proven reoffending the commissioner assumes when it prices a bid's
    outcome income (for MEAT deliverability)."""
    procurement_cost: Money = 250_000.0
    """Cost to the commissioner of one competition for one area (ledger: commissioner ->
    procurement)."""
    procurement_months: Annotated[int, Field(ge=0, le=36)] = 6
    """Months from a hand-back or termination to the new contract; the interim provider serves
    meanwhile."""
    data_room_size: Annotated[int, Field(ge=100, le=200_000)] = 5_000
    """Past referrals the commissioner publishes to bidders (a sample they cost their bids on)."""
    interim: InterimProviderSpec = Field(default_factory=InterimProviderSpec)

    @model_validator(mode="after")
    def _weights(self) -> CompetitionSpec:
        if self.evaluation == "meat" and abs(self.price_weight + self.quality_weight - 1.0) > 1e-9:
            raise ValueError("MEAT weights price_weight and quality_weight must add up to 1")
        return self
