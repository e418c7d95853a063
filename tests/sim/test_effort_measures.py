"""Creaming and parking as the guidance means them, on hand-built people (sim/results.py, docs/ODD.md 4.11.1).

``effort_measures`` is a pure function of the people's arrays, so each case
here is a handful of people with hand-worked answers; no model is run.
"""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim.results import effort_measures

ONES, ZEROS = np.ones(4), np.zeros(4)


def people(n: int, **columns) -> dict[str, np.ndarray]:
    """``n`` engaged participants, one need each, alike in everything the columns do not set."""
    base = {
        "hours": np.zeros(n), "engaged": np.ones(n, dtype=bool), "refused": np.zeros(n, dtype=bool),
        "true_band": np.zeros(n, dtype=np.int8), "pay_band": np.zeros(n, dtype=np.int8),
        "n_needs": np.ones(n, dtype=np.int8), "complexity": np.full(n, 40.0),
        "responsiveness": np.full(n, 0.3), "hazard": np.full(n, 0.03), "frequency": np.zeros(n),
    }
    return base | {k: np.asarray(v) for k, v in columns.items()}


def measures(p: dict[str, np.ndarray], binary_value=ONES, frequency_value=ZEROS, service_months=1,
             floor=0.0, cost_per_hour=1.0) -> dict[str, float | None]:
    return effort_measures(p, binary_value=binary_value, frequency_value=frequency_value,
                           follow_up_months=12, service_months=service_months, floor_per_month=floor,
                           cost_per_hour=cost_per_hour)


def test_creaming_compares_the_best_and_worst_paying_quarters_and_counts_refusals():
    """Eight people ranked by responsiveness: the top two against the bottom two; a refusal is no hours."""
    responsiveness = np.linspace(0.1, 0.8, 8)  # quartile cuts 0.275 and 0.625
    hours = np.array([1.0, 3.0, 5.0, 5.0, 5.0, 5.0, 10.0, 20.0])
    assert measures(people(8, responsiveness=responsiveness, hours=hours))["creaming_index"] == 15.0 / 2.0
    # the best-paying person turned away at the door: their 20 hours become none
    refused = np.arange(8) == 7
    m = measures(people(8, responsiveness=responsiveness, hours=np.where(refused, 0.0, hours), refused=refused))
    assert m["creaming_index"] == pytest.approx(10.0 / 2.0 / 2.0)


def test_uniform_effort_reads_one_and_nobody_parked_whatever_the_contract():
    """Equal hours: creaming 1 and parking 0, with or without a floor, paying outcomes or not."""
    rng = np.random.default_rng(3)
    p = people(40, responsiveness=rng.uniform(0.1, 0.6, 40), complexity=rng.uniform(20, 90, 40),
               hazard=rng.uniform(0.01, 0.1, 40), n_needs=rng.integers(0, 6, 40),
               true_band=rng.integers(0, 4, 40), hours=np.full(40, 36.0))
    for binary_value, floor in ((ONES * 2500, 0.0), (ZEROS, 3.0), (ZEROS, 2.0)):
        m = measures(p, binary_value=binary_value, service_months=12, floor=floor)
        assert m["creaming_index"] == 1.0
        assert m["parking_share"] == 0.0
        assert m["effort_ratio_better_paying_half"] == 1.0 and m["share_under_half_mean_effort"] == 0.0


def test_without_outcome_payments_creaming_ranks_by_results_per_pound():
    """Fee for service: the person whose first hour does most, per pound of it, is the top quarter."""
    p = people(4, responsiveness=np.array([0.1, 0.2, 0.3, 0.4]), hours=np.array([2.0, 1.0, 1.0, 4.0]))
    assert measures(p, binary_value=ZEROS)["creaming_index"] == 2.0
    # the most responsive person's hours cost ten times as much: now the worst results per pound
    cost = np.array([1.0, 1.0, 1.0, 10.0])
    assert measures(p, binary_value=ZEROS, cost_per_hour=cost)["creaming_index"] == pytest.approx(1.0 / 4.0)
    # one flat value: nothing to rank by
    assert measures(people(4, hours=np.array([1.0, 2.0, 3.0, 4.0])))["creaming_index"] == 1.0


def test_ties_at_a_quartile_cut_stay_together():
    """Seven people tied at no value (no need) and one with a need: one against seven."""
    p = people(8, n_needs=np.array([0] * 7 + [1]), hours=np.array([1.0] * 7 + [6.0]))
    assert measures(p)["creaming_index"] == 6.0


def hardest_case() -> dict[str, np.ndarray]:
    """Ten referrals over a two-month service with a 1-hour floor.

    Participants 0-7 have needs and complexity 10..80 (cut at the 75th
    percentile: 62.5), so 6 and 7 are the hardest to help. Person 8 has no
    need (never the hardest, however complex); 9 is as complex as any but was
    refused; 10 did not engage. Hours a month: 1, 1, 3, 3, 5, 5 for 0-5, 3
    for 8, so the others get 2 extra hours above the floor on average and the
    parked line is 1 + 2/2 = 2 hours a month: 6 (2 hours) is parked, 7 (2.5) not.
    """
    per_month = np.array([1, 1, 3, 3, 5, 5, 2, 2.5, 3, 0, 0], dtype=float)
    return people(
        11, hours=2 * per_month, complexity=np.array([10, 20, 30, 40, 50, 60, 70, 80, 100, 90, 95.0]),
        n_needs=np.array([1, 1, 2, 2, 3, 3, 4, 5, 0, 2, 3]),
        true_band=np.array([0, 0, 1, 1, 1, 2, 3, 2, 0, 3, 3]),
        refused=np.arange(11) == 9, engaged=np.arange(11) != 10)


def test_parking_is_the_hardest_to_help_left_at_the_bare_minimum():
    """Hand-worked: half the hardest to help at the minimum against 2 of 7 others; by band, by needs."""
    m = measures(hardest_case(), service_months=2, floor=1.0)
    assert m["hardest_to_help_at_minimum_share"] == 0.5
    assert m["others_at_minimum_share"] == pytest.approx(2 / 7)
    assert m["parking_share"] == pytest.approx(100 * (0.5 - 2 / 7))  # percentage points
    # band very high has no other participant to compare with; in band high neither is at the minimum
    assert (m["parking_share_very_high"], m["parking_share_high"]) == (None, 0.0)
    assert m["parking_share_low"] is None and m["parking_share_medium"] is None
    # the same parked line over every participant with k needs: 0 and 1 (one need) are at the floor
    assert [m[f"parking_share_needs_{k}"] for k in ("1", "2", "3", "4_plus")] == [1.0, 0.0, 0.0, 0.5]
    assert m["refused_share_hardest_to_help"] == pytest.approx(1 / 3)


def test_nobody_is_singled_out_where_the_others_get_no_more_than_the_floor():
    """Everybody at the floor (fee for service buying a specification): parking 0, not 100%."""
    p = hardest_case()
    p["hours"] = np.where(p["engaged"] & ~p["refused"], 2.0, 0.0)
    m = measures(p, service_months=2, floor=1.0)
    assert m["parking_share"] == 0.0 and m["hardest_to_help_at_minimum_share"] == 1.0


def test_the_old_figures_keep_their_computation_under_their_new_names():
    """Under half the mean hours of the engaged (refused included), and the better-paying half's effort."""
    p = people(4, responsiveness=np.array([0.1, 0.2, 0.3, 0.4]), hours=np.array([1.0, 1.0, 4.0, 10.0]),
               true_band=np.array([0, 0, 3, 3]))
    m = measures(p)
    assert m["share_under_half_mean_effort"] == 0.5  # mean 4: the two with 1 hour
    assert (m["share_under_half_mean_effort_low"], m["share_under_half_mean_effort_very_high"]) == (1.0, 0.0)
    assert m["effort_ratio_better_paying_half"] == 7.0
    assert m["effort_ratio_very_high"] == 7.0 / 4.0
