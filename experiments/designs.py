"""Design points of a sweep: grid, Latin hypercube, Sobol (Saltelli) and Morris.

The samplers are SALib's; this module only turns an experiment's sweep into a
SALib problem and the sample into one mapping of parameter values per design
point. A design is a pure function of the sweep and its seed, so the same file
always gives the same points in the same order.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from pbrsim.experiments.spec import (
    Experiment,
    GridSweep,
    LatinSweep,
    MorrisSweep,
    SobolSweep,
    field_is_integer,
)

# SALib's samplers (and scipy.stats under them, about a second) are imported only by a sampled sweep.

__all__ = ["Design", "build_design", "salib_problem"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Design:
    """The design points of an experiment.

    Attributes:
        parameters: swept fields (dotted paths), in the file's order.
        points: parameter values of each design point (whole-number fields rounded).
        sample: the sampler's raw matrix (one row per point) for SALib's analysis,
            or None for a grid or no sweep.
        problem: the SALib problem the sample was drawn for, or None.

    """

    parameters: list[str]
    points: list[dict[str, Any]]
    sample: np.ndarray | None = None
    problem: dict[str, Any] | None = None


def salib_problem(sweep: LatinSweep | SobolSweep | MorrisSweep) -> dict[str, Any]:
    """Return the SALib problem definition of a sampled sweep."""
    names = list(sweep.parameters)
    return {
        "num_vars": len(names),
        "names": names,
        "bounds": [[r.low, r.high] for r in sweep.parameters.values()],
    }


def _draw(
    sweep: LatinSweep | SobolSweep | MorrisSweep, problem: dict[str, Any], seed: int
) -> np.ndarray:
    from SALib.sample import latin, morris, sobol

    match sweep:
        case LatinSweep():
            return latin.sample(problem, sweep.samples, seed=seed)
        case SobolSweep():
            return sobol.sample(
                problem, sweep.samples, calc_second_order=sweep.second_order, seed=seed
            )
        case MorrisSweep():
            return morris.sample(
                problem, sweep.trajectories, num_levels=sweep.num_levels, seed=seed
            )
    raise TypeError(f"not a sampled sweep: {sweep!r}")


def build_design(experiment: Experiment) -> Design:
    """Build the design points of an experiment (one, with no parameters, if it has no sweep)."""
    sweep = experiment.sweep
    if sweep is None:
        return Design([], [{}])
    names = list(sweep.parameters)
    if isinstance(sweep, GridSweep):
        points = [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*sweep.parameters.values())
        ]
        return Design(names, points)
    problem = salib_problem(sweep)
    seed = experiment.root_seed if sweep.seed is None else sweep.seed
    sample = _draw(sweep, problem, seed)
    integer = [field_is_integer(name) for name in names]
    points = [
        {
            name: round(float(x)) if whole else float(x)
            for name, x, whole in zip(names, row, integer, strict=True)
        }
        for row in sample
    ]
    logger.debug("%s design of %d points over %s", sweep.method, len(points), names)
    return Design(names, points, sample, problem)
