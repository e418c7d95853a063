"""Figures: the right traces from store data, and a clear refusal when the data are absent."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest
from pbrsim.analysis import figures as fg
from pbrsim.analysis.tables import read_batch
from pbrsim.sim.measures import Unit, measure

from tests.conftest_analysis import run, write_store

BANDS = ("low", "medium", "high", "very_high")


def _monthly(low: float, very_high: float, cash: float, extra: dict | None = None) -> pd.DataFrame:
    """Three months of service, then one with nobody in service."""
    frame = pd.DataFrame({
        "month": [1, 2, 3, 4], "referrals": [10, 10, 10, 0], "in_service": [10, 20, 30, 0],
        "effort_low": [low] * 3 + [0.0], "effort_medium": [4.0] * 3 + [0.0],
        "effort_high": [4.0] * 3 + [0.0], "effort_very_high": [very_high] * 3 + [0.0],
        "cash_North": [cash, cash - 1e6, cash - 2e6, cash - 2e6],
        "cash_South": [cash, cash, cash, cash],
    })
    for key, values in (extra or {}).items():
        frame[key] = values
    return frame


def _metrics(outlay: float, impact: float, measured: float, margin: float,
             extra: dict | None = None) -> dict:
    m = {"commissioner_outlay": outlay, "true_impact_pp": impact, "measured_impact_pp": measured,
         "paid_fees": outlay / 2, "paid_supervision_fees": outlay / 2,
         "paid_outcome_binary": outlay / 2, "paid_outcome_frequency": 0.0,
         "paid_outcomes": outlay / 2, "prime_income": outlay,
         "prime_delivery_cost": 0.6 * outlay - margin / 2,
         "prime_overhead": 0.4 * outlay - margin / 2,
         "prime_margin": margin}
    for g in (*BANDS, "female", "male"):
        m[f"true_impact_pp_{g}"] = impact
        m[f"hours_per_engaged_person_{g}"] = 48.0
    return m | (extra or {})


@pytest.fixture
def store(tmp_path):
    """Fees (creams: low-risk effort 6 h, very high 2 h) and PbR over two replications."""
    runs = []
    for r in range(2):
        runs.append(run("Fees", r, _metrics(6e6 + r * 2e5, 2.0 + r, 1.0 + r, -1e6),
                        monthly=_monthly(low=6.0 + 2 * r, very_high=2.0, cash=5e6)))
        runs.append(run("PbR", r, _metrics(5e6 + r * 2e5, 3.0 + r, 4.0 + r, 5e5),
                        monthly=_monthly(low=4.0, very_high=4.0, cash=4e6)))
    return write_store(tmp_path / "store", runs, reference="Fees")


def test_effort_by_band_one_panel_per_scenario_with_the_mean_over_replications(store):
    """Four band lines per scenario; months with nobody in service left out."""
    fig = fg.effort_by_band_figure(store)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 2 * 4
    assert [t.name for t in fig.data[:4]] == ["Low risk", "Medium risk", "High risk",
                                              "Very high risk"]
    low_fees = fig.data[0]
    assert list(low_fees.x) == [1, 2, 3]
    assert list(low_fees.y) == [7.0, 7.0, 7.0]  # (6 + 8) / 2
    assert [a.text for a in fig.layout.annotations] == ["Fees", "PbR"]


def test_outcome_cost_points_with_intervals_both_ways(store):
    """One point per scenario at the mean, error bars the 95% half-widths."""
    fig = fg.outcome_cost_figure(store)
    assert [t.name for t in fig.data] == ["Fees", "PbR"]
    fees = fig.data[0]
    results = read_batch(store)
    iv = results.stat("Fees", "commissioner_outlay")
    assert fees.x[0] == pytest.approx(6.1)
    assert fees.error_x.array[0] == pytest.approx((iv.high - iv.mean) / 1e6)
    assert fees.y[0] == pytest.approx(2.5)
    assert fees.error_y.arrayminus[0] == pytest.approx(results.stat("Fees", "true_impact_pp").mean
                                                       - results.stat("Fees", "true_impact_pp").low)


def test_measured_vs_true_has_the_45_degree_line(store):
    """The first trace is measured = true; the scenarios follow."""
    fig = fg.measured_vs_true_figure(store)
    line = fig.data[0]
    assert line.name == "measured = true" and list(line.x) == list(line.y)
    assert [t.name for t in fig.data[1:]] == ["Fees", "PbR"]
    assert fig.data[2].x[0] == pytest.approx(3.5) and fig.data[2].y[0] == pytest.approx(4.5)


def test_many_scenarios_share_one_trace(tmp_path):
    """A sweep's cloud of points is one trace, not a legend entry per point."""
    runs = [run(f"S{i}", 0, _metrics(1e6 * i + 1, i, i, 0.0)) for i in range(20)]
    fig = fg.outcome_cost_figure(write_store(tmp_path / "s", runs))
    assert len(fig.data) == 1 and len(fig.data[0].x) == 20


def test_money_flows_balance_through_the_primes(store):
    """Money into the primes (payments plus any loss) equals money out of them."""
    results = read_batch(store)
    for label in results.labels:
        flows = fg.money_flows(results, label)
        into = sum(v for _, b, v in flows if b == "Primes")
        out = sum(v for a, _, v in flows if a == "Primes")
        assert into == pytest.approx(out)
    fees = fg.money_flows(results, "Fees")
    assert ("Primes' reserves (loss)", "Primes", pytest.approx(1e6)) in fees
    assert not any(b == "Primes' margin" for _, b, _ in fees)
    pbr = fg.money_flows(results, "PbR")
    assert ("Primes", "Primes' margin", pytest.approx(5e5)) in pbr
    fig = fg.money_flow_figure(store)
    assert [t.type for t in fig.data] == ["sankey", "sankey"]
    assert any(label.startswith("Outcome payments, binary measure") for label in fig.data[0].node.label)


def test_money_flows_include_subprimes_when_measured(tmp_path):
    """Sub-prime measures add their nodes; the sub-primes balance too."""
    extra = {"subprime_income": 1e6, "subprime_delivery_cost": 1.2e6, "subprime_margin": -2e5}
    path = write_store(tmp_path / "s", [run("Chain", 0, _metrics(6e6, 2.0, 2.0, 0.0, extra))])
    flows = fg.money_flows(read_batch(path), "Chain")
    nodes = {n for a, b, _ in flows for n in (a, b)}
    assert {"Sub-primes", "Sub-primes' reserves (loss)"} <= nodes and "Investors" not in nodes
    into = sum(v for _, b, v in flows if b == "Sub-primes")
    out = sum(v for a, _, v in flows if a == "Sub-primes")
    assert into == pytest.approx(out) == pytest.approx(1.2e6)


def test_only_money_flows_and_a_rate_is_never_one(tmp_path):
    """Known wrong output (issue 9): investor_return, a rate, was drawn as money to investors.

    Under a bond the commissioner's outcome payments go to the investors, who pay the primes
    from the capital they draw and keep the rest; investor_return (7%) is no flow at all.
    """
    assert all(measure(key).unit is Unit.MONEY for key in fg.FLOW_MEASURES)
    m = {"commissioner_outlay": 6.3e6, "true_impact_pp": 2.0, "paid_fees": 0.0,
         "paid_outcome_frequency": 6.3e6, "paid_outcomes": 6.3e6, "prime_income": 5e6,
         "prime_delivery_cost": 4.4e6, "prime_overhead": 0.9e6, "prime_margin": -0.3e6,
         "investor_drawn": 5e6, "investor_repaid": 6.3e6, "investor_return": 0.07,
         "investor_capital": 5e6}
    path = write_store(tmp_path / "s", [run("SIB", 0, m)])
    flows = fg.money_flows(read_batch(path), "SIB")
    assert ("Outcome payments, frequency measure", "Investors", pytest.approx(6.3e6)) in flows
    assert ("Investors", "Primes", pytest.approx(5e6)) in flows
    assert ("Investors", "Investors' return", pytest.approx(1.3e6)) in flows
    assert not any(v == pytest.approx(0.07) for _, _, v in flows)
    assert not any(a == "Primes" and b == "Investors" for a, b, _ in flows)
    for node in ("Primes", "Investors"):  # money in equals money out
        into = sum(v for _, b, v in flows if b == node)
        assert into == pytest.approx(sum(v for a, _, v in flows if a == node))
    with pytest.raises(ValueError, match="investor_return is not a flow of money"):
        fg._flow(read_batch(path), "SIB", "investor_return")


def test_market_health_falls_back_to_primes_cash(store):
    """Without sub-prime series, one panel: each prime's cash per scenario, in £m."""
    fig = fg.market_health_figure(store)
    assert len(fig.data) == 2 * 2
    assert [t.name for t in fig.data[:2]] == ["North", "South"]
    assert list(fig.data[0].y) == pytest.approx([5.0, 4.0, 3.0, 3.0])
    assert [a.text for a in fig.layout.annotations if a.text] == ["Primes' cash (£m)"]


def test_market_health_shows_subprimes_and_cumulative_exits(tmp_path):
    """Sector counts are summed; monthly exits are accumulated."""
    extra = {"active_subprimes_voluntary": [5, 4, 4, 3], "active_subprimes_private": [2, 2, 2, 2],
             "subprime_exits": [0, 1, 0, 1]}
    path = write_store(tmp_path / "s", [run("Market", 0, _metrics(1e6, 1, 1, 0),
                                            monthly=_monthly(4, 4, 1e6, extra))])
    fig = fg.market_health_figure(path)
    titles = [a.text for a in fig.layout.annotations if a.text]
    assert titles == ["Active sub-primes", "Cumulative market events", "Primes' cash (£m)"]
    assert list(fig.data[0].y) == [7, 6, 6, 5]
    assert list(fig.data[1].y) == [0, 1, 1, 2]


def test_equality_bars_by_group(store):
    """Impact and hours panels, one bar trace per scenario per panel, a bar per group."""
    fig = fg.equality_figure(store)
    assert len(fig.data) == 2 * 2
    assert list(fig.data[0].x) == ["Low risk", "Medium risk", "High risk", "Very high risk",
                                   "Women", "Men"]


def test_incentive_effects_when_measured(tmp_path, store):
    """A panel per creaming/parking/risk-transfer measure present; absent ones refused."""
    with pytest.raises(fg.FigureDataMissing, match="creaming_index"):
        fg.incentive_effects_figure(store)
    runs = [run("A", r, {"creaming_index": 1.0 + r, "parking_share": 10.0}) for r in range(2)]  # points
    fig = fg.incentive_effects_figure(write_store(tmp_path / "s", runs))
    assert len(fig.data) == 2 and fig.data[1].y[0] == pytest.approx(10.0)


def test_sensitivity_sobol_and_morris(tmp_path, store):
    """Sobol gives ST and S1 bars per measure, Morris mu_star; no file, no figure."""
    with pytest.raises(fg.FigureDataMissing, match="sensitivity.csv"):
        fg.sensitivity_figure(store)
    sobol = pd.DataFrame({"measure": ["true_impact_pp"] * 2 + ["commissioner_outlay"] * 2,
                          "parameter": ["price", "threshold"] * 2, "S1": [0.5, 0.1, 0.7, 0.0],
                          "S1_conf": [0.05] * 4, "ST": [0.6, 0.2, 0.8, 0.01],
                          "ST_conf": [0.05] * 4})
    path = write_store(tmp_path / "sobol", [run("A", 0, {"x": 1.0})], sensitivity=sobol)
    fig = fg.sensitivity_figure(path)
    assert [t.name for t in fig.data] == ["total (ST)", "first order (S1)"] * 2
    assert list(fig.data[0].y) == ["threshold", "price"]  # sorted, largest at the top
    morris = pd.DataFrame({"measure": ["x", "x"], "parameter": ["a", "b"], "mu_star": [1.0, 2.0],
                           "mu_star_conf": [0.1, 0.1], "sigma": [0.5, 0.5]})
    path = write_store(tmp_path / "morris", [run("A", 0, {"x": 1.0})], sensitivity=morris)
    assert [t.name for t in fg.sensitivity_figure(path).data] == ["μ*"]


def test_figures_refuse_absent_data_in_one_line(tmp_path):
    """A store with neither series nor the needed measures: each figure says what is missing."""
    path = write_store(tmp_path / "bare", [run("A", 0, {"referrals": 10.0})])
    for make in (fg.effort_by_band_figure, fg.outcome_cost_figure, fg.measured_vs_true_figure,
                 fg.money_flow_figure, fg.market_health_figure, fg.equality_figure):
        with pytest.raises(fg.FigureDataMissing) as exc:
            make(path)
        assert "\n" not in str(exc.value) and str(exc.value)


def test_money_flows_show_every_design_make_compare_compares(tmp_path) -> None:
    """All six shipped designs of `make compare` get a Sankey; the supply-chain ones (listed last) are not cut."""
    from tests.conftest_analysis import sim_store

    six = ("fee_for_service", "binary_pbr", "frequency_pbr", "differential_pricing",
           "supply_chain_risk_passed_down", "merlin_stewardship")
    store = sim_store(tmp_path / "six", scenarios=six, replications=1)
    fig = fg.money_flow_figure(store)
    sankeys = [t for t in fig.data if t.type == "sankey"]
    assert len(sankeys) == len(six)
    to_subprimes = [s for s in sankeys if any(label.startswith("Sub-primes") for label in s.node.label)]
    assert len(to_subprimes) == 2, "the two supply-chain designs show money reaching sub-primes"
