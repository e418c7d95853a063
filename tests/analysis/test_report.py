"""The HTML report: every section, readings from the numbers, offline, drawn in a real browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pbrsim.analysis.report import build_sections, write_report
from pbrsim.analysis.tables import format_value, read_batch

from pbrsim.cli import main
from tests.conftest_analysis import run, sim_store, write_store

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = ("findings", "comparison", "outcomes", "measurement", "effort", "incentives", "money",
            "market", "equality", "sensitivity", "appendix", "reproduce")
SOBOL = pd.DataFrame({"measure": ["true_impact_pp", "true_impact_pp"],
                      "parameter": ["price", "at_risk_share"], "S1": [0.55, 0.02],
                      "S1_conf": [0.05, 0.01], "ST": [0.7, 0.03], "ST_conf": [0.06, 0.02]})


@pytest.fixture(scope="module")
def sim_report(tmp_path_factory):
    """Three small shipped designs, two replications each, with Sobol indices: store and report."""
    store = sim_store(tmp_path_factory.mktemp("batch") / "results", replications=2)
    SOBOL.to_csv(store / "sensitivity.csv", index=False)
    return store, write_report(store)


def _html(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_report_has_every_section_and_embeds_plotly_once(sim_report):
    """Every section is there; plotly.js is inlined once and nothing is fetched from a CDN."""
    store, report = sim_report
    assert report == store / "report.html"
    text = _html(report)
    for section in SECTIONS:
        assert f'<section id="{section}">' in text, section
    sections = build_sections(store)
    drawn = [s for s in sections if s.figure is not None]
    # every figure whose data the model records today; the rest say why they are absent
    assert {"outcomes", "measurement", "effort", "money", "market", "equality",
            "sensitivity"} <= {s.key for s in drawn}
    assert text.count("Plotly.newPlot(") == len(drawn)
    assert f'data-figures="{len(drawn)}"' in text
    for s in sections:
        if s.figure is None:
            assert f'<p class="note">{s.note}</p>' in text and s.note.startswith("Not shown: ")
        else:
            assert s.reading, f"{s.key} has no reading"
    assert len(re.findall(r"\* plotly\.js v\d", text)) == 1
    assert "<script src=" not in text and 'src="http' not in text  # the browser test: requests


def test_report_readings_come_from_the_numbers(sim_report):
    """The deadweight and outlay readings quote the store's own means."""
    store, report = sim_report
    text = _html(report)
    results = read_batch(store)
    dead = results.stat("Pure binary PbR", "deadweight_payments").mean
    assert dead > 0
    assert (f"Pure binary PbR pays {format_value('deadweight_payments', dead)} for deadweight"
            in text)
    outlay = results.stat("Fee for service", "commissioner_outlay").mean
    assert format_value("commissioner_outlay", outlay) in text
    assert "For true impact on reoffending, price matters most (total Sobol index 0.70)" in text


def test_readings_change_with_the_data(tmp_path):
    """A design that starves very high risk people is named, with its numbers."""
    def metrics(low: float, very_high: float) -> dict:
        return {"hours_per_engaged_person_low": low,
                "hours_per_engaged_person_very_high": very_high,
                "share_low": 0.5, "share_very_high": 0.5}
    runs = [run("Even", r, metrics(40, 40), monthly=pd.DataFrame(
        {"month": [1], "in_service": [5], "effort_low": [4.0], "effort_very_high": [4.0]}))
        for r in range(2)]
    runs += [run("Creamer", r, metrics(60, 20), monthly=pd.DataFrame(
        {"month": [1], "in_service": [5], "effort_low": [6.0], "effort_very_high": [2.0]}))
        for r in range(2)]
    sections = {s.key: s for s in build_sections(write_store(tmp_path / "s", runs))}
    reading = " ".join(sections["effort"].reading)
    assert ("Under Creamer, low risk people get 3.0 times the hours of very high risk people "
            "(60.0 h against 20.0 h per engaged person)") in reading
    assert "Effort on very high risk people is 50% of the mean under Creamer" in reading
    assert "Even spreads effort most evenly" in reading
    assert sections["money"].figure is None and sections["money"].note.startswith("Not shown:")


def test_report_holds_what_reproduction_needs(sim_report):
    """Version, root seed, seeds per replication and every scenario definition."""
    store, report = sim_report
    text = _html(report)
    results = read_batch(store)
    assert "pbrsim version</th><td>0.1.0" in text and "Root seed</th><td>5000" in text
    assert "<tr><td>0</td><td>5000</td></tr>" in text and "<tr><td>1</td><td>5001</td></tr>" in text
    for label in results.labels:
        assert results.scenario_key(label) in text
    assert "fee_per_supervision_month: 180.0" in text
    assert "contract.payment.at_risk_share" in text  # how TR differs from fee for service


def test_report_out_path_and_cli(sim_report, tmp_path, capsys):
    """`pbrsim report DIR --out FILE` writes the report and comparison.csv."""
    store, _ = sim_report
    out = tmp_path / "sub" / "mine.html"
    assert main(["report", str(store), "--out", str(out)]) == 0
    assert out.exists() and (store / "comparison.csv").exists()
    printed = capsys.readouterr().out
    assert "True impact on" in printed and f"report written to {out}" in printed


@pytest.mark.parametrize("broken", ["missing", "empty", "bad_json"])
def test_cli_refuses_a_broken_store_with_exit_code_2(tmp_path, capsys, broken):
    """A missing or broken folder: exit code 2 and a message naming the folder and problem."""
    path = tmp_path / "results"
    if broken != "missing":
        path.mkdir()
    if broken == "bad_json":
        (path / "batch.json").write_text("{not json")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err
    assert {"missing": "no such folder", "empty": "no batch.json",
            "bad_json": "cannot be read as JSON"}[broken] in err


def test_report_renders_in_a_headless_browser(sim_report, tmp_path):
    """Chromium opens the file offline: every figure draws, no errors, a screenshot is taken."""
    # `make test` installs chromium, so in CI a missing browser is a failure, not a skip
    if not CHROMIUM.exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)("no /usr/bin/chromium: run `make browser`")
    from playwright.sync_api import sync_playwright
    _, report = sim_report
    # a copy in a fresh folder: nothing beside the file can help it render
    page_file = tmp_path / "report.html"
    shutil.copy(report, page_file)
    expected = int(re.search(r'data-figures="(\d+)"', _html(page_file)).group(1))
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_function(
                "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
                arg=expected, timeout=20_000)
            drawn = page.evaluate(
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".map(d => d.querySelectorAll('svg.main-svg').length)")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(drawn) == expected >= 7 and all(n > 0 for n in drawn)
    assert problems == []
    assert [u for u in requests if not u.startswith("file:")] == []
    assert shot.exists() and shot.stat().st_size > 50_000


def test_a_sweep_gets_scenarios_as_rows_and_one_replication_intervals_undefined(tmp_path):
    """Many one-replication scenarios: a table with a row per scenario, intervals undefined."""
    runs = [run("Sweep", 0, {"true_impact_pp": float(i), "commissioner_outlay": 1e6 * (i + 1)},
                params={"contract.payment.price": 1000 + 100 * i}) for i in range(8)]
    text = _html(write_report(write_store(tmp_path / "sweep", runs)))
    assert "<thead><tr><th>scenario</th>" in text
    assert "Sweep (price=1700) (n=1)" in text and "undefined" in text
    assert "Sweep (price=1700) reduces reoffending most, by 7.00 pp" in text


def test_hand_backs_are_read_from_the_run_metric(tmp_path):
    """Known wrong output (issue 9): the reading looked up prime_handbacks, a monthly column.

    A short lowest-tender competition makes primes fail and hand their areas back
    (``handbacks``, ``prime_failures``); the market reading now says so, with the mean.
    """
    store = sim_store(tmp_path / "results", scenarios=("fee_for_service",
                                                       "competition_lowest_tender"),
                      replications=1)
    results = read_batch(store)
    label = results.labels[1]
    handbacks = results.stat(label, "handbacks").mean
    assert handbacks > 0 and results.stat(results.labels[0], "handbacks").mean == 0
    market = {s.key: s for s in build_sections(results)}["market"]
    reading = " ".join(market.reading)
    assert (f"Most contracts are handed back by failing primes under {label}: "
            f"{format_value('handbacks', handbacks)} on average.") in reading
    assert f"Most primes fail under {label}" in reading
