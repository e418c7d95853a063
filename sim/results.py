"""Running one replication and measuring what happened.

:func:`run_scenario` is the model as a function: a validated scenario and a
seed in, a :class:`RunResult` out (final metrics with stable snake_case keys,
a monthly series, a table of cohorts and the money ledger). Any runner can
drive it; it knows nothing of files or processes.

Every metric is defined in docs/ODD.md ("Observation").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pbrsim.sim.bases import basis_of
from pbrsim.sim.ledger import Kind, Party
from pbrsim.sim.measures import NEEDS_WORDS
from pbrsim.sim.mechanisms import mechanism_metrics
from pbrsim.sim.model import PbRModel
from pbrsim.sim.scenario import BAND_NAMES, Scenario
from pbrsim.sim.strategies import block_grant_per_referral, marginal_values
from pbrsim.sim.vocabulary import AGE_GROUPS

__all__ = ["RunResult", "compute_metrics", "effort_measures", "run_scenario"]




@dataclass
class RunResult:
    """What one replication produced."""

    scenario: Scenario
    seed: int
    metrics: dict[str, float | None]
    monthly: pd.DataFrame
    cohorts: pd.DataFrame
    ledger: pd.DataFrame


def _ratio(num: float, den: float) -> float | None:
    """Num / den, or None where the ratio is undefined (reported as null, never inf)."""
    if den <= 0 or not math.isfinite(den):
        return None
    return float(num / den)


# The measures read float32 and int8 columns of up to millions of rows. Arithmetic that the
# definitions do in float64 goes a block of rows at a time (no whole-column float64 copies), and a
# sum over a group is the sum of that group's rows, in the order NumPy would add them.
_BLOCK = 1 << 15  # at least 128 rows, NumPy's shortest piece in a pairwise sum (see _sum64)


def _sum64(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """``x.astype(float).sum()`` (or ``fn(x.astype(float)).sum()``, ``fn`` elementwise) to the last bit.

    NumPy adds a float64 array pairwise, halving it at a multiple of 8 until the pieces are short;
    halving the same way down to pieces of ``_BLOCK`` rows and adding each piece as NumPy would
    builds the same tree of additions, without a float64 copy of the whole of ``x``.
    """
    n = x.shape[0]
    if n <= _BLOCK:
        piece = x.astype(np.float64)
        return float((piece if fn is None else fn(piece)).sum())
    half = n // 2
    half -= half % 8
    return _sum64(x[:half], fn) + _sum64(x[half:], fn)


def _mean64(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """``x.astype(float).mean()`` (or of ``fn`` of it) to the last bit; nan for no rows, without a warning."""
    return _sum64(x, fn) / x.shape[0] if x.shape[0] else math.nan


def _count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def _select(mask: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """``column[mask]`` for each column (1-D, as long as ``mask``), finding the rows once."""
    rows = np.flatnonzero(mask)
    return [np.asarray(c).take(rows) for c in columns]


def run_scenario(scenario: Scenario, seed: int | None = None) -> RunResult:
    """Run one replication of a scenario to the end of its outcome run-off."""
    model = PbRModel(scenario, rng=seed)
    model.run()
    cohorts = pd.DataFrame(
        [
            # the prime that held the area when the cohort was referred (areas can be re-let)
            {"month": c.month, "area": c.area, "prime": model.areas.holder_at(c.area, c.month, model.primes).name,
             "referred": c.size, **(c.result or {})}
            for c in model.cohorts
        ]
    )
    ledger = model.ledger.frame()
    monthly = _monthly(model, ledger)
    return RunResult(scenario, model.seed, compute_metrics(model, cohorts), monthly, cohorts, ledger)


def _monthly(model: PbRModel, ledger: pd.DataFrame) -> pd.DataFrame:
    monthly = pd.DataFrame(model.monthly).set_index("month")
    if len(ledger):
        money = ledger.pivot_table(index="month", columns="kind", values="amount", aggfunc="sum")
        money = money.reindex(monthly.index, fill_value=0.0).fillna(0.0)
        monthly = monthly.join(money.add_prefix("paid_"))
    return monthly.reset_index()


_FIRST_HOUR_COLUMNS = ("pay_band", "hazard", "responsiveness", "complexity", "n_needs", "frequency")


def _first_hour_value(people: Mapping[str, np.ndarray], binary_value: np.ndarray,
                      frequency_value: np.ndarray, follow_up_months: float) -> np.ndarray:
    """The true value of a first hour to the prime, per person (the contract's terms, true parameters).

    The true effect of a first effective hour on the hazard (``responsiveness /
    complexity``, nothing without a need) times the change it makes to the paid
    outcomes over the follow-up window, priced at the contract's marginal
    values for the person's payment band (docs/ODD.md 4.11.1).
    """
    months = float(follow_up_months)
    pay_band = people["pay_band"].astype(np.intp)
    hazard = people["hazard"].astype(float)
    effect = people["responsiveness"] / people["complexity"] * (people["n_needs"] > 0)
    return effect * (binary_value[pay_band] * np.exp(-hazard * months) * hazard * months
                     + frequency_value[pay_band] * hazard * months
                     * (1.0 + people["frequency"] * months / 2))


def _quarters(value: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The top and bottom quarters of ``value`` (ties at a cut kept together), or None if it is flat."""
    if not value.size or np.ptp(value) <= 0:
        return None
    low, high = np.quantile(value, [0.25, 0.75])
    if high > low:
        return value >= high, value <= low
    # more than half the people share one value: it is the top or the bottom group
    if (value > high).any():
        return value > high, value <= high
    return value >= high, value < high


def effort_measures(people: Mapping[str, np.ndarray], *, binary_value: np.ndarray,
                    frequency_value: np.ndarray, follow_up_months: float, service_months: int,
                    floor_per_month: float,
                    cost_per_hour: float | np.ndarray = 1.0,
                    effortless_value: np.ndarray | None = None) -> dict[str, float | None]:
    """Creaming, parking and where effort went, from one finished run's people (docs/ODD.md 4.11.1).

    A pure function of arrays, one entry per person referred: ``hours``,
    ``engaged``, ``refused``, ``true_band``, ``pay_band``, ``n_needs``,
    ``complexity``, ``responsiveness``, ``hazard``, ``frequency``.

    Args:
        people: Those columns (an ``OffenderStore.trimmed()`` holds them).
        binary_value: The contract's marginal value of a person without a proven
            reoffence, by payment band (``marginal_values``).
        frequency_value: Its marginal value of a reoffence avoided, by payment band.
        follow_up_months: The follow-up window.
        service_months: The service period (hours per month are hours over it).
        floor_per_month: The minimum service specification, hours a month.
        cost_per_hour: What an hour cost the provider that held each person's
            area at referral (one number, or one per person).
        effortless_value: What the contract pays, by payment band, for a person
            without a proven reoffence whatever the provider does (a price per
            non-reoffender); spread over the hours the contract owes the person, it
            adds to their expected payment per pound.

    """
    m: dict[str, float | None] = {}
    # Every figure here is about the people who engaged: their columns, in referral order, in the
    # columns' own types; float64 where the definition computes in it, a block of rows at a time.
    engaged = np.asarray(people["engaged"], dtype=bool)
    h, band = _select(engaged, people["hours"], people["true_band"])
    size = h.shape[0]
    mean = _sum64(h) / size if size else 0.0

    def blocks(*columns: str):
        """The engaged a block of rows at a time, with their ``columns``.

        Yields where the block's engaged people are among the engaged, the block's rows, which of
        them engaged, and those people's columns.
        """
        done = 0
        for start in range(0, engaged.shape[0], _BLOCK):
            rows = slice(start, start + _BLOCK)
            keep = engaged[rows]
            stop = done + _count(keep)
            chosen = _select(keep, *(people[k][rows] for k in columns))
            yield slice(done, stop), rows, keep, dict(zip(columns, chosen, strict=True))
            done = stop

    # Today's effort-targeting figures, under names that say what they are.
    value = np.empty(size)  # the first hour's value to the prime, then expected payment per pound of an hour
    for at, _, _, p in blocks(*_FIRST_HOUR_COLUMNS):
        value[at] = _first_hour_value(p, binary_value, frequency_value, follow_up_months)
    if size and np.ptp(value) > 0:
        better = value >= np.median(value)
        m["effort_ratio_better_paying_half"] = (
            _ratio(_mean64(h.compress(better)), _mean64(h.compress(~better))) if not better.all() else None)
        del better
    else:
        m["effort_ratio_better_paying_half"] = 1.0 if size else None
    under_half = h < np.float64(0.5 * mean) if mean > 0 else np.ones(h.shape, dtype=bool)
    m["share_under_half_mean_effort"] = _ratio(_count(under_half), size)
    for b, name in enumerate(BAND_NAMES):
        in_band = band == b
        m[f"share_under_half_mean_effort_{name}"] = _ratio(_count(under_half & in_band), _count(in_band))
    very_high = band == 3
    m["effort_ratio_very_high"] = _ratio(_mean64(h.compress(very_high)) if very_high.any() else 0.0, mean)
    del under_half, in_band, very_high

    # Creaming: hours (refusals count as none) of the quarter with the best expected payment per pound
    # of an hour against the worst quarter. With no outcome payments, results per pound rank them.
    paid = bool(np.any(binary_value) or np.any(frequency_value))  # then the contract's own values, as above
    add_effortless = effortless_value is not None and bool(np.any(effortless_value))
    owed = max(floor_per_month * service_months, 1.0)
    cost = np.asarray(cost_per_hour, dtype=float)
    columns = (() if paid else _FIRST_HOUR_COLUMNS) + (("pay_band", "hazard") if add_effortless else ())
    for at, rows, keep, p in blocks(*dict.fromkeys(columns)):
        if not paid:  # a first reoffence avoided counts 1, as if it were paid for
            value[at] = _first_hour_value(p, np.ones_like(binary_value), np.zeros_like(frequency_value),
                                          follow_up_months)
        if add_effortless:
            clean = (1.0 - p["hazard"].astype(float)) ** follow_up_months
            value[at] = value[at] + effortless_value[p["pay_band"].astype(np.intp)] * clean / owed
        value[at] /= cost if cost.ndim == 0 else np.broadcast_to(cost, engaged.shape)[rows].compress(keep)
    quarters = _quarters(value)  # of the expected payment per pound
    del value
    if quarters is None:
        m["creaming_index"] = 1.0 if size else None
    else:
        top, bottom = quarters
        m["creaming_index"] = _ratio(_mean64(h.compress(top)), _mean64(h.compress(bottom)))
        del top, bottom
    del quarters

    # Parking: the hardest to help (the top quarter by complexity of participants with a need) left at
    # the floor plus no more than half the extra effort the other participants get on average.
    refused, n_needs = _select(engaged, np.asarray(people["refused"], dtype=bool), people["n_needs"])
    participants = ~refused
    with_need = n_needs > 0
    needy = np.zeros(engaged.shape, dtype=bool)  # over everybody referred
    needy[engaged] = participants & with_need
    complexity = np.asarray(people["complexity"])
    cut = (float(np.quantile(complexity.compress(needy).astype(np.float64), 0.75, overwrite_input=True))
           if needy.any() else math.inf)
    del needy
    hardest_referral = with_need & (complexity >= np.float64(cut)).compress(engaged)
    hardest = hardest_referral & participants
    months = float(service_months)  # hours a month: hours / months, in float64
    others = participants & ~hardest
    extra = (_mean64(h.compress(others), lambda hours: np.maximum(hours / months - floor_per_month, 0.0))
             if others.any() else 0.0)
    # the bare minimum: the floor, or above it by no more than half the others' extra effort
    limit = floor_per_month + 0.5 * extra
    at_minimum = np.empty(size, dtype=bool)
    for start in range(0, size, _BLOCK):
        rows = slice(start, start + _BLOCK)
        at_minimum[rows] = h[rows].astype(np.float64) / months <= limit
    m["hardest_to_help_at_minimum_share"] = _ratio(_count(at_minimum & hardest), _count(hardest))
    m["others_at_minimum_share"] = _ratio(_count(at_minimum & others), _count(others))

    def excess(group: np.ndarray, rest: np.ndarray) -> float | None:
        """Share of ``group`` at the bare minimum less the share of ``rest``, in percentage points."""
        n_group, n_rest = _count(group), _count(rest)
        if not n_group or not n_rest:
            return None
        return 100.0 * float(_count(at_minimum & group) / n_group - _count(at_minimum & rest) / n_rest)

    m["parking_share"] = excess(hardest, others)
    for b, name in enumerate(BAND_NAMES):
        in_band = band == b
        m[f"parking_share_{name}"] = excess(hardest & in_band, others & in_band)
    parked = at_minimum
    for k in NEEDS_WORDS:  # exactly k needs, or 4 and more
        group = participants & ((n_needs >= 4) if k == "4_plus" else (n_needs == int(k)))
        m[f"parking_share_needs_{k}"] = _ratio(_count(parked & group), _count(group))
    m["refused_share_hardest_to_help"] = _ratio(_count(hardest_referral & refused), _count(hardest_referral))
    return m


def _creaming_and_parking(s: dict[str, np.ndarray], model: PbRModel) -> dict[str, float | None]:
    """Where effort went: creaming, parking and the binary cliff (definitions in docs/ODD.md 4.11.1)."""
    design = model.design
    binary_value, frequency_value = marginal_values(design.contract, block_grant_per_referral(design))
    effortless = sum((basis_of(c).effortless_value() for c in design.contract.payment.outcomes), np.zeros(4))
    m = effort_measures(s, binary_value=binary_value, frequency_value=frequency_value,
                        follow_up_months=model.follow_up, service_months=design.contract.service.months,
                        floor_per_month=design.contract.service.min_hours_per_month,
                        cost_per_hour=_cost_per_hour(s, model), effortless_value=effortless)
    before = sum(p.effort_by_status[0] for p in model.primes) / max(sum(p.months_by_status[0] for p in model.primes), 1)
    after = sum(p.effort_by_status[1] for p in model.primes) / max(sum(p.months_by_status[1] for p in model.primes), 1)
    m["effort_ratio_after_reoffence"] = _ratio(after, before)
    return m


def _cost_per_hour(s: dict[str, np.ndarray], model: PbRModel) -> float | np.ndarray:
    """Each person's cost of an hour: the unit cost of the prime holding their area when referred."""
    costs = {float(p.spec.unit_cost_per_hour) for p in model.primes}
    if len(costs) == 1:
        return costs.pop()
    area, month = s["area"], s["referral_month"]
    n = area.shape[0]
    if not n:
        return np.empty(0)
    # one cell per (referral month, area): the prime is looked up once for each pair that occurs
    width = int(area.max()) + 1
    cells = (int(month.max()) + 1) * width
    blocks = [slice(start, start + _BLOCK) for start in range(0, n, _BLOCK)]
    occurs = np.zeros(cells, dtype=bool)
    for rows in blocks:
        occurs[month[rows].astype(np.intp) * width + area[rows]] = True
    table = np.zeros(cells)
    for cell in np.flatnonzero(occurs).tolist():
        mo, a = divmod(cell, width)
        table[cell] = float(model.areas.holder_at(a, mo, model.primes).spec.unit_cost_per_hour)
    cost = np.empty(n)
    for rows in blocks:
        cost[rows] = table[month[rows].astype(np.intp) * width + area[rows]]
    return cost


def _learning_and_groups(s: dict[str, np.ndarray], model: PbRModel) -> dict[str, float | None]:
    """What adaptive primes learnt against the truth, and creaming inside payment groups (ODD 4.11.1)."""
    m: dict[str, float | None] = {}
    eligible = s["engaged"] & ~s["refused"] & (s["n_needs"] > 0)
    group_of = np.where(eligible, s["pay_band"], np.int8(-1))  # the assessed band, of participants with a need
    # creaming inside payment groups: within each assessed band, hours of the quarter with the best true
    # results per pound of a first hour (responsiveness / complexity) against the worst quarter
    truth = np.full(4, np.nan)
    top = bottom = 0.0
    for b in range(4):
        group = group_of == b
        size = _count(group)
        if not size:
            continue
        responsiveness, complexity, hours = _select(group, s["responsiveness"], s["complexity"], s["hours"])
        truth[b] = float(responsiveness.mean())
        if size < 8:
            continue
        per_pound = responsiveness / complexity
        lo, hi = np.quantile(per_pound, [0.25, 0.75])
        best, worst = per_pound >= hi, per_pound <= lo
        top += _sum64(hours.compress(best)) / max(_count(best), 1) * size
        bottom += _sum64(hours.compress(worst)) / max(_count(worst), 1) * size
    learnt = [p.strategy.beliefs.effect for p in model.primes if getattr(p.strategy, "beliefs", None) is not None]
    mean_learnt = np.mean(learnt, axis=0) if learnt else np.full(4, np.nan)
    for b, name in enumerate(BAND_NAMES):
        m[f"true_effect_{name}"] = None if np.isnan(truth[b]) else float(truth[b])
        m[f"learnt_effect_{name}"] = None if np.isnan(mean_learnt[b]) else float(mean_learnt[b])
    errors = [np.abs(e - truth) for e in learnt]
    m["learnt_effect_error"] = float(np.nanmean(errors)) if learnt else None
    m["effort_ratio_within_groups"] = _ratio(top, bottom) if top + bottom > 0 else (1.0 if eligible.any() else None)
    return m


def compute_metrics(model: PbRModel, cohorts: pd.DataFrame) -> dict[str, float | None]:
    """Final measures of a finished run (definitions in docs/ODD.md)."""
    s = model.store.trimmed()
    led = model.ledger
    com = model.commissioner
    n = len(s["risk"])
    treated = s["first_month"] >= 0
    untreated = s["untreated_first_month"] >= 0
    n_treated, n_untreated = _count(treated), _count(untreated)
    # whole numbers: the same sums in any order
    reoffences = float(s["reoffences"].sum(dtype=np.int64))
    u_reoffences = float(s["untreated_reoffences"].sum(dtype=np.int64))
    counted = cohorts["counted"].sum() if "counted" in cohorts else 0.0

    m: dict[str, float | None] = {"referrals": float(n), "people_measured": float(counted)}
    refused = s["refused"]
    m["referral_selection"] = float(model.design.contract.referral_selection)
    m["referrals_refused"] = float(_count(refused))
    for b, band in enumerate(BAND_NAMES):
        in_band = s["true_band"] == b
        m[f"refusal_rate_{band}"] = _ratio(_count(refused & in_band), _count(in_band))
    # True outcomes, over everybody referred
    m["true_reoffending_rate"] = _ratio(n_treated, n)
    m["untreated_reoffending_rate"] = _ratio(n_untreated, n)
    m["true_reoffences_per_offender"] = _ratio(reoffences, n)
    m["untreated_reoffences_per_offender"] = _ratio(u_reoffences, n)
    m["reoffences_per_reoffender"] = _ratio(reoffences, n_treated)
    m["untreated_reoffences_per_reoffender"] = _ratio(u_reoffences, n_untreated)
    m["true_impact_pp"] = 100.0 * (n_untreated - n_treated) / n if n else None
    avoided_true = u_reoffences - reoffences
    m["reoffences_avoided_true"] = avoided_true
    # What the commissioner measured, over the people its cohort definition counts
    if counted:
        m["measured_reoffending_rate"] = float(cohorts["reoffenders"].sum() / counted)
        m["counterfactual_reoffending_rate"] = float(cohorts["cf_reoffenders"].sum() / counted)
        m["measured_reoffences_per_offender"] = float(cohorts["reoffences"].sum() / counted)
        m["counterfactual_reoffences_per_offender"] = float(cohorts["cf_reoffences"].sum() / counted)
        gap = float(cohorts["cf_reoffenders"].sum() - cohorts["reoffenders"].sum())
        m["measured_impact_pp"] = 100.0 * gap / counted
        m["reoffences_avoided_measured"] = float(cohorts["cf_reoffences"].sum() - cohorts["reoffences"].sum())
    else:
        for key in ("measured_reoffending_rate", "counterfactual_reoffending_rate",
                    "measured_reoffences_per_offender", "counterfactual_reoffences_per_offender",
                    "measured_impact_pp", "reoffences_avoided_measured"):
            m[key] = None
    m["measurement_error_pp"] = (
        m["measured_impact_pp"] - m["true_impact_pp"]
        if m["measured_impact_pp"] is not None and m["true_impact_pp"] is not None else None
    )
    # Money
    keep = 1.0 - model.design.contract.payment.at_risk_share
    for kind, gross in com.gross_fees.items():
        m[f"paid_{kind}"] = gross * keep
    m["paid_fees"] = led.total(Kind.FEES)
    # volume bands: top-ups paid less repayments made at the annual reconciliations
    m["paid_fee_reconciliation"] = (led.total(Kind.FEE_RECONCILIATION, payer=Party.COMMISSIONER)
                                    - led.total(Kind.FEE_RECONCILIATION, payee=Party.COMMISSIONER))
    m["paid_outcome_binary"] = led.total(Kind.OUTCOME_BINARY)
    m["paid_outcome_frequency"] = led.total(Kind.OUTCOME_FREQUENCY)
    m["paid_outcomes"] = m["paid_outcome_binary"] + m["paid_outcome_frequency"]
    m["withheld_fees"] = com.withheld_total
    m["withheld_fees_not_earned"] = com.pot_forfeited
    # net of money returned to the commissioner (margin clawed back under a cap)
    outlay = led.total(payer=Party.COMMISSIONER) - led.total(payee=Party.COMMISSIONER)
    m["commissioner_outlay"] = outlay
    m["outlay_per_referral"] = _ratio(outlay, n)
    m["deadweight_payments"] = float(cohorts["deadweight"].sum()) if "deadweight" in cohorts else 0.0
    m["cost_per_reoffence_avoided_true"] = _ratio(outlay, avoided_true)
    m["cost_per_reoffence_avoided_measured"] = _ratio(outlay, m["reoffences_avoided_measured"] or 0.0)
    # The primes' own spending: with a supply chain, sub-primes pay their own delivery and overhead.
    primes = {p.name for p in model.primes}
    delivery = sum(led.total(Kind.DELIVERY_COST, payer=name) for name in primes)
    overhead = sum(led.total(Kind.OVERHEAD, payer=name) for name in primes)
    spent = sum(led.total(payer=name) for name in primes)
    repaid = sum(led.total(payer=name, payee=Party.COMMISSIONER) for name in primes)
    subcontracted = spent - delivery - overhead - repaid
    # from the commissioner, or from investors under a social impact bond
    income = sum(led.total(payee=name) for name in primes)
    m["prime_income"] = income
    m["prime_delivery_cost"] = delivery
    m["prime_overhead"] = overhead
    m["prime_subcontract_cost"] = subcontracted
    m["prime_repaid_to_commissioner"] = repaid
    m["prime_margin"] = income - spent
    m["prime_margin_share"] = _ratio(income - spent, income)
    m["prime_min_cash"] = min(p.min_cash for p in model.primes)
    m["primes_in_deficit"] = float(sum(p.min_cash < 0 for p in model.primes))
    # front-line delivery by primes and sub-primes alike
    m["front_line_share"] = _ratio(led.total(Kind.DELIVERY_COST), outlay)
    # Effort and outcomes by true risk band and protected group (equality reporting)
    hours = s["hours"]
    engaged = s["engaged"]
    m["hours_per_person"] = _ratio(_sum64(hours), n)

    def groups():  # one mask at a time
        for b, band in enumerate(BAND_NAMES):
            yield band, s["true_band"] == b
        yield "female", s["female"]
        yield "male", ~s["female"]
        for i, g in enumerate(AGE_GROUPS):
            yield f"age_{g}", s["age_group"] == i

    for name, mask in groups():
        size = _count(mask)
        working = mask & engaged
        group_treated, group_untreated = _count(mask & treated), _count(mask & untreated)
        m[f"share_{name}"] = _ratio(size, n)
        m[f"hours_per_engaged_person_{name}"] = _ratio(_sum64(hours.compress(working)), _count(working))
        m[f"true_reoffending_rate_{name}"] = _ratio(group_treated, size)
        m[f"untreated_reoffending_rate_{name}"] = _ratio(group_untreated, size)
        m[f"true_impact_pp_{name}"] = (
            100.0 * float(group_untreated - group_treated) / size if size else None
        )
    del treated, untreated, in_band, mask, working
    m.update(_learning_and_groups(s, model))
    m.update(_creaming_and_parking(s, model))
    # supply chain, stewardship, social impact bond, commissioning: whatever the scenario has
    m.update(mechanism_metrics(model))
    return {k: (None if v is None else float(v)) for k, v in m.items()}
