"""Comparison tables with confidence intervals, read from a results store.

Every measure is summarised per scenario by its mean over replications with a
95% t-interval, and compared with a reference scenario: paired replication by
replication where two scenarios ran the same replications on the same seeds
(common random numbers), otherwise by Welch's interval (see
:mod:`pbrsim.analysis.intervals`). The table says which.

The store is read through :mod:`pbrsim.analysis.batch` (its format lives in
:mod:`pbrsim.experiments.store`); every number is labelled and formatted from
the catalogue of measures (:mod:`pbrsim.sim.measures`) by
:mod:`pbrsim.analysis.formatting`. The names below that live in those modules
are re-exported here, where the analysis API has always had them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pbrsim.analysis.batch import BatchResults, StoreError, read_batch
from pbrsim.analysis.formatting import format_interval, format_money, format_value, label_of, verdict
from pbrsim.analysis.intervals import (
    LEVEL,
    Interval,
    column_stats,
    difference_interval,
    mean_interval,
    welch,
)
from pbrsim.sim.measures import measure
from rich.console import Console
from rich.table import Table

__all__ = [
    "KEY_MEASURES",
    "BatchResults",
    "Interval",
    "StoreError",
    "comparison_table",
    "difference_interval",
    "format_interval",
    "format_money",
    "format_value",
    "mean_interval",
    "print_comparison",
    "read_batch",
]

#: Measures a commissioner asks for first (shown when present), labelled from the catalogue.
KEY_MEASURES: tuple[str, ...] = tuple(measure(key).key for key in (
    "true_impact_pp",
    "measured_impact_pp",
    "true_reoffending_rate",
    "commissioner_outlay",
    "cost_per_reoffence_avoided_true",
    "deadweight_payments",
    "front_line_share",
    "prime_margin",
    "prime_min_cash",
    "creaming_index",
    "parking_share",
    "risk_transfer_ratio",
    "hours_per_engaged_person_low",
    "hours_per_engaged_person_very_high",
))


# --- the comparison table --------------------------------------------------------------------


def _comparison(results: BatchResults, reference: str | None, level: float = LEVEL) -> pd.DataFrame:
    ref = results.reference_label(reference)
    if ref in results._comparisons:
        return results._comparisons[ref].copy()
    measures = results.measures
    ref_reps, ref_x = results.matrix(ref)
    ref_stats = column_stats(ref_x, level)
    position = {r: i for i, r in enumerate(ref_reps)}
    nothing = np.full(len(measures), np.nan)
    blocks = []
    for label in results.labels:
        reps, x = results.matrix(label)
        own = column_stats(x, level)
        if label == ref:
            diff = dict.fromkeys(("difference", "difference_ci_low", "difference_ci_high",
                                  "difference_df"), nothing)
            method = "reference"
        elif results.paired_with(label, ref):
            d = column_stats(x - ref_x[[position[r] for r in reps]], level)
            diff = {"difference": d["mean"], "difference_ci_low": d["ci_low"],
                    "difference_ci_high": d["ci_high"],
                    "difference_df": np.where(d["n"] > 1, d["n"] - 1.0, np.nan)}
            method = "paired"
        else:
            diff = welch(own, ref_stats, level)
            method = "Welch"
        blocks.append(pd.DataFrame({"scenario": label, "measure": measures, **own,
                                    "reference": ref, **diff, "difference_method": method}))
    table = pd.concat(blocks, ignore_index=True)
    table["n"] = table["n"].astype("int64")
    table.attrs["reference"] = ref
    results._comparisons[ref] = table
    return table.copy()


def comparison_table(store_dir: Path | BatchResults, reference: str | None = None) -> pd.DataFrame:
    """Every measure per scenario: mean, 95% CI, and difference from a reference scenario.

    Args:
        store_dir: The results store (a :class:`BatchResults` is accepted too).
        reference: Scenario to compare with (name or label); default
            ``batch.json``'s ``reference``, else the first scenario.

    Returns:
        One row per scenario and measure, with columns ``scenario``,
        ``measure``, ``n`` (replications with a value), ``mean``, ``sd``,
        ``ci_low``/``ci_high`` (NaN for n < 2: undefined), ``reference``,
        ``difference`` (scenario minus reference) with
        ``difference_ci_low``/``difference_ci_high`` and ``difference_df``,
        and ``difference_method``: ``"paired"`` (replication by replication,
        when both scenarios ran the same replications on the same seeds),
        ``"Welch"`` (otherwise) or ``"reference"`` (the reference's own rows).

    Raises:
        StoreError: The store cannot be read.
        ValueError: ``reference`` is not a scenario of the store.

    """
    return _comparison(read_batch(store_dir), reference)


# --- printing --------------------------------------------------------------------------------

#: Scenarios shown as columns in the terminal; the rest are in comparison.csv.
MAX_PRINTED_SCENARIOS = 6


def print_comparison(store_dir: Path | BatchResults, reference: str | None = None,
                     console: Console | None = None) -> None:
    """Print the key measures of every scenario with their intervals; write comparison.csv.

    ``DIR/comparison.csv`` holds every measure (see :func:`comparison_table`);
    the terminal shows the measures of :data:`KEY_MEASURES` that the store
    has, one column per scenario (the first few if there are many).

    Args:
        store_dir: The results store.
        reference: Scenario to compare with; default as in :func:`comparison_table`.
        console: Where to print; default a new :class:`rich.console.Console`.

    """
    results = read_batch(store_dir)
    table = _comparison(results, reference)
    table.to_csv(results.path / "comparison.csv", index=False)
    console = console or Console()
    ref = table.attrs["reference"]
    shown = results.labels[:MAX_PRINTED_SCENARIOS]
    methods = sorted(set(table.loc[table["scenario"] != ref, "difference_method"]))
    reps = results.metrics.groupby("label")["replication"].nunique()
    out = Table(
        title=f"{results.batch.get('experiment', {}).get('name') or results.path.name}: "
              f"mean (95% CI) over replications",
        caption=(f"Differences from {ref!r}: "
                 + (" / ".join(methods) if methods else "none")
                 + " (paired = replication by replication on shared seeds). "
                 f"All {len(results.measures)} measures: {results.path / 'comparison.csv'}"),
        title_justify="left", caption_justify="left", show_lines=True,
    )
    out.add_column("measure")
    for scenario in shown:
        out.add_column(f"{scenario}\n(n={reps.get(scenario, 0)})", justify="right")
    indexed = table.set_index(["measure", "scenario"])
    for key in KEY_MEASURES:
        if not results.present(key):
            continue
        cells = []
        for scenario in shown:
            row = indexed.loc[(key, scenario)]
            cell = format_value(key, row["mean"])
            cell += f"\n[dim]{format_interval(key, row['ci_low'], row['ci_high'])}[/dim]"
            if row["difference_method"] != "reference":
                diff = format_value(key, row["difference"], difference=True)
                low, high = row["difference_ci_low"], row["difference_ci_high"]
                judged = verdict(key, low, high)
                cell += f"\nΔ {diff}" + (f" ({judged})" if judged else "")
                cell += f"\n[dim]{format_interval(key, low, high, True)}[/dim]"
            cells.append(cell)
        out.add_row(label_of(key), *cells)
    console.print(out)
    if len(results.labels) > len(shown):
        more = len(results.labels) - len(shown)
        console.print(f"[dim]{more} more scenarios in comparison.csv[/dim]")
    for note in results.notes:
        console.print(f"[yellow]{note}[/yellow]")
