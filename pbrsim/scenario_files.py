"""Loading scenario files: YAML, ``extends:`` chains, and errors a person can act on.

A scenario file may name another with ``extends: other.yaml`` (relative to
itself) and override a few fields; mappings merge key by key, anything else
(numbers, strings, lists) is replaced whole. Every error names the file, the
field path and what was expected, e.g.::

    scenarios/broken.yaml: contract.payment.at_risk_share: Input should be less
    than or equal to 1 (got 1.5)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pbrsim.sim.renames import upgrade_fields
from pbrsim.sim.scenario import Scenario

__all__ = ["FileProblems", "ScenarioFileError", "load_scenario", "merge_fields", "read_yaml_mapping",
           "resolve_scenario", "scenario_hash"]


class FileProblems(ValueError):
    """A file that cannot be used, with every problem found in it (one line each)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ScenarioFileError(FileProblems):
    """A scenario file that cannot be used."""


def read_yaml_mapping(path: Path, error: type[FileProblems], empty_ok: bool = True) -> dict[str, Any]:
    """Load a YAML file safely as a mapping of fields, or raise ``error`` saying what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error([f"{path}: file not found"]) from None
    except OSError as exc:
        raise error([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error([f"{path}:{where}: not valid YAML: {problem}"]) from None
    if data is None and empty_ok:
        data = {}
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise error([f"{path}: expected a mapping of fields at the top level, got {got}"])
    return data


def merge_fields(base: Any, override: Any) -> Any:
    """Merge scenario fields: mappings key by key, anything else (numbers, strings, lists) replaced whole.

    The one deep merge of scenario fields, used for ``extends:`` chains, overrides and experiments.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_fields(base[key], value) if key in base else value
        return merged
    return override


def _upgraded(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """One file's fields with renamed fields under their current names (sim/renames.py)."""
    try:
        return upgrade_fields(data)
    except ValueError as exc:
        raise ScenarioFileError([f"{path}: {exc}"]) from None


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """The file and its ancestors, child first."""
    path = path.resolve()
    if path in seen:
        cycle = " -> ".join(str(p) for p in (*seen, path))
        raise ScenarioFileError([f"{seen[-1]}: extends: circular chain {cycle}"])
    data = _upgraded(path, read_yaml_mapping(path, ScenarioFileError))
    parent = data.pop("extends", None)
    if parent is None:
        return [(path, data)]
    if not isinstance(parent, str):
        raise ScenarioFileError([f"{path}: extends: expected the path of another scenario file, got {parent!r}"])
    return [(path, data), *_chain(path.parent / parent, (*seen, path))]


def _has_path(data: Any, loc: tuple[Any, ...]) -> bool:
    for key in loc:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return False
    return True


def resolve_scenario(path: str | Path) -> tuple[dict[str, Any], list[tuple[Path, dict[str, Any]]]]:
    """The merged raw fields of a scenario file and its ``extends`` chain (child first)."""
    chain = _chain(Path(path))
    merged: dict[str, Any] = {}
    for _, data in reversed(chain):
        merged = merge_fields(merged, data)
    return merged, chain


def _describe(error: dict[str, Any], chain: list[tuple[Path, dict[str, Any]]], shown: Path) -> str:
    loc = tuple(error["loc"])
    # Name the file in the chain that set the offending field (the child if nobody did).
    origin = next((p for p, data in chain if _has_path(data, loc)), None)
    if origin is None:
        origin = next((p for p, data in chain if loc and _has_path(data, loc[:-1])), chain[0][0])
    field = ".".join(str(part) for part in loc) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see docs/scenarios.md for the fields allowed)"
    elif error["type"] == "missing":
        message = "required field is missing"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message += f" (got {error['input']!r})"
    where = origin if origin == shown else f"{origin} (extended by {shown})"
    return f"{where}: {field}: {message}"


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read, merge and validate a scenario file.

    Args:
        path: the YAML file.
        overrides: fields to set on top of the file, as a nested mapping (used by
            parameter sweeps).

    Raises:
        ScenarioFileError: naming the file, field path and what was expected.

    """
    merged, chain = resolve_scenario(path)
    if overrides:
        merged = merge_fields(merged, _upgraded(Path(path), overrides))
    merged.setdefault("name", Path(path).stem)
    try:
        return Scenario.model_validate(merged)
    except ValidationError as exc:
        shown = chain[0][0]
        raise ScenarioFileError([_describe(e, chain, shown) for e in exc.errors()]) from None


def scenario_hash(scenario: Scenario) -> str:
    """A short content hash of a validated scenario (identity of a design in results)."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
