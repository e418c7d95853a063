"""A results store read once for analysis: :class:`BatchResults` and :func:`read_batch`.

The store's format (its files, layout and errors) lives in
:mod:`pbrsim.experiments.store`; this module reads through it and adds what
analysis needs: scenario labels, successful runs by scenario, means with
intervals, monthly means, and the scenario definitions.

Code that names a measure (``present``, ``values``, ``stat``,
``monthly_means``) looks it up in the catalogue (:mod:`pbrsim.sim.measures`),
so a misspelt key raises instead of quietly finding nothing.
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pbrsim.analysis.intervals import Interval, mean_interval
from pbrsim.experiments import store as fmt
from pbrsim.experiments.store import StoreError
from pbrsim.sim.measures import measure, series

__all__ = ["BatchResults", "StoreError", "read_batch"]

logger = logging.getLogger(__name__)

#: Columns of a metrics file that identify a run rather than measure it.
ID_COLUMNS: tuple[str, ...] = fmt.IDENTITY_COLUMNS


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
        self.batch: dict[str, Any] = fmt.read_batch(self.path)
        self.notes: list[str] = []
        self._stats: dict[tuple[str, str], Interval] = {}
        runs = self.batch["runs"]
        raw = fmt.read_metrics(self.path)
        if raw.empty:
            raise StoreError(
                f"{self.path / fmt.METRICS_DIR}: no results yet "
                f"(0 of {len(runs)} runs have finished)"
            )
        missing = [c for c in ("run_id", "scenario", "replication") if c not in raw.columns]
        if missing:
            raise StoreError(
                f"{self.path / fmt.METRICS_DIR}: metrics files lack {', '.join(missing)}")
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

    def present(self, key: str) -> bool:
        """Whether the final metric ``key`` is in the store with at least one defined value.

        Raises:
            UnknownMeasure: ``key`` is not in the catalogue.

        """
        return measure(key).key in self._present

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

    def values(self, label: str, key: str) -> pd.Series:
        """One scenario's values of the final metric ``key``, indexed by replication.

        Raises:
            UnknownMeasure: ``key`` is not in the catalogue.

        """
        measure(key)
        if key not in self._column:
            return pd.Series(dtype="float64")
        reps, x = self.matrix(label)
        return pd.Series(x[:, self._column[key]], index=pd.Index(reps, name="replication"),
                         name=key)

    def stat(self, label: str, key: str) -> Interval:
        """Mean and 95% interval of the final metric ``key`` over one scenario's replications.

        Raises:
            UnknownMeasure: ``key`` is not in the catalogue.

        """
        if (label, key) not in self._stats:
            self._stats[(label, key)] = mean_interval(self.values(label, key).to_numpy())
        return self._stats[(label, key)]

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
        frame = fmt.read_monthly(self.path)
        if frame.empty:
            return pd.DataFrame(columns=["run_id", "label", "replication", "month"])
        labels = dict(zip(self.metrics["run_id"].astype(str), self.metrics["label"], strict=True))
        frame["label"] = frame["run_id"].astype(str).map(labels)
        frame = frame[frame["label"].notna()].copy()
        frame["label"] = frame["label"].astype(str)
        return frame.reset_index(drop=True)

    def monthly_means(self, columns: list[str]) -> pd.DataFrame:
        """Mean over replications of ``columns`` by scenario label and month.

        A column a scenario never wrote (say, outcome payments under fee for
        service) stays missing for that scenario.

        Raises:
            UnknownMeasure: A column is not a monthly series of the catalogue.

        """
        for column in columns:
            series(column)
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
            definition = fmt.read_definition(self.path, key)
            if definition is not None:
                out[label] = definition
        return out

    @cached_property
    def sensitivity(self) -> pd.DataFrame | None:
        """The sensitivity indices of ``sensitivity.csv``, or None without one."""
        try:
            return fmt.read_sensitivity(self.path)
        except StoreError as exc:
            self.notes.append(f"{fmt.SENSITIVITY_FILE} could not be read ({exc}).")
            return None


def read_batch(store_dir: Path | str | BatchResults) -> BatchResults:
    """Read a results store (a :class:`BatchResults` is passed through).

    Raises:
        StoreError: The folder is missing, is not a results store, or holds
            no successful run.

    """
    return store_dir if isinstance(store_dir, BatchResults) else BatchResults(store_dir)
