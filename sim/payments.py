"""The payment engine: pure functions from contract terms and measured outcomes to money.

Nothing here knows about agents or time. Each function can be read against a
contract clause and is tested against hand-worked examples
(``tests/test_payments.py``).

Outcomes reach the engine as a :class:`MeasuredOutcome`: counts for one cohort
split by the commissioner's payment group (the observed risk band at
referral), with the counterfactual's expected counts beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pbrsim.sim.bases import REOFFENCES_PER_REOFFENDER, Pot, basis_of, measure_of
from pbrsim.sim.scenario import ContractSpec, OutcomeComponent, PaymentSpec, VolumeBand

__all__ = [
    "REOFFENCES_PER_REOFFENDER",
    "MeasuredOutcome",
    "expected_outcome_per_referral",
    "apply_total_cap",
    "block_grant",
    "fee_reconciliation",
    "fees",
    "improvement",
    "margin_clawback",
    "outcome_payment",
    "pot_fraction",
    "scaled_payment",
    "sib_cohort_payment",
    "sib_final_payment",
    "sib_reduction_pct",
    "sib_triggered",
    "true_impact_value",
    "volume_band_factor",
    "withheld",
]


@dataclass(frozen=True)
class MeasuredOutcome:
    """One cohort's outcome as the commissioner measures it, by payment group.

    Attributes:
        n: people counted in the cohort, per band.
        reoffenders: people with a proven reoffence in the window, per band.
        reoffences: proven reoffences in the window, per band.
        cf_reoffenders: reoffenders the counterfactual expects, per band.
        cf_reoffences: reoffences the counterfactual expects, per band.
        pot: fees withheld for this cohort under ``at_risk_share`` (money that
            ``pot`` components can earn back).

    """

    n: np.ndarray
    reoffenders: np.ndarray
    reoffences: np.ndarray
    cf_reoffenders: np.ndarray
    cf_reoffences: np.ndarray
    pot: float = 0.0

    @classmethod
    def single_group(
        cls,
        n: float,
        reoffenders: float,
        reoffences: float,
        cf_reoffenders: float,
        cf_reoffences: float,
        pot: float = 0.0,
    ) -> MeasuredOutcome:
        """A cohort with everybody in the first band (convenient for uniform prices)."""
        def arr(x: float) -> np.ndarray:
            return np.array([x, 0.0, 0.0, 0.0])

        return cls(arr(n), arr(reoffenders), arr(reoffences), arr(cf_reoffenders), arr(cf_reoffences), pot)


def block_grant(annual: float, months: float) -> float:
    """Block grant accrued over ``months`` at ``annual`` a year."""
    return annual * months / 12.0


def fees(spec: PaymentSpec, referrals: float, supervision_months: float, months: float) -> float:
    """Gross fee value (block grant, per referral, per supervision month) before any withholding."""
    return (
        block_grant(spec.block_grant_per_year, months)
        + spec.fee_per_referral * referrals
        + spec.fee_per_supervision_month * supervision_months
    )


def withheld(spec: PaymentSpec, gross_fees: float) -> float:
    """Part of ``gross_fees`` held back and paid only on results."""
    return spec.at_risk_share * gross_fees


def volume_band_factor(bands: Sequence[VolumeBand], share_of_plan: float) -> float:
    """Multiple of the unit price for a year whose referrals were ``share_of_plan`` of the plan.

    The band in force is the last whose ``from_share_of_plan`` is at or below
    the share (bands are validated to be in increasing order, the first
    starting at 0). No bands: 1, the unit price.
    """
    factor = 1.0
    for band in bands:
        if share_of_plan >= band.from_share_of_plan:
            factor = band.fee_factor
        else:
            break
    return factor


def fee_reconciliation(bands: Sequence[VolumeBand], referrals: float, planned: float,
                       fees_paid: float) -> float:
    """Annual reconciliation of fees for service by volume band (Transforming Rehabilitation).

    The year's referral and supervision fees were paid at the unit price
    (``fees_paid``); at the year's end they are repriced at the factor of the
    band that the year's ``referrals`` fall in as a share of the ``planned``
    volume. A band's factor applies to the whole year's fees, not only to the
    units inside the band, so payment jumps at a band's edge: with a factor of
    1.1 below 90% of plan, 89% of plan is paid 97.9% of the planned fees and
    90% is paid 90%.

    Args:
        bands: the contract's volume bands (none: nothing to reconcile).
        referrals: referrals in the year.
        planned: planned referrals in the year (no plan: nothing to reconcile).
        fees_paid: referral and supervision fees paid for the year at the unit price.

    Returns:
        What the commissioner owes the provider: positive, a top-up; negative, a repayment.

    """
    if not bands or planned <= 0:
        return 0.0
    return float((volume_band_factor(bands, referrals / planned) - 1.0) * fees_paid)


def scaled_payment(spec: PaymentSpec, factor: float) -> PaymentSpec:
    """The contract's terms at a winning bid's price: every fee and outcome price times ``factor``.

    Shares, thresholds, targets and the contract-wide ``outcome_cap_total``
    (the commissioner's budget, not the bidder's price) are unchanged; a
    ``pot`` is scaled through the fees withheld into it. A factor of 1 returns
    ``spec`` itself, so a direct award pays exactly the contract's terms.
    """
    if factor == 1.0:
        return spec
    outcomes = [
        c.model_copy(update={
            "price": None if c.price is None else c.price * factor,
            "prices_by_band": None if c.prices_by_band is None else c.prices_by_band.model_copy(
                update={b: getattr(c.prices_by_band, b) * factor for b in ("low", "medium", "high", "very_high")}),
            "cap_per_cohort": None if c.cap_per_cohort is None else c.cap_per_cohort * factor,
        })
        for c in spec.outcomes
    ]
    return spec.model_copy(update={
        "block_grant_per_year": spec.block_grant_per_year * factor,
        "fee_per_referral": spec.fee_per_referral * factor,
        "fee_per_supervision_month": spec.fee_per_supervision_month * factor,
        "outcomes": outcomes,
    })


def improvement(measure: str, n: float, reoffenders: float, reoffences: float,
                cf_reoffenders: float, cf_reoffences: float) -> float:
    """Improvement on the counterfactual in the unit the contract uses for thresholds.

    Binary: percentage points of reduction in the proven reoffending rate.
    Frequency: per cent reduction in reoffences against the counterfactual.
    """
    return measure_of(measure).improvement(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences)


def pot_fraction(component: OutcomeComponent, achieved: float) -> float:
    """Share of a ``pot`` component's pot earned at a given improvement."""
    return Pot(component).fraction(achieved)


def outcome_payment(component: OutcomeComponent, outcome: MeasuredOutcome) -> float:
    """Money one outcome component pays for one cohort, before any contract-wide cap.

    Uniform prices are judged on the whole cohort; differential prices
    (``prices_by_band``) are judged and paid band by band (:mod:`pbrsim.sim.bases`).
    """
    return basis_of(component).pay(outcome)


def apply_total_cap(amount: float, paid_so_far: float, cap: float | None) -> float:
    """Part of ``amount`` payable once ``paid_so_far`` is counted against a lifetime ``cap``."""
    if cap is None:
        return amount
    return float(max(0.0, min(amount, cap - paid_so_far)))


def true_impact_value(component: OutcomeComponent, n: np.ndarray, reoffenders: np.ndarray,
                      reoffences: np.ndarray, untreated_reoffenders: np.ndarray,
                      untreated_reoffences: np.ndarray, pot: float = 0.0) -> float:
    """What the component would pay if it paid only for the true impact, at its own prices.

    True impact is measured against the same people's untreated outcomes (the
    oracle), with no threshold or trigger for priced bases; a ``pot`` keeps its
    threshold and target, which define how much of the pot an improvement is
    worth. Bands are netted against each other (harm in one band offsets good
    in another), so the value is of the cohort's net true impact. Payment above this value is payment
    for deadweight: outcomes that would have happened anyway, or measurement
    error in the commissioner's counterfactual.
    """
    return basis_of(component).true_value(n, reoffenders, reoffences, untreated_reoffenders,
                                          untreated_reoffences, pot)


# -- stewardship: cap on prime margin (open book) ------------------------------------------------


def margin_clawback(income: float, costs: float, cap: float, clawed_back: float) -> float:
    """Margin to claw back at a reconciliation under a cap on prime margin.

    The cap is on the prime's margin over the contract to date, as a share of
    its income: reconciled on cumulative figures, a good year can be offset by
    a bad one, and money clawed back is never refunded if later years lose.

    Args:
        income: the prime's income from the commissioner, contract to date.
        costs: the prime's costs to date as open-book reporting shows them (everything it paid
            out except clawbacks).
        cap: most margin it may keep, as a share of ``income``.
        clawed_back: already clawed back at earlier reconciliations.

    Returns:
        ``max(income - costs - clawed_back - cap * income, 0)``.

    """
    if income <= 0:
        return 0.0
    return float(max(income - costs - clawed_back - cap * income, 0.0))


# -- social impact bond: Peterborough-style triggers ----------------------------------------------

#: A reduction exactly at a trigger in decimal arithmetic (155 of 1,550 reoffences is 10%) must
#: not be lost to binary rounding.
_TRIGGER_TOLERANCE = 1e-9


def sib_reduction_pct(cf_reoffences: float, reoffences: float) -> float:
    """Per cent fall in proven reoffences below the counterfactual (the bond's frequency measure)."""
    return improvement("frequency", 0.0, 0.0, reoffences, 0.0, cf_reoffences)


def sib_triggered(reduction_pct: float, trigger_pct: float) -> bool:
    """Whether a measured reduction reaches a trigger (at the trigger counts as reaching it)."""
    return reduction_pct >= trigger_pct - _TRIGGER_TOLERANCE


def sib_cohort_payment(cf_reoffences: float, reoffences: float, price: float,
                       trigger_pct: float) -> float:
    """Early payment for one bond cohort.

    Peterborough: a cohort whose reconviction events fall at least 10% below
    the comparison group's is paid for when it is measured, at ``price`` per
    reoffence avoided; below the trigger it waits for the pilot-wide test
    (:func:`sib_final_payment`).
    """
    avoided = cf_reoffences - reoffences
    if avoided <= 0 or not sib_triggered(sib_reduction_pct(cf_reoffences, reoffences), trigger_pct):
        return 0.0
    return float(price * avoided)


def sib_final_payment(cf_reoffences: list[float] | np.ndarray, reoffences: list[float] | np.ndarray,
                      price: float, trigger_pct: float, paid_early: float) -> float:
    """Payment at the end of the pilot, for all cohorts, less what was paid early.

    Peterborough: if reconviction events across every cohort together fall at
    least 7.5% below the comparison group's, the pilot is paid for at ``price``
    per reoffence avoided across all cohorts; payments already made for
    cohorts that met their own trigger are deducted (never refunded).

    Args:
        cf_reoffences: counterfactual reoffences of each cohort.
        reoffences: measured reoffences of each cohort.
        price: per reoffence avoided.
        trigger_pct: the pilot-wide trigger, per cent of the counterfactual.
        paid_early: total of the cohorts' early payments.

    """
    cf, measured = float(np.sum(cf_reoffences)), float(np.sum(reoffences))
    if not sib_triggered(sib_reduction_pct(cf, measured), trigger_pct) or cf <= measured:
        return 0.0
    return float(max(price * (cf - measured) - paid_early, 0.0))


def expected_outcome_per_referral(contract: ContractSpec, n: np.ndarray, rate: np.ndarray | float,
                                  reduction: float) -> float:
    """Outcome payment per referral the contract's own rules pay for a typical month's cohort.

    The cohort has ``n`` people per payment band; it reoffends ``reduction``
    (relative) below a counterfactual at ``rate`` per band, with
    :data:`REOFFENCES_PER_REOFFENDER`; its pot holds the fees withheld over its
    service. Used by bidders and by subcontract pricing, which must value
    outcomes before any are measured.
    """
    pay = contract.payment
    volume = float(np.sum(n))
    if not pay.outcomes or volume <= 0:
        return 0.0
    frequency = rate * REOFFENCES_PER_REOFFENDER
    pot = withheld(pay, fees(pay, volume, volume * contract.service.months, 1.0))
    outcome = MeasuredOutcome(n=n, reoffenders=n * rate * (1.0 - reduction),
                              reoffences=n * frequency * (1.0 - reduction),
                              cf_reoffenders=n * rate, cf_reoffences=n * frequency, pot=pot)
    return sum(outcome_payment(component, outcome) for component in pay.outcomes) / volume
