"""Volume bands for fees for service, reconciled each contract year (sim/payments.py).

Every expected number is worked out by hand in a comment; none is taken from
the engine itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim import run_scenario
from pbrsim.sim.commissioning import DataRoom, Life, project
from pbrsim.sim.model import PbRModel
from pbrsim.sim.payments import fee_reconciliation, scaled_payment, volume_band_factor
from pbrsim.sim.scenario import PaymentSpec, VolumeBand
from pydantic import ValidationError

from tests.conftest import small

#: Transforming-Rehabilitation-like bands (scenarios/tr_hybrid.yaml).
TR_BANDS = [VolumeBand(from_share_of_plan=0.0, fee_factor=1.05),
            VolumeBand(from_share_of_plan=0.9, fee_factor=1.0),
            VolumeBand(from_share_of_plan=1.1, fee_factor=0.95)]


def payment(bands: list[dict], **fields) -> PaymentSpec:
    return PaymentSpec.model_validate(
        {"fee_per_supervision_month": 180, **fields, "volume_bands": bands})


# ---------------------------------------------------------------- the band in force


@pytest.mark.parametrize(("share", "factor"), [
    (0.0, 1.05),      # nobody referred: the first band
    (0.7, 1.05),      # 30% below plan
    (0.8999, 1.05),   # just below the 90% edge
    (0.9, 1.0),       # a band starts at its edge (inclusive)
    (1.0, 1.0),       # on plan
    (1.0999, 1.0),
    (1.1, 0.95),      # 110% of plan and above: 5% less
    (2.0, 0.95),      # the last band has no upper edge
])
def test_band_factor_is_the_last_band_starting_at_or_below_the_share(share, factor):
    """The band in force is the last whose lower edge the year's share of plan reaches."""
    assert volume_band_factor(TR_BANDS, share) == factor


def test_no_bands_pay_the_unit_price():
    """Without bands every volume is paid at the unit price, and nothing is reconciled."""
    assert volume_band_factor([], 0.5) == 1.0
    assert fee_reconciliation([], 8_400, 12_000, 1_000_000) == 0.0


# ---------------------------------------------------------------- the reconciliation


def test_a_year_below_plan_is_topped_up():
    """8,400 of a planned 12,000 referrals (70%): the year's fees are repriced at 1.05."""
    # fees paid £15,000,000 at the unit price; at 1.05 they are worth £15,750,000: +£750,000
    assert fee_reconciliation(TR_BANDS, 8_400, 12_000, 15_000_000) == pytest.approx(750_000)


def test_a_year_above_plan_repays():
    """13,500 of a planned 12,000 (112.5%): repriced at 0.95, the provider repays 5%."""
    # fees paid £24,000,000; at 0.95 worth £22,800,000: -£1,200,000
    assert fee_reconciliation(TR_BANDS, 13_500, 12_000, 24_000_000) == pytest.approx(-1_200_000)


def test_a_year_near_plan_is_left_alone():
    """11,000 of 12,000 (91.7%) and 13,100 of 12,000 (109.2%) are in the unit-price band."""
    assert fee_reconciliation(TR_BANDS, 11_000, 12_000, 20_000_000) == 0.0
    assert fee_reconciliation(TR_BANDS, 13_100, 12_000, 20_000_000) == 0.0


def test_no_plan_reconciles_nothing():
    """A year with no planned volume (no referrals planned) has no share of plan to price."""
    assert fee_reconciliation(TR_BANDS, 100, 0.0, 1_000_000) == 0.0


def test_payment_jumps_at_a_band_edge():
    """A band's factor applies to the whole year's fees, so 89% of plan is paid more than 90%."""
    bands = [VolumeBand(from_share_of_plan=0.0, fee_factor=1.1),
             VolumeBand(from_share_of_plan=0.9, fee_factor=1.0)]
    planned_fees = 1_000_000.0  # the fees a year on plan would be paid
    # 89% of plan: £890,000 paid, topped up by 10% (£89,000) to £979,000
    low = 0.89 * planned_fees + fee_reconciliation(bands, 890, 1_000, 0.89 * planned_fees)
    # 90% of plan: £900,000 paid, nothing to reconcile
    edge = 0.90 * planned_fees + fee_reconciliation(bands, 900, 1_000, 0.90 * planned_fees)
    assert low == pytest.approx(979_000) and edge == pytest.approx(900_000)


def test_a_price_factor_keeps_the_bands():
    """A winning bid scales the unit prices; the bands, being multiples, are unchanged."""
    pay = payment([b.model_dump() for b in TR_BANDS])
    scaled = scaled_payment(pay, 1.2)
    assert scaled.fee_per_supervision_month == pytest.approx(216)
    assert scaled.volume_bands == pay.volume_bands


# ---------------------------------------------------------------- validation


def band(start: float, factor: float) -> dict:
    return {"from_share_of_plan": start, "fee_factor": factor}


@pytest.mark.parametrize(("bands", "message"), [
    ([band(0.9, 1.0)], "first band must start at from_share_of_plan 0"),
    ([band(0.0, 1.1), band(1.1, 0.9), band(0.9, 1.0)], "increasing order"),
    ([band(0.0, 1.1), band(0.0, 1.0)], "increasing order"),
    ([band(0.0, 0.0)], "fee_factor"),
    ([band(0.0, -1.0)], "fee_factor"),
    ([band(-0.1, 1.0)], "from_share_of_plan"),
    ([{"from_share_of_plan": 0.0, "factor": 1.0}], "factor"),
])
def test_bands_are_validated(bands, message):
    """Bands start at 0, rise strictly, and have positive factors; misspelt fields are refused."""
    with pytest.raises(ValidationError, match=message):
        payment(bands)


def test_bands_need_fees_for_service():
    """Bands reprice referral and supervision fees: a contract without them has nothing to band."""
    with pytest.raises(ValidationError, match="give fee_per_referral or fee_per_supervision_month"):
        PaymentSpec.model_validate({"block_grant_per_year": 1e6,
                                    "volume_bands": [{"from_share_of_plan": 0, "fee_factor": 1.1}]})


# ---------------------------------------------------------------- in the model


def banded(factor: float, months: int = 24):
    """Small tr_hybrid (2,000 planned referrals a year per area), referrals at ``factor`` x plan."""
    return small("tr_hybrid", cohort={"volume_shocks": [{"start_month": 1, "factor": factor}]},
                 contract={"referral_months": months})


def expected_reconciliation(model: PbRModel, area: int, first: int, last: int,
                            through: int) -> float:
    """Hand-worked reconciliation for one area: fees paid in months first..through, banded by
    the referrals of months first..last against the plan for those months."""
    pay = model.design.contract.payment
    fees = 0.0
    referred = 0
    for cohort in model.cohorts:
        if cohort.area != area:
            continue
        if first <= cohort.month <= last:
            referred += cohort.size
        # months of service (each paid £180, 90% of it paid, 10% withheld) inside first..through
        end = min(cohort.month + model.service_months - 1, through)
        served = range(max(cohort.month, first), end + 1)
        paid = pay.fee_per_supervision_month * (1 - pay.at_risk_share)
        fees += cohort.accepted * len(served) * paid
    planned = 6_000 / 3 * (last - first + 1) / 12
    factor = volume_band_factor(pay.volume_bands, referred / planned)
    return (factor - 1.0) * fees


def test_a_volume_shortfall_is_topped_up_each_year_in_the_ledger():
    """At 70% of plan the prime is paid 5% more on its year's fees, at each year's end."""
    model = PbRModel(banded(0.7, months=18), rng=4)
    model.run()
    ledger = model.ledger.frame()
    paid = ledger[ledger.kind == "fee_reconciliation"]
    # year 1 ends in month 12; the second (six months) waits for its run-off: 18 + 12 - 1 = 29
    assert sorted(paid.month.unique()) == [12, 29]
    assert (paid.payer == "commissioner").all()
    for area, prime in enumerate(model.areas.holders()):
        mine = paid[paid.payee == prime.name].set_index("month")["amount"]
        assert mine[12] == pytest.approx(expected_reconciliation(model, area, 1, 12, 12), rel=1e-9)
        assert mine[29] == pytest.approx(expected_reconciliation(model, area, 13, 18, 29), rel=1e-9)
        # year 1 builds its caseload: 2,000 x 0.7 / 12 = 116.7 referrals a month, served
        # 12 + 11 + ... + 1 = 78 months within the year: 9,100 supervision months x £162 paid
        # x 5%, about £73,700
        assert 65_000 < mine[12] < 82_000


def test_a_volume_overrun_is_repaid_and_money_is_conserved():
    """At 130% of plan the prime repays 5% of its fees to the commissioner; cash matches ledger."""
    model = PbRModel(banded(1.3), rng=4)
    model.run()
    ledger = model.ledger.frame()
    repaid = ledger[ledger.kind == "fee_reconciliation"]
    assert len(repaid) and (repaid.payee == "commissioner").all()
    # every year is above 110% of plan, so 5% of every fee paid (all of them, invoiced) comes back
    fees = ledger.loc[ledger.kind == "fees", "amount"].sum()
    assert repaid.amount.sum() == pytest.approx(0.05 * fees, rel=1e-9)
    for prime in model.primes:
        income = ledger.loc[ledger.payee == prime.name, "amount"].sum()
        spent = ledger.loc[ledger.payer == prime.name, "amount"].sum()
        assert prime.cash - prime.spec.capital == pytest.approx(income - spent, rel=1e-9, abs=1e-3)
    m = run_scenario(banded(1.3), 4).metrics
    assert m["paid_fee_reconciliation"] == pytest.approx(-repaid.amount.sum())
    paid_out = ledger.loc[ledger.payer == "commissioner", "amount"].sum()
    assert m["commissioner_outlay"] == pytest.approx(paid_out - repaid.amount.sum())


def test_no_reconciliation_near_plan():
    """Volumes near plan fall in the unit-price band: the ledger has no reconciliation."""
    result = run_scenario(small("tr_hybrid"), 2)
    assert result.metrics["paid_fee_reconciliation"] == 0.0


def test_bidders_price_the_bands():
    """A bidder projecting 70% of plan expects the 5% top-up on the fees it is paid."""
    design = small("tr_hybrid")
    room = DataRoom(1000.0, np.ones(100, bool), np.ones((100, 7), bool), np.full(100, 0.35),
                    np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.15, 0.35, 0.6, 0.85]))
    life = Life(history=0, referring=24, serving=24, paid=24)
    spec = design.primes[0]
    plain = project(spec, 4.0, design.contract, room, 700.0, 0.08, life, 17)
    with_bands = project(spec, 4.0, design.contract, room, 700.0, 0.08, life, 17, planned=1000.0)
    # supervision fees paid: 700 a month x caseload months x £180 x 90%; the band adds 5% of them
    caseload = 700.0 * np.minimum(np.arange(1, 25), 12)
    added = 0.05 * 0.9 * 180 * caseload
    np.testing.assert_allclose(with_bands.income - plain.income, added)
    assert with_bands.price_factor(0.05) < plain.price_factor(0.05)
