"""Readings of a batch: short paragraphs generated from its own numbers, one per figure.

Each ``read_*`` function takes a :class:`Reader` (a batch and its reference
scenario) and returns sentences. Every number is formatted, and every
"better" or "worse" judged, from the catalogue of measures
(:mod:`pbrsim.sim.measures`) through :mod:`pbrsim.analysis.formatting`; every
key named here is looked up in the catalogue, so a misspelt one raises.
"""

from __future__ import annotations

import math

from pbrsim.analysis.batch import BatchResults
from pbrsim.analysis.formatting import describe, format_interval, format_value, verdict
from pbrsim.analysis.intervals import difference_interval, mean_interval
from pbrsim.sim.measures import BAND_WORDS, GROUP_WORDS, members, series

__all__ = [
    "MAX_NAMED",
    "Reader",
    "read_effort",
    "read_equality",
    "read_incentives",
    "read_market",
    "read_measurement",
    "read_money",
    "read_outcome_cost",
    "read_sensitivity",
]

#: Scenarios spelt out one by one in a reading; beyond this only the extremes are named.
MAX_NAMED = 6  # as many as `make compare` compares
#: Measures of sensitivity.csv read at most (as many as its figure shows).
MAX_SENSITIVITY_MEASURES = 6


class Reader:
    """Numbers a reading needs, with plain-English formatting.

    Attributes:
        r: The batch.
        ref: The reference scenario's label.
        labels: Every scenario's label, in the batch's order.

    """

    def __init__(self, results: BatchResults, reference: str) -> None:
        self.r = results
        self.ref = reference
        self.labels = results.labels

    def mean(self, label: str, measure: str) -> float:
        """One scenario's mean of a final metric (NaN where the store has none)."""
        return self.r.stat(label, measure).mean if self.r.present(measure) else math.nan

    def v(self, measure: str, value: float) -> str:
        """Format a value of a final metric."""
        return format_value(measure, value)

    def with_ci(self, label: str, measure: str) -> str:
        """One scenario's mean of a final metric with its 95% interval, in words."""
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
            if iv.low > 0 or iv.high < 0:
                judged = verdict(measure, iv.low, iv.high)  # the catalogue says which way is better
                text += f"; {judged})" if judged else ")"
            else:
                text += "; not distinguishable from no difference)"
        return text

    def within(self, label: str, a: str, b: str) -> str:
        """Measure ``a`` minus measure ``b`` within one scenario's runs, with its interval."""
        iv = mean_interval((self.r.values(label, a) - self.r.values(label, b)).to_numpy())
        text = format_value(a, iv.mean, difference=True)
        if math.isfinite(iv.low):
            text += f" (95% CI {format_interval(a, iv.low, iv.high, True)}"
            text += ")" if iv.low > 0 or iv.high < 0 else "; not distinguishable from no gap)"
        return text

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


def _people(group: str) -> str:
    """The people of a band or group, in a sentence ("very high risk people", "women")."""
    words = GROUP_WORDS[group]
    if group in BAND_WORDS:
        return f"{words} people"
    return f"people {words}" if words.startswith("aged") else words


def _times(a: float, b: float) -> str:
    ratio = a / b
    return f"{ratio:.1f} times" if ratio >= 1.05 else f"{100 * ratio:.0f}% of"


def read_outcome_cost(rd: Reader) -> list[str]:
    """Read the outcomes-against-cost figure: impact, outlay and cost per reoffence avoided."""
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


def read_measurement(rd: Reader) -> list[str]:
    """Read the measured-against-true figure: where the counterfactual misleads."""
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
    quote = (f"measured {format_value('measured_impact_pp', m)} against true "
             f"{format_value('true_impact_pp', t)}")
    out = []
    if noise:
        ci = format_interval("measurement_error_pp", iv.low, iv.high, True)
        out.append(f"{where} the measured impact is close to the true impact ({quote}): the "
                   f"error, {format_value('measurement_error_pp', err, True)} (95% CI {ci}), is "
                   f"within the noise of {iv.n} replications.")
    else:
        direction = "overstates" if err > 0 else "understates"
        consequence = ("it pays for impact that did not happen" if err > 0 else
                       "providers are credited with less than they achieved")
        prefix = (f"{where} the measure" if same
                  else f"The counterfactual misleads most under {label}: the measure")
        out.append(f"{prefix} {direction} the true impact by "
                   f"{format_value('measurement_error_pp', abs(err))} ({quote}), so {consequence}"
                   + (": the error comes from the counterfactual, not from the design." if same
                      else "."))
    if not same and len(errors) > 1:
        best = min(errors, key=lambda e: abs(e[1]))
        out.append(f"The measure is closest to the truth under {best[0]} "
                   f"({format_value('measurement_error_pp', best[1], True)}).")
    return out


def _band_hours(rd: Reader, label: str) -> dict[str, float]:
    return {b: rd.mean(label, f"hours_per_engaged_person_{b}") for b in BAND_WORDS
            if math.isfinite(rd.mean(label, f"hours_per_engaged_person_{b}"))}


def read_effort(rd: Reader) -> list[str]:
    """Read the effort figure: how hours spread over the risk bands (creaming and parking)."""
    out: list[str] = []
    if rd.r.present("creaming_index") and not rd.same("creaming_index"):
        top = rd.ranked("creaming_index")[0][0]
        out.append(f"{top} creams most: its creaming index (hours, refusals counted as none, on the "
                   f"quarter of people paying best per pound against the quarter paying worst) is "
                   f"{rd.with_ci(top, 'creaming_index')}.")
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
                   f"({format_value('hours_per_person', widest[2])} over the service): no sign "
                   "of creaming or parking.")
        return out
    hours = widest[1]
    most, least = max(hours, key=hours.__getitem__), min(hours, key=hours.__getitem__)
    times = (f"{spread(widest):.1f} times the hours of" if math.isfinite(spread(widest))
             else "hours where none go to")
    out.append(f"Under {widest[0]}, {_people(most)} get {times} {_people(least)} "
               f"({format_value(f'hours_per_engaged_person_{most}', hours[most])} against "
               f"{format_value(f'hours_per_engaged_person_{least}', hours[least])} per engaged "
               "person).")
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
                       f"{low[0]}, the lowest of the designs: the people at highest risk get "
                       "less than most.")
        else:
            out.append(f"No design gives very high risk people less than the average effort: "
                       f"theirs is {100 * low[1]:.0f}% of the mean under {low[0]} and "
                       f"{100 * high[1]:.0f}% under {high[0]}.")
    return out


def read_incentives(rd: Reader) -> list[str]:
    """Read the incentives figure: creaming index, parking and risk transfer."""
    out = []
    if rd.r.present("creaming_index"):
        top = rd.ranked("creaming_index")
        out.append(f"{top[0][0]} creams most, with a creaming index of "
                   f"{rd.with_ci(top[0][0], 'creaming_index')}; {top[-1][0]} least, with "
                   f"{rd.v('creaming_index', top[-1][1])} (1 means no creaming).")
    if rd.r.present("parking_share"):
        top = rd.ranked("parking_share")
        label = top[0][0]
        who = ("the hardest to help (the quarter of participants with a need whose complexity is highest) "
               "are left at the bare minimum (the floor, or little above it while others get more)")
        if top[0][1] > 0:
            out.append(f"{label} parks most: {who} {rd.with_ci(label, 'parking_share')} more often than "
                       f"other participants; under {top[-1][0]} the gap is "
                       f"{rd.v('parking_share', top[-1][1])}.")
        else:
            out.append(f"No design parks the hardest to help: {who.replace('the hardest to help ', 'they ', 1)} "
                       "no more often than other participants "
                       f"under any of them (the gap runs from {rd.v('parking_share', top[-1][1])} under "
                       f"{top[-1][0]} to {rd.with_ci(label, 'parking_share')} under {label}; below 0 they "
                       "get more than the rest).")
        bands = {b: rd.mean(label, f"parking_share_{b}") for b in BAND_WORDS}
        bands = {b: v for b, v in bands.items() if math.isfinite(v)}
        if bands and top[0][1] > 0:
            worst = max(bands, key=bands.__getitem__)
            out.append(f"Under {label} the hardest to help most often parked are {_people(worst)}: "
                       f"{format_value(f'parking_share_{worst}', bands[worst])} of them.")
    if rd.r.present("risk_transfer_ratio"):
        top = rd.ranked("risk_transfer_ratio")
        value = top[0][1]
        verdict = ("more than their share: risk is pushed down the supply chain" if value > 1
                   else "no more than their share")
        out.append(f"Risk lands hardest on sub-primes under {top[0][0]}: they carry "
                   f"{value:.2f} times their share of income at risk ({verdict}).")
    return out


def _at_risk_share(rd: Reader, label: str) -> float:
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


def read_money(rd: Reader) -> list[str]:
    """Read the money-flow figure: deadweight, where the money goes, and where risk lands."""
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


def read_market(rd: Reader) -> list[str]:
    """Read the market-health figure: exits, entries, failures, hand-backs and cash."""
    out = []
    for measure, words in (("subprime_exits", "sub-primes leave the market"),
                           ("subprime_entries", "sub-primes enter"),
                           ("prime_failures", "primes fail"),
                           ("handbacks", "contracts are handed back by failing primes")):
        ranked = rd.ranked(measure) if rd.r.present(measure) else []
        if ranked and ranked[0][1] > 0:  # always 0 without a market, or under direct award
            label, value = ranked[0]
            out.append(f"Most {words} under {label}: {rd.v(measure, value)} on average.")
    monthly = rd.r.monthly
    cash = [m.key for m in members("cash_{prime name}", monthly.columns)]
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
            lows.append((label, float(stacked.min()), str(col), int(month)))
        if lows:
            label, value, col, month = min(lows, key=lambda x: x[1])
            prime = series(col).member
            out.append(f"Cash runs lowest under {label}: {prime} is down to "
                       f"{format_value(series(col), value)} in month {month} (mean over "
                       "replications)"
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


def read_equality(rd: Reader) -> list[str]:
    """Read the equality figure: gaps in true impact between groups."""
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
        out.append(f"{where}, the true impact differs most between {_people(hi)} "
                   f"({rd.v(f'true_impact_pp_{hi}', vhi)}) and {_people(lo)} "
                   f"({rd.v(f'true_impact_pp_{lo}', vlo)}): "
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
    bands = [(label, {b: rd.mean(label, f"true_impact_pp_{b}") for b in BAND_WORDS})
             for label in rd.labels]
    very_high = [(label, v["very_high"]) for label, v in bands if math.isfinite(v["very_high"])]
    if len(very_high) > 1 and not _same([v for _, v in very_high]):
        low = min(very_high, key=lambda x: x[1])
        high = max(very_high, key=lambda x: x[1])
        out.append(f"Very high risk people gain least under {low[0]} (true impact "
                   f"{rd.v('true_impact_pp_very_high', low[1])}) and most under {high[0]} "
                   f"({rd.v('true_impact_pp_very_high', high[1])}).")
    hours = [h for label in rd.labels if (h := _band_hours(rd, label))]
    if hours and all(max(h.values()) - min(h.values()) < 0.01 * max(h.values()) for h in hours):
        out.append("Every band gets the same hours per engaged person under every design, so "
                   "these gaps come from who responds to the service, not from who gets it.")
    return out


def read_sensitivity(rd: Reader) -> list[str]:
    """Read the sensitivity indices: which parameters matter most for each measure."""
    sens = rd.r.sensitivity
    if sens is None:
        return []
    col = "ST" if "ST" in sens.columns else "mu_star"
    name = "total Sobol index" if col == "ST" else "Morris μ*"
    out = []
    for measure, data in list(sens.groupby("measure", sort=False))[:MAX_SENSITIVITY_MEASURES]:
        data = data.sort_values(col, ascending=False)
        first = data.iloc[0]
        words = describe(str(measure))[0]
        words = words[:1].lower() + words[1:] if words[1:2].islower() else words
        text = (f"For {words}, {first['parameter']} matters most ({name} "
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
