"""The Python API: scenarios, one replication, comparisons and experiments, as pandas DataFrames.

For notebooks and scripts; the ``pbrsim`` command line is built on the same
pieces. Everything here is re-exported by ``import pbrsim``::

    import pbrsim

    design = pbrsim.load_scenario(pbrsim.shipped_scenario("binary_pbr"),
                                  overrides={"cohort": {"referrals_per_year": 6000}})
    run = pbrsim.run(design, seed=1)
    run.metrics["parking_share"], run.monthly.head(), run.cohorts.head()

    batch = pbrsim.compare([design, pbrsim.shipped_scenario("fee_for_service")], reps=3)
    batch.metrics            # one row per run: identity columns, then every measure
    batch.comparison()       # mean, 95% interval and difference from the reference, per measure

A scenario can be given as a file, as a mapping of fields (which may name a
file to ``extends``), or as a file plus ``overrides``; errors name the file
and field and say what was expected (:class:`~pbrsim.scenario_files.ScenarioFileError`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from pbrsim.scenario_files import ScenarioFileError, merge_fields, resolve_scenario
from pbrsim.scenario_files import load_scenario as _load_file
from pbrsim.sim.renames import upgrade_fields
from pbrsim.sim.scenario import Scenario

__all__ = [
    "Batch",
    "Run",
    "compare",
    "load_scenario",
    "open_results",
    "run",
    "run_experiment",
    "shipped_experiment",
    "shipped_scenario",
    "shipped_scenarios",
]

ScenarioSource = Scenario | str | Path | Mapping[str, Any]


def _data_dir(name: str) -> Path:
    """A data folder shipped beside the experiments package: ``experiments`` or ``scenarios``.

    In a checkout (editable install) these are the repository's top-level folders; in an
    installed wheel they are ``pbrsim/experiments`` and ``pbrsim/scenarios``. Either way the
    scenarios sit at ``../scenarios`` from the experiment files, which name them so.
    """
    import importlib.util

    spec = importlib.util.find_spec("pbrsim.experiments")
    assert spec is not None and spec.origin is not None
    experiments = Path(spec.origin).parent
    return experiments if name == "experiments" else experiments.parent / name


def shipped_scenarios() -> list[Path]:
    """Every shipped contract design (``scenarios/*.yaml``), by file name."""
    return sorted(_data_dir("scenarios").glob("*.yaml"))


def shipped_scenario(name: str) -> Path:
    """The shipped scenario file called ``name`` (with or without ``.yaml``).

    Raises:
        FileNotFoundError: no shipped scenario has that name (the message lists them).

    """
    path = _data_dir("scenarios") / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not path.is_file():
        names = ", ".join(p.stem for p in shipped_scenarios())
        raise FileNotFoundError(f"no shipped scenario '{name}'; shipped: {names}")
    return path


def shipped_experiment(name: str) -> Path:
    """The shipped experiment file called ``name`` (e.g. ``shipped_designs``, ``sensitivity``)."""
    folder = _data_dir("experiments")
    path = folder / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(folder.glob("*.yaml")))
        raise FileNotFoundError(f"no shipped experiment '{name}'; shipped: {names}")
    return path


def load_scenario(source: ScenarioSource, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """A validated scenario from a file, a mapping of fields, or either plus overrides.

    Args:
        source: a scenario file; a mapping of scenario fields (an ``extends:`` key in it names a
            file to start from, relative to the working folder); or a :class:`Scenario`.
        overrides: nested fields set on top, e.g. ``{"contract": {"payment": {"at_risk_share": 0.2}}}``.

    Raises:
        ScenarioFileError: the file or fields are invalid; every problem names the file (or
            ``<fields>`` for a mapping), the field path and what was expected.

    """
    if isinstance(source, Scenario):
        if not overrides:
            return source
        source = source.model_dump(mode="json")
    if isinstance(source, str | Path):
        return _load_file(source, dict(overrides) if overrides else None)
    fields = upgrade_fields(dict(source))
    parent = fields.pop("extends", None)
    if parent is not None:
        fields = merge_fields(resolve_scenario(parent)[0], fields)
    if overrides:
        fields = merge_fields(fields, upgrade_fields(dict(overrides)))
    try:
        return Scenario.model_validate(fields)
    except ValidationError as exc:
        raise ScenarioFileError([
            f"<fields>: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        ]) from None


@dataclass(frozen=True)
class Run:
    """One replication's results as DataFrames.

    Attributes:
        scenario: the design that was run.
        seed: its root seed.
        metrics: every final measure (index: measure key; see the measure catalogue).
        monthly: one row per month: volumes, effort by band, cash, market, payments.
        cohorts: one row per monthly cohort and area: counts, counterfactual, payments.
        ledger: every payment: month, payer, payee, kind, amount.

    """

    scenario: Scenario
    seed: int
    metrics: pd.Series
    monthly: pd.DataFrame
    cohorts: pd.DataFrame
    ledger: pd.DataFrame


def run(scenario: ScenarioSource, seed: int | None = None, overrides: Mapping[str, Any] | None = None) -> Run:
    """Run one replication of a scenario to the end of its outcome run-off.

    Args:
        scenario: a file, a mapping of fields or a :class:`Scenario` (see :func:`load_scenario`).
        seed: root seed (default: the scenario's ``seed``); the same seed gives identical results.
        overrides: fields set on top of the scenario.

    """
    from pbrsim.sim.results import run_scenario

    design = load_scenario(scenario, overrides)
    result = run_scenario(design, seed)
    metrics = pd.Series(result.metrics, dtype="float64", name=design.name)
    return Run(design, result.seed, metrics, result.monthly, result.cohorts, result.ledger)


class Batch:
    """A results folder written by a comparison or an experiment, read as DataFrames.

    Attributes:
        folder: the results folder (keep it to reopen with :func:`open_results`).

    """

    def __init__(self, folder: str | Path) -> None:
        from pbrsim.experiments.store import open_store

        self.folder = Path(folder)
        self._store = open_store(self.folder)  # refuses a folder that is not a results store

    @cached_property
    def runs(self) -> pd.DataFrame:
        """Every landed run, failed ones included (``status``, ``error``), with its metrics."""
        from pbrsim.experiments.store import read_metrics

        return read_metrics(self.folder)

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per successful run: identity columns (scenario, replication, seed...), then every measure."""
        runs = self.runs
        return runs[runs["status"] == "ok"].reset_index(drop=True)

    @cached_property
    def monthly(self) -> pd.DataFrame:
        """Every run's monthly series, stacked, with ``run_id``, ``scenario`` and ``replication``."""
        from pbrsim.experiments.store import read_monthly

        return read_monthly(self.folder)

    @property
    def scenarios(self) -> list[str]:
        """Scenario labels in the batch, in order."""
        return list(dict.fromkeys(r["scenario"] for r in self._store.runs))

    def comparison(self, reference: str | None = None) -> pd.DataFrame:
        """Per scenario and measure: mean, 95% interval, and the difference from ``reference``."""
        from pbrsim.analysis.tables import comparison_table

        return comparison_table(self.folder, reference)

    def report(self, out: str | Path | None = None) -> Path:
        """Write the self-contained HTML report (default: ``report.html`` in the folder)."""
        from pbrsim.analysis.report import write_report

        return write_report(self.folder, None if out is None else Path(out))

    def __repr__(self) -> str:
        return f"Batch({str(self.folder)!r}: {len(self.runs)} runs of {', '.join(self.scenarios)})"


def open_results(folder: str | Path) -> Batch:
    """Open a results folder written earlier (by ``pbrsim compare``/``experiment`` or this API)."""
    return Batch(folder)


def _quiet(*_: object, **__: object) -> None:
    """Progress lines are for the command line; the API returns what they say."""


def _new_folder(out: str | Path | None) -> Path:
    return Path(tempfile.mkdtemp(prefix="pbrsim-")) / "results" if out is None else Path(out)


def compare(scenarios: Sequence[ScenarioSource], reps: int = 5, *, seed: int | None = None,
            out: str | Path | None = None, workers: int | None = None, reference: str | None = None,
            progress: bool = False) -> Batch:
    """Run scenarios side by side, ``reps`` replications each, on common random numbers.

    Args:
        scenarios: files, mappings of fields or :class:`Scenario` objects (names must differ).
        reps: replications of each scenario; replication r of every scenario shares a seed.
        seed: root seed of the batch (default: the experiments' default root seed).
        out: results folder (default: a new temporary folder); a folder holding the same batch
            is continued, so re-running a notebook cell does not redo finished runs.
        workers: local processes (default: every core; 1 runs in this process).
        reference: the scenario others are compared with (default: the first).
        progress: show a progress bar.

    """
    from pbrsim.experiments.batch import execute_plan
    from pbrsim.experiments.plan import plan_experiment
    from pbrsim.experiments.spec import DEFAULT_ROOT_SEED, Experiment
    from pbrsim.scenario_files import scenario_hash

    folder = _new_folder(out)
    # designs built in code are written where the same design always lands (named by content), so
    # the batch they make is the same batch next time and a results folder holding it is continued
    inputs = Path(tempfile.gettempdir()) / "pbrsim-scenarios"
    inputs.mkdir(exist_ok=True)
    paths = []
    for source in scenarios:
        if isinstance(source, str | Path):
            paths.append(str(Path(source).resolve()))
            continue
        design = load_scenario(source)
        path = inputs / f"{scenario_hash(design)}.yaml"
        if not path.exists():
            path.write_text(design.model_dump_json(), encoding="utf-8")  # JSON is YAML
        paths.append(str(path))
    experiment = Experiment.model_validate({
        "name": "compare", "scenarios": paths, "replications": reps,
        "root_seed": DEFAULT_ROOT_SEED if seed is None else seed,
    })
    plan = plan_experiment(experiment, Path.cwd())
    execute_plan(plan, folder, resume=True, workers=workers, cluster=None, reference=reference,
                 echo=_quiet, progress=progress)
    return Batch(folder)


def run_experiment(file: str | Path, out: str | Path | None = None, *, resume: bool = False,
                   workers: int | None = None, progress: bool = False) -> Batch:
    """Run an experiment file (replications, sweeps, sensitivity designs) into a results folder.

    Args:
        file: the experiment YAML (see :func:`shipped_experiment` for the shipped ones).
        out: results folder (default: a new temporary folder).
        resume: continue an interrupted batch in ``out``.
        workers: local processes (default: every core).
        progress: show a progress bar.

    """
    from pbrsim.experiments.batch import execute_plan
    from pbrsim.experiments.plan import plan_experiment
    from pbrsim.experiments.sensitivity import is_sensitivity_design, write_sensitivity
    from pbrsim.experiments.spec import load_experiment

    file = Path(file)
    folder = _new_folder(out)
    definition = load_experiment(file)
    plan = plan_experiment(definition, file.parent, file=str(file))
    execute_plan(plan, folder, resume=resume, workers=workers, cluster=definition.cluster, echo=_quiet,
                 progress=progress)
    if is_sensitivity_design(definition):
        write_sensitivity(folder)
    return Batch(folder)
