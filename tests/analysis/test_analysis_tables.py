"""Comparison tables: means, t-intervals and paired or Welch differences, on known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from pbrsim.analysis.report import write_report
from pbrsim.analysis.tables import (
    StoreError,
    comparison_table,
    difference_interval,
    format_interval,
    format_value,
    mean_interval,
    print_comparison,
    read_batch,
)
from rich.console import Console
from scipy import stats

from tests.conftest_analysis import run, write_store

T4 = stats.t.ppf(0.975, 4)


def _row(table: pd.DataFrame, scenario: str, measure: str) -> pd.Series:
    rows = table[(table["scenario"] == scenario) & (table["measure"] == measure)]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture
def store(tmp_path):
    """A: x = 1..5; B: same seeds, x = 2,4,3,5,6; C: other seeds, x = 3,5,7; D: one run."""
    runs = [run("A", r, {"x": x, "y": 10.0}) for r, x in enumerate([1, 2, 3, 4, 5])]
    runs += [run("B", r, {"x": x, "y": None if r == 0 else 11.0})
             for r, x in enumerate([2, 4, 3, 5, 6])]
    runs += [run("C", r, {"x": x, "y": 12.0}, seed=900 + r) for r, x in enumerate([3, 5, 7])]
    runs += [run("D", 0, {"x": 8.0, "y": 13.0})]
    return write_store(tmp_path / "store", runs, reference="A")


def test_mean_interval_known_answer():
    """1..5: mean 3, interval 3 ± t(0.975, 4)·sqrt(2.5)/sqrt(5)."""
    iv = mean_interval([1, 2, 3, 4, 5])
    half = T4 * math.sqrt(2.5) / math.sqrt(5)
    assert (iv.n, iv.mean, iv.df) == (5, 3.0, 4.0)
    assert iv.low == pytest.approx(3 - half) and iv.high == pytest.approx(3 + half)


def test_mean_interval_undefined_for_one_value_and_ignores_missing():
    """One value has no interval; None and NaN are dropped."""
    one = mean_interval([7.0, None, float("nan")])
    assert one.n == 1 and one.mean == 7.0 and math.isnan(one.low) and math.isnan(one.high)
    none = mean_interval([])
    assert none.n == 0 and math.isnan(none.mean)


def test_difference_interval_matches_scipy():
    """Paired matches ttest_rel's interval, Welch matches ttest_ind(equal_var=False)."""
    x, ref = [2, 4, 3, 5, 6], [1, 2, 3, 4, 5]
    paired = difference_interval(x, ref, paired=True)
    ci = stats.ttest_rel(x, ref).confidence_interval()
    assert paired.mean == pytest.approx(1.0)
    assert (paired.low, paired.high) == pytest.approx((ci.low, ci.high))
    welch = difference_interval([3, 5, 7], ref, paired=False)
    ci = stats.ttest_ind([3, 5, 7], ref, equal_var=False).confidence_interval()
    assert welch.mean == pytest.approx(2.0)
    assert (welch.low, welch.high) == pytest.approx((ci.low, ci.high))


def test_constant_samples_give_an_exact_difference():
    """Two constant samples differ exactly: a zero-width interval, not NaN."""
    iv = difference_interval([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], paired=False)
    assert (iv.mean, iv.low, iv.high) == (1.0, 1.0, 1.0)


def test_comparison_table_means_and_intervals(store):
    """Each scenario's mean and t-interval over its replications."""
    table = comparison_table(store)
    a = _row(table, "A", "x")
    half = T4 * math.sqrt(2.5) / math.sqrt(5)
    assert (a["n"], a["mean"]) == (5, 3.0)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((3 - half, 3 + half))
    assert a["difference_method"] == "reference" and math.isnan(a["difference"])
    d = _row(table, "D", "x")
    assert d["n"] == 1 and d["mean"] == 8.0 and math.isnan(d["ci_low"]) and math.isnan(d["ci_high"])
    assert set(table["measure"]) == {"x", "y"}
    assert list(dict.fromkeys(table["scenario"])) == ["A", "B", "C", "D"]


def test_paired_differences_when_replications_share_seeds(store):
    """B ran A's replications on A's seeds: differences are paired by replication."""
    table = comparison_table(store)
    b = _row(table, "B", "x")
    d = np.array([1, 2, 0, 1, 1], dtype=float)
    half = T4 * d.std(ddof=1) / math.sqrt(5)
    assert b["difference_method"] == "paired"
    assert b["difference"] == pytest.approx(1.0)
    assert (b["difference_ci_low"], b["difference_ci_high"]) == pytest.approx((1 - half, 1 + half))
    assert b["difference_df"] == 4
    # a pair with a missing value is dropped: y differs by exactly 1 in the 4 complete pairs
    y = _row(table, "B", "y")
    assert y["n"] == 4 and y["difference"] == pytest.approx(1.0)
    assert (y["difference_ci_low"], y["difference_ci_high"]) == pytest.approx((1.0, 1.0))


def test_welch_differences_when_replications_do_not_match(store):
    """C ran other seeds, D a single replication: Welch, with D's interval undefined."""
    table = comparison_table(store)
    c = _row(table, "C", "x")
    v1, v2 = 4 / 3, 2.5 / 5
    df = (v1 + v2) ** 2 / (v1**2 / 2 + v2**2 / 4)
    half = stats.t.ppf(0.975, df) * math.sqrt(v1 + v2)
    assert c["difference_method"] == "Welch"
    assert c["difference"] == pytest.approx(2.0)
    assert c["difference_df"] == pytest.approx(df)
    assert (c["difference_ci_low"], c["difference_ci_high"]) == pytest.approx((2 - half, 2 + half))
    d = _row(table, "D", "x")
    assert d["difference_method"] == "Welch" and d["difference"] == pytest.approx(5.0)
    assert math.isnan(d["difference_ci_low"])


def test_reference_default_and_choice(tmp_path, store):
    """batch.json's reference by default, else the first scenario; a name can be chosen."""
    assert comparison_table(store).attrs["reference"] == "A"
    table = comparison_table(store, reference="B")
    assert _row(table, "B", "x")["difference_method"] == "reference"
    assert _row(table, "A", "x")["difference"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="no scenario 'Z'"):
        comparison_table(store, reference="Z")
    other = write_store(tmp_path / "other", [run("P", 0, {"x": 1.0}), run("Q", 0, {"x": 2.0})])
    assert comparison_table(other).attrs["reference"] == "P"


def test_failed_runs_are_left_out_and_noted(tmp_path):
    """A failed run does not count; the store says how many failed."""
    runs = [run("A", 0, {"referrals": 1.0}), run("A", 1, {"referrals": 3.0}),
            run("A", 2, {"referrals": None}, status="failed", error="ZeroDivisionError: boom")]
    results = read_batch(write_store(tmp_path / "s", runs))
    assert results.stat("A", "referrals").mean == 2.0 and results.stat("A", "referrals").n == 2
    assert any("1 of 3 runs failed" in note for note in results.notes)
    assert results.failed["error"].tolist() == ["ZeroDivisionError: boom"]
    broken = write_store(tmp_path / "t", [run("A", 0, {"x": None}, status="failed", error="boom")])
    with pytest.raises(StoreError, match="all 1 runs failed; first error: boom"):
        read_batch(broken)


def test_sweep_points_with_one_name_get_distinct_labels(tmp_path):
    """Scenarios sharing a name (a parameter sweep) are told apart by their parameters."""
    runs = [run("Sweep", 0, {"x": 1.0}, params={"contract": {"price": 1000}}),
            run("Sweep", 0, {"x": 2.0}, params={"contract": {"price": 2000}})]
    results = read_batch(write_store(tmp_path / "s", runs))
    assert results.labels == ["Sweep (price=1000)", "Sweep (price=2000)"]
    assert results.name("Sweep (price=2000)") == "Sweep"


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: None, "no such folder"),
    (lambda p: p.write_text("x"), "is not a folder"),
    (lambda p: p.mkdir(), "no batch.json"),
    (lambda p: (p.mkdir(), (p / "batch.json").write_text("{oops")), "cannot be read as JSON"),
    (lambda p: (p.mkdir(), (p / "batch.json").write_text('{"format": "other"}')),
     "expected 'pbrsim-results'"),
    (lambda p: (p.mkdir(), (p / "batch.json").write_text(
        json.dumps({"format": "pbrsim-results", "format_version": 9}))),
     "results format version 9"),
    (lambda p: (p.mkdir(), (p / "batch.json").write_text(
        json.dumps({"format": "pbrsim-results", "format_version": 1}))),
     "incomplete batch description"),
    (lambda p: (p.mkdir(), (p / "batch.json").write_text(
        json.dumps({"format": "pbrsim-results", "format_version": 1, "root_seed": 1,
                    "experiment": {}, "runs": [{}, {}]}))),
     "0 of 2 runs have finished"),
])
def test_broken_stores_are_refused_with_the_folder_and_the_problem(tmp_path, setup, message):
    """Every way a folder can fail to be a store gives a message naming it."""
    path = tmp_path / "results"
    setup(path)
    with pytest.raises(StoreError, match=message) as exc:
        read_batch(path)
    assert str(path) in str(exc.value)


def test_print_comparison_prints_key_measures_and_writes_every_measure(tmp_path):
    """The terminal shows key measures with intervals; comparison.csv holds every measure."""
    runs = [run(s, r, {"true_impact_pp": v + r, "commissioner_outlay": 1e6 * (v + r),
                       "obscure_measure": 1.0})
            for s, v in (("Fees", 1.0), ("PbR", 2.0)) for r in range(3)]
    runs.append(run("Lonely", 0, {"true_impact_pp": 1.0, "commissioner_outlay": 1e6,
                                  "obscure_measure": 1.0}, seed=7))
    path = write_store(tmp_path / "s", runs, reference="Fees")
    console = Console(record=True, width=200)
    print_comparison(path, console=console)
    text = console.export_text()
    assert "True impact on reoffending" in text and "Total outlay by the commissioner" in text
    assert "obscure_measure" not in text
    assert "£2.00m" in text and "Δ +£1.00m" in text and "undefined" in text
    assert "paired" in text and "Welch" in text
    csv = pd.read_csv(path / "comparison.csv")
    assert len(csv) == 3 * 3 and set(csv["measure"]) == {"true_impact_pp", "commissioner_outlay",
                                                         "obscure_measure"}


def test_format_value_takes_units_from_the_catalogue():
    """£ for money, % for shares, pp for impacts, hours for effort: from the catalogue, not names."""
    assert format_value("commissioner_outlay", 6_438_960) == "£6.44m"
    assert format_value("prime_margin", -3_124_800, difference=True) == "−£3.12m"
    assert format_value("true_reoffending_rate", 0.3341) == "33.4%"
    assert format_value("true_reoffending_rate", 0.012, difference=True) == "+1.2 pp"
    assert format_value("true_impact_pp_low", -1.5) == "−1.50 pp"
    assert format_value("hours_per_engaged_person_low", 48) == "48.0 h"
    assert format_value("creaming_index", None) == "n/a"
    assert format_interval("true_impact_pp", 1.1, 4.2) == "1.10 to 4.20 pp"
    assert format_interval("true_impact_pp", float("nan"), 4.2) == "undefined"


def test_rates_print_as_percentages_and_counts_as_counts():
    """Known wrong output (issue 9): the name-guesser printed these as £0 and £2."""
    assert format_value("margin_cap", 0.05) == "5.0%"
    assert format_value("investor_return", 0.07) == "7.0%"
    assert format_value("investor_irr", -0.031) == "−3.1%"
    assert format_value("primes_with_losses", 2) == "2"
    assert format_value("subprime_exits_losses", 3) == "3"
    assert format_value("handbacks", 1.5) == "1.5"
    assert format_value("investor_capital_exhausted_month", 14) == "month 14"
    assert format_value("merlin_standard", 1) == "on"
    assert format_value("sib_pilot_reduction_pct", 9.7) == "9.7%"
    assert format_value("primes_with_losses", 1, difference=True) == "+1"


def test_a_misspelt_measure_fails_loudly():
    """Analysis names measures through the catalogue: a misspelt key raises, naming it."""
    with pytest.raises(KeyError, match="unknown final metric 'true_impact'.*'true_impact_pp'"):
        format_value("true_impact", 1.0)


def test_the_comparison_prints_rates_and_counts_in_their_units(tmp_path):
    """In a printed comparison, a margin cap and a return are %, hand-backs a count."""
    runs = [run(s, r, {"true_impact_pp": 1.0 + r, "margin_cap": 0.05, "investor_return": 0.07,
                       "handbacks": 2.0})
            for s in ("Fees", "PbR") for r in range(2)]
    path = write_store(tmp_path / "s", runs, reference="Fees")
    results = read_batch(path)
    table = comparison_table(results)
    cap = _row(table, "PbR", "margin_cap")
    assert format_value("margin_cap", cap["mean"]) == "5.0%"
    assert format_value("handbacks", _row(table, "PbR", "handbacks")["mean"]) == "2"
    text = write_report(results).read_text(encoding="utf-8")
    assert "5.0%" in text and "7.0%" in text and "£0" not in text and "£2" not in text


def test_better_or_worse_follows_the_catalogue_direction(tmp_path):
    """A difference whose interval excludes zero is judged by the measure's direction."""
    runs = [run("Fees", r, {"commissioner_outlay": 1e6 + 1e4 * r, "true_impact_pp": 1.0 + r,
                            "prime_margin": 1e5 + r})
            for r in range(3)]
    runs += [run("PbR", r, {"commissioner_outlay": 2e6 + 2e4 * r, "true_impact_pp": 2.0 + r,
                            "prime_margin": 2e5 + r})
             for r in range(3)]
    path = write_store(tmp_path / "s", runs, reference="Fees")
    console = Console(record=True, width=200)
    print_comparison(path, console=console)
    text = console.export_text()
    assert "Δ +£1.01m (worse)" in text  # outlay: lower is better
    assert "Δ +1.00 pp (better)" in text  # true impact: higher is better
    # the primes' margin has no better direction for the commissioner: no verdict
    assert "Δ +£100,000" in text and "Δ +£100,000 (" not in text
