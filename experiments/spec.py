"""Experiment files: which scenarios to run, how often, and over which parameters.

An experiment file is YAML, validated like a scenario file: unknown fields and
wrong types are refused with the file, the field path and what was expected,
e.g.::

    experiments/broken.yaml: sweep.parameters.contract.payment.at_risk_shar:
    no such scenario field ('at_risk_shar' is not a field of contract.payment;
    it has: block_grant_per_year, ...)

A minimal file::

    name: Shipped designs
    scenarios:                 # paths relative to this file
      - ../scenarios/fee_for_service.yaml
      - path: ../scenarios/tr_hybrid.yaml
        name: TR hybrid         # optional label (must be unique)
        overrides: {contract: {months: 24}}
    replications: 10
    root_seed: 20111
    overrides:                 # nested mapping applied to every scenario
      cohort: {referrals_per_year: 12000}
    sweep:                     # optional; one of grid, latin, sobol, morris
      method: grid
      parameters:
        contract.payment.at_risk_share: [0.05, 0.1, 0.2]

Sweep parameters are dotted paths into the scenario schema
(:class:`sim.scenario.Scenario`); list elements are addressed by index
(``primes.0.hours_per_month``) or all at once (``primes.*.hours_per_month``).
A path the schema does not have is refused before anything runs.
"""

from __future__ import annotations

import logging
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pbrsim.experiments.defaults import DEFAULT_MEASURES, DEFAULT_ROOT_SEED  # re-exported
from pbrsim.sim.renames import upgrade_fields, upgrade_path
from pbrsim.sim.scenario import Scenario
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pbrsim.scenario_files import FileProblems, read_yaml_mapping

__all__ = [
    "DEFAULT_MEASURES",
    "DEFAULT_ROOT_SEED",
    "Experiment",
    "ExperimentFileError",
    "GridSweep",
    "LatinSweep",
    "MorrisSweep",
    "ParameterRange",
    "ScenarioEntry",
    "SobolSweep",
    "Sweep",
    "check_field_path",
    "field_is_integer",
    "load_experiment",
]

logger = logging.getLogger(__name__)


class ExperimentFileError(FileProblems):
    """An experiment that cannot be run, with every problem found in it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterRange(_Strict):
    """Bounds of one sampled parameter (uniform between ``low`` and ``high``)."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> ParameterRange:
        if not self.high > self.low:
            raise ValueError(f"'high' ({self.high:g}) must be above 'low' ({self.low:g})")
        return self


class GridSweep(_Strict):
    """Every combination of the listed values (the last parameter varies fastest)."""

    method: Literal["grid"]
    parameters: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(min_length=1)


class LatinSweep(_Strict):
    """A Latin hypercube of ``samples`` points (SALib ``latin``)."""

    method: Literal["latin"]
    parameters: dict[str, ParameterRange] = Field(min_length=1)
    samples: Annotated[int, Field(ge=1)]
    seed: int | None = None
    """Seed of the sampler; defaults to the experiment's ``root_seed``."""


class SobolSweep(_Strict):
    """Saltelli's scheme for Sobol indices: ``samples * (D + 2)`` points (2D + 2: 2nd order)."""

    method: Literal["sobol"]
    parameters: dict[str, ParameterRange] = Field(min_length=1)
    samples: Annotated[int, Field(ge=2)]
    """Base sample size N; a power of 2 (the Sobol' sequence's balance needs it)."""
    second_order: bool = False
    seed: int | None = None
    measures: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_MEASURES)
    )

    @field_validator("samples")
    @classmethod
    def _power_of_two(cls, n: int) -> int:
        if n & (n - 1):
            raise ValueError(f"must be a power of 2 (e.g. 32, 64, 128), got {n}")
        return n


class MorrisSweep(_Strict):
    """Morris elementary effects: ``trajectories * (D + 1)`` points."""

    method: Literal["morris"]
    parameters: dict[str, ParameterRange] = Field(min_length=1)
    trajectories: Annotated[int, Field(ge=2)]
    num_levels: Annotated[int, Field(ge=2)] = 4
    seed: int | None = None
    measures: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_MEASURES)
    )

    @model_validator(mode="after")
    def _even_levels(self) -> MorrisSweep:
        if self.num_levels % 2:
            raise ValueError(
                f"num_levels must be even (SALib's Morris design), got {self.num_levels}"
            )
        return self


Sweep = Annotated[GridSweep | LatinSweep | SobolSweep | MorrisSweep, Field(discriminator="method")]


class ScenarioEntry(_Strict):
    """One scenario of an experiment: a file, an optional label and overrides of its own."""

    path: Annotated[str, Field(min_length=1)]
    """Scenario file, relative to the experiment file (or absolute)."""
    name: Annotated[str, Field(min_length=1)] | None = None
    """Label in the results (defaults to the scenario's ``name``)."""
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("overrides", mode="before")
    @classmethod
    def _current_names(cls, value: Any) -> Any:
        return _upgraded(value)


def _upgraded(value: Any) -> Any:
    """Overrides with renamed scenario fields under their current names (sim/renames.py)."""
    return upgrade_fields(value) if isinstance(value, dict) else value


class Experiment(_Strict):
    """A batch: scenarios x design points x replications."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    scenarios: Annotated[list[ScenarioEntry], Field(min_length=1)]
    replications: Annotated[int, Field(ge=1)] = 1
    root_seed: Annotated[int, Field(ge=0)] = DEFAULT_ROOT_SEED
    common_random_numbers: bool = True
    """Replication r of every scenario and design point gets the same seed (like with like)."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Nested mapping of scenario fields applied to every scenario (e.g. smaller volumes)."""
    sweep: Sweep | None = None
    cluster: str | None = None
    """Address of a Dask scheduler to run on (an execution setting, not part of the design)."""

    @field_validator("overrides", mode="before")
    @classmethod
    def _current_names(cls, value: Any) -> Any:
        return _upgraded(value)

    @field_validator("sweep", mode="before")
    @classmethod
    def _current_paths(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("parameters"), dict):
            return {**value, "parameters": {upgrade_path(str(k)): v for k, v in value["parameters"].items()}}
        return value

    @field_validator("scenarios", mode="before")
    @classmethod
    def _paths_as_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value

    def definition(self) -> dict[str, Any]:
        """Return what identifies the batch (all but execution settings), as JSON-ready data."""
        return self.model_dump(mode="json", exclude={"cluster"})


# ---------------------------------------------------------------- scenario field paths


def _unwrap(annotation: Any) -> list[Any]:
    """List the concrete types an annotation allows (Annotated and unions opened, no None)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    if annotation is type(None):
        return []
    return [annotation]


def _leaf_types(annotation: Any, parts: list[str], done: list[str]) -> tuple[list[Any], str | None]:
    """Leaf types reached by ``parts`` from ``annotation``, or the reason there are none."""
    if not parts:
        return _unwrap(annotation), None
    part, rest = parts[0], parts[1:]
    here = ".".join(done) or "the scenario"
    leaves: list[Any] = []
    reasons: list[str] = []
    for t in _unwrap(annotation):
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if part in t.model_fields:
                found, why = _leaf_types(t.model_fields[part].annotation, rest, [*done, part])
            else:
                found, why = (
                    [],
                    (f"'{part}' is not a field of {here}; it has: {', '.join(t.model_fields)}"),
                )
        elif origin is list:
            if part == "*" or part.isdigit():
                found, why = _leaf_types(typing.get_args(t)[0], rest, [*done, part])
            else:
                found, why = (
                    [],
                    f"{here} is a list: address an element as {here}.0 or all as {here}.*",
                )
        elif origin is dict:
            found, why = _leaf_types(typing.get_args(t)[1], rest, [*done, part])
        else:
            found, why = [], f"{here} is a single value and has no field '{part}'"
        leaves += found
        if why:
            reasons.append(why)
    if leaves:
        return leaves, None
    return [], reasons[0] if reasons else f"{here} has no field '{part}'"


def check_field_path(path: str) -> str | None:
    """Why a dotted path names no field of the scenario schema, or None if it does.

    Args:
        path: e.g. ``contract.payment.at_risk_share`` or ``primes.*.hours_per_month``.

    """
    if not path or any(not p for p in path.split(".")):
        return "expected a dotted path of scenario fields, e.g. contract.payment.at_risk_share"
    _, why = _leaf_types(Scenario, path.split("."), [])
    return why


def field_is_integer(path: str) -> bool:
    """Whether the field at ``path`` holds whole numbers only (sampled values are then rounded)."""
    leaves, _ = _leaf_types(Scenario, path.split("."), [])
    return bool(leaves) and all(t is int for t in leaves)


def _field_is_numeric(path: str) -> bool:
    leaves, _ = _leaf_types(Scenario, path.split("."), [])
    return any(t in (int, float) for t in leaves)


def _override_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of an overrides mapping, down to values that are not mappings."""
    paths = []
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        leaves, _ = _leaf_types(Scenario, path.split("."), [])
        opens = any(isinstance(t, type) and issubclass(t, BaseModel) for t in leaves)
        if isinstance(value, dict) and value and opens:
            paths += _override_paths(value, path)
        else:
            paths.append(path)
    return paths


# ---------------------------------------------------------------- loading


_METHODS = ("grid", "latin", "sobol", "morris")


def _describe(error: dict[str, Any], path: Path) -> str:
    loc = list(error["loc"])
    if loc[:1] == ["sweep"] and len(loc) > 1 and loc[1] in _METHODS:
        del loc[1]  # pydantic's name for the branch of the union, not a field of the file
    field = ".".join(str(part) for part in loc) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = (
            "unknown field (check the spelling; see experiments/__init__.py for the fields allowed)"
        )
    elif error["type"] == "missing":
        message = "required field is missing"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message += f" (got {error['input']!r})"
    return f"{path}: {field}: {message}"


def _check_paths(experiment: Experiment, path: Path) -> list[str]:
    problems = []
    overrides = [("overrides", experiment.overrides)]
    overrides += [
        (f"scenarios.{i}.overrides", e.overrides) for i, e in enumerate(experiment.scenarios)
    ]
    for where, tree in overrides:
        for field in _override_paths(tree):
            if why := check_field_path(field):
                problems.append(f"{path}: {where}.{field}: no such scenario field ({why})")
    if experiment.sweep is not None:
        for field in experiment.sweep.parameters:
            where = f"{path}: sweep.parameters.{field}"
            if why := check_field_path(field):
                problems.append(f"{where}: no such scenario field ({why})")
            elif experiment.sweep.method != "grid" and not _field_is_numeric(field):
                problems.append(
                    f"{where}: a {experiment.sweep.method} design needs a numeric field; "
                    "use a grid sweep to list values of other fields"
                )
    labels = [e.name for e in experiment.scenarios if e.name]
    for label in sorted({n for n in labels if labels.count(n) > 1}):
        problems.append(f"{path}: scenarios: the name '{label}' is given to more than one entry")
    return problems


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file, including every sweep and override path.

    Args:
        path: the YAML file.

    Raises:
        ExperimentFileError: naming the file, the field path and what was expected.

    """
    path = Path(path)
    data = read_yaml_mapping(path, ExperimentFileError, empty_ok=False)
    data.setdefault("name", path.stem)
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        raise ExperimentFileError([_describe(e, path) for e in exc.errors()]) from None
    if problems := _check_paths(experiment, path):
        raise ExperimentFileError(problems)
    return experiment
