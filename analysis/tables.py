"""Comparison tables with confidence intervals, read from a results store.

A results store is the folder a batch writes (see ``experiments/``)::

    DIR/batch.json                      the batch: experiment, runs, seeds, reference scenario
    DIR/scenarios/<scenario_hash>.json  each resolved scenario definition
    DIR/metrics/<run_id>.parquet        one row per run: identity, status, every final metric
    DIR/monthly/<run_id>.parquet        each run's monthly series
    DIR/sensitivity.csv                 optional: Sobol or Morris indices

Every measure is summarised per scenario by its mean over replications with a
95% t-interval, and compared with a reference scenario. Replication ``r`` of
every scenario in a batch runs on the same seed (common random numbers), so
where the replications of two scenarios match, their difference is taken
replication by replication (a paired interval, much narrower than comparing
two means); otherwise Welch's unequal-variance interval is used. The table
says which.

The store is read with DuckDB, never through ``experiments``, so analysis
depends only on the folder layout.
"""

from __future__ import annotations

import json
import logging
import math
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy import stats

__all__ = [
    "format_money",
    "FORMAT",
    "FORMAT_VERSION",
    "KEY_MEASURES",
    "BatchResults",
    "Interval",
    "StoreError",
    "comparison_table",
    "difference_interval",
    "format_interval",
    "format_value",
    "mean_interval",
    "print_comparison",
    "read_batch",
]

logger = logging.getLogger(__name__)

FORMAT = "pbrsim-results"
FORMAT_VERSION = 1
LEVEL = 0.95

#: Columns of a metrics file that identify a run rather than measure it.
ID_COLUMNS: tuple[str, ...] = (
    "run_id", "scenario", "scenario_hash", "replication", "seed", "params",
    "status", "error", "elapsed_s",
)

#: Measures a commissioner asks for first, with their labels (shown when present).
KEY_MEASURES: tuple[tuple[str, str], ...] = (
    ("true_impact_pp", "True impact on reoffending"),
    ("measured_impact_pp", "Impact as the contract measured it"),
    ("true_reoffending_rate", "True reoffending rate"),
    ("commissioner_outlay", "Commissioner outlay"),
    ("cost_per_reoffence_avoided_true", "Cost per reoffence truly avoided"),
    ("deadweight_payments", "Paid for deadweight"),
    ("front_line_share", "Share of outlay reaching front-line delivery"),
    ("prime_margin", "Primes' margin"),
    ("prime_min_cash", "Lowest cash any prime held"),
    ("creaming_index", "Creaming index"),
    ("parking_share", "Share parked (under half the mean effort)"),
    ("risk_transfer_ratio", "Risk transfer ratio (sub-primes)"),
    ("hours_per_engaged_person_low", "Hours per engaged person, low risk"),
    ("hours_per_engaged_person_very_high", "Hours per engaged person, very high risk"),
)


class StoreError(ValueError):
    """A results folder that is missing, incomplete or not a pbrsim results store."""


class Interval(NamedTuple):
    """A mean (or difference of means) with its confidence interval.

    ``low`` and ``high`` are NaN where the interval is undefined (fewer than
    two values); ``df`` is the t distribution's degrees of freedom.
    """

    n: int
    mean: float
    sd: float
    low: float
    high: float
    df: float


_NAN = float("nan")


def _t_half_width(sd: np.ndarray, n: np.ndarray, df: np.ndarray, level: float) -> np.ndarray:
    """Half-widths ``t(level, df) * sd / sqrt(n)``; NaN where ``df`` is undefined."""
    sd, n, df = (np.asarray(a, dtype=float) for a in (sd, n, df))
    out = np.full(np.broadcast(sd, n, df).shape, np.nan)
    ok = (df > 0) & (n > 0) & np.isfinite(sd)
    if ok.any():
        q = stats.t.ppf(0.5 + level / 2, np.broadcast_to(df, out.shape)[ok])
        sd, n = np.broadcast_to(sd, out.shape), np.broadcast_to(n, out.shape)
        out[ok] = q * sd[ok] / np.sqrt(n[ok])
    return out


def mean_interval(values: Any, level: float = LEVEL) -> Interval:
    """Mean of ``values`` (missing values dropped) with its t-interval.

    Args:
        values: Numbers; None and NaN are ignored.
        level: Confidence level.

    Returns:
        The interval; ``low``/``high`` are NaN for fewer than two values.

    """
    x = pd.Series(values, dtype="float64").dropna().to_numpy()
    n = len(x)
    if n == 0:
        return Interval(0, _NAN, _NAN, _NAN, _NAN, _NAN)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, _NAN, _NAN, _NAN, _NAN)
    sd = float(x.std(ddof=1))
    half = float(_t_half_width(np.array(sd), np.array(n), np.array(n - 1), level))
    return Interval(n, mean, sd, mean - half, mean + half, float(n - 1))


def difference_interval(x: Any, ref: Any, paired: bool, level: float = LEVEL) -> Interval:
    """Difference ``x - ref`` with its t-interval, paired or by Welch.

    Args:
        x: Values of the scenario; for ``paired``, aligned with ``ref`` by
            position (a pair with a missing value is dropped).
        ref: Values of the reference scenario.
        paired: Difference replication by replication (common random
            numbers) rather than of the two means.
        level: Confidence level.

    Returns:
        For ``paired``, ``n`` is the number of pairs and ``sd`` the standard
        deviation of the differences; for Welch, ``n`` is the number of
        values of ``x`` and ``sd`` the standard error of the difference.

    """
    xs = pd.Series(x, dtype="float64").reset_index(drop=True)
    rs = pd.Series(ref, dtype="float64").reset_index(drop=True)
    if paired:
        if len(xs) != len(rs):
            raise ValueError("paired differences need as many values as the reference")
        return mean_interval((xs - rs).to_numpy(), level)
    xs, rs = xs.dropna(), rs.dropna()
    n1, n2 = len(xs), len(rs)
    if n1 == 0 or n2 == 0:
        return Interval(n1, _NAN, _NAN, _NAN, _NAN, _NAN)
    diff = float(xs.mean() - rs.mean())
    if n1 < 2 or n2 < 2:
        return Interval(n1, diff, _NAN, _NAN, _NAN, _NAN)
    v1, v2 = float(xs.var(ddof=1)) / n1, float(rs.var(ddof=1)) / n2
    se = math.sqrt(v1 + v2)
    if se == 0.0:  # both samples constant: the difference is exact
        return Interval(n1, diff, 0.0, diff, diff, _NAN)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return Interval(n1, diff, se, diff - half, diff + half, df)


# --- reading a store -------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(
            f"{path.parent}: no {path.name}; is this a pbrsim results folder?") from None
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: {what} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read {what} ({exc.strerror})") from None


def _read_parquet(files: list[Path], folder: Path) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        return con.execute(
            "select * from read_parquet(?, union_by_name=true)", [[str(f) for f in files]]
        ).df()
    except duckdb.Error as exc:
        raise StoreError(f"{folder}: cannot read the Parquet files ({exc})") from None
    finally:
        con.close()


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in d.items():
        out |= _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def _params_text(params: Any) -> str:
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError:
            return params
    flat = _flatten(params or {})
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else
                     f"{k.rsplit('.', 1)[-1]}={v}" for k, v in flat.items())


class BatchResults:
    """A results store, read once: its batch description, metrics, series and definitions.

    Scenarios are identified by a display label: the scenario's name, made
    unique with its parameters (or hash) where a sweep gives several
    definitions the same name. Only runs with status ``"ok"`` are analysed;
    failed runs are kept in :attr:`failed`.

    Attributes:
        path: The store folder.
        batch: The parsed ``batch.json``.
        metrics: One row per successful run, with a ``label`` column.
        failed: Identity and error of every failed run.
        labels: Scenario labels, in the batch's order.
        measures: Every metric column, in the store's order.
        notes: Plain-English remarks about the store (failed or missing runs).

    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise StoreError(f"{self.path}: no such folder")
        if not self.path.is_dir():
            raise StoreError(f"{self.path}: is not a folder")
        self.batch: dict[str, Any] = _read_json(self.path / "batch.json", "the batch description")
        if not isinstance(self.batch, dict) or self.batch.get("format") != FORMAT:
            found = (self.batch.get("format") if isinstance(self.batch, dict)
                     else type(self.batch).__name__)
            raise StoreError(
                f"{self.path / 'batch.json'}: format is {found!r}, expected {FORMAT!r}; "
                "not a pbrsim results folder"
            )
        version = self.batch.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StoreError(
                f"{self.path / 'batch.json'}: format_version {version!r}; this pbrsim reads "
                f"version {FORMAT_VERSION} or older (upgrade pbrsim)"
            )
        self.notes: list[str] = []
        self._stats: dict[tuple[str, str], Interval] = {}
        runs = self.batch.get("runs") or []
        files = sorted((self.path / "metrics").glob("*.parquet"))
        if not files:
            raise StoreError(
                f"{self.path / 'metrics'}: no results yet (0 of {len(runs)} runs have finished)"
            )
        raw = _read_parquet(files, self.path / "metrics")
        missing = [c for c in ("run_id", "scenario", "replication") if c not in raw.columns]
        if missing:
            raise StoreError(f"{self.path / 'metrics'}: metrics files lack {', '.join(missing)}")
        if "status" not in raw.columns:
            raw["status"] = "ok"
        ok = raw["status"].astype(str).eq("ok")
        identity = [c for c in ("run_id", "scenario", "replication", "seed", "error")
                    if c in raw.columns]
        self.failed = raw.loc[~ok, identity].reset_index(drop=True)
        metrics = raw.loc[ok].copy()
        if metrics.empty:
            errors = self.failed["error"] if "error" in self.failed else pd.Series(dtype=str)
            first = errors.dropna().astype(str).head(1).tolist()
            raise StoreError(
                f"{self.path}: all {len(raw)} runs failed"
                + (f"; first error: {first[0]}" if first else "")
            )
        if len(self.failed):
            self.notes.append(f"{len(self.failed)} of {len(raw)} runs failed and are left out.")
        if len(runs) > len(raw):
            self.notes.append(f"Only {len(raw)} of the batch's {len(runs)} runs have finished.")

        numeric: dict[str, np.ndarray] = {}
        for col in raw.columns:
            if col in ID_COLUMNS:
                continue
            values = pd.to_numeric(metrics[col], errors="coerce")
            if values.notna().sum() < metrics[col].notna().sum():
                continue  # not a numeric measure
            numeric[col] = values.to_numpy(dtype="float64", na_value=np.nan)
        self.measures: list[str] = list(numeric)
        # one float block, not a column at a time: a sweep has thousands of rows and columns
        ids = metrics[[c for c in metrics.columns if c in ID_COLUMNS]].reset_index(drop=True)
        metrics = pd.concat([ids, pd.DataFrame(numeric)], axis=1)
        metrics["replication"] = pd.to_numeric(metrics["replication"]).astype("int64")
        self._assign_labels(metrics, runs)
        self.metrics = metrics.sort_values(["_order", "replication"]).reset_index(drop=True)
        self._comparisons: dict[str, pd.DataFrame] = {}

    def _assign_labels(self, metrics: pd.DataFrame, runs: list[dict[str, Any]]) -> None:
        has_hash = "scenario_hash" in metrics.columns
        key_col = "scenario_hash" if has_hash else "scenario"
        # a run without a hash (an invalid design point) is known by its name
        metrics["_key"] = metrics[key_col].where(metrics[key_col].notna(), metrics["scenario"])
        metrics["_key"] = metrics["_key"].astype(str)
        order: list[str] = []
        names: dict[str, str] = {}
        params: dict[str, Any] = {}
        for run in runs:
            key = str(run.get(key_col) or run.get("scenario"))
            if key not in names:
                order.append(key)
                names[key] = str(run.get("scenario"))
                params[key] = run.get("params")
        run_params = (metrics["params"] if "params" in metrics
                      else pd.Series(None, index=metrics.index))
        for key, name, par in zip(metrics["_key"], metrics["scenario"], run_params, strict=True):
            if key not in names:  # a run batch.json does not list
                order.append(key)
                names[key] = str(name)
                params[key] = par
        order = [k for k in order if k in set(metrics["_key"])]
        labels: dict[str, str] = {}
        for key in order:
            name = names[key]
            if sum(names[k] == name for k in order) > 1:
                text = _params_text(params[key])
                label = f"{name} ({text})" if text else name
                if label in labels.values() or not text:
                    label = f"{name} #{key[:8]}"
            else:
                label = name
            labels[key] = label
        self._keys = labels
        self._names = {labels[k]: names[k] for k in order}
        self.labels: list[str] = [labels[k] for k in order]
        metrics["label"] = metrics["_key"].map(labels).astype(str)
        metrics["_order"] = metrics["_key"].map({k: i for i, k in enumerate(order)})

    # --- derived views ---------------------------------------------------------------------

    @cached_property
    def _present(self) -> set[str]:
        defined = self.metrics[self.measures].notna().any()
        return set(defined.index[defined.to_numpy()])

    def present(self, measure: str) -> bool:
        """Whether ``measure`` is in the store with at least one defined value."""
        return measure in self._present

    @cached_property
    def _runs(self) -> dict[str, pd.DataFrame]:
        return {str(label): rows for label, rows in self.metrics.groupby("label", sort=False)}

    @cached_property
    def _matrices(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {label: (rows["replication"].to_numpy(),
                        rows[self.measures].to_numpy(dtype="float64", na_value=np.nan))
                for label, rows in self._runs.items()}

    @cached_property
    def _column(self) -> dict[str, int]:
        return {m: j for j, m in enumerate(self.measures)}

    def runs_of(self, label: str) -> pd.DataFrame:
        """One scenario's successful runs (rows of :attr:`metrics`)."""
        return self._runs.get(label, self.metrics.iloc[:0])

    def matrix(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """One scenario's replications and its runs x :attr:`measures` array of values."""
        return self._matrices.get(label, (np.zeros(0, int), np.zeros((0, len(self.measures)))))

    def values(self, label: str, measure: str) -> pd.Series:
        """One scenario's values of ``measure``, indexed by replication."""
        if measure not in self._column:
            return pd.Series(dtype="float64")
        reps, x = self.matrix(label)
        return pd.Series(x[:, self._column[measure]], index=pd.Index(reps, name="replication"),
                         name=measure)

    def stat(self, label: str, measure: str) -> Interval:
        """Mean and 95% interval of ``measure`` over one scenario's replications."""
        key = (label, measure)
        if key not in self._stats:
            self._stats[key] = mean_interval(self.values(label, measure).to_numpy())
        return self._stats[key]

    def seeds(self, label: str) -> dict[int, int | None]:
        """Replication -> seed of one scenario's successful runs."""
        rows = self.runs_of(label)
        seeds = rows["seed"] if "seed" in rows else pd.Series([None] * len(rows), index=rows.index)
        return {int(r): (None if pd.isna(s) else int(s)) for r, s in zip(rows["replication"], seeds,
                                                                         strict=True)}

    def paired_with(self, label: str, reference: str) -> bool:
        """Whether two scenarios' replications match (same replications, same seeds)."""
        for lab in (label, reference):
            if not self.runs_of(lab)["replication"].is_unique:
                return False  # a replication run twice: no one-to-one pairing
        seeds = self.seeds(label)
        return bool(seeds) and seeds == self.seeds(reference)

    def scenario_key(self, label: str) -> str:
        """Return the scenario hash behind a label (its name where the store has no hash)."""
        return next(key for key, lab in self._keys.items() if lab == label)

    def name(self, label: str) -> str:
        """Return the scenario name behind a label."""
        return self._names[label]

    def reference_label(self, reference: str | None = None) -> str:
        """Return the label of the reference scenario.

        Args:
            reference: A scenario label or name; default ``batch.json``'s
                ``reference``, else the first scenario.

        Raises:
            ValueError: An explicitly requested reference is not in the store.

        """
        wanted = reference if reference is not None else self.batch.get("reference")
        if wanted is None:
            return self.labels[0]
        if wanted in self.labels:
            return wanted
        for label in self.labels:
            if self._names[label] == wanted:
                return label
        if reference is not None:
            raise ValueError(
                f"{self.path}: no scenario {reference!r} to compare with; "
                f"scenarios are {', '.join(map(repr, self.labels))}"
            )
        note = (f"The batch's reference scenario {wanted!r} has no successful runs; "
                f"differences are from {self.labels[0]!r} instead.")
        if note not in self.notes:
            self.notes.append(note)
        return self.labels[0]

    @cached_property
    def monthly(self) -> pd.DataFrame:
        """Every successful run's monthly series, with ``label``; empty if none were written."""
        files = sorted((self.path / "monthly").glob("*.parquet"))
        if not files:
            return pd.DataFrame(columns=["run_id", "label", "replication", "month"])
        frame = _read_parquet(files, self.path / "monthly")
        labels = dict(zip(self.metrics["run_id"].astype(str), self.metrics["label"], strict=True))
        frame["label"] = frame["run_id"].astype(str).map(labels)
        frame = frame[frame["label"].notna()].copy()
        frame["label"] = frame["label"].astype(str)
        return frame.reset_index(drop=True)

    def monthly_means(self, columns: list[str]) -> pd.DataFrame:
        """Mean over replications of ``columns`` by scenario label and month.

        A column a scenario never wrote (say, outcome payments under fee for
        service) stays missing for that scenario.
        """
        frame = self.monthly
        cols = [c for c in columns if c in frame.columns]
        if frame.empty or not cols:
            return pd.DataFrame(columns=["label", "month", *cols])
        means = frame.groupby(["label", "month"], sort=False)[cols].mean().reset_index()
        order = {label: i for i, label in enumerate(self.labels)}
        means["_o"] = means["label"].map(order)
        return means.sort_values(["_o", "month"]).drop(columns="_o").reset_index(drop=True)

    @cached_property
    def definitions(self) -> dict[str, Any]:
        """Resolved scenario definitions by label (from ``scenarios/<hash>.json``)."""
        out: dict[str, Any] = {}
        for key, label in self._keys.items():
            path = self.path / "scenarios" / f"{key}.json"
            if path.exists():
                out[label] = _read_json(path, "the scenario definition")
        return out

    @cached_property
    def sensitivity(self) -> pd.DataFrame | None:
        """The sensitivity indices of ``sensitivity.csv``, or None without one."""
        path = self.path / "sensitivity.csv"
        if not path.exists():
            return None
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            self.notes.append(f"sensitivity.csv could not be read ({exc}).")
            return None


def read_batch(store_dir: Path | str | BatchResults) -> BatchResults:
    """Read a results store (a :class:`BatchResults` is passed through).

    Raises:
        StoreError: The folder is missing, is not a results store, or holds
            no successful run.

    """
    return store_dir if isinstance(store_dir, BatchResults) else BatchResults(store_dir)


# --- the comparison table --------------------------------------------------------------------


def _column_stats(x: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Per column of ``x`` (NaN = missing): n, mean, sd and the t-interval; no warnings."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(ok, x, 0.0).sum(axis=0) / n
        var = (np.where(ok, x - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
    mean = np.where(n > 0, mean, np.nan)
    sd = np.sqrt(np.where(n > 1, var, np.nan))
    half = _t_half_width(sd, n, n - 1.0, level)
    return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def _welch(a: dict[str, np.ndarray], b: dict[str, np.ndarray], level: float) -> dict[str, Any]:
    n1, n2 = a["n"].astype(float), b["n"].astype(float)
    diff = a["mean"] - b["mean"]
    with np.errstate(divide="ignore", invalid="ignore"):
        v1, v2 = a["sd"] ** 2 / n1, b["sd"] ** 2 / n2
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    df = np.where(se > 0, df, np.nan)
    half = np.where(se == 0, 0.0, _t_half_width(se, np.ones_like(se), df, level))
    return {"difference": diff, "difference_ci_low": diff - half,
            "difference_ci_high": diff + half, "difference_df": df}


def _comparison(results: BatchResults, reference: str | None, level: float = LEVEL) -> pd.DataFrame:
    ref = results.reference_label(reference)
    if ref in results._comparisons:
        return results._comparisons[ref].copy()
    measures = results.measures
    ref_reps, ref_x = results.matrix(ref)
    ref_stats = _column_stats(ref_x, level)
    position = {r: i for i, r in enumerate(ref_reps)}
    nothing = np.full(len(measures), np.nan)
    blocks = []
    for label in results.labels:
        reps, x = results.matrix(label)
        own = _column_stats(x, level)
        if label == ref:
            diff = dict.fromkeys(("difference", "difference_ci_low", "difference_ci_high",
                                  "difference_df"), nothing)
            method = "reference"
        elif results.paired_with(label, ref):
            d = _column_stats(x - ref_x[[position[r] for r in reps]], level)
            diff = {"difference": d["mean"], "difference_ci_low": d["ci_low"],
                    "difference_ci_high": d["ci_high"],
                    "difference_df": np.where(d["n"] > 1, d["n"] - 1.0, np.nan)}
            method = "paired"
        else:
            diff = _welch(own, ref_stats, level)
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


# --- formatting ------------------------------------------------------------------------------

_MONEY_WORDS = ("outlay", "cost", "margin", "income", "deadweight", "cash", "withheld", "fees",
                "paid_", "investor", "overhead", "grant", "payment", "loss")


def _kind(measure: str) -> str:
    if measure.endswith("_pp") or "_pp_" in measure:
        return "pp"
    if "share" in measure or "rate" in measure:
        return "percent"
    if "ratio" in measure or "index" in measure:
        return "number"
    if measure.startswith("hours"):
        return "hours"
    if any(word in measure for word in _MONEY_WORDS):
        return "money"
    return "number"


def format_money(x: float, signed: bool = False, million_digits: int = 2) -> str:
    """Pounds, shortened to m or bn; ``signed`` puts + before a gain."""
    sign = "−" if x < 0 else ("+" if signed and x > 0 else "")
    x = abs(x)
    if x >= 1e9:
        return f"{sign}£{x / 1e9:,.2f}bn"
    if x >= 1e6:
        return f"{sign}£{x / 1e6:,.{million_digits}f}m"
    return f"{sign}£{x:,.0f}"


def _number(x: float, signed: bool = False) -> str:
    sign = "+" if signed and x > 0 else ""
    if abs(x) >= 100:
        return f"{sign}{x:,.0f}".replace("-", "−")
    return f"{sign}{x:#.3g}".rstrip(".").replace("-", "−")


def format_value(measure: str, value: float | None, difference: bool = False) -> str:
    """Format a value of ``measure`` for people: £, %, pp or hours from the measure's name.

    Args:
        measure: Metric name (its unit is read from the name).
        value: The value; None or NaN gives ``"n/a"``.
        difference: Format as a signed difference (a rate's difference is in
            percentage points).

    """
    if value is None or not math.isfinite(value):
        return "n/a"
    kind = _kind(measure)
    if kind == "money":
        return format_money(value, difference)
    if kind == "percent":
        text = f"{100 * value:+.1f} pp" if difference else f"{100 * value:.1f}%"
    elif kind == "pp":
        text = f"{value:+.2f} pp" if difference else f"{value:.2f} pp"
    elif kind == "hours":
        text = f"{value:+.1f} h" if difference else f"{value:.1f} h"
    else:
        return _number(value, difference)
    return text.replace("-", "−")


def format_interval(measure: str, low: float, high: float, difference: bool = False) -> str:
    """Format a 95% interval as ``"a to b"``, or ``"undefined"`` where it is not defined."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undefined"
    a, b = format_value(measure, low, difference), format_value(measure, high, difference)
    for unit in (" pp", "%", " h"):  # say the unit once: "1.1 to 4.2 pp"
        if a.endswith(unit) and b.endswith(unit):
            return f"{a.removesuffix(unit)} to {b}"
    return f"{a} to {b}"


# --- printing --------------------------------------------------------------------------------

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
    for label in shown:
        out.add_column(f"{label}\n(n={reps.get(label, 0)})", justify="right")
    indexed = table.set_index(["measure", "scenario"])
    for measure, text in KEY_MEASURES:
        if not results.present(measure):
            continue
        cells = []
        for label in shown:
            row = indexed.loc[(measure, label)]
            cell = format_value(measure, row["mean"])
            cell += f"\n[dim]{format_interval(measure, row['ci_low'], row['ci_high'])}[/dim]"
            if row["difference_method"] != "reference":
                diff = format_value(measure, row["difference"], difference=True)
                interval = format_interval(measure, row["difference_ci_low"],
                                           row["difference_ci_high"], True)
                cell += f"\nΔ {diff}\n[dim]{interval}[/dim]"
            cells.append(cell)
        out.add_row(text, *cells)
    console.print(out)
    if len(results.labels) > len(shown):
        more = len(results.labels) - len(shown)
        console.print(f"[dim]{more} more scenarios in comparison.csv[/dim]")
    for note in results.notes:
        console.print(f"[yellow]{note}[/yellow]")
