"""Plotly figures of a results store: what a commissioner looks at.

Every function takes a results store (its folder, or a
:class:`~pbrsim.analysis.batch.BatchResults` already read) and returns a
:class:`plotly.graph_objects.Figure`. Values are means over replications;
where a figure shows intervals they are 95% t-intervals over replications.
Titles, axis labels and units come from the catalogue of measures
(:mod:`pbrsim.sim.measures`); every key a figure names is looked up there.

A figure whose data the store does not hold (say, sub-prime market measures
before the model has sub-primes, or sensitivity indices for a batch that is
not a sensitivity design) raises :class:`FigureDataMissing` with a one-line
reason, so a report can leave it out and say why.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from pbrsim.analysis.batch import BatchResults, read_batch
from pbrsim.analysis.formatting import axis, describe, label_of
from pbrsim.analysis.intervals import Interval
from pbrsim.sim.measures import BAND_WORDS, GROUP_WORDS, Unit, family, measure, members, series
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = [
    "BANDS",
    "FLOW_MEASURES",
    "GROUPS",
    "MARKET_EVENTS",
    "FigureDataMissing",
    "effort_by_band_figure",
    "equality_figure",
    "incentive_effects_figure",
    "market_health_figure",
    "measured_vs_true_figure",
    "money_flow_figure",
    "money_flows",
    "outcome_cost_figure",
    "scenario_colours",
    "sensitivity_figure",
]

Store = BatchResults | Path | str

def _capital(words: str) -> str:
    return words[:1].upper() + words[1:]


_BAND_COLOURS = {"low": "#1a9850", "medium": "#fdae61", "high": "#f46d43", "very_high": "#a50026"}
#: True risk bands with their display names (from the catalogue) and colours, low to very high.
BANDS: dict[str, tuple[str, str]] = {band: (_capital(words), _BAND_COLOURS[band])
                                     for band, words in BAND_WORDS.items()}

#: Groups reported for equality: risk bands, then protected characteristics.
GROUPS: dict[str, str] = {g: _capital(words) for g, words in GROUP_WORDS.items()}

#: Monthly counts of market events, accumulated in the market-health figure.
MARKET_EVENTS: tuple[str, ...] = tuple(series(k).key for k in (
    "subprime_exits", "subprime_entries", "prime_handbacks"))

#: Every final metric the money-flow figure may draw as a flow; each must be money (a test
#: holds them to it: a rate such as ``investor_return`` is never a flow).
FLOW_MEASURES: tuple[str, ...] = tuple(measure(k).key for k in (
    "paid_fees", "paid_block_grant", "paid_referral_fees", "paid_supervision_fees",
    "paid_outcome_binary", "paid_outcome_frequency", "paid_fee_reconciliation",
    "prime_margin", "prime_delivery_cost", "prime_overhead",
    "subprime_income", "subprime_delivery_cost", "subprime_margin",
    "investor_drawn", "investor_repaid",
))

#: Per-scenario panels or diagrams shown at most; the rest are named in a note.
MAX_PANELS = 6
MAX_SANKEYS = 6  # as many as `make compare` compares
MAX_LABELLED_POINTS = 12  # beyond this, scenarios share one trace (a sweep's cloud)

_FONT = dict(family="Helvetica, Arial, sans-serif", size=13)


class FigureDataMissing(LookupError):
    """The store lacks the data a figure needs; the message says what, in one line."""


def scenario_colours(labels: list[str]) -> dict[str, str]:
    """Give each scenario a fixed colour, in the batch's order."""
    palette = qualitative.D3 + qualitative.Set2
    return {label: palette[i % len(palette)] for i, label in enumerate(labels)}


def _layout(fig: go.Figure, title: str, height: int, note: str | None = None) -> go.Figure:
    fig.update_layout(
        title=dict(text=title + (f"<br><sup>{note}</sup>" if note else "")),
        height=height, font=_FONT, template="plotly_white",
        margin=dict(l=70, r=30, t=90 if note else 70, b=60),
    )
    return fig


def _shown(results: BatchResults, limit: int) -> tuple[list[str], str | None]:
    labels = results.labels[:limit]
    rest = len(results.labels) - len(labels)
    return labels, (f"first {limit} of {len(results.labels)} scenarios" if rest else None)


def _err(iv: Interval) -> tuple[float | None, float | None]:
    """Plus and minus error-bar lengths of an interval (None where undefined)."""
    if not (math.isfinite(iv.low) and math.isfinite(iv.high)):
        return None, None
    return iv.high - iv.mean, iv.mean - iv.low


def _require(results: BatchResults, *measures: str) -> None:
    missing = [m for m in measures if not results.present(m)]
    if missing:
        raise FigureDataMissing(f"the store has no values of {', '.join(missing)}")


# --- effort ----------------------------------------------------------------------------------


def effort_by_band_figure(store: Store) -> go.Figure:
    """Service effort by true risk band over time, one panel per scenario.

    Hours per person in service per month (monthly ``effort_<band>``,
    mean over replications). Effort that follows the price shows as the
    bands' lines drawing apart, a band left at the bare minimum as its line
    sitting on the floor (``creaming_index`` and ``parking_share`` measure
    them person by person, docs/ODD.md 4.11.1). Months in which nobody is in
    service are left out.

    Raises:
        FigureDataMissing: No monthly ``effort_<band>`` columns.

    """
    results = read_batch(store)
    cols = [m.key for m in members("effort_{band}", results.monthly.columns)]
    if not cols:
        raise FigureDataMissing("the store has no monthly effort_<band> series")
    extra = [series("in_service").key] if "in_service" in results.monthly.columns else []
    means = results.monthly_means(cols + extra)
    if extra:
        means = means[means["in_service"] > 0]
    labels, note = _shown(results, MAX_PANELS)
    labels = [label for label in labels if (means["label"] == label).any()]
    if not labels:
        raise FigureDataMissing("no month of the store has anybody in service")
    fig = make_subplots(rows=len(labels), cols=1, shared_xaxes=True, subplot_titles=labels,
                        vertical_spacing=min(0.08, 0.3 / len(labels)))
    for row, label in enumerate(labels, start=1):
        data = means[means["label"] == label]
        for col in cols:
            band = series(col).member or col
            name, colour = BANDS[band]
            fig.add_trace(go.Scatter(
                x=data["month"], y=data[col], name=name, legendgroup=band, showlegend=row == 1,
                mode="lines", line=dict(color=colour, width=2),
                hovertemplate=f"{label}<br>{name}, month %{{x}}: %{{y:.1f}} h<extra></extra>",
            ), row=row, col=1)
        fig.update_yaxes(title_text="hours", rangemode="tozero", row=row, col=1)
    fig.update_xaxes(title_text=series("month").label.lower(), row=len(labels), col=1)
    fig.update_yaxes(matches="y")  # one scale, so panels compare at a glance
    return _layout(fig, f"Effort by risk band: {family('effort_{band}').title.lower()}, per month",
                   180 + 200 * len(labels), note)


# --- outcomes and cost -----------------------------------------------------------------------


def _scatter_with_intervals(results: BatchResults, x: str, y: str, hover: str) -> list[go.Scatter]:
    x_scale = axis(x)[1]
    colours = scenario_colours(results.labels)
    rows = []
    for label in results.labels:
        ix, iy = results.stat(label, x), results.stat(label, y)
        if not (math.isfinite(ix.mean) and math.isfinite(iy.mean)):
            continue
        xp, xm = _err(ix)
        yp, ym = _err(iy)
        rows.append((label, ix.mean / x_scale, iy.mean,
                     None if xp is None else xp / x_scale, None if xm is None else xm / x_scale,
                     yp, ym))
    if not rows:
        raise FigureDataMissing(f"no scenario has values of both {x} and {y}")
    separate = len(rows) <= MAX_LABELLED_POINTS  # one legend entry per scenario
    groups = [[r] for r in rows] if separate else [rows]
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "pentagon")
    traces = []
    for i, group in enumerate(groups):
        traces.append(go.Scatter(
            x=[r[1] for r in group], y=[r[2] for r in group],
            text=[r[0] for r in group], name=group[0][0] if separate else "scenarios",
            mode="markers",
            marker=dict(size=12, color=colours[group[0][0]] if separate else "#1f77b4",
                        symbol=symbols[i % len(symbols)], line=dict(width=1, color="white")),
            error_x=dict(type="data", symmetric=False, array=[r[3] for r in group],
                         arrayminus=[r[4] for r in group], thickness=1.2),
            error_y=dict(type="data", symmetric=False, array=[r[5] for r in group],
                         arrayminus=[r[6] for r in group], thickness=1.2),
            hovertemplate=hover,
        ))
    return traces


def outcome_cost_figure(store: Store) -> go.Figure:
    """Plot true impact on reoffending against the commissioner's outlay, a point per scenario.

    Error bars are 95% intervals over replications, both ways. Up and to the
    left is better: more reoffending avoided for less money.

    Raises:
        FigureDataMissing: The store lacks ``true_impact_pp`` or ``commissioner_outlay``.

    """
    results = read_batch(store)
    _require(results, "true_impact_pp", "commissioner_outlay")
    fig = go.Figure(_scatter_with_intervals(
        results, "commissioner_outlay", "true_impact_pp",
        "%{text}<br>outlay £%{x:.2f}m<br>true impact %{y:.2f} pp<extra></extra>"))
    fig.update_xaxes(title_text=axis("commissioner_outlay")[0])
    fig.update_yaxes(title_text=axis("true_impact_pp")[0])
    return _layout(fig, "Outcomes against cost across designs", 520,
                   "mean and 95% interval over replications; up and left is better")


def measured_vs_true_figure(store: Store) -> go.Figure:
    """Impact as the contract measured it against the true impact, with the 45° line.

    Points above the line are designs whose counterfactual flatters the
    provider (payment for impact that did not happen); below, it understates.

    Raises:
        FigureDataMissing: The store lacks ``measured_impact_pp`` or ``true_impact_pp``.

    """
    results = read_batch(store)
    _require(results, "measured_impact_pp", "true_impact_pp")
    traces = _scatter_with_intervals(
        results, "true_impact_pp", "measured_impact_pp",
        "%{text}<br>true %{x:.2f} pp<br>measured %{y:.2f} pp<extra></extra>")
    values = [v for t in traces for v in (*t.x, *t.y)]
    for t in traces:
        for bars in (t.error_x, t.error_y):
            values += [v for v in (*(bars.array or ()), *(bars.arrayminus or ())) if v is not None]
    lo, hi = min(values), max(values)
    span = max(hi - lo, 1.0)
    lo, hi = min(lo, 0.0) - 0.1 * span, hi + 0.1 * span
    line = go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = true",
                      line=dict(color="#888", dash="dash"), hoverinfo="skip")
    fig = go.Figure([line, *traces])
    fig.update_xaxes(title_text=axis("true_impact_pp")[0], range=[lo, hi])
    fig.update_yaxes(title_text=axis("measured_impact_pp")[0], range=[lo, hi])
    return _layout(fig, "Measured against true impact: where the counterfactual misleads", 560,
                   "above the line the contract pays for impact that did not happen")


def incentive_effects_figure(store: Store) -> go.Figure:
    """Creaming, parking and risk transfer across designs, with 95% intervals.

    One panel for each of ``creaming_index`` (hours, refusals counted as
    none, on the quarter of people paying best per pound against the worst
    quarter), ``parking_share`` (the hardest to help left at the bare
    minimum) and ``risk_transfer_ratio`` that the store holds.

    Raises:
        FigureDataMissing: None of the three measures is in the store.

    """
    results = read_batch(store)
    measures = ("creaming_index", "parking_share", "risk_transfer_ratio")
    present = {m: axis(m)[0] for m in measures if results.present(m)}
    if not present:
        raise FigureDataMissing("the store has no creaming_index, parking_share or "
                                "risk_transfer_ratio")
    colours = scenario_colours(results.labels)
    fig = make_subplots(rows=1, cols=len(present), subplot_titles=list(present.values()))
    for col, key in enumerate(present, start=1):
        scale = axis(key)[1]
        for label in results.labels:
            iv = results.stat(label, key)
            plus, minus = _err(iv)
            fig.add_trace(go.Bar(
                x=[label], y=[iv.mean * scale], name=label, legendgroup=label,
                showlegend=col == 1, marker_color=colours[label],
                error_y=dict(type="data", symmetric=False,
                             array=[None if plus is None else plus * scale],
                             arrayminus=[None if minus is None else minus * scale]),
            ), row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    return _layout(fig, "Creaming, parking and risk transfer", 460,
                   "mean and 95% interval over replications")


# --- money -----------------------------------------------------------------------------------


def _mean(results: BatchResults, label: str, key: str) -> float:
    if not results.present(key):
        return 0.0
    value = results.stat(label, key).mean
    return value if math.isfinite(value) else 0.0


def _flow(results: BatchResults, label: str, key: str) -> float:
    """Mean of a money measure, for a flow; anything but money is refused."""
    if key not in FLOW_MEASURES or measure(key).unit is not Unit.MONEY:
        raise ValueError(f"{key} is not a flow of money ({measure(key).unit}); it cannot be drawn "
                         "as one")
    return _mean(results, label, key)


def _money_text(x: float) -> str:
    return f"£{x / 1e6:,.2f}m" if abs(x) >= 1e5 else f"£{x:,.0f}"


def money_flows(results: BatchResults, label: str) -> list[tuple[str, str, float]]:
    """(from, to, £) flows of one scenario's money, mean over replications.

    Commissioner -> payment kinds -> primes -> [sub-primes] -> front-line
    delivery, overhead and margin; a negative margin is a loss met from the
    primes' (or sub-primes') own reserves. Under a social impact bond the
    outcome payments go to the investors, who pay the primes out of the
    capital they draw, and keep the difference (their return, or loss). Only
    money measures of :data:`FLOW_MEASURES` are flows; only positive flows are
    returned.
    """
    fee_parts = [m for m in ("paid_block_grant", "paid_referral_fees", "paid_supervision_fees")
                 if m in results.measures]
    outcome_parts = [m for m in ("paid_outcome_binary", "paid_outcome_frequency")
                     if m in results.measures]
    bond = results.present("investor_drawn") and math.isfinite(
        results.stat(label, "investor_drawn").mean)
    flows: list[tuple[str, str, float]] = []
    fees_total = _flow(results, label, "paid_fees")
    parts = 0.0
    for m in fee_parts:
        value = _flow(results, label, m)
        parts += value
        flows.append(("Commissioner", label_of(m), value))
    if fees_total - parts > max(1.0, 1e-6 * abs(fees_total)):
        other = "Other fees" if fee_parts else label_of("paid_fees")
        flows.append(("Commissioner", other, fees_total - parts))
    outcomes = [("Commissioner", label_of(m), _flow(results, label, m)) for m in outcome_parts]
    # volume bands: a net top-up is paid in; a net repayment goes back out of the primes
    reconciled = _flow(results, label, "paid_fee_reconciliation")
    flows.append(("Commissioner", "Volume-band top-ups", reconciled))
    flows = [(a, b, v) for a, b, v in flows if v > 0]
    outcomes = [(a, b, v) for a, b, v in outcomes if v > 0]
    flows += [(b, "Primes", v) for _, b, v in flows]
    # a bond's outcome payments are the investors' (ledger: commissioner -> investors)
    flows += outcomes + [(b, "Investors" if bond else "Primes", v) for _, b, v in outcomes]
    if bond:
        drawn = _flow(results, label, "investor_drawn")
        gain = _flow(results, label, "investor_repaid") - drawn
        flows.append(("Investors", "Primes", drawn))
        flows.append(("Investors", "Investors' return", gain) if gain >= 0
                     else ("Investors' capital (loss)", "Investors", -gain))
    if reconciled < 0:
        flows.append(("Primes", "Volume-band repayments", -reconciled))
    margin = _flow(results, label, "prime_margin")
    if margin < 0:
        flows.append(("Primes' reserves (loss)", "Primes", -margin))
    flows.append(("Primes", "Front-line delivery", _flow(results, label, "prime_delivery_cost")))
    flows.append(("Primes", "Overhead", _flow(results, label, "prime_overhead")))
    flows.append(("Primes", "Primes' margin", margin))
    sub = _flow(results, label, "subprime_income")
    if sub > 0:
        flows.append(("Primes", "Sub-primes", sub))
        sub_margin = _flow(results, label, "subprime_margin")
        delivery = (_flow(results, label, "subprime_delivery_cost")
                    if results.present("subprime_delivery_cost") else sub - sub_margin)
        if sub_margin < 0:
            flows.append(("Sub-primes' reserves (loss)", "Sub-primes", -sub_margin))
        flows.append(("Sub-primes", "Front-line delivery", delivery))
        flows.append(("Sub-primes", "Sub-primes' margin", sub_margin))
    return [(a, b, v) for a, b, v in flows if v > 0]


_NODE_COLOURS = {
    "Commissioner": "#1f4e79", "Primes": "#2e75b6", "Sub-primes": "#9dc3e6",
    "Investors": "#7030a0", "Investors' return": "#b4a7d6",
    "Investors' capital (loss)": "#c00000", "Front-line delivery": "#1a9850", "Overhead": "#bf9000",
    "Primes' margin": "#70ad47", "Sub-primes' margin": "#a9d18e",
    "Primes' reserves (loss)": "#c00000", "Sub-primes' reserves (loss)": "#ff6666",
}


def money_flow_figure(store: Store) -> go.Figure:
    """Money through the supply chain as a Sankey diagram, one per scenario.

    From the commissioner, by kind of payment, to the primes (or, under a
    social impact bond, to the investors, who pay the primes), on to
    sub-primes where the store has such measures, and out to
    front-line delivery, overhead and margin. A loss (negative margin) enters
    as money drawn from the primes' reserves. Means over replications.

    Raises:
        FigureDataMissing: The store lacks the primes' income and cost measures.

    """
    results = read_batch(store)
    _require(results, "prime_delivery_cost", "prime_overhead", "prime_margin")
    labels, note = _shown(results, MAX_SANKEYS)
    fig = go.Figure()
    k = len(labels)
    gap = 0.06 if k > 1 else 0.0
    for i, label in enumerate(labels):
        flows = money_flows(results, label)
        nodes: list[str] = []
        for a, b, _ in flows:
            nodes += [n for n in (a, b) if n not in nodes]
        totals = {n: max(sum(v for a, _, v in flows if a == n),
                         sum(v for _, b, v in flows if b == n)) for n in nodes}
        top, bottom = 1 - i / k, 1 - (i + 1) / k + gap
        fig.add_trace(go.Sankey(
            domain=dict(x=[0, 1], y=[bottom, top - 0.04 if k > 1 else top]),
            arrangement="snap", valueformat=",.0f",
            node=dict(label=[f"{n} {_money_text(totals[n])}" for n in nodes], pad=14, thickness=16,
                      color=[_NODE_COLOURS.get(n, "#7f7f7f") for n in nodes],
                      hovertemplate="%{label}<extra></extra>"),
            link=dict(source=[nodes.index(a) for a, _, _ in flows],
                      target=[nodes.index(b) for _, b, _ in flows],
                      value=[v for _, _, v in flows],
                      customdata=[_money_text(v) for _, _, v in flows],
                      color=["rgba(192,0,0,0.25)" if "loss" in a else "rgba(46,117,182,0.25)"
                             for a, _, _ in flows],
                      hovertemplate="%{source.label} → %{target.label}: %{customdata}"
                                    "<extra></extra>"),
            name=label,
        ))
        fig.add_annotation(text=f"<b>{label}</b>", x=0, y=top, xref="paper", yref="paper",
                           xanchor="left", yanchor="bottom" if k == 1 else "top",
                           showarrow=False)
    return _layout(fig, "Money through the supply chain (mean over replications)",
                   140 + 330 * k, note)


# --- market health ---------------------------------------------------------------------------

def _market_columns(monthly: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    cols = list(monthly.columns)
    total = series("active_subprimes").key
    active = ([total] if total in cols else []) + [
        m.key for m in members("active_subprimes_{sector}", cols)]
    events = [k for k in MARKET_EVENTS if k in cols]
    cash = [m.key for m in members("cash_{prime name}", cols)]
    return active, events, cash


def market_health_figure(store: Store) -> go.Figure:
    """Show the market over time: active sub-primes, exits and hand-backs, primes' cash.

    Panels for what the monthly series hold: active sub-primes
    (``active_subprimes`` or the sum of ``active_subprimes_<sector>``);
    cumulative counts of the monthly events of :data:`MARKET_EVENTS`
    (sub-prime exits and entries, contracts handed back); and each prime's cash
    (``cash_<prime>``), where a line below zero is a prime that could not
    carry its losses. Means over replications.

    Raises:
        FigureDataMissing: The monthly series hold none of these.

    """
    results = read_batch(store)
    active, events, cash = _market_columns(results.monthly)
    if not (active or events or cash):
        raise FigureDataMissing("the monthly series have no sub-prime, hand-back or cash columns")
    labels, note = _shown(results, MAX_PANELS)
    colours = scenario_colours(results.labels)
    panels = ([("active", series("active_subprimes").label)] if active else []) + (
        [("events", "Cumulative market events")] if events else []) + (
        [("cash", "Primes' cash (£m)")] if cash else [])
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True,
                        subplot_titles=[t for _, t in panels], vertical_spacing=0.1)
    means = results.monthly_means(active + events + cash)
    dashes = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    for row, (panel, _) in enumerate(panels, start=1):
        for label in labels:
            data = means[means["label"] == label]
            first = True
            if panel == "active":
                total = "active_subprimes" if "active_subprimes" in active else None
                y = data[total] if total else data[active].sum(axis=1, min_count=1)
                lines = [(series("active_subprimes").label.lower(), y)]
            elif panel == "events":
                lines = [(series(c).label.lower(), data[c].fillna(0).cumsum())
                         for c in events if data[c].notna().any()]
            else:
                lines = [(series(c).member or c, data[c] / 1e6) for c in cash
                         if data[c].notna().any()]
            for j, (name, y) in enumerate(lines):
                fig.add_trace(go.Scatter(
                    x=data["month"], y=y, mode="lines", name=name,
                    legendgroup=label, legendgrouptitle_text=label if first else None,
                    line=dict(color=colours[label], dash=dashes[j % len(dashes)]),
                    hovertemplate=f"{label}<br>{name}, month %{{x}}: %{{y:,.2f}}<extra></extra>",
                ), row=row, col=1)
                first = False
        if panel == "cash":
            fig.add_hline(y=0, line=dict(color="#c00000", width=1), row=row, col=1)
    fig.update_xaxes(title_text=series("month").label.lower(), row=len(panels), col=1)
    return _layout(fig, "Market health over time", 200 + 260 * len(panels), note)


# --- equality --------------------------------------------------------------------------------


def equality_figure(store: Store) -> go.Figure:
    """Outcomes and effort by risk band and protected group, per scenario.

    Top: true impact on reoffending (``true_impact_pp_<group>``); bottom:
    hours per engaged person (``hours_per_engaged_person_<group>``); bars
    are means with 95% intervals over replications.

    Raises:
        FigureDataMissing: The store has neither measure for any group.

    """
    results = read_batch(store)
    panels = [(pattern, family(pattern).title) for pattern in
              ("true_impact_pp_{g}", "hours_per_engaged_person_{g}")
              if any(results.present(m.key) for m in members(pattern))]
    if not panels:
        raise FigureDataMissing("the store has no outcomes or effort by group")
    labels, note = _shown(results, MAX_PANELS * 2)
    colours = scenario_colours(results.labels)
    fig = make_subplots(rows=len(panels), cols=1, subplot_titles=[t for _, t in panels],
                        vertical_spacing=0.16)
    for row, (pattern, _) in enumerate(panels, start=1):
        groups = [m for m in members(pattern) if results.present(m.key)]
        for label in labels:
            ivs = [results.stat(label, m.key) for m in groups]
            errs = [_err(iv) for iv in ivs]
            fig.add_trace(go.Bar(
                x=[GROUPS[m.member or m.key] for m in groups], y=[iv.mean for iv in ivs], name=label,
                legendgroup=label, showlegend=row == 1, marker_color=colours[label],
                error_y=dict(type="data", symmetric=False, array=[e[0] for e in errs],
                             arrayminus=[e[1] for e in errs]),
                hovertemplate=f"{label}<br>%{{x}}: %{{y:.2f}}<extra></extra>",
            ), row=row, col=1)
    fig.update_layout(barmode="group")
    return _layout(fig, "Equality: outcomes and effort by risk band and protected group",
                   200 + 300 * len(panels), note)


# --- sensitivity -----------------------------------------------------------------------------


def sensitivity_figure(store: Store) -> go.Figure:
    """Sensitivity indices from ``sensitivity.csv`` as bars, one panel per measure.

    Sobol (total ``ST`` and first-order ``S1`` indices with their confidence
    half-widths) or Morris (``mu_star`` with ``mu_star_conf``).

    Raises:
        FigureDataMissing: No ``sensitivity.csv``, or one without recognised columns.

    """
    results = read_batch(store)
    sens = results.sensitivity
    if sens is None:
        raise FigureDataMissing("the batch has no sensitivity.csv (not a sensitivity design)")
    if not {"measure", "parameter"} <= set(sens.columns):
        raise FigureDataMissing("sensitivity.csv has no measure and parameter columns")
    if "ST" in sens.columns:
        bars = [("ST", "ST_conf", "total (ST)", "#2e75b6"), ("S1", "S1_conf", "first order (S1)",
                                                              "#9dc3e6")]
        sort_by, method = "ST", "Sobol indices"
    elif "mu_star" in sens.columns:
        bars = [("mu_star", "mu_star_conf", "μ*", "#2e75b6")]
        sort_by, method = "mu_star", "Morris elementary effects"
    else:
        raise FigureDataMissing("sensitivity.csv has neither Sobol (ST) nor Morris (mu_star) "
                                "columns")
    measures = list(dict.fromkeys(sens["measure"].astype(str)))[:MAX_PANELS]
    fig = make_subplots(rows=len(measures), cols=1,
                        subplot_titles=[describe(m)[0] for m in measures],
                        vertical_spacing=min(0.12, 0.4 / len(measures)))
    for row, key in enumerate(measures, start=1):
        data = sens[sens["measure"].astype(str) == key].sort_values(sort_by)
        for col, conf, name, colour in bars:
            if col not in data:
                continue
            err = data[conf].to_numpy(float) if conf in data else None
            fig.add_trace(go.Bar(
                y=data["parameter"].astype(str), x=data[col], name=name, orientation="h",
                legendgroup=col, showlegend=row == 1, marker_color=colour,
                error_x=dict(type="data", array=err) if err is not None else None,
            ), row=row, col=1)
    fig.update_layout(barmode="group")
    n_params = int(sens.groupby("measure")["parameter"].nunique().max())
    return _layout(fig, f"Sensitivity: {method}", 160 + len(measures) * (60 + 45 * n_params),
                   None if len(set(sens["measure"])) <= MAX_PANELS
                   else f"first {MAX_PANELS} measures of sensitivity.csv")
