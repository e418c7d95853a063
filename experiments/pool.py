"""The local process pool's start: a forkserver that loads the model once, started as early as possible.

Every pool worker is forked from one server process that has imported the
model (``PRELOAD``), so workers start with it loaded. Importing the model takes
the server about a second; :func:`start_pool_server` starts it at once (it
returns without waiting), so it loads the model while the batch process reads
the experiment and plans the batch. Kept free of the model, pandas and the
store, so the command line can call it before importing them.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os

__all__ = ["PRELOAD", "default_workers", "pool_context", "start_pool_server"]

#: Imported once by the pool's server, inherited by every worker it forks: the batch's main module,
#: the worker's module, and the model with its mechanisms (experiments/preload.py).
PRELOAD = ["__main__", "pbrsim.experiments.worker", "pbrsim.experiments.preload"]


def default_workers() -> int:
    """Count the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_context() -> multiprocessing.context.BaseContext:
    """Pick a forkserver (preloaded with the model) if there is one, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def start_pool_server(workers: int | None) -> None:
    """Start the pool's forkserver now if a batch with ``workers`` would use a pool (None: every core).

    The server loads the model in the background; the first worker the pool
    asks for waits for it only if it has not finished by then.
    """
    if (default_workers() if workers is None else workers) <= 1:
        return
    if "forkserver" in multiprocessing.get_all_start_methods():
        pool_context()
        multiprocessing.forkserver.ensure_running()
