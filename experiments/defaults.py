"""Defaults of an experiment, kept apart from its schema so the command line can show them cheaply.

``pbrsim --help`` names the default root seed; importing :mod:`experiments.spec`
for it would load the scenario schema (pydantic, numpy) first. The schema
re-exports both names.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MEASURES", "DEFAULT_ROOT_SEED"]

#: Root seed when an experiment file or ``pbrsim compare`` names none.
DEFAULT_ROOT_SEED = 20111

#: Measures a sensitivity design analyses unless it names its own (missing ones are skipped).
DEFAULT_MEASURES: tuple[str, ...] = (
    "creaming_index",
    "parking_share",
    "risk_transfer_ratio",
    "true_impact_pp",
    "commissioner_outlay",
    "prime_margin_share",
    "deadweight_payments",
)
