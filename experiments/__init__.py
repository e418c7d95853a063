"""Batches of scenario runs: experiment files, the runner and the results store.

One module per step, each usable on its own:

* :mod:`experiments.spec` -- the experiment file schema (``load_experiment``):
  scenarios (paths relative to the file), replications, root seed, overrides
  applied to every run, and an optional sweep (grid, Latin hypercube, Sobol or
  Morris) over dotted scenario field paths such as
  ``contract.payment.at_risk_share`` or ``primes.*.hours_per_month``.
* :mod:`experiments.designs` -- design points from SALib's samplers.
* :mod:`experiments.plan` -- every run of a batch, with its id, resolved
  scenario (by content hash) and seed, derived from the root seed with
  ``numpy.random.SeedSequence`` by replication (common random numbers).
* :mod:`experiments.worker` -- the module-level function a worker runs.
* :mod:`experiments.runner` -- serial, process-pool or Dask execution with a
  progress bar; each finished run is streamed to the store.
* :mod:`experiments.preload`, :mod:`experiments.pool` and :mod:`experiments.cluster`
  -- workers load the model when they start, not on their first run: the pool's
  forkserver (``pool``) imports ``preload``; on Dask the runner registers a worker plugin, or workers are
  started with ``dask worker ADDRESS --preload pbrsim.experiments.preload``.
* :mod:`experiments.store` -- the results folder (batch.json, scenarios/,
  metrics/ and monthly/ Parquet files, one per run, written atomically),
  ``open_store``, ``read_metrics`` and ``read_monthly`` (via DuckDB).
* :mod:`experiments.sensitivity` -- Sobol or Morris indices with SALib,
  written to ``sensitivity.csv``.
* :mod:`experiments.cli` -- ``pbrsim compare``, ``pbrsim experiment`` and
  ``pbrsim results``.

Shipped experiment files: ``shipped_designs.yaml`` (six shipped scenarios x 10
replications) and ``sensitivity.yaml`` (Sobol indices of key measures of the
TR hybrid).

Fields of an experiment file (unknown fields are refused)::

    name: Sensitivity of the TR hybrid   # default: the file name
    description: ...
    scenarios:                           # a path, or {path, name, overrides}
      - ../scenarios/tr_hybrid.yaml
    replications: 2                      # default 1
    root_seed: 20111                     # default 20111
    common_random_numbers: true          # replication r of every run shares a seed
    overrides: {cohort: {referrals_per_year: 12000}}
    cluster: tcp://scheduler:8786        # optional Dask scheduler
    sweep:
      method: grid                       # grid | latin | sobol | morris
      parameters:                        # grid: lists of values
        contract.payment.at_risk_share: [0.05, 0.1]
      # latin:  parameters: {path: {low, high}}, samples: N, seed
      # sobol:  parameters, samples: N (a power of 2), second_order, seed, measures
      # morris: parameters, trajectories: N, num_levels (even), seed, measures
"""
