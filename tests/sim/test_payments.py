"""Hand-worked examples for the payment engine (sim/payments.py).

Every expected number is worked out by hand in a comment; none is taken from
the engine itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim.payments import (
    MeasuredOutcome,
    apply_total_cap,
    block_grant,
    fees,
    improvement,
    outcome_payment,
    pot_fraction,
    true_impact_value,
    withheld,
)
from pbrsim.sim.scenario import BandPrices, OutcomeComponent, PaymentSpec
from pydantic import ValidationError

# ---------------------------------------------------------------- helpers


def binary(
    n: float, reoffenders: float, cf_reoffenders: float, pot: float = 0.0
) -> MeasuredOutcome:
    """A one-group cohort measured on the binary rate (frequency counts irrelevant, set to 0)."""
    return MeasuredOutcome.single_group(n, reoffenders, 0.0, cf_reoffenders, 0.0, pot)


def frequency(
    n: float, reoffences: float, cf_reoffences: float, pot: float = 0.0
) -> MeasuredOutcome:
    """A one-group cohort measured on reoffences (binary counts irrelevant, set to 0)."""
    return MeasuredOutcome.single_group(n, 0.0, reoffences, 0.0, cf_reoffences, pot)


def per_point(
    price: float = 30.0, threshold: float = 0.0, mode: str = "trigger", **kw
) -> OutcomeComponent:
    """A binary per-point component."""
    return OutcomeComponent(
        measure="binary",
        basis="per_point",
        price=price,
        threshold=threshold,
        threshold_mode=mode,
        **kw,
    )


def arr(*xs: float) -> np.ndarray:
    """Four-band array."""
    return np.array(xs, dtype=float)


# ---------------------------------------------------------------- fees


def test_block_grant_accrues_pro_rata_by_month():
    """Block grant is the annual amount times months/12."""
    # £1,200,000 a year for 3 months -> 1,200,000 * 3/12 = £300,000
    assert block_grant(1_200_000.0, 3) == pytest.approx(300_000.0)
    # 18 months -> 1,200,000 * 1.5 = £1,800,000
    assert block_grant(1_200_000.0, 18) == pytest.approx(1_800_000.0)
    assert block_grant(1_200_000.0, 0) == pytest.approx(0.0)


def test_fees_add_block_grant_referrals_and_supervision_months():
    """Gross fees = block grant + per-referral fee + per-supervision-month fee."""
    spec = PaymentSpec(
        block_grant_per_year=600_000.0, fee_per_referral=250.0, fee_per_supervision_month=40.0
    )
    # block: 600,000 * 6/12 = 300,000; referrals: 250 * 400 = 100,000;
    # supervision: 40 * 2,500 = 100,000 -> total £500,000
    assert fees(spec, referrals=400, supervision_months=2_500, months=6) == pytest.approx(500_000.0)


def test_fees_default_spec_is_zero():
    """A default PaymentSpec pays no fees at all."""
    assert fees(
        PaymentSpec(), referrals=1_000, supervision_months=5_000, months=12
    ) == pytest.approx(0.0)


def test_withheld_is_at_risk_share_of_gross_fees():
    """Withheld money = at_risk_share * gross fees."""
    spec = PaymentSpec(
        at_risk_share=0.10,
        outcomes=[
            OutcomeComponent(
                measure="binary", basis="pot", target=5.0, pot_share=1.0, all_or_nothing=True
            ),
        ],
    )
    # 10% of £500,000 -> £50,000
    assert withheld(spec, 500_000.0) == pytest.approx(50_000.0)
    # no share at risk -> nothing withheld
    assert withheld(PaymentSpec(), 500_000.0) == pytest.approx(0.0)


# ---------------------------------------------------------------- improvement


def test_improvement_binary_is_percentage_points():
    """Binary improvement is (cf - actual reoffenders) / n in percentage points."""
    # 1000 people, cf 350, actual 300 -> 50/1000 = 5.0 pp
    assert improvement("binary", 1000, 300, 0, 350, 0) == pytest.approx(5.0)
    # worse than cf: actual 380 -> -30/1000 = -3.0 pp
    assert improvement("binary", 1000, 380, 0, 350, 0) == pytest.approx(-3.0)


def test_improvement_frequency_is_per_cent_of_counterfactual():
    """Frequency improvement is (cf - actual reoffences) / cf reoffences in per cent."""
    # cf 1550, actual 1420 -> 130/1550 = 8.387%
    assert improvement("frequency", 1000, 0, 1420, 0, 1550) == pytest.approx(8.3870968, rel=1e-6)


def test_improvement_empty_cohort_is_zero():
    """No people (binary) or no counterfactual reoffences (frequency) gives zero improvement."""
    assert improvement("binary", 0, 0, 0, 0, 0) == 0.0
    assert improvement("frequency", 10, 0, 5, 0, 0) == 0.0


# ---------------------------------------------------------------- binary per_point


def test_per_point_no_threshold_pays_price_per_point_per_offender():
    """per_point pays price * pp * n."""
    # 1000 people, baseline 35% -> 350 expected reoffenders, 300 actual -> 5.0 pp;
    # £30/pp/offender -> 30 * 5 * 1000 = £150,000
    assert outcome_payment(per_point(30.0), binary(1000, 300, 350)) == pytest.approx(150_000.0)


def test_per_point_trigger_below_threshold_pays_nothing():
    """Trigger: below the threshold nothing is paid."""
    # threshold 5 pp; cf 350, actual 310 -> 40/1000 = 4.0 pp < 5 -> £0
    assert outcome_payment(per_point(30.0, 5.0), binary(1000, 310, 350)) == pytest.approx(0.0)


def test_per_point_trigger_at_threshold_pays_whole_improvement():
    """Trigger: exactly at the threshold the whole improvement is paid."""
    # cf 350, actual 300 -> 5.0 pp = threshold -> 30 * 5 * 1000 = £150,000
    assert outcome_payment(per_point(30.0, 5.0), binary(1000, 300, 350)) == pytest.approx(150_000.0)


def test_per_point_trigger_above_threshold_pays_whole_improvement():
    """Trigger: above the threshold the whole improvement (not just the excess) is paid."""
    # cf 350, actual 280 -> 7.0 pp >= 5 -> 30 * 7 * 1000 = £210,000
    assert outcome_payment(per_point(30.0, 5.0), binary(1000, 280, 350)) == pytest.approx(210_000.0)


def test_per_point_deductible_below_threshold_pays_nothing():
    """Deductible: below the threshold nothing is paid."""
    # 4.0 pp < 5 pp -> £0
    assert outcome_payment(
        per_point(30.0, 5.0, "deductible"), binary(1000, 310, 350)
    ) == pytest.approx(0.0)


def test_per_point_deductible_at_threshold_pays_nothing():
    """Deductible: exactly at the threshold the paid part (5 - 5) is zero."""
    # 5.0 - 5.0 = 0 pp -> £0
    assert outcome_payment(
        per_point(30.0, 5.0, "deductible"), binary(1000, 300, 350)
    ) == pytest.approx(0.0)


def test_per_point_deductible_above_threshold_pays_only_excess():
    """Deductible: only the points above the threshold are paid."""
    # 7.0 pp - 5 pp = 2 pp -> 30 * 2 * 1000 = £60,000
    assert outcome_payment(
        per_point(30.0, 5.0, "deductible"), binary(1000, 280, 350)
    ) == pytest.approx(60_000.0)


@pytest.mark.parametrize(
    "threshold,mode", [(0.0, "trigger"), (0.0, "deductible"), (5.0, "trigger"), (5.0, "deductible")]
)
def test_per_point_never_negative_when_worse_than_counterfactual(threshold, mode):
    """Worse than the counterfactual pays nothing (never a negative payment)."""
    # cf 350, actual 380 -> -3.0 pp -> £0 (not 30 * -3 * 1000 = -£90,000)
    assert outcome_payment(per_point(30.0, threshold, mode), binary(1000, 380, 350)) == 0.0


# ---------------------------------------------------------------- binary per_non_reoffender


def test_per_non_reoffender_pays_every_non_reoffender():
    """per_non_reoffender pays price * (n - reoffenders) with no netting of the counterfactual."""
    comp = OutcomeComponent(measure="binary", basis="per_non_reoffender", price=500.0)
    # 1000 people, 300 reoffend -> 700 non-reoffenders * £500 = £350,000
    assert outcome_payment(comp, binary(1000, 300, 350)) == pytest.approx(350_000.0)


def test_per_non_reoffender_pays_even_when_worse_than_counterfactual():
    """Without a threshold, per_non_reoffender pays even when worse than the counterfactual."""
    comp = OutcomeComponent(measure="binary", basis="per_non_reoffender", price=500.0)
    # cf 350 but 400 reoffend (-5 pp) -> still 600 non-reoffenders * £500 = £300,000
    assert outcome_payment(comp, binary(1000, 400, 350)) == pytest.approx(300_000.0)


def test_per_non_reoffender_threshold_is_trigger_on_rate_improvement():
    """With a threshold, per_non_reoffender pays all non-reoffenders once the rate gain meets it."""
    comp = OutcomeComponent(
        measure="binary", basis="per_non_reoffender", price=500.0, threshold=3.0
    )
    # cf 420, actual 400 -> 2.0 pp < 3 -> £0
    assert outcome_payment(comp, binary(1000, 400, 420)) == pytest.approx(0.0)
    # cf 430, actual 400 -> 3.0 pp = 3 -> all 600 non-reoffenders * £500 = £300,000
    assert outcome_payment(comp, binary(1000, 400, 430)) == pytest.approx(300_000.0)
    # cf 450, actual 400 -> 5.0 pp >= 3 -> all 600 non-reoffenders (not just 50 extra) = £300,000
    assert outcome_payment(comp, binary(1000, 400, 450)) == pytest.approx(300_000.0)


# ---------------------------------------------------------------- frequency per_reoffence_avoided


def peterborough(mode: str = "trigger") -> OutcomeComponent:
    """Peterborough-like: £2,000 per reoffence avoided once reoffences fall 10%."""
    return OutcomeComponent(
        measure="frequency",
        basis="per_reoffence_avoided",
        price=2_000.0,
        threshold=10.0,
        threshold_mode=mode,
    )


def test_per_reoffence_avoided_no_threshold_pays_every_avoided_reoffence():
    """With no threshold every reoffence below the counterfactual is paid."""
    comp = OutcomeComponent(measure="frequency", basis="per_reoffence_avoided", price=2_000.0)
    # cf 1550, actual 1500 -> 50 avoided * £2,000 = £100,000
    assert outcome_payment(comp, frequency(1000, 1500, 1550)) == pytest.approx(100_000.0)


def test_peterborough_trigger_8_4_per_cent_pays_nothing():
    """Peterborough-like: an 8.4% reduction misses the 10% trigger."""
    # 1000 people, cf 1550 reoffences, actual 1420 -> 130 avoided = 130/1550 = 8.39% < 10% -> £0
    assert outcome_payment(peterborough(), frequency(1000, 1420, 1550)) == pytest.approx(0.0)


def test_peterborough_trigger_exactly_10_per_cent_pays_all_avoided():
    """Peterborough-like: exactly 10% meets the trigger and pays for all reoffences avoided."""
    # cf 1550, actual 1395 -> 155 avoided = 155/1550 = 10.0% -> 155 * £2,000 = £310,000
    assert outcome_payment(peterborough(), frequency(1000, 1395, 1550)) == pytest.approx(310_000.0)


def test_peterborough_trigger_12_per_cent_pays_all_avoided():
    """Peterborough-like: 12% pays for all reoffences avoided, not only those above 10%."""
    # cf 1550, actual 1364 -> 186 avoided = 186/1550 = 12.0% -> 186 * £2,000 = £372,000
    assert outcome_payment(peterborough(), frequency(1000, 1364, 1550)) == pytest.approx(372_000.0)


def test_per_reoffence_avoided_deductible_pays_only_above_threshold():
    """Deductible frequency: only reoffences avoided beyond threshold% of the cf are paid."""
    # 12% - 10% = 2% of 1550 = 31 reoffences * £2,000 = £62,000
    assert outcome_payment(
        peterborough("deductible"), frequency(1000, 1364, 1550)
    ) == pytest.approx(62_000.0)
    # 8.39% < 10% -> £0
    assert outcome_payment(
        peterborough("deductible"), frequency(1000, 1420, 1550)
    ) == pytest.approx(0.0)


def test_per_reoffence_avoided_never_negative():
    """More reoffences than the counterfactual pays nothing."""
    comp = OutcomeComponent(measure="frequency", basis="per_reoffence_avoided", price=2_000.0)
    # cf 1550, actual 1600 -> -50 avoided -> £0 (not -£100,000)
    assert outcome_payment(comp, frequency(1000, 1600, 1550)) == 0.0


# ---------------------------------------------------------------- pot


def linear_pot(share: float = 0.5) -> OutcomeComponent:
    """A binary pot earned linearly between 2 pp and 6 pp."""
    return OutcomeComponent(
        measure="binary", basis="pot", threshold=2.0, target=6.0, pot_share=share
    )


@pytest.mark.parametrize(
    "achieved,fraction",
    [
        (-3.0, 0.0),  # worse than cf -> clipped at 0
        (1.0, 0.0),  # below threshold -> (1-2)/4 = -0.25 -> 0
        (2.0, 0.0),  # at threshold -> 0/4 = 0
        (3.0, 0.25),  # (3-2)/4 = 0.25
        (4.0, 0.5),  # (4-2)/4 = 0.5
        (6.0, 1.0),  # at target -> 4/4 = 1
        (9.0, 1.0),  # above target -> 7/4 = 1.75 -> clipped at 1
    ],
)
def test_pot_fraction_linear_between_threshold_and_target(achieved, fraction):
    """Linear pot fraction = (achieved - threshold)/(target - threshold), clipped to [0, 1]."""
    assert pot_fraction(linear_pot(), achieved) == pytest.approx(fraction)


def test_linear_pot_payment_is_share_of_pot_times_fraction():
    """A linear pot pays pot_share * pot * fraction."""
    # cf 400, actual 360 -> 4.0 pp -> fraction (4-2)/4 = 0.5; share 0.5 of £200,000 pot
    # -> 0.5 * 200,000 * 0.5 = £50,000
    assert outcome_payment(linear_pot(0.5), binary(1000, 360, 400, pot=200_000.0)) == pytest.approx(
        50_000.0
    )
    # 8.0 pp (cf 400, actual 320) -> fraction 1 -> 0.5 * 200,000 = £100,000
    assert outcome_payment(linear_pot(0.5), binary(1000, 320, 400, pot=200_000.0)) == pytest.approx(
        100_000.0
    )


def test_frequency_pot_uses_per_cent_of_counterfactual():
    """A frequency pot is judged on per cent reduction in reoffences."""
    comp = OutcomeComponent(
        measure="frequency", basis="pot", threshold=0.0, target=10.0, pot_share=1.0
    )
    # cf 1550, actual 1472.5 -> 77.5/1550 = 5% -> fraction 5/10 = 0.5 -> 0.5 * £80,000 = £40,000
    assert outcome_payment(comp, frequency(1000, 1472.5, 1550, pot=80_000.0)) == pytest.approx(
        40_000.0
    )


def doncaster() -> OutcomeComponent:
    """Doncaster-like: all of the pot on a 5 pp reduction in the binary rate, all or nothing."""
    return OutcomeComponent(
        measure="binary", basis="pot", target=5.0, pot_share=1.0, all_or_nothing=True
    )


def doncaster_pot() -> float:
    """10% of £1,000,000 fees at risk -> £100,000 pot."""
    spec = PaymentSpec(fee_per_referral=1_000.0, at_risk_share=0.10, outcomes=[doncaster()])
    # 1000 referrals * £1,000 = £1,000,000 gross; 10% withheld = £100,000
    return withheld(spec, fees(spec, referrals=1_000, supervision_months=0, months=12))


def test_doncaster_pot_is_ten_per_cent_of_fees():
    """The Doncaster-like pot is 10% of gross fees."""
    assert doncaster_pot() == pytest.approx(100_000.0)


def test_doncaster_5_7_pp_pays_full_pot():
    """Doncaster-like: a 5.7 pp reduction beats the 5 pp target and earns the whole pot."""
    # cf 580, actual 523 -> 57/1000 = 5.7 pp >= 5 -> £100,000
    assert outcome_payment(
        doncaster(), binary(1000, 523, 580, pot=doncaster_pot())
    ) == pytest.approx(100_000.0)


def test_doncaster_3_3_pp_pays_nothing():
    """Doncaster-like: a 3.3 pp reduction misses the target and earns nothing (no partial pot)."""
    # cf 580, actual 547 -> 33/1000 = 3.3 pp < 5 -> £0
    assert outcome_payment(
        doncaster(), binary(1000, 547, 580, pot=doncaster_pot())
    ) == pytest.approx(0.0)


def test_doncaster_exactly_5_pp_pays_full_pot():
    """Doncaster-like: exactly on the target earns the whole pot."""
    # cf 580, actual 530 -> 50/1000 = 5.0 pp >= 5 -> £100,000
    assert outcome_payment(
        doncaster(), binary(1000, 530, 580, pot=doncaster_pot())
    ) == pytest.approx(100_000.0)


# ---------------------------------------------------------------- differential prices


def test_prices_by_band_paid_band_by_band():
    """Differential prices: each band is judged and paid on its own improvement at its own price."""
    comp = OutcomeComponent(
        measure="binary",
        basis="per_point",
        prices_by_band=BandPrices(low=10.0, medium=20.0, high=30.0, very_high=40.0),
    )
    outcome = MeasuredOutcome(
        n=arr(400, 300, 200, 100),
        reoffenders=arr(40, 75, 100, 80),
        reoffences=arr(0, 0, 0, 0),
        cf_reoffenders=arr(48, 84, 96, 85),
        cf_reoffences=arr(0, 0, 0, 0),
    )
    # low:       (48-40)/400 = 2 pp  -> 10 * 2 * 400 =  8,000
    # medium:    (84-75)/300 = 3 pp  -> 20 * 3 * 300 = 18,000
    # high:      (96-100)/200 = -2 pp -> 0 (not -24,000)
    # very_high: (85-80)/100 = 5 pp  -> 40 * 5 * 100 = 20,000
    # total £46,000
    assert outcome_payment(comp, outcome) == pytest.approx(46_000.0)


def test_prices_by_band_threshold_judged_per_band():
    """Differential prices: the threshold is applied in each band separately."""
    comp = OutcomeComponent(
        measure="binary",
        basis="per_point",
        threshold=2.5,
        prices_by_band=BandPrices(low=10.0, medium=20.0, high=30.0, very_high=40.0),
    )
    outcome = MeasuredOutcome(
        n=arr(400, 300, 200, 100),
        reoffenders=arr(40, 75, 100, 80),
        reoffences=arr(0, 0, 0, 0),
        cf_reoffenders=arr(48, 84, 96, 85),
        cf_reoffences=arr(0, 0, 0, 0),
    )
    # low 2 pp < 2.5 -> 0; medium 3 pp -> 18,000; high -2 -> 0; very_high 5 pp -> 20,000 -> £38,000
    assert outcome_payment(comp, outcome) == pytest.approx(38_000.0)


def split_cohort() -> MeasuredOutcome:
    """Low band improves 8 pp, high band gets 6 pp worse; whole cohort improves 1 pp."""
    # low: 500 people, cf 100, actual 60 -> +8 pp; high: 500 people, cf 300, actual 330 -> -6 pp
    # whole: 1000 people, cf 400, actual 390 -> +1 pp
    return MeasuredOutcome(
        n=arr(500, 0, 500, 0),
        reoffenders=arr(60, 0, 330, 0),
        reoffences=arr(0, 0, 0, 0),
        cf_reoffenders=arr(100, 0, 300, 0),
        cf_reoffences=arr(0, 0, 0, 0),
    )


def test_uniform_price_judged_on_whole_cohort():
    """A uniform price nets the bands: judged on the whole cohort's 1 pp."""
    # whole cohort 1 pp -> 10 * 1 * 1000 = £10,000
    assert outcome_payment(per_point(10.0), split_cohort()) == pytest.approx(10_000.0)


def test_same_price_by_band_judged_band_by_band_differs_from_uniform():
    """The same £10 given as prices_by_band is judged per band, so the bad band is not netted."""
    comp = OutcomeComponent(
        measure="binary",
        basis="per_point",
        prices_by_band=BandPrices(low=10.0, medium=10.0, high=10.0, very_high=10.0),
    )
    # low 8 pp -> 10 * 8 * 500 = 40,000; high -6 pp -> 0 -> £40,000 (vs £10,000 uniform)
    assert outcome_payment(comp, split_cohort()) == pytest.approx(40_000.0)


def test_uniform_vs_band_threshold_difference():
    """With a 2 pp trigger the whole cohort (1 pp) earns nothing; the low band alone (8 pp) does."""
    uniform = per_point(10.0, 2.0)
    banded = OutcomeComponent(
        measure="binary",
        basis="per_point",
        threshold=2.0,
        prices_by_band=BandPrices(low=10.0, medium=10.0, high=10.0, very_high=10.0),
    )
    # uniform: 1 pp < 2 -> £0
    assert outcome_payment(uniform, split_cohort()) == pytest.approx(0.0)
    # banded: low 8 pp >= 2 -> 10 * 8 * 500 = £40,000; high -6 -> 0
    assert outcome_payment(banded, split_cohort()) == pytest.approx(40_000.0)


def test_per_reoffence_avoided_prices_by_band():
    """Differential per-reoffence prices pay each band's avoided reoffences at its price."""
    comp = OutcomeComponent(
        measure="frequency",
        basis="per_reoffence_avoided",
        prices_by_band=BandPrices(low=1_000.0, medium=2_000.0, high=3_000.0, very_high=4_000.0),
    )
    outcome = MeasuredOutcome(
        n=arr(100, 100, 100, 100),
        reoffenders=arr(0, 0, 0, 0),
        reoffences=arr(90, 180, 310, 350),
        cf_reoffenders=arr(0, 0, 0, 0),
        cf_reoffences=arr(100, 200, 300, 400),
    )
    # low 10 * 1000 = 10,000; medium 20 * 2000 = 40,000; high -10 -> 0;
    # very_high 50 * 4000 = 200,000
    # total £250,000
    assert outcome_payment(comp, outcome) == pytest.approx(250_000.0)


# ---------------------------------------------------------------- caps


def test_cap_per_cohort_limits_payment():
    """cap_per_cohort limits one cohort's payment."""
    # uncapped 7 pp -> 30 * 7 * 1000 = 210,000; cap £100,000 -> £100,000
    assert outcome_payment(
        per_point(30.0, cap_per_cohort=100_000.0), binary(1000, 280, 350)
    ) == pytest.approx(100_000.0)


def test_cap_per_cohort_above_payment_has_no_effect():
    """A cap above the payment changes nothing."""
    # 210,000 < cap 500,000 -> £210,000
    assert outcome_payment(
        per_point(30.0, cap_per_cohort=500_000.0), binary(1000, 280, 350)
    ) == pytest.approx(210_000.0)


def test_cap_per_cohort_applies_to_pot():
    """cap_per_cohort also limits a pot component."""
    comp = OutcomeComponent(
        measure="binary",
        basis="pot",
        target=5.0,
        pot_share=1.0,
        all_or_nothing=True,
        cap_per_cohort=60_000.0,
    )
    # full pot £100,000 earned, capped at £60,000
    assert outcome_payment(comp, binary(1000, 523, 580, pot=100_000.0)) == pytest.approx(60_000.0)


def test_apply_total_cap_pays_only_headroom_near_cap():
    """Near the lifetime cap only the remaining headroom is paid."""
    # cap 1,000,000, paid 980,000 -> headroom 20,000 < 50,000 -> £20,000
    assert apply_total_cap(50_000.0, 980_000.0, 1_000_000.0) == pytest.approx(20_000.0)


def test_apply_total_cap_under_cap_pays_in_full():
    """Well under the cap the whole amount is paid."""
    # paid 100,000, headroom 900,000 >= 50,000 -> £50,000
    assert apply_total_cap(50_000.0, 100_000.0, 1_000_000.0) == pytest.approx(50_000.0)


def test_apply_total_cap_at_or_over_cap_pays_nothing():
    """At or over the cap nothing more is paid (never negative)."""
    assert apply_total_cap(50_000.0, 1_000_000.0, 1_000_000.0) == 0.0
    # paid 1,050,000 > cap -> headroom -50,000 -> £0 (not -£50,000)
    assert apply_total_cap(50_000.0, 1_050_000.0, 1_000_000.0) == 0.0


def test_apply_total_cap_none_is_uncapped():
    """No cap passes the amount through."""
    assert apply_total_cap(50_000.0, 1e12, None) == pytest.approx(50_000.0)


# ---------------------------------------------------------------- true impact


def test_true_impact_per_point_is_100_price_per_extra_non_reoffender():
    """per_point true impact = 100 * price * extra non-reoffenders."""
    # untreated 350, treated 300 -> 50 extra non-reoffenders; 100 * £30 * 50 = £150,000
    # (same as paying 30 * 5 pp * 1000 people)
    value = true_impact_value(
        per_point(30.0),
        arr(1000, 0, 0, 0),
        arr(300, 0, 0, 0),
        arr(0, 0, 0, 0),
        arr(350, 0, 0, 0),
        arr(0, 0, 0, 0),
    )
    assert value == pytest.approx(150_000.0)


def test_true_impact_ignores_threshold():
    """True impact has no threshold: 4 pp under a 5 pp trigger is still worth 100*price*extra."""
    # untreated 350, treated 310 -> 40 extra; 100 * 30 * 40 = £120,000 (contract pays £0)
    value = true_impact_value(
        per_point(30.0, 5.0),
        arr(1000, 0, 0, 0),
        arr(310, 0, 0, 0),
        arr(0, 0, 0, 0),
        arr(350, 0, 0, 0),
        arr(0, 0, 0, 0),
    )
    assert value == pytest.approx(120_000.0)


def test_true_impact_per_point_by_band():
    """Differential per_point true impact uses each band's price."""
    comp = OutcomeComponent(
        measure="binary",
        basis="per_point",
        prices_by_band=BandPrices(low=10.0, medium=20.0, high=30.0, very_high=40.0),
    )
    # extra non-reoffenders 8, 9, 0, 5 -> 100 * (10*8 + 20*9 + 30*0 + 40*5) = 100 * 460 = £46,000
    value = true_impact_value(
        comp,
        arr(400, 300, 200, 100),
        arr(40, 75, 96, 80),
        arr(0, 0, 0, 0),
        arr(48, 84, 96, 85),
        arr(0, 0, 0, 0),
    )
    assert value == pytest.approx(46_000.0)


def test_true_impact_per_non_reoffender_counts_only_extra_non_reoffenders():
    """per_non_reoffender true impact = price * extra non-reoffenders; the rest is deadweight."""
    comp = OutcomeComponent(measure="binary", basis="per_non_reoffender", price=500.0)
    n, treated, untreated = arr(1000, 0, 0, 0), arr(300, 0, 0, 0), arr(350, 0, 0, 0)
    # extra non-reoffenders 350 - 300 = 50 -> 50 * £500 = £25,000
    value = true_impact_value(comp, n, treated, arr(0, 0, 0, 0), untreated, arr(0, 0, 0, 0))
    assert value == pytest.approx(25_000.0)
    # contract pays 700 non-reoffenders * 500 = £350,000; deadweight = 350,000 - 25,000 = £325,000
    # = £500 * 650 people (1000 - 350) who would not have reoffended anyway
    paid = outcome_payment(
        comp, MeasuredOutcome(n, treated, arr(0, 0, 0, 0), untreated, arr(0, 0, 0, 0))
    )
    assert paid - value == pytest.approx(500.0 * 650)


def test_true_impact_per_reoffence_avoided():
    """per_reoffence_avoided true impact = price * reoffences avoided, with no trigger."""
    # untreated 1550, treated 1420 -> 130 avoided * £2,000 = £260,000 (the 10% trigger pays £0)
    value = true_impact_value(
        peterborough(),
        arr(1000, 0, 0, 0),
        arr(0, 0, 0, 0),
        arr(1420, 0, 0, 0),
        arr(0, 0, 0, 0),
        arr(1550, 0, 0, 0),
    )
    assert value == pytest.approx(260_000.0)


def test_true_impact_never_negative():
    """Harm (more reoffending than untreated) has true impact value 0, not negative."""
    # treated 380 vs untreated 350 -> -30 extra -> 100 * 30 * -30 = -90,000 -> £0
    value = true_impact_value(
        per_point(30.0),
        arr(1000, 0, 0, 0),
        arr(380, 0, 0, 0),
        arr(0, 0, 0, 0),
        arr(350, 0, 0, 0),
        arr(0, 0, 0, 0),
    )
    assert value == 0.0


def test_true_impact_pot_judged_against_untreated_outcomes():
    """A pot's true-impact value applies the pot rule to the improvement on untreated outcomes."""
    # treated 523 vs untreated 580 of 1000 -> 5.7 pp >= target 5 -> whole £100,000 pot
    value = true_impact_value(
        doncaster(),
        arr(1000, 0, 0, 0),
        arr(523, 0, 0, 0),
        arr(0, 0, 0, 0),
        arr(580, 0, 0, 0),
        arr(0, 0, 0, 0),
        pot=100_000.0,
    )
    assert value == pytest.approx(100_000.0)
    # treated 547 -> 3.3 pp < 5 -> £0
    value = true_impact_value(
        doncaster(),
        arr(1000, 0, 0, 0),
        arr(547, 0, 0, 0),
        arr(0, 0, 0, 0),
        arr(580, 0, 0, 0),
        arr(0, 0, 0, 0),
        pot=100_000.0,
    )
    assert value == pytest.approx(0.0)


# ---------------------------------------------------------------- schema validation


@pytest.mark.parametrize(
    "measure,basis",
    [
        ("frequency", "per_point"),
        ("frequency", "per_non_reoffender"),
        ("binary", "per_reoffence_avoided"),
    ],
)
def test_component_refuses_basis_wrong_for_measure(measure, basis):
    """A basis that does not fit the measure is refused."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure=measure, basis=basis, price=10.0)


def test_component_pot_needs_target():
    """A pot without a target is refused."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure="binary", basis="pot", pot_share=1.0)


def test_component_pot_needs_pot_share():
    """A pot without a pot_share is refused."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure="binary", basis="pot", target=5.0)


def test_component_pot_refuses_price():
    """A pot is paid from withheld fees and takes no price."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure="binary", basis="pot", target=5.0, pot_share=1.0, price=10.0)


def test_component_linear_pot_needs_target_above_threshold():
    """A linear pot with target at or below threshold is refused (all_or_nothing is allowed)."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure="binary", basis="pot", threshold=5.0, target=5.0, pot_share=1.0)
    OutcomeComponent(
        measure="binary", basis="pot", threshold=5.0, target=5.0, pot_share=1.0, all_or_nothing=True
    )


def test_component_refuses_price_and_prices_by_band_together():
    """Giving both price and prices_by_band is refused."""
    with pytest.raises(ValidationError):
        OutcomeComponent(
            measure="binary",
            basis="per_point",
            price=10.0,
            prices_by_band=BandPrices(low=1.0, medium=2.0, high=3.0, very_high=4.0),
        )


def test_component_refuses_neither_price():
    """A priced basis with no price at all is refused."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure="binary", basis="per_point")


def test_component_refuses_target_on_priced_basis():
    """target / pot_share belong to pot only."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure="binary", basis="per_point", price=10.0, target=5.0)


def test_component_refuses_unknown_field():
    """A misspelt field is an error, not ignored."""
    with pytest.raises(ValidationError):
        OutcomeComponent(measure="binary", basis="per_point", price=10.0, treshold=5.0)


def test_payment_spec_refuses_unknown_field():
    """PaymentSpec refuses a misspelt field."""
    with pytest.raises(ValidationError):
        PaymentSpec(block_grant_per_yaer=1_000.0)


def test_payment_spec_pot_shares_must_sum_to_one_with_money_at_risk():
    """With at_risk_share > 0 the pot shares must add up to 1."""
    pots = [
        OutcomeComponent(
            measure="binary", basis="pot", target=5.0, pot_share=0.5, all_or_nothing=True
        ),
        OutcomeComponent(measure="frequency", basis="pot", target=10.0, pot_share=0.3),
    ]
    # 0.5 + 0.3 = 0.8 != 1 -> refused
    with pytest.raises(ValidationError):
        PaymentSpec(at_risk_share=0.10, outcomes=pots)
    # no pot at all with money at risk -> 0 != 1 -> refused
    with pytest.raises(ValidationError):
        PaymentSpec(at_risk_share=0.10)


def test_payment_spec_accepts_pot_shares_summing_to_one():
    """Pot shares of 0.5 + 0.5 with money at risk are accepted."""
    pots = [
        OutcomeComponent(
            measure="binary", basis="pot", target=5.0, pot_share=0.5, all_or_nothing=True
        ),
        OutcomeComponent(measure="frequency", basis="pot", target=10.0, pot_share=0.5),
    ]
    spec = PaymentSpec(at_risk_share=0.10, outcomes=pots)
    assert len(spec.outcomes) == 2


def test_payment_spec_pot_needs_money_at_risk():
    """A pot component with at_risk_share 0 is refused (nothing to earn back)."""
    with pytest.raises(ValidationError):
        PaymentSpec(outcomes=[doncaster()])


def test_payment_spec_refuses_share_above_one():
    """at_risk_share is a share in [0, 1]."""
    with pytest.raises(ValidationError):
        PaymentSpec(at_risk_share=1.5, outcomes=[doncaster()])
