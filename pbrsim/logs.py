"""Logging: configured by the command line (``-v``), and carried back from worker processes.

Every module logs to a logger named after itself under ``pbrsim``. The library
never configures logging (a notebook or host program does); the ``pbrsim``
command does, from ``--verbose``. A run done in a pool process or on a Dask
worker logs there, where nobody sees it: :class:`CapturedLogs` collects the
``pbrsim`` records of one run so the batch process can replay them to its own
handlers (:func:`replay`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["CapturedLogs", "configure_logging", "replay"]

ROOT = "pbrsim"


def configure_logging(verbosity: int) -> None:
    """Send pbrsim's log records to standard error: warnings by default, ``-v`` info, ``-vv`` debug."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = logging.getLogger(ROOT)
    logger.setLevel(level)
    if not any(getattr(h, "_pbrsim", False) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._pbrsim = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record arrives (it may be replaced after set-up)."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        """Ignore the stream StreamHandler sets: the current standard error is always used."""


class CapturedLogs(logging.Handler):
    """Collects the ``pbrsim`` log records emitted while it is open, as picklable dicts.

    Used as a context manager around one run in a worker: records at or above
    ``level`` are kept and stop there (the worker has no one to show them to).
    """

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[dict[str, Any]] = []
        self._logger = logging.getLogger(ROOT)
        self._saved: tuple[int, bool] = (logging.NOTSET, True)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record with its message already formatted (arguments may not pickle)."""
        self.records.append({"name": record.name, "levelno": record.levelno, "levelname": record.levelname,
                             "msg": record.getMessage(), "created": record.created,
                             "process": record.process})

    def __enter__(self) -> CapturedLogs:
        self._saved = (self._logger.level, self._logger.propagate)
        self._logger.setLevel(self.level)
        self._logger.propagate = False
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._saved[0])
        self._logger.propagate = self._saved[1]


def replay(records: list[dict[str, Any]], run_id: str) -> None:
    """Hand records captured in a worker to this process's handlers, naming the run they came from."""
    for fields in records:
        record = logging.makeLogRecord({**fields, "msg": f"[{run_id}] {fields['msg']}", "args": None})
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
