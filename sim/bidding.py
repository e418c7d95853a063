"""Bidding for a contract: what bidders see, how each costs a bid, and how bids are judged.

Pure functions and small records, used by the commissioning mechanism
(:mod:`pbrsim.sim.commissioning`, whose docstring describes the whole
competition): the data room a commissioner opens (:class:`DataRoom`), a
bidder's projection of a contract over its life from its own costs and beliefs
(:func:`project`), the bid it makes (:class:`Bid`) and the evaluation by lowest
tender or MEAT (:func:`evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from pbrsim.sim.payments import expected_outcome_per_referral, volume_band_factor
from pbrsim.sim.population import CohortProfile, draw_offenders
from pbrsim.sim.scenario import ContractSpec, PrimeSpec
from pbrsim.sim.scenario_commissioning import CompetitionSpec
from pbrsim.sim.strategies import believed_complexity

__all__ = [
    "Bid",
    "DataRoom",
    "Life",
    "Projection",
    "believed_reduction",
    "evaluate",
    "open_data_room",
    "outcome_per_referral",
    "project",
]


# -- what bidders see, and how they cost a bid: pure functions ----------------------------------


@dataclass(frozen=True)
class DataRoom:
    """What the commissioner publishes to bidders.

    Attributes:
        volume: referrals a month per area to plan on.
        engaged: whether each sampled past referral engaged with services.
        needs: assessed needs of each sampled referral (people x service types).
        score: assessed risk score of each (the bidders' view of risk).
        band_shares: share of referrals in each payment band.
        band_rates: mean assessed risk in each payment band (a bidder's base rate by band).

    """

    volume: float
    engaged: np.ndarray
    needs: np.ndarray
    score: np.ndarray
    band_shares: np.ndarray
    band_rates: np.ndarray

    @property
    def engaged_share(self) -> float:
        """Share of referrals who engage (and so are given service)."""
        return float(self.engaged.mean())

    def at_volume(self, volume: float) -> DataRoom:
        """Return the same sample with another planned volume."""
        return replace(self, volume=volume)


def open_data_room(rng: np.random.Generator, profile: CohortProfile, size: int,
                   volume: float) -> DataRoom:
    """Draw the sample of past referrals the commissioner publishes (before any drift)."""
    people = draw_offenders(rng, size, profile)
    band = people["pay_band"].astype(np.intp)
    counts = np.bincount(band, minlength=4).astype(float)
    rates = np.bincount(band, weights=people["score"].astype(float), minlength=4)
    rates = np.divide(rates, counts, out=np.full(4, profile.base_rate), where=counts > 0)
    return DataRoom(volume, people["engaged"], people["needs"], people["score"].astype(float),
                    counts / counts.sum(), rates)


def believed_reduction(prior_effect: float, hours: float, room: DataRoom, follow_up: int,
                       service_months: int) -> float:
    """Return the relative fall in proven reoffending a bidder expects from ``hours`` a month.

    For each sampled person who engages and has a need, the hazard is cut by
    ``prior_effect x (1 - exp(-dose / believed complexity))`` with the dose
    growing month by month through service, averaged over the follow-up; the
    cut is averaged over people weighted by their assessed risk (the share of
    reoffenders each would be).
    """
    months = np.arange(1, follow_up + 1)
    dose = hours * np.minimum(months, service_months)
    complexity = believed_complexity(room.needs)[:, None]
    reach = (1.0 - np.exp(-dose[None, :] / complexity)).mean(axis=1)
    cut = prior_effect * reach * room.engaged * room.needs.any(axis=1)
    return float(np.average(cut, weights=room.score))


def outcome_per_referral(contract: ContractSpec, room: DataRoom, volume: float,
                         reduction: float) -> float:
    """Return the outcome payment per referral, at list prices, for a typical month's cohort.

    The cohort (``volume`` people in the data room's payment bands) reoffends
    ``reduction`` (relative) below a counterfactual at the data room's rates,
    with :data:`REOFFENCES_PER_REOFFENDER`; its pot holds the fees withheld
    over its service. The contract's own payment rules price it.
    """
    return expected_outcome_per_referral(contract, volume * room.band_shares, room.band_rates, reduction)


@dataclass(frozen=True)
class Life:
    """The months of a contract, counted from its award.

    Attributes:
        history: months the area had already been referring (their people are still in service and
            their cohorts still to be measured: the new holder takes them over).
        referring: months of the contract in which referrals arrive.
        serving: months it serves the area and pays its overhead.
        paid: months in which it is paid for the cohorts measured (the last holder: to the end of
            the run-off).

    """

    history: int
    referring: int
    serving: int
    paid: int


@dataclass(frozen=True)
class Projection:
    """Month-by-month cost and income of a contract, at the contract's list prices.

    Attributes:
        cost: overhead and delivery each month.
        income: fees kept and outcome payments each month (what a price factor scales).
        booked: the change each month in what the holder is worth at list prices: fees kept and
            withheld, plus outcome payments less the pots they settle (fees withheld are an asset
            until measured, as :meth:`Commissioning.net_worth` counts them).

    """

    cost: np.ndarray
    income: np.ndarray
    booked: np.ndarray

    def price_factor(self, margin: float) -> float:
        """Return the price factor covering the cost plus ``margin`` (1 if nothing is paid)."""
        income = float(self.income.sum())
        return float(self.cost.sum()) * (1.0 + margin) / income if income > 0 else 1.0

    def funding_need(self, factor: float) -> float:
        """Return the deepest the holder's worth falls below its capital, at price ``factor``."""
        path = np.cumsum(factor * self.booked - self.cost)
        return float(max(-path.min(), 0.0)) if path.size else 0.0


def project(spec: PrimeSpec, hours: float, contract: ContractSpec, room: DataRoom, volume: float,
            reduction: float, life: Life, measure_delay: int,
            planned: float | None = None) -> Projection:
    """Project one area's contract month by month from a prime's cost structure.

    Referrals arrive at ``volume`` a month while the contract refers; the
    caseload is everyone referred in the last ``service.months`` months
    (including those taken over), of whom the data room's share engage and
    get ``hours`` a month at the prime's unit cost; overhead is paid every
    month it serves. Fees follow the contract's terms; each month's cohort is
    paid for ``measure_delay`` months after referral, at the outcome payment
    per referral that ``reduction`` earns (:func:`outcome_per_referral`).
    With ``volume_bands`` and the ``planned`` referrals a month per area, the
    fees paid are repriced at the band ``volume`` falls in.
    """
    pay = contract.payment
    months = max(life.serving, life.paid)
    t = np.arange(1, months + 1)
    window = contract.service.months

    def referred(u: np.ndarray) -> np.ndarray:
        return ((u > -life.history) & (u <= life.referring)).astype(float)

    # people in service: the referral months among the last ``window``, times the volume
    serving = t <= life.serving
    caseload = volume * referred(t[:, None] - np.arange(window)[None, :]).sum(axis=1) * serving
    new = volume * referred(t) * serving
    block = pay.block_grant_per_year / 12.0 * ((t <= life.referring) & serving)
    gross = pay.fee_per_referral * new + pay.fee_per_supervision_month * caseload + block
    held = pay.at_risk_share * gross
    measured = volume * referred(t - measure_delay) * (t <= life.paid)
    outcome = measured * outcome_per_referral(contract, room, volume, reduction)
    # a cohort's pot: the share withheld of its referral fee, its supervision and a month's grant
    pot = pay.at_risk_share * (pay.fee_per_referral + pay.fee_per_supervision_month * window
                               + pay.block_grant_per_year / 12.0 / max(volume, 1e-9))
    cost = (spec.overhead_per_month * serving
            + caseload * room.engaged_share * hours * spec.unit_cost_per_hour)
    banded = 0.0
    if pay.volume_bands and planned:
        band = volume_band_factor(pay.volume_bands, volume / planned)
        banded = (band - 1.0) * (1.0 - pay.at_risk_share) * (gross - block)
    return Projection(cost=cost, income=gross - held + outcome + banded,
                      booked=gross + outcome - measured * pot + banded)


@dataclass(frozen=True)
class Bid:
    """One prime's tender for one area, and how the commissioner scored it.

    Attributes:
        bidder: the prime's name.
        area: the lot.
        month: when it was made (0: before the first month).
        price_factor: share of the contract's list fees and outcome prices it asks to be paid.
        promised_hours: hours a month per engaged person it offers.
        promised_reduction: relative fall in proven reoffending it promises.
        believed_cost: its projected cost a month, on average over the contract.
        deliverability: 1 for a bid that covers its declared cost at the planned volume, falling to
            0 for an abnormally low one.
        standing: financial standing, 0 to 1.
        service: effective hours offered (hours x effectiveness).
        quality: MEAT quality, 0 to 1 (set by :func:`evaluate`).
        score: evaluation score (set by :func:`evaluate`; higher wins).

    """

    bidder: str
    area: int
    month: int
    price_factor: float
    promised_hours: float
    promised_reduction: float
    believed_cost: float
    deliverability: float
    standing: float
    service: float
    quality: float = 0.0
    score: float = 0.0


def evaluate(bids: list[Bid], competition: CompetitionSpec) -> list[Bid]:
    """Score and rank bids, best first (ties keep the order the bids were made in).

    ``lowest_tender`` scores price alone (lowest price / price); ``meat`` adds
    quality at ``quality_weight``: deliverability x the mean of the service
    offered (against the best bid's) and financial standing.
    """
    if not bids:
        return []
    lowest = min(b.price_factor for b in bids)
    best_service = max(b.service for b in bids)
    scored = []
    for b in bids:
        service = b.service / best_service if best_service > 0 else 1.0
        quality = b.deliverability * (service + b.standing) / 2.0
        price = lowest / b.price_factor if b.price_factor > 0 else 1.0
        if competition.evaluation == "meat":
            score = competition.price_weight * price + competition.quality_weight * quality
        else:
            score = price
        scored.append(replace(b, quality=quality, score=score))
    order = sorted(range(len(scored)), key=lambda i: (-scored[i].score, i))
    return [scored[i] for i in order]
