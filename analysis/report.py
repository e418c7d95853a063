"""A self-contained HTML report of a batch: what a commissioner opens and sends on.

One file that works offline: plotly.js is embedded once, every figure comes
with a short reading generated from the batch's own numbers, then the
comparison table with 95% intervals, and everything needed to reproduce the
batch (pbrsim version, root seed, seeds per replication, the resolved scenario
definitions).
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import yaml
from pbrsim.analysis import figures as fg
from pbrsim.analysis.tables import (
    KEY_MEASURES,
    BatchResults,
    comparison_table,
    difference_interval,
    format_interval,
    format_value,
    mean_interval,
    read_batch,
)

__all__ = ["Section", "build_sections", "write_report"]

logger = logging.getLogger(__name__)

#: Scenarios spelt out one by one in a reading; beyond this only the extremes are named.
MAX_NAMED = 4
#: Scenarios beyond which the all-measures appendix is left to comparison.csv.
MAX_APPENDIX_SCENARIOS = 6
#: Scenarios shown as columns of a table; beyond this, scenarios are rows (at most MAX_TABLE_ROWS).
MAX_TABLE_COLUMNS = 6
MAX_TABLE_ROWS = 100


@dataclass
class Section:
    """One figure of the report with its reading, or the note saying why it is absent."""

    key: str
    title: str
    figure: go.Figure | None
    reading: list[str] = field(default_factory=list)
    note: str | None = None


class _Reader:
    """Numbers a reading needs, with plain-English formatting."""

    def __init__(self, results: BatchResults, reference: str) -> None:
        self.r = results
        self.ref = reference
        self.labels = results.labels

    def mean(self, label: str, measure: str) -> float:
        return self.r.stat(label, measure).mean if self.r.present(measure) else math.nan

    def v(self, measure: str, value: float) -> str:
        return format_value(measure, value)

    def with_ci(self, label: str, measure: str) -> str:
        iv = self.r.stat(label, measure)
        text = format_value(measure, iv.mean)
        if math.isfinite(iv.low):
            text += f" (95% CI {format_interval(measure, iv.low, iv.high)})"
        return text

    def diff(self, label: str, measure: str, other: str | None = None) -> str:
        """``label`` minus ``other`` (default the reference) with its interval, in words."""
        other = other or self.ref
        paired = self.r.paired_with(label, other)
        x, y = self.r.values(label, measure), self.r.values(other, measure)
        if paired:
            y = y.reindex(x.index)
        iv = difference_interval(x.to_numpy(), y.to_numpy(), paired)
        if not math.isfinite(iv.mean):
            return "n/a"
        text = format_value(measure, iv.mean, difference=True)
        if math.isfinite(iv.low):
            text += (f" (95% CI {format_interval(measure, iv.low, iv.high, True)}, "
                     f"{'paired' if paired else 'Welch'}")
            text += (")" if iv.low > 0 or iv.high < 0
                     else "; not distinguishable from no difference)")
        return text

    def within(self, label: str, a: str, b: str) -> str:
        """Measure ``a`` minus measure ``b`` within one scenario's runs, with its interval."""
        iv = mean_interval((self.r.values(label, a) - self.r.values(label, b)).to_numpy())
        text = f"{iv.mean:+.2f} pp"
        if math.isfinite(iv.low):
            text += f" (95% CI {iv.low:+.2f} to {iv.high:+.2f} pp"
            text += ")" if iv.low > 0 or iv.high < 0 else "; not distinguishable from no gap)"
        return text.replace("-", "−")

    def same(self, measure: str) -> bool:
        """Whether every scenario has the same mean of ``measure``."""
        values = [v for _, v in self.ranked(measure)]
        return len(values) > 1 and _same(values)

    def ranked(self, measure: str) -> list[tuple[str, float]]:
        """Scenarios with a defined mean of ``measure``, largest first."""
        pairs = [(label, self.mean(label, measure)) for label in self.labels]
        return sorted([p for p in pairs if math.isfinite(p[1])], key=lambda p: -p[1])


def _same(values: list[float]) -> bool:
    top = max(abs(v) for v in values)
    return max(values) - min(values) <= 1e-9 * max(1.0, top)


def _times(a: float, b: float) -> str:
    ratio = a / b
    return f"{ratio:.1f} times" if ratio >= 1.05 else f"{100 * ratio:.0f}% of"


# --- readings --------------------------------------------------------------------------------


def _read_outcome_cost(rd: _Reader) -> list[str]:
    impact = rd.ranked("true_impact_pp")
    cost = rd.ranked("commissioner_outlay")
    out: list[str] = []
    if len(impact) == 1:
        label = impact[0][0]
        return [f"{label} reduces reoffending by {rd.with_ci(label, 'true_impact_pp')} for an "
                f"outlay of {rd.with_ci(label, 'commissioner_outlay')}."]
    best, worst = impact[0], impact[-1]
    if rd.same("true_impact_pp"):
        out.append(f"Every design achieves the same true impact, "
                   f"{rd.with_ci(best[0], 'true_impact_pp')}: with these providers' strategies "
                   "the contract does not change what reduces reoffending.")
    else:
        out.append(f"{best[0]} reduces reoffending most, by "
                   f"{rd.with_ci(best[0], 'true_impact_pp')}; {worst[0]} least, by "
                   f"{rd.with_ci(worst[0], 'true_impact_pp')}: a difference of "
                   f"{rd.diff(best[0], 'true_impact_pp', worst[0])}.")
    if cost:
        out.append(f"Outlay runs from {rd.v('commissioner_outlay', cost[-1][1])} ({cost[-1][0]}) "
                   f"to {rd.v('commissioner_outlay', cost[0][1])} ({cost[0][0]}).")
    others = [label for label in rd.labels if label != rd.ref][:MAX_NAMED]
    for label in others:
        text = (f"Against {rd.ref}, {label} changes the outlay by "
                f"{rd.diff(label, 'commissioner_outlay')}")
        if not rd.same("true_impact_pp"):
            text += f" and the true impact by {rd.diff(label, 'true_impact_pp')}"
        out.append(text + ".")
    per = [p for p in rd.ranked("cost_per_reoffence_avoided_true") if p[1] > 0]
    if per:
        out.append(f"The lowest cost per reoffence truly avoided is "
                   f"{rd.v('cost_per_reoffence_avoided_true', per[-1][1])}, under {per[-1][0]}"
                   + (f"; the highest {rd.v('cost_per_reoffence_avoided_true', per[0][1])}, "
                      f"under {per[0][0]}." if len(per) > 1 else "."))
    return out


def _read_measurement(rd: _Reader) -> list[str]:
    errors = []
    for label in rd.labels:
        m, t = rd.mean(label, "measured_impact_pp"), rd.mean(label, "true_impact_pp")
        if math.isfinite(m) and math.isfinite(t):
            errors.append((label, m - t, m, t))
    if not errors:
        return []
    same = len(errors) > 1 and _same([e[1] for e in errors])
    if same:  # the error comes from the counterfactual alone: quote the reference
        label, err, m, t = next((e for e in errors if e[0] == rd.ref), errors[0])
    else:
        label, err, m, t = max(errors, key=lambda e: abs(e[1]))
    where = "Under every design" if same else f"Under {label}"
    iv = rd.r.stat(label, "measurement_error_pp")
    noise = math.isfinite(iv.low) and iv.low <= 0 <= iv.high
    quote = f"measured {m:.2f} pp against true {t:.2f} pp"
    out = []
    if noise:
        ci = format_interval("measurement_error_pp", iv.low, iv.high, True)
        out.append(f"{where} the measured impact is close to the true impact ({quote}): the "
                   f"error, {err:+.2f} pp (95% CI {ci}), is within the noise of {iv.n} "
                   f"replications.".replace("-", "−").replace("−−", "−"))
    else:
        direction = "overstates" if err > 0 else "understates"
        consequence = ("it pays for impact that did not happen" if err > 0 else
                       "providers are credited with less than they achieved")
        prefix = (f"{where} the measure" if same
                  else f"The counterfactual misleads most under {label}: the measure")
        out.append(f"{prefix} {direction} the true impact by {abs(err):.2f} pp ({quote}), so "
                   f"{consequence}".replace("-", "−")
                   + (": the error comes from the counterfactual, not from the design." if same
                      else "."))
    if not same and len(errors) > 1:
        best = min(errors, key=lambda e: abs(e[1]))
        out.append(f"The measure is closest to the truth under {best[0]} "
                   f"({best[1]:+.2f} pp).".replace("-", "−"))
    return out


def _band_hours(rd: _Reader, label: str) -> dict[str, float]:
    return {b: rd.mean(label, f"hours_per_engaged_person_{b}") for b in fg.BANDS
            if math.isfinite(rd.mean(label, f"hours_per_engaged_person_{b}"))}


_BAND_PEOPLE = {"low": "low-risk", "medium": "medium-risk", "high": "high-risk",
                "very_high": "very high risk"}


def _read_effort(rd: _Reader) -> list[str]:
    out: list[str] = []
    if rd.r.present("creaming_index") and not rd.same("creaming_index"):
        top = rd.ranked("creaming_index")[0][0]
        out.append(f"{top} creams most: its creaming index (effort on the most against the least "
                   f"profitable people) is {rd.with_ci(top, 'creaming_index')}.")
    designs = []  # (label, hours by band, caseload-weighted mean, very high risk / mean)
    for label in rd.labels:
        hours = _band_hours(rd, label)
        if len(hours) < 2:
            continue
        weights = {b: rd.mean(label, f"share_{b}") for b in hours}
        if all(math.isfinite(w) for w in weights.values()) and sum(weights.values()) > 0:
            mean = sum(hours[b] * w for b, w in weights.items()) / sum(weights.values())
        else:
            mean = sum(hours.values()) / len(hours)
        ratio = rd.mean(label, "effort_ratio_very_high")
        if not math.isfinite(ratio) and "very_high" in hours and mean > 0:
            ratio = hours["very_high"] / mean
        designs.append((label, hours, mean, ratio))
    if not designs:
        return out or ["The store has no hours by risk band to compare."]

    def spread(d: tuple) -> float:
        hours = d[1]
        low = min(hours.values())
        return max(hours.values()) / low if low > 0 else math.inf

    widest = max(designs, key=spread)
    if spread(widest) < 1.05:
        out.append(f"Every design gives every risk band about the same hours per engaged person "
                   f"({widest[2]:.1f} h over the service): no sign of creaming or parking.")
        return out
    hours = widest[1]
    most, least = max(hours, key=hours.__getitem__), min(hours, key=hours.__getitem__)
    times = (f"{spread(widest):.1f} times the hours of" if math.isfinite(spread(widest))
             else "hours where none go to")
    out.append(f"Under {widest[0]}, {_BAND_PEOPLE[most]} people get {times} "
               f"{_BAND_PEOPLE[least]} people ({hours[most]:.1f} h against {hours[least]:.1f} h "
               "per engaged person).")
    even = min(designs, key=spread)
    if even[0] != widest[0]:
        out.append(f"{even[0]} spreads effort most evenly: its bands are within "
                   f"{100 * (spread(even) - 1):.0f}% of each other.")
    ratios = [(d[0], d[3]) for d in designs if math.isfinite(d[3])]
    if ratios:
        low = min(ratios, key=lambda r: r[1])
        high = max(ratios, key=lambda r: r[1])
        if low[1] < 0.95:
            out.append(f"Effort on very high risk people is {100 * low[1]:.0f}% of the mean under "
                       f"{low[0]}, the lowest of the designs: the people who most need the "
                       "service are parked.")
        else:
            out.append(f"No design gives very high risk people less than the average effort: "
                       f"theirs is {100 * low[1]:.0f}% of the mean under {low[0]} and "
                       f"{100 * high[1]:.0f}% under {high[0]}.")
    return out


def _read_incentives(rd: _Reader) -> list[str]:
    out = []
    if rd.r.present("creaming_index"):
        top = rd.ranked("creaming_index")
        out.append(f"{top[0][0]} creams most, with a creaming index of "
                   f"{rd.with_ci(top[0][0], 'creaming_index')}; {top[-1][0]} least, with "
                   f"{rd.v('creaming_index', top[-1][1])} (1 means no creaming).")
    if rd.r.present("parking_share"):
        top = rd.ranked("parking_share")
        label = top[0][0]
        out.append(f"{label} parks most: {rd.with_ci(label, 'parking_share')} of engaged people get "
                   f"less than half the mean effort, against {rd.v('parking_share', top[-1][1])} "
                   f"under {top[-1][0]}.")
        bands = {b: rd.mean(label, f"parking_share_{b}") for b in fg.BANDS}
        bands = {b: v for b, v in bands.items() if math.isfinite(v)}
        if bands and top[0][1] > 0:
            worst = max(bands, key=bands.__getitem__)
            out.append(f"Under {label} the most parked are {_BAND_PEOPLE[worst]} people: "
                       f"{100 * bands[worst]:.0f}% of them.")
    if rd.r.present("risk_transfer_ratio"):
        top = rd.ranked("risk_transfer_ratio")
        value = top[0][1]
        verdict = ("more than their share: risk is pushed down the supply chain" if value > 1
                   else "no more than their share")
        out.append(f"Risk lands hardest on sub-primes under {top[0][0]}: they carry "
                   f"{value:.2f} times their share of income at risk ({verdict}).")
    return out


def _at_risk_share(rd: _Reader, label: str) -> float:
    """Share of the primes' potential income that depended on measured outcomes.

    Outcome payments plus withheld fees not earned back, over income plus
    those unearned fees (pot payments come out of withheld fees, so withheld
    fees earned back are counted once, as outcome payments).
    """
    income = rd.mean(label, "prime_income")
    outcomes = rd.mean(label, "paid_outcomes")
    lost = rd.mean(label, "withheld_fees_not_earned")
    lost = lost if math.isfinite(lost) else 0.0
    if not (math.isfinite(income) and math.isfinite(outcomes)) or income + lost <= 0:
        return math.nan
    return (outcomes + lost) / (income + lost)


def _read_money(rd: _Reader) -> list[str]:
    out = []
    dead = rd.ranked("deadweight_payments")
    if dead and dead[0][1] > 0:
        label, value = dead[0]
        ref_value = rd.mean(rd.ref, "deadweight_payments")
        text = f"{label} pays {rd.v('deadweight_payments', value)} for deadweight (outcomes that " \
               f"would have happened anyway)"
        if label != rd.ref and math.isfinite(ref_value):
            text += (f", {_times(value, ref_value)} {rd.ref}" if ref_value > 0
                     else f", where {rd.ref} pays nothing for deadweight")
        out.append(text + ".")
    for label in rd.labels[:MAX_NAMED]:
        outlay = rd.mean(label, "commissioner_outlay")
        delivery = rd.mean(label, "prime_delivery_cost")
        overhead = rd.mean(label, "prime_overhead")
        margin = rd.mean(label, "prime_margin")
        if not all(math.isfinite(x) for x in (outlay, delivery, overhead, margin)):
            continue
        text = (f"Under {label} the commissioner pays {rd.v('commissioner_outlay', outlay)}; the "
                f"primes spend {rd.v('prime_delivery_cost', delivery)} on front-line delivery and "
                f"{rd.v('prime_overhead', overhead)} on overhead, and ")
        text += (f"keep a margin of {rd.v('prime_margin', margin)}." if margin >= 0
                 else f"lose {rd.v('prime_margin', -margin)}, met from their own reserves.")
        out.append(text)
    front = rd.ranked("front_line_share")
    if len(front) > 1 and not rd.same("front_line_share"):
        out.append(f"The share of the commissioner's money that reaches front-line delivery is "
                   f"highest under {front[0][0]} ({rd.v('front_line_share', front[0][1])}) and "
                   f"lowest under {front[-1][0]} ({rd.v('front_line_share', front[-1][1])}).")
    risk = [(label, _at_risk_share(rd, label)) for label in rd.labels]
    risk = [p for p in risk if math.isfinite(p[1])]
    if risk:
        top = max(risk, key=lambda p: p[1])
        low = min(risk, key=lambda p: p[1])
        if top[1] > 0:
            text = (f"Where risk lands: under {top[0]}, {100 * top[1]:.0f}% of the primes' "
                    "income depends on measured outcomes, so the providers carry the risk that the "
                    "service does not work")
            if low[0] != top[0]:
                text += (f"; under {low[0]}, {100 * low[1]:.0f}%, so the commissioner carries "
                         "most of it")
            out.append(text + ".")
    return out


def _read_market(rd: _Reader) -> list[str]:
    out = []
    for measure, words in (("subprime_exits", "sub-primes leave the market"),
                           ("subprime_entries", "sub-primes enter"),
                           ("prime_handbacks", "primes hand back their contracts")):
        if rd.r.present(measure):
            label, value = rd.ranked(measure)[0]
            out.append(f"Most {words} under {label}: {value:.1f} on average.")
    monthly = rd.r.monthly
    cash = [c for c in monthly.columns if c.startswith("cash_")]
    if cash:
        means = rd.r.monthly_means(cash)
        lows = []
        for label in rd.labels:
            data = means[means["label"] == label]
            if data.empty:
                continue
            stacked = data.set_index("month")[cash].stack()
            if stacked.empty:
                continue
            (month, col) = stacked.idxmin()
            lows.append((label, float(stacked.min()), col.removeprefix("cash_"), int(month)))
        if lows:
            label, value, prime, month = min(lows, key=lambda x: x[1])
            out.append(f"Cash runs lowest under {label}: {prime} is down to "
                       f"{format_value('cash', value)} in month {month} (mean over replications)"
                       + (", below zero: it could not have carried its losses." if value < 0
                          else "."))
    if rd.r.present("primes_in_deficit"):
        worst = []
        for label in rd.labels:
            values = rd.r.values(label, "primes_in_deficit").dropna()
            if len(values):
                worst.append((label, int((values > 0).sum()), len(values)))
        hit = [w for w in worst if w[1] > 0]
        if hit:
            out += [f"Under {label}, a prime ran out of cash in {k} of {n} replications."
                    for label, k, n in hit[:MAX_NAMED]]
        elif worst:
            out.append("No prime ran out of cash in any replication of any design.")
    return out


_PEOPLE = {"low": "low-risk people", "medium": "medium-risk people", "high": "high-risk people",
           "very_high": "very high risk people", "female": "women", "male": "men",
           "age_18_24": "people aged 18-24", "age_25_39": "people aged 25-39",
           "age_40_plus": "people aged 40 and over"}


def _read_equality(rd: _Reader) -> list[str]:
    out = []
    protected = [g for g in ("female", "male", "age_18_24", "age_25_39", "age_40_plus")
                 if rd.r.present(f"true_impact_pp_{g}")]
    gaps = []
    for label in rd.labels:
        values = {g: rd.mean(label, f"true_impact_pp_{g}") for g in protected}
        values = {g: v for g, v in values.items() if math.isfinite(v)}
        if len(values) >= 2:
            hi = max(values, key=values.__getitem__)
            lo = min(values, key=values.__getitem__)
            gaps.append((label, values[hi] - values[lo], hi, values[hi], lo, values[lo]))
    if gaps:
        label, gap, hi, vhi, lo, vlo = max(gaps, key=lambda g: g[1])
        where = "Under every design" if _same([g[1] for g in gaps]) else f"Under {label}"
        out.append(f"{where}, the true impact differs most between {_PEOPLE[hi]} "
                   f"({vhi:.2f} pp) and {_PEOPLE[lo]} ({vlo:.2f} pp): "
                   f"{rd.within(label, f'true_impact_pp_{hi}', f'true_impact_pp_{lo}')}.")
        if "female" in protected and "male" in protected:
            sex = [(label, rd.mean(label, "true_impact_pp_female")
                    - rd.mean(label, "true_impact_pp_male")) for label in rd.labels]
            sex = [s for s in sex if math.isfinite(s[1])]
            if sex:
                s = max(sex, key=lambda x: abs(x[1]))
                where = ("Under every design" if _same([x[1] for x in sex])
                         else f"Women and men differ most under {s[0]}, where")
                out.append(f"{where} the true impact for women minus that for men is "
                           f"{rd.within(s[0], 'true_impact_pp_female', 'true_impact_pp_male')}.")
    bands = [(label, {b: rd.mean(label, f"true_impact_pp_{b}") for b in fg.BANDS})
             for label in rd.labels]
    very_high = [(label, v["very_high"]) for label, v in bands if math.isfinite(v["very_high"])]
    if len(very_high) > 1 and not _same([v for _, v in very_high]):
        low = min(very_high, key=lambda x: x[1])
        high = max(very_high, key=lambda x: x[1])
        out.append(f"Very high risk people gain least under {low[0]} (true impact "
                   f"{low[1]:.2f} pp) and most under {high[0]} ({high[1]:.2f} pp)."
                   .replace("-", "−"))
    hours = [h for label in rd.labels if (h := _band_hours(rd, label))]
    if hours and all(max(h.values()) - min(h.values()) < 0.01 * max(h.values()) for h in hours):
        out.append("Every band gets the same hours per engaged person under every design, so "
                   "these gaps come from who responds to the service, not from who gets it.")
    return out


def _read_sensitivity(rd: _Reader) -> list[str]:
    sens = rd.r.sensitivity
    if sens is None:
        return []
    col = "ST" if "ST" in sens.columns else "mu_star"
    name = "total Sobol index" if col == "ST" else "Morris μ*"
    out = []
    for measure, data in list(sens.groupby("measure", sort=False))[:fg.MAX_PANELS]:
        data = data.sort_values(col, ascending=False)
        first = data.iloc[0]
        text = (f"For {measure}, {first['parameter']} matters most ({name} "
                f"{first[col]:.2f})")
        if len(data) > 1:
            second = data.iloc[1]
            text += f", then {second['parameter']} ({second[col]:.2f})"
        if col == "ST":
            small = data.loc[data[col] < 0.05, "parameter"].astype(str).tolist()
            if small:
                text += f"; {', '.join(small)} hardly matter{'s' if len(small) == 1 else ''}"
        out.append(text + ".")
    return out


FIGURES: tuple[tuple[str, str, Callable[[BatchResults], go.Figure],
                     Callable[[_Reader], list[str]]], ...] = (
    ("outcomes", "Outcomes against cost", fg.outcome_cost_figure, _read_outcome_cost),
    ("measurement", "Measured against true impact", fg.measured_vs_true_figure, _read_measurement),
    ("effort", "Effort by risk band over time: creaming and parking", fg.effort_by_band_figure,
     _read_effort),
    ("incentives", "Creaming, parking and risk transfer", fg.incentive_effects_figure,
     _read_incentives),
    ("money", "Money through the supply chain", fg.money_flow_figure, _read_money),
    ("market", "Market health", fg.market_health_figure, _read_market),
    ("equality", "Equality: outcomes and effort by group", fg.equality_figure, _read_equality),
    ("sensitivity", "Sensitivity of the results to the parameters", fg.sensitivity_figure,
     _read_sensitivity),
)


def build_sections(store_dir: Path | BatchResults, reference: str | None = None) -> list[Section]:
    """Build the report's figure sections, each with its reading or the reason it is absent.

    Args:
        store_dir: The results store.
        reference: Scenario the readings compare with (default as in
            :func:`~analysis.tables.comparison_table`).

    """
    results = read_batch(store_dir)
    reader = _Reader(results, results.reference_label(reference))
    sections = []
    for key, title, make, read in FIGURES:
        try:
            figure = make(results)
        except fg.FigureDataMissing as exc:
            sections.append(Section(key, title, None, note=f"Not shown: {exc}."))
            continue
        sections.append(Section(key, title, figure, read(reader)))
    return sections


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; color: #222; margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 4rem; line-height: 1.5; }
h1 { font-size: 1.9rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.4rem; border-bottom: 2px solid #1f4e79; padding-bottom: 0.2rem;
     margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin-top: 1.5rem; }
.meta { color: #555; margin-top: 0; }
.reading { background: #f3f7fb; border-left: 4px solid #2e75b6; padding: 0.6rem 1rem; }
.reading p { margin: 0.3rem 0; }
.note { color: #7a4b00; font-style: italic; }
nav ol { columns: 2; }
table { border-collapse: collapse; font-family: Helvetica, Arial, sans-serif; font-size: 0.85rem;
        margin: 0.8rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; vertical-align: top; }
th { background: #eef3f8; text-align: left; }
td.num { text-align: right; white-space: nowrap; }
td .ci, td .diff { display: block; color: #555; font-size: 0.8rem; }
.table-wrap { overflow-x: auto; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.6rem; font-size: 0.75rem;
      overflow-x: auto; white-space: pre-wrap; }
figure { margin: 1rem 0; page-break-inside: avoid; break-inside: avoid; }
@media print {
  main { max-width: none; padding: 0; }
  nav { display: none; }
  section { page-break-before: auto; }
  h2 { page-break-after: avoid; }
  .table-wrap { overflow: visible; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _cell(row: pd.Series, measure: str) -> str:
    text = f"{_e(format_value(measure, row['mean']))}"
    text += f'<span class="ci">{_e(format_interval(measure, row["ci_low"], row["ci_high"]))}</span>'
    if row["difference_method"] != "reference" and math.isfinite(row["difference"]):
        diff = format_value(measure, row["difference"], difference=True)
        ci = format_interval(measure, row["difference_ci_low"], row["difference_ci_high"], True)
        text += (f'<span class="diff">Δ {_e(diff)} ({_e(ci)}, '
                 f'{_e(row["difference_method"])})</span>')
    return text


def _table_html(results: BatchResults, table: pd.DataFrame, measures: list[tuple[str, str]],
                differences: bool) -> str:
    """Measures down, scenarios across; for many scenarios (a sweep), the other way round."""
    indexed = table.set_index(["measure", "scenario"])
    reps = results.metrics.groupby("label")["replication"].nunique()

    def cell(measure: str, label: str) -> str:
        row = indexed.loc[(measure, label)]
        if not differences:
            row = row.copy()
            row["difference_method"] = "reference"
        return f'<td class="num">{_cell(row, measure)}</td>'

    def scenario(label: str) -> str:
        return f"{_e(label)} (n={int(reps.get(label, 0))})"

    if len(results.labels) <= MAX_TABLE_COLUMNS:
        head = "".join(f"<th>{scenario(label)}</th>" for label in results.labels)
        rows = [f"<tr><th>{_e(text)}</th>{''.join(cell(m, label) for label in results.labels)}"
                "</tr>" for m, text in measures]
        first = "measure"
    else:
        shown = results.labels[:MAX_TABLE_ROWS]
        head = "".join(f"<th>{_e(text)}</th>" for _, text in measures)
        rows = [f"<tr><th>{scenario(label)}</th>{''.join(cell(m, label) for m, _ in measures)}"
                "</tr>" for label in shown]
        if len(results.labels) > len(shown):
            rows.append(f'<tr><td colspan="{len(measures) + 1}" class="note">'
                        f"{len(results.labels) - len(shown)} more scenarios in comparison.csv"
                        "</td></tr>")
        first = "scenario"
    return (f'<div class="table-wrap"><table><thead><tr><th>{first}</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _comparison_html(results: BatchResults, table: pd.DataFrame) -> str:
    ref = table.attrs["reference"]
    methods = sorted(set(table.loc[table["scenario"] != ref, "difference_method"]))
    method_text = {
        "paired": "paired: replication by replication, since every scenario's replication r "
                  "ran on the same seed (common random numbers)",
        "Welch": "Welch: difference of means with unequal variances, where the scenarios' "
                 "replications do not match",
    }
    key = [(m, t) for m, t in KEY_MEASURES if results.present(m)]
    parts = [
        f"<p>Each cell: mean over replications, its 95% t-interval (undefined with one "
        f"replication), and Δ, the difference from <strong>{_e(ref)}</strong> with its 95% "
        f"interval ({'; '.join(_e(method_text[m]) for m in methods) or 'no other scenario'}).</p>",
        _table_html(results, table, key, True),
        f"<p>All {len(results.measures)} measures are in the appendix and, with every "
        "difference, in <code>comparison.csv</code> (written by <code>pbrsim report</code>).</p>",
    ]
    return "\n".join(parts)


def _appendix_html(results: BatchResults, table: pd.DataFrame) -> str:
    if len(results.labels) > MAX_APPENDIX_SCENARIOS:
        return (f"<p>{len(results.labels)} scenarios: too many to list here; see "
                "<code>comparison.csv</code>.</p>")
    measures = [(m, m) for m in results.measures]
    return _table_html(results, table, measures, False)


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out |= _flat(v, f"{prefix}[{i}]")
        return out
    if value == [] or value is None:
        return {}  # absent and empty are the same for a reader
    return {prefix: value}


def _show(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _differences_html(results: BatchResults, definitions: dict[str, object], reference: str) -> str:
    """How each scenario's definition differs from the reference's, field by field."""
    if reference not in definitions or len(definitions) < 2:
        return ""
    base = _flat(definitions[reference])
    rows = []
    for label in results.labels:
        if label == reference or label not in definitions:
            continue
        other = _flat(definitions[label])
        for key in [k for k in {**base, **other} if base.get(k, "–") != other.get(k, "–")]:
            if key == "name" or key == "description":
                continue
            a, b = (_show(d[key]) if key in d else "–" for d in (base, other))
            rows.append(f"<tr><td>{_e(label)}</td><td><code>{_e(key)}</code></td>"
                        f"<td>{_e(a)}</td><td>{_e(b)}</td></tr>")
    if not rows:
        return "<h3>Differences between designs</h3><p>All designs have the same definition.</p>"
    return (f"<h3>How the designs differ from {_e(reference)}</h3><div class=\"table-wrap\"><table>"
            f"<thead><tr><th>scenario</th><th>field</th><th>{_e(reference)}</th><th>this design"
            f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _reproduction_html(results: BatchResults, reference: str) -> str:
    batch = results.batch
    experiment = batch.get("experiment") or {}
    items = [
        ("pbrsim version", batch.get("pbrsim_version", "unknown")),
        ("Results format", f"{batch.get('format')} version {batch.get('format_version')}"),
        ("Root seed", batch.get("root_seed", "unknown")),
        ("Experiment", experiment.get("name", "unnamed")),
        ("Experiment file", experiment.get("file") or "none"),
        ("Reference scenario", batch.get("reference") or "(first scenario)"),
        ("Runs", f"{len(batch.get('runs') or [])} in the batch, {len(results.metrics)} succeeded, "
                 f"{len(results.failed)} failed"),
    ]
    parts = ["<table><tbody>"
             + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
             + "</tbody></table>"]
    seeds = {label: results.seeds(label) for label in results.labels}
    shared = all(s == seeds[results.labels[0]] for s in seeds.values())
    if shared:
        rows = "".join(f"<tr><td>{r}</td><td>{_e(s)}</td></tr>"
                       for r, s in sorted(seeds[results.labels[0]].items()))
        parts.append("<h3>Seeds</h3><p>Every scenario ran the same replications on the same "
                     "seeds (common random numbers):</p>"
                     f"<table><thead><tr><th>replication</th><th>seed</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    else:
        rows = "".join(f"<tr><td>{_e(label)}</td><td>{r}</td><td>{_e(s)}</td></tr>"
                       for label, ss in seeds.items() for r, s in sorted(ss.items()))
        parts.append("<h3>Seeds</h3><table><thead><tr><th>scenario</th><th>replication</th>"
                     f"<th>seed</th></tr></thead><tbody>{rows}</tbody></table>")
    if len(results.failed):
        rows = "".join(
            f"<tr><td>{_e(r.get('scenario', ''))}</td><td>{_e(r.get('replication', ''))}</td>"
            f"<td>{_e(r.get('error', ''))}</td></tr>"
            for r in results.failed.to_dict("records"))
        parts.append("<h3>Failed runs</h3><table><thead><tr><th>scenario</th><th>replication</th>"
                     f"<th>error</th></tr></thead><tbody>{rows}</tbody></table>")
    if experiment.get("definition"):
        definition = json.dumps(experiment["definition"], indent=2, ensure_ascii=False)
        parts.append(f"<h3>Experiment definition</h3><pre>{_e(definition)}</pre>")
    definitions = results.definitions
    parts.append(_differences_html(results, definitions, reference))
    parts.append("<h3>Scenario definitions</h3><p>Each design as the runs resolved it "
                 "(scenario hash in brackets).</p>")
    for label in results.labels:
        key = results.scenario_key(label)
        if label in definitions:
            text = yaml.safe_dump(definitions[label], sort_keys=False, allow_unicode=True,
                                  width=100)
            parts.append(f"<h4>{_e(label)} <small>({_e(key)})</small></h4><pre>{_e(text)}</pre>")
        else:
            parts.append(f'<p class="note">{_e(label)}: no scenarios/{_e(key)}.json in the '
                         "store.</p>")
    return "\n".join(parts)


def write_report(store_dir: Path | BatchResults, out: Path | None = None, *,
                 reference: str | None = None) -> Path:
    """Write one self-contained HTML report of a batch; return its path.

    The file works offline (plotly.js is embedded once) and prints. It holds
    key findings and a reading of each figure generated from the batch's
    numbers, the comparison table with 95% intervals, every measure, and the
    batch's version, seeds and scenario definitions for reproduction. A figure
    whose data the store lacks is replaced by a one-line note.

    Args:
        store_dir: The results store.
        out: Where to write; default ``store_dir/report.html``.
        reference: Scenario to compare with (default ``batch.json``'s
            ``reference``, else the first scenario).

    Raises:
        StoreError: The store cannot be read.

    """
    results = read_batch(store_dir)
    table = comparison_table(results, reference)
    sections = build_sections(results, table.attrs["reference"])
    out = Path(out) if out is not None else results.path / "report.html"
    title = (results.batch.get("experiment") or {}).get("name") or results.path.name
    reps = results.metrics.groupby("label")["replication"].nunique()
    rep_text = (f"{int(reps.iloc[0])} replications each" if reps.nunique() == 1
                else f"{int(reps.min())} to {int(reps.max())} replications")

    figures_html = []
    plotly_js_included = False
    n_figures = 0
    for s in sections:
        body = [f'<section id="{s.key}"><h2>{_e(s.title)}</h2>']
        if s.figure is None:
            body.append(f'<p class="note">{_e(s.note)}</p>')
        else:
            if s.reading:
                body.append('<div class="reading">'
                            + "".join(f"<p>{_e(p)}</p>" for p in s.reading) + "</div>")
            div = s.figure.to_html(full_html=False, include_plotlyjs=not plotly_js_included,
                                   config={"displaylogo": False, "responsive": True},
                                   default_width="100%")
            plotly_js_included = True
            n_figures += 1
            body.append(f"<figure>{div}</figure>")
        body.append("</section>")
        figures_html.append("\n".join(body))

    findings = [s.reading[0] for s in sections if s.figure is not None and s.reading]
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in results.notes)
    nav = "".join(f'<li><a href="#{s.key}">{_e(s.title)}</a></li>' for s in sections)
    doc = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pbrsim {_e(results.batch.get('pbrsim_version', ''))}">
<title>{_e(title)}: pbrsim report</title>
<style>{_CSS}</style>
</head>
<body>
<main data-figures="{n_figures}">
<h1>{_e(title)}</h1>
<p class="meta">{len(results.labels)} contract designs, {rep_text}; pbrsim
{_e(results.batch.get('pbrsim_version', 'unknown'))}, root seed
{_e(results.batch.get('root_seed', 'unknown'))}. Means over replications with 95% intervals.</p>
{notes}
<section id="findings"><h2>Key findings</h2>
<ul>{''.join(f'<li>{_e(f)}</li>' for f in findings) or '<li>No figure could be drawn.</li>'}</ul>
</section>
<nav><h2>Contents</h2><ol><li><a href="#comparison">Comparison of designs</a></li>{nav}
<li><a href="#appendix">All measures</a></li><li><a href="#reproduce">Reproducing these
results</a></li></ol></nav>
<section id="comparison"><h2>Comparison of designs</h2>
{_comparison_html(results, table)}
</section>
{''.join(figures_html)}
<section id="appendix"><h2>All measures</h2>
<p>Mean and 95% interval over replications of every measure the runs recorded.</p>
{_appendix_html(results, table)}
</section>
<section id="reproduce"><h2>Reproducing these results</h2>
{_reproduction_html(results, table.attrs["reference"])}
</section>
</main>
</body>
</html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    logger.info("report written to %s (%d figures)", out, n_figures)
    return out
