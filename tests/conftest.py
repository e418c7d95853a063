"""Shared fixtures: small versions of the shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbrsim.scenario_files import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted(p for p in SCENARIOS.glob("*.yaml"))
SMALL = {"cohort": {"referrals_per_year": 6000}, "contract": {"referral_months": 24}}


def small(name: str, **extra) -> object:
    """A shipped scenario at a small volume (and any further overrides)."""
    overrides = {**SMALL}
    for key, value in extra.items():
        overrides[key] = {**overrides.get(key, {}), **value}
    return load_scenario(SCENARIOS / f"{name}.yaml", overrides=overrides)


@pytest.fixture
def small_scenario():
    """Factory for small versions of shipped scenarios."""
    return small


def with_primes(design, floor: float | None = None, **fields):
    """The design with every prime's fields replaced (validated), and optionally the service floor."""
    from pbrsim.sim.scenario import Scenario

    data = design.model_dump()
    if fields.get("strategy", "mission_driven") != "mission_driven":
        fields.setdefault("social_value_per_reoffence", 0.0)
    for prime in data["primes"]:
        prime.update(fields)
    if floor is not None:
        data["contract"]["service"]["min_hours_per_month"] = floor
    return Scenario.model_validate(data)
