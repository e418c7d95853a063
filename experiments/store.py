"""The results store: a folder of Parquet files, one per finished run, queryable with DuckDB.

Layout (other code reads exactly this)::

    DIR/batch.json                      format, versions, root seed, experiment, runs, reference
    DIR/scenarios/<scenario_hash>.json  resolved scenario definition
    DIR/metrics/<run_id>.parquet        one row: identity, status, error, elapsed_s, every metric
    DIR/monthly/<run_id>.parquet        run_id, scenario, replication, then the run's monthly series
    DIR/sensitivity.csv                 only for Sobol or Morris designs

Each file is written to a temporary name in the same folder, flushed to disk
and moved into place with :func:`os.replace`, so a reader (or a resumed
batch) sees a run completely or not at all. A run's monthly file is written
before its metrics file: the metrics file is what marks a run as done.

This module is the one home of the format: the file names and layout, reading
it (:func:`read_batch`, :func:`read_metrics`, :func:`read_monthly`,
:func:`read_definition`, :func:`read_sensitivity`), writing and resuming it
(:func:`prepare_store`, :class:`ResultsStore`) and its one error,
:class:`StoreError`. ``analysis`` reads stores through it. It imports no model
code, so reading a store does not import Mesa.

Query it directly::

    duckdb.sql("select * from read_parquet('DIR/metrics/*.parquet', union_by_name=true)").df()
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pbrsim._version import __version__

if TYPE_CHECKING:  # the worker imports the model; reading a store must not
    from pbrsim.experiments.worker import RunRecord

__all__ = [
    "BATCH_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "IDENTITY_COLUMNS",
    "METRICS_DIR",
    "MONTHLY_DIR",
    "SCENARIOS_DIR",
    "SENSITIVITY_FILE",
    "ResultsStore",
    "StoreError",
    "open_store",
    "prepare_store",
    "read_batch",
    "read_definition",
    "read_metrics",
    "read_monthly",
    "read_sensitivity",
    "write_atomic",
]

logger = logging.getLogger(__name__)

FORMAT = "pbrsim-results"
FORMAT_VERSION = 1
BATCH_FILE = "batch.json"
SCENARIOS_DIR = "scenarios"
METRICS_DIR = "metrics"
MONTHLY_DIR = "monthly"
SENSITIVITY_FILE = "sensitivity.csv"
_TEMP_SUFFIX = ".tmp"

#: Columns of a metrics file that are not metrics, in order.
IDENTITY_COLUMNS: tuple[str, ...] = (
    "run_id",
    "scenario",
    "scenario_hash",
    "replication",
    "seed",
    "params",
    "status",
    "error",
    "elapsed_s",
)
_IDENTITY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("scenario", pa.string()),
        ("scenario_hash", pa.string()),
        ("replication", pa.int64()),
        ("seed", pa.int64()),
        ("params", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("elapsed_s", pa.float64()),
    ]
)


class StoreError(ValueError):
    """A results folder that is missing, broken, foreign or incomplete, or cannot be created or resumed.

    The message names the folder or file and the problem.
    """


def write_atomic(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``dest``, sync it, move it into place."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}{_TEMP_SUFFIX}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(dest: Path, data: Any) -> None:
    text = json.dumps(data, indent=2) + "\n"
    write_atomic(dest, lambda fh: fh.write(text.encode()))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class ResultsStore:
    """An open results folder: its batch description and the runs that have landed."""

    def __init__(self, root: Path, batch: dict[str, Any]) -> None:
        self.root = Path(root)
        self.batch = batch

    @property
    def runs(self) -> list[dict[str, Any]]:
        """The planned runs, as recorded in batch.json."""
        return self.batch["runs"]

    def metrics_path(self, run_id: str) -> Path:
        """Where a run's metrics file goes."""
        return self.root / METRICS_DIR / f"{run_id}.parquet"

    def monthly_path(self, run_id: str) -> Path:
        """Where a run's monthly file goes."""
        return self.root / MONTHLY_DIR / f"{run_id}.parquet"

    def statuses(self) -> dict[str, str]:
        """Status ("ok" or "failed") of every run whose metrics file has landed."""
        if not any((self.root / METRICS_DIR).glob("*.parquet")):
            return {}
        glob = _sql_string(str(self.root / METRICS_DIR / "*.parquet"))
        try:
            with duckdb.connect() as con:
                rows = con.sql(
                    f"select run_id, status from read_parquet({glob}, union_by_name=true)"
                ).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"{self.root}: cannot read the metrics files: {exc}") from None
        return dict(rows)

    def set_reference(self, reference: str | None) -> None:
        """Record which scenario the others are compared with (rewrites batch.json atomically)."""
        if self.batch.get("reference") != reference:
            self.batch["reference"] = reference
            _write_json(self.root / BATCH_FILE, self.batch)

    def clean_temp(self) -> int:
        """Delete temporary files left by an interrupted batch; return how many there were."""
        leftovers = [
            p
            for d in ("", METRICS_DIR, MONTHLY_DIR, SCENARIOS_DIR)
            for p in (self.root / d).glob(f".*{_TEMP_SUFFIX}")
        ]
        for p in leftovers:
            p.unlink(missing_ok=True)
        return len(leftovers)

    def write_run(self, record: RunRecord) -> None:
        """Write one run's monthly file (if any) and then its metrics file, each atomically."""
        if record.monthly is not None:
            monthly = record.monthly.copy()
            monthly.insert(0, "replication", record.replication)
            monthly.insert(0, "scenario", record.scenario)
            monthly.insert(0, "run_id", record.run_id)
            table = pa.Table.from_pandas(monthly, preserve_index=False)
            write_atomic(self.monthly_path(record.run_id), lambda fh: pq.write_table(table, fh))
        else:
            self.monthly_path(record.run_id).unlink(missing_ok=True)
        identity = [
            record.run_id,
            record.scenario,
            record.scenario_hash,
            record.replication,
            record.seed,
            json.dumps(record.params),
            record.status,
            record.error,
            record.elapsed_s,
        ]
        columns = [
            pa.array([v], type=f.type) for v, f in zip(identity, _IDENTITY_SCHEMA, strict=True)
        ]
        fields = list(_IDENTITY_SCHEMA)
        for name, value in record.metrics.items():
            columns.append(pa.array([value], type=pa.float64()))
            fields.append(pa.field(name, pa.float64()))
        table = pa.Table.from_arrays(columns, schema=pa.schema(fields))
        write_atomic(self.metrics_path(record.run_id), lambda fh: pq.write_table(table, fh))

    def metrics(self) -> pd.DataFrame:
        """Every landed run's metrics row (see :func:`read_metrics`)."""
        return read_metrics(self.root)

    def monthly(self) -> pd.DataFrame:
        """Every landed run's monthly series (see :func:`read_monthly`)."""
        return read_monthly(self.root)


# ---------------------------------------------------------------- opening and creating


def read_batch(root: str | Path) -> dict[str, Any]:
    """Read the batch description of a results folder, checked to be a pbrsim store we can read.

    Raises:
        StoreError: the folder is missing or not a folder, or is not a store, or its batch.json is
            broken, foreign, of another format version or incomplete.

    """
    root = Path(root)
    path = root / BATCH_FILE
    if not root.exists():
        raise StoreError(f"{root}: no such folder")
    if not root.is_dir():
        raise StoreError(f"{root}: is not a folder")
    if not path.exists():
        raise StoreError(f"{root}: not a pbrsim results store (no {BATCH_FILE})")
    try:
        batch = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(batch, dict) or batch.get("format") != FORMAT:
        found = batch.get("format") if isinstance(batch, dict) else type(batch).__name__
        raise StoreError(
            f"{path}: not a pbrsim results store (format is {found!r}, expected {FORMAT!r})"
        )
    if batch.get("format_version") != FORMAT_VERSION:
        raise StoreError(
            f"{path}: results format version {batch.get('format_version')!r}; "
            f"this pbrsim ({__version__}) reads version {FORMAT_VERSION}"
        )
    missing = [k for k in ("root_seed", "experiment", "runs") if k not in batch]
    if missing or not isinstance(batch["runs"], list):
        raise StoreError(
            f"{path}: incomplete batch description (missing {', '.join(missing) or 'runs list'})"
        )
    return batch


def open_store(root: str | Path) -> ResultsStore:
    """Open an existing results store for reading or resuming.

    Raises:
        StoreError: the folder is missing, not a store, or its batch.json is broken or foreign.

    """
    return ResultsStore(Path(root), read_batch(root))


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Name the first way two batch descriptions differ, or return None if they are the same."""
    if old.get("pbrsim_version") != new["pbrsim_version"]:
        return (
            f"written by pbrsim {old.get('pbrsim_version')}, this is {new['pbrsim_version']} "
            "(one store never mixes model versions)"
        )
    if old["root_seed"] != new["root_seed"]:
        return f"root seed {old['root_seed']} there, {new['root_seed']} now"
    old_def = old["experiment"].get("definition", {})
    new_def = new["experiment"]["definition"]
    for key in sorted(set(old_def) | set(new_def)):
        if old_def.get(key) != new_def.get(key):
            there, now = old_def.get(key), new_def.get(key)
            return f"experiment field '{key}' differs ({there!r} there, {now!r} now)"
    old_runs = {r["run_id"]: r for r in old["runs"]}
    new_runs = {r["run_id"]: r for r in new["runs"]}
    if set(old_runs) != set(new_runs):
        return f"{len(old_runs)} runs planned there, {len(new_runs)} now, with different run ids"
    for run_id, run in new_runs.items():
        before = old_runs[run_id]
        if before.get("scenario_hash") != run.get("scenario_hash"):
            return (
                f"scenario '{run['scenario']}' has changed since the batch began "
                f"(content hash {before.get('scenario_hash')} there, "
                f"{run.get('scenario_hash')} now)"
            )
        for key in ("seed", "params", "replication", "scenario"):
            if before.get(key) != run.get(key):
                return f"run {run_id}: {key} {before.get(key)!r} there, {run.get(key)!r} now"
    return None


def prepare_store(
    root: str | Path,
    batch: dict[str, Any],
    scenarios: dict[str, dict[str, Any]],
    *,
    resume: bool,
) -> tuple[ResultsStore, bool]:
    """Create a store for a batch, or reopen the store of the same batch to resume it.

    Args:
        root: the results folder.
        batch: the batch description to write as batch.json.
        scenarios: resolved scenario definitions by content hash.
        resume: continue a store of the same batch if there is one (else refuse an existing store).

    Returns:
        The store, and whether an existing store is being resumed.

    Raises:
        StoreError: the folder holds something else (a file, a foreign or broken store, another
            batch), or holds a store and ``resume`` is false. Nothing is ever overwritten.

    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        if not (root / BATCH_FILE).exists():
            raise StoreError(
                f"{root}: folder is not empty and is not a pbrsim results store "
                f"(no {BATCH_FILE}); choose another --out"
            )
        store = open_store(root)
        if not resume:
            raise StoreError(
                f"{root}: already holds a results store; continue it with --resume "
                "or choose another --out"
            )
        if why := _difference(store.batch, batch):
            raise StoreError(
                f"{root}: holds a different batch, so it cannot be resumed: {why}; "
                "choose another --out"
            )
        if cleaned := store.clean_temp():
            logger.info("%s: removed %d temporary files of an interrupted batch", root, cleaned)
        return store, True
    if resume:
        logger.info("%s: nothing to resume; starting the batch", root)
    for sub in (SCENARIOS_DIR, METRICS_DIR, MONTHLY_DIR):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for digest, definition in scenarios.items():
        _write_json(root / SCENARIOS_DIR / f"{digest}.json", definition)
    _write_json(root / BATCH_FILE, batch)  # last: a store exists once its description does
    return ResultsStore(root, batch), False


# ---------------------------------------------------------------- reading


def _read_parquet(folder: Path, order: str, empty_columns: list[str]) -> pd.DataFrame:
    read_batch(folder.parent)
    if not any(folder.glob("*.parquet")):
        return pd.DataFrame(columns=empty_columns)
    glob = _sql_string(str(folder / "*.parquet"))
    try:
        with duckdb.connect() as con:
            return con.sql(
                f"select * from read_parquet({glob}, union_by_name=true) order by {order}"
            ).df()
    except duckdb.Error as exc:
        raise StoreError(f"{folder}: cannot read the Parquet files ({exc})") from None


def read_metrics(root: str | Path) -> pd.DataFrame:
    """One row per landed run: identity, status, error, elapsed time and every metric (via DuckDB).

    Metrics a run did not produce (other scenarios' metrics, failed runs) are NaN.

    Raises:
        StoreError: ``root`` is not a readable results store.

    """
    return _read_parquet(Path(root) / METRICS_DIR, "run_id", list(IDENTITY_COLUMNS))


def read_monthly(root: str | Path) -> pd.DataFrame:
    """Monthly series of every landed run, stacked (run_id, scenario, replication, month, ...).

    Read with DuckDB; columns a run lacks (e.g. outcome payments under fee for service) are null.

    Raises:
        StoreError: ``root`` is not a readable results store.

    """
    return _read_parquet(
        Path(root) / MONTHLY_DIR, "run_id, month", ["run_id", "scenario", "replication", "month"]
    )


def read_definition(root: str | Path, scenario_hash: str) -> dict[str, Any] | None:
    """Return the resolved scenario definition ``scenarios/<hash>.json``, or None if absent.

    Raises:
        StoreError: the file exists but is not readable JSON.

    """
    path = Path(root) / SCENARIOS_DIR / f"{scenario_hash}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: cannot be read as JSON ({exc})") from None


def read_sensitivity(root: str | Path) -> pd.DataFrame | None:
    """Return the sensitivity indices of ``sensitivity.csv``, or None without one.

    Raises:
        StoreError: the file exists but cannot be parsed.

    """
    path = Path(root) / SENSITIVITY_FILE
    if not path.exists():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot be read ({exc})") from None
