"""The run summary (analysis/summary.py): sections appear where a run has their measures."""

from __future__ import annotations

import io

import pytest
from pbrsim.analysis.summary import print_run_summary, run_summary_rows
from pbrsim.sim import run_scenario
from rich.console import Console

from pbrsim.scenario_files import load_scenario
from tests.conftest import SHIPPED

#: Small enough to be quick, long enough for a contract year and a volume shock (from month 13).
FAST = {"cohort": {"referrals_per_year": 3000}, "contract": {"referral_months": 24}}

#: Sections shown only for designs that have their measures, by scenario file.
OPTIONAL = {"Commissioning", "Stewardship", "Social impact bond", "Selection at referral"}
EXPECTED = {
    "competition_lowest_tender": {"Commissioning"},
    "competition_meat": {"Commissioning"},
    "volume_shock": {"Commissioning"},
    "merlin_stewardship": {"Stewardship"},
    "margin_cap": {"Stewardship"},
    "peterborough_sib": {"Social impact bond"},
    "selection_at_referral": {"Selection at referral"},
}


@pytest.fixture(scope="module", params=SHIPPED, ids=lambda p: p.stem)
def summary(request):
    """Every shipped scenario, run small: its name, metrics and summary sections."""
    metrics = run_scenario(load_scenario(request.param, overrides=FAST), 1).metrics
    return request.param.stem, metrics, dict(run_summary_rows(metrics))


def test_optional_sections_appear_only_where_they_apply(summary):
    """Commissioning, stewardship, bond and selection sections show where the design has them."""
    name, _, sections = summary
    assert set(sections) & OPTIONAL == EXPECTED.get(name, set())
    for rows in sections.values():
        assert rows and all(label and value for label, value in rows)


def test_sections_report_the_runs_numbers(summary):
    """The new sections carry the run's own figures, in plain words."""
    name, m, sections = summary
    rows = {label.strip(): value for section in sections.values() for label, value in section}
    if name == "peterborough_sib":
        assert rows["Investors' capital committed"] == "£5.00m"
        assert rows["Bond cohorts"] == "2"
        assert rows["Cohorts paid early (met the cohort trigger)"] == (
            f"{m['sib_cohorts_paid_early']:,.0f}")
        assert rows["Investors' return a year"] == f"{100 * m['investor_return']:.1f}%".replace("-", "−")
    if name == "margin_cap":
        assert rows["Cap on prime margin (share of income)"] == "15.0%"
        assert "Margin clawed back by the commissioner" in rows
    if name == "merlin_stewardship":
        assert rows["Merlin-style supply-chain standard"] == "on"
    if name == "selection_at_referral":
        assert rows["Referrals refused (no commissioned service, not measured)"] == (
            f"{m['referrals_refused']:,.0f}")
    if name in EXPECTED and "Commissioning" in EXPECTED[name]:
        assert rows["Competitions run"] == f"{m['competitions']:,.0f}"
        assert rows["Commissioner's procurement costs"].startswith("£")
    # volume bands (from tr_hybrid.yaml) pay a top-up only where volumes left the plan's band
    band_row = "Volume-band reconciliation (top-ups less repayments)"
    assert (band_row in rows) == (name == "volume_shock")


def test_selection_section_follows_the_contract_not_the_file():
    """The same design with referral_selection false has no selection section."""
    path = next(p for p in SHIPPED if p.stem == "selection_at_referral")
    closed = load_scenario(path, overrides={**FAST, "contract": {**FAST["contract"],
                                                                 "referral_selection": False}})
    m = run_scenario(closed, 1).metrics
    assert m["referrals_refused"] == 0
    assert "Selection at referral" not in dict(run_summary_rows(m))


def test_summary_prints():
    """The table renders with the optional sections' titles."""
    path = next(p for p in SHIPPED if p.stem == "peterborough_sib")
    m = run_scenario(load_scenario(path, overrides=FAST), 1).metrics
    out = io.StringIO()
    print_run_summary("SIB", m, Console(file=out, width=160))
    text = out.getvalue()
    assert "Social impact bond" in text and "Investors' return a year" in text
