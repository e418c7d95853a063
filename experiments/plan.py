"""Planning a batch: each run's scenario, parameters, replication, seed and id, before any run.

Each run's seed comes from the experiment's root seed through numpy's
:class:`~numpy.random.SeedSequence`, keyed by what the run *is*, never by when
it runs: with common random numbers (the default) by the replication alone,
so replication r of every scenario and design point meets the same random
stream and differences between designs are not noise; otherwise by
(replication, scenario index, design point). Serial, pool and cluster runs of
a batch, and a batch resumed after a crash, therefore give identical results.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pbrsim.experiments.designs import Design, build_design
from pbrsim.experiments.spec import Experiment, ExperimentFileError
from pbrsim.experiments.store import FORMAT, FORMAT_VERSION
from pbrsim.experiments.worker import RunTask
from pbrsim.sim import Scenario
from pydantic import ValidationError

from pbrsim._version import __version__
from pbrsim.scenario_files import ScenarioFileError, load_scenario, merge_fields, resolve_scenario, scenario_hash

__all__ = ["Plan", "apply_params", "derive_seed", "plan_experiment", "slug"]

logger = logging.getLogger(__name__)


@dataclass
class Plan:
    """A planned batch: the experiment, its design and every run, in a fixed order."""

    experiment: Experiment
    file: str | None
    design: Design
    tasks: list[RunTask]
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Resolved scenario definitions (``model_dump(mode="json")``) by content hash."""

    @property
    def scenario_names(self) -> list[str]:
        """Scenario labels in the experiment's order."""
        return list(dict.fromkeys(t.scenario for t in self.tasks))

    def batch_record(self, reference: str | None = None) -> dict[str, Any]:
        """Describe the batch as the store's batch.json records it."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "pbrsim_version": __version__,
            "root_seed": self.experiment.root_seed,
            "experiment": {
                "name": self.experiment.name,
                "file": self.file,
                "definition": self.experiment.definition(),
            },
            "runs": [t.identity() for t in self.tasks],
            "reference": reference,
        }


def derive_seed(root_seed: int, *key: int) -> int:
    """Derive the seed of the run identified by ``key`` (a non-negative int below 2**63).

    ``derive_seed(root, r)`` is the first word of ``SeedSequence(root).spawn(r + 1)[r]``:
    it depends on the root seed and the key only, never on the order runs are made
    or on which other runs are in the batch.
    """
    state = np.random.SeedSequence(root_seed, spawn_key=key).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))  # 63 bits: stored as a Parquet int64


def slug(name: str) -> str:
    """Make a file-name-safe form of a scenario name, used in run ids."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "scenario"


def _assign(node: Any, parts: list[str], value: Any, done: list[str]) -> None:
    part, rest = parts[0], parts[1:]
    here = ".".join([*done, part])
    if part == "*" or part.isdigit():
        if not isinstance(node, list):
            raise KeyError(
                f"{'.'.join(done)} is not set as a list in the scenario, so {here} cannot be swept"
            )
        if part != "*" and int(part) >= len(node):
            raise KeyError(f"{'.'.join(done)} has {len(node)} elements, so there is no {here}")
        for i in range(len(node)) if part == "*" else [int(part)]:
            if rest:
                _assign(node[i], rest, value, [*done, str(i)])
            else:
                node[i] = value
        return
    if not rest:
        node[part] = value
        return
    if not isinstance(node.get(part), dict | list):
        node[part] = {}
    _assign(node[part], rest, value, [*done, part])


def apply_params(raw: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Copy raw scenario fields and set each dotted-path parameter (``*``: every element).

    Raises:
        KeyError: a path runs through a list the scenario does not have, or past its end.

    """
    out = copy.deepcopy(raw)
    for path, value in params.items():
        _assign(out, path.split("."), value, [])
    return out


def _validate(path: Path, fields: dict[str, Any]) -> Scenario:
    """Validate fully merged fields; on error, raise the file loader's message naming the file."""
    try:
        return Scenario.model_validate(fields)
    except ValidationError:
        return load_scenario(path, fields)  # raises ScenarioFileError, worded for the scenario file


def plan_experiment(experiment: Experiment, base_dir: str | Path, file: str | None = None) -> Plan:
    """Every run of an experiment, each scenario resolved and hashed.

    A design point whose values make an invalid scenario is planned anyway, with
    the validation message as its ``problem``: its runs are recorded as failed and
    the rest of the batch goes on.

    Args:
        experiment: the validated experiment.
        base_dir: folder that scenario paths are relative to (the experiment file's).
        file: the experiment file, recorded in batch.json.

    Raises:
        ExperimentFileError: a scenario file is missing or invalid as it stands, two
            scenarios share a label, or a parameter path does not fit a scenario.

    """
    design = build_design(experiment)
    where = file or "experiment"
    problems: list[str] = []
    tasks: list[RunTask] = []
    scenarios: dict[str, dict[str, Any]] = {}
    labels: dict[str, str] = {}
    for index, entry in enumerate(experiment.scenarios):
        path = Path(base_dir) / entry.path
        try:
            base = load_scenario(path)
        except ScenarioFileError as exc:
            problems += [f"{where}: scenarios.{index}: {p}" for p in exc.problems]
            continue
        label = entry.name or base.name
        if slug(label) in labels:
            problems.append(
                f"{where}: scenarios.{index}: '{label}' has the same name (or run-id form) as "
                f"'{labels[slug(label)]}'; give each a distinct 'name:'"
            )
            continue
        labels[slug(label)] = label
        raw = merge_fields(merge_fields(resolve_scenario(path)[0], experiment.overrides), entry.overrides)
        raw["name"] = label
        for point, params in enumerate(design.points):
            try:
                fields = apply_params(raw, params)
            except KeyError as exc:
                problems.append(f"{where}: scenarios.{index} ({path}): {exc.args[0]}")
                break
            digest, problem = None, None
            try:
                scenario = _validate(path, fields)
            except ScenarioFileError as exc:
                shown = (
                    ", ".join(f"{k}={v!r}" for k, v in params.items())
                    or "the experiment's overrides"
                )
                problem = f"invalid scenario with {shown}: " + "; ".join(exc.problems)
            else:
                digest = scenario_hash(scenario)
                scenarios.setdefault(digest, scenario.model_dump(mode="json"))
            for replication in range(experiment.replications):
                key = (
                    (replication,)
                    if experiment.common_random_numbers
                    else (replication, index, point)
                )
                tasks.append(
                    RunTask(
                        run_id=f"{slug(label)}-p{point:04d}-r{replication:03d}",
                        scenario=label,
                        scenario_hash=digest,
                        point=point,
                        replication=replication,
                        seed=derive_seed(experiment.root_seed, *key),
                        params=params,
                        problem=problem,
                    )
                )
    if problems:
        raise ExperimentFileError(problems)
    return Plan(experiment, file, design, tasks, scenarios)
