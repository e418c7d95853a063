"""Load pbrsim's model into a worker process when it starts, not on its first run.

Importing this module loads the model (:func:`experiments.worker.load_model`):

* the local process pool's forkserver imports it once, and every worker it
  forks inherits the model (:mod:`experiments.pool`);
* a Dask worker started with ``dask worker tcp://scheduler:8786 --preload
  pbrsim.experiments.preload`` (or ``LocalCluster(preload=["pbrsim.experiments.preload"])``)
  loads it as it starts, before any client connects. Workers started without
  it load the model when a batch connects (:mod:`experiments.cluster`).
"""

from __future__ import annotations

from typing import Any

from pbrsim.experiments.worker import load_model

__all__ = ["dask_setup"]

load_model()


def dask_setup(worker: Any) -> None:
    """Dask's preload hook: nothing left to do, the model was loaded when this module was imported."""
