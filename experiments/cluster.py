"""Dask workers: load the model once, when a batch connects or a worker joins, not on a first run.

The runner registers :class:`LoadModel` as a worker plugin on every cluster it
uses (:func:`load_model_on_workers`): each worker there now runs its ``setup``
at once, and any worker that joins later runs it as it joins, so no run pays
for importing the model. Workers started with ``--preload
pbrsim.experiments.preload`` have it loaded already (setup then costs nothing).
Imported only for cluster runs (it imports ``distributed``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from distributed import Client, WorkerPlugin
from pbrsim.experiments.worker import load_model

__all__ = ["PLUGIN_NAME", "LoadModel", "load_model_on_workers"]

logger = logging.getLogger(__name__)

#: The plugin's name on the scheduler: registering again replaces it (one per cluster, not per batch).
PLUGIN_NAME = "pbrsim-load-model"


class LoadModel(WorkerPlugin):
    """A worker plugin that imports pbrsim's model on each worker as it is registered or the worker joins."""

    name = PLUGIN_NAME

    def setup(self, worker: Any) -> None:
        """Load the model (a no-op where it is loaded already)."""
        load_model()


def load_model_on_workers(client: Client) -> None:
    """Register :class:`LoadModel`; returns once every current worker has loaded the model.

    Raises:
        Exception: whatever a worker raised loading the model (pbrsim missing there, say).

    """
    start = time.perf_counter()
    client.register_plugin(LoadModel(), name=PLUGIN_NAME)
    logger.info("model loaded on %d Dask workers in %.1f s", len(client.nthreads()), time.perf_counter() - start)
