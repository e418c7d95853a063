"""Experiment files, sweep paths, design sizes and seed derivation (spec, designs, plan)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import yaml
from pbrsim.experiments.designs import build_design
from pbrsim.experiments.plan import apply_params, derive_seed, plan_experiment
from pbrsim.experiments.spec import Experiment, ExperimentFileError, check_field_path, load_experiment

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
EXPERIMENTS = ROOT / "experiments"
SMALL = {"cohort": {"referrals_per_year": 3000}, "contract": {"referral_months": 12}}


def write(tmp_path: Path, data: object, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def experiment(**fields: object) -> Experiment:
    data = {
        "name": "t",
        "scenarios": [str(SCENARIOS / "tr_hybrid.yaml")],
        "overrides": SMALL,
        **fields,
    }
    return Experiment.model_validate(data)


# ---------------------------------------------------------------- schema


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    """A file naming only scenarios gets 1 replication, the default root seed, its stem as name."""
    exp = load_experiment(write(tmp_path, {"scenarios": [str(SCENARIOS / "fee_for_service.yaml")]}))
    assert (exp.name, exp.replications, exp.root_seed, exp.sweep) == ("exp", 1, 20111, None)


def test_unknown_field_names_file_and_path(tmp_path: Path) -> None:
    """A misspelt field is refused with the file and its field path."""
    path = write(tmp_path, {"scenarios": ["a.yaml"], "replicatons": 3})
    with pytest.raises(ExperimentFileError) as err:
        load_experiment(path)
    assert err.value.problems == [
        f"{path}: replicatons: unknown field (check the spelling; "
        "see experiments/__init__.py for the fields allowed)"
    ]


def test_wrong_type_names_path_and_expectation(tmp_path: Path) -> None:
    """A wrong type deep in the sweep names its path and what was expected."""
    path = write(
        tmp_path,
        {
            "scenarios": ["a.yaml"],
            "sweep": {
                "method": "latin",
                "samples": "many",
                "parameters": {"cohort.drift_pp_per_year": {"low": 1, "high": 0}},
            },
        },
    )
    with pytest.raises(ExperimentFileError) as err:
        load_experiment(path)
    text = str(err.value)
    assert f"{path}: sweep.samples: Input should be a valid integer" in text
    assert (
        "sweep.parameters.cohort.drift_pp_per_year: "
        "Value error, 'high' (0) must be above 'low' (1)" in text
    )


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    """Python object tags are refused, never constructed."""
    path = write(tmp_path, "scenarios: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ExperimentFileError, match="not valid YAML"):
        load_experiment(path)


def test_sobol_samples_must_be_power_of_two(tmp_path: Path) -> None:
    """Sobol base samples that are not a power of 2 are refused before sampling."""
    path = write(
        tmp_path,
        {
            "scenarios": ["a.yaml"],
            "sweep": {
                "method": "sobol",
                "samples": 12,
                "parameters": {"cohort.drift_pp_per_year": {"low": 0, "high": 1}},
            },
        },
    )
    with pytest.raises(ExperimentFileError, match="must be a power of 2"):
        load_experiment(path)


# ---------------------------------------------------------------- sweep paths


@pytest.mark.parametrize(
    "path",
    [
        "contract.payment.at_risk_share",
        "cohort.drift_pp_per_year",
        "contract.service.min_hours_per_month",
        "primes.0.hours_per_month",
        "primes.*.hours_per_month",
        "contract.counterfactual.baseline_cohort_size",
    ],
)
def test_schema_paths_accepted(path: str) -> None:
    """Paths into nested models, list elements and union members exist."""
    assert check_field_path(path) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("contract.payment.at_risk_shar", "'at_risk_shar' is not a field of contract.payment"),
        ("primes.hours_per_month", "primes is a list"),
        ("cohort.drift_pp_per_year.x", "single value"),
        ("contract..months", "dotted path"),
    ],
)
def test_schema_paths_refused(path: str, reason: str) -> None:
    """Paths the schema does not have are explained."""
    assert reason in (check_field_path(path) or "")


def test_bad_sweep_path_refused_before_any_run(tmp_path: Path) -> None:
    """A sweep over a field that does not exist stops the file from loading at all."""
    path = write(
        tmp_path,
        {
            "scenarios": ["a.yaml"],
            "sweep": {"method": "grid", "parameters": {"contract.payment.at_risk_shar": [0.1]}},
        },
    )
    with pytest.raises(ExperimentFileError) as err:
        load_experiment(path)
    assert str(err.value).startswith(
        f"{path}: sweep.parameters.contract.payment.at_risk_shar: no such scenario field"
    )


def test_bad_override_path_refused(tmp_path: Path) -> None:
    """Overrides are checked against the schema too."""
    path = write(
        tmp_path, {"scenarios": ["a.yaml"], "overrides": {"cohort": {"referals_per_year": 10}}}
    )
    with pytest.raises(
        ExperimentFileError, match=r"overrides\.cohort\.referals_per_year: no such scenario field"
    ):
        load_experiment(path)


def test_sampled_sweep_needs_numeric_field(tmp_path: Path) -> None:
    """A Latin hypercube over a text field is refused."""
    path = write(
        tmp_path,
        {
            "scenarios": ["a.yaml"],
            "sweep": {
                "method": "latin",
                "samples": 4,
                "parameters": {"contract.measure.cohort_definition": {"low": 0, "high": 1}},
            },
        },
    )
    with pytest.raises(ExperimentFileError, match="needs a numeric field"):
        load_experiment(path)


def test_list_index_past_end_refused_at_planning() -> None:
    """primes.7 of a three-prime scenario is refused before anything runs."""
    exp = experiment(sweep={"method": "grid", "parameters": {"primes.7.hours_per_month": [2]}})
    with pytest.raises(ExperimentFileError, match="primes has 3 elements, so there is no primes.7"):
        plan_experiment(exp, ROOT)


def test_apply_params_sets_list_elements() -> None:
    """Indexed and starred paths set one or every element, leaving the input untouched."""
    raw = {"primes": [{"h": 1}, {"h": 1}], "cohort": {}}
    out = apply_params(raw, {"primes.*.h": 3, "primes.0.h": 5, "cohort.drift": 1})
    assert out == {"primes": [{"h": 5}, {"h": 3}], "cohort": {"drift": 1}}
    assert raw == {"primes": [{"h": 1}, {"h": 1}], "cohort": {}}


def test_starred_sweep_reaches_every_prime() -> None:
    """primes.*.hours_per_month changes every prime of the resolved scenario."""
    plan = plan_experiment(
        experiment(sweep={"method": "grid", "parameters": {"primes.*.hours_per_month": [7]}}), ROOT
    )
    definition = plan.scenarios[plan.tasks[0].scenario_hash]
    assert {p["hours_per_month"] for p in definition["primes"]} == {7}


# ---------------------------------------------------------------- design sizes

RANGES = {
    "contract.payment.at_risk_share": {"low": 0.05, "high": 0.3},
    "cohort.drift_pp_per_year": {"low": -1, "high": 1},
    "contract.referral_months": {"low": 6, "high": 18},
}


@pytest.mark.parametrize(
    ("sweep", "size"),
    [
        (
            {
                "method": "grid",
                "parameters": {
                    "contract.payment.at_risk_share": [0.1, 0.2, 0.3],
                    "cohort.drift_pp_per_year": [0, 1],
                },
            },
            6,
        ),
        ({"method": "latin", "samples": 10, "parameters": RANGES}, 10),
        ({"method": "sobol", "samples": 8, "parameters": RANGES}, 8 * (3 + 2)),
        (
            {"method": "sobol", "samples": 8, "second_order": True, "parameters": RANGES},
            8 * (2 * 3 + 2),
        ),
        ({"method": "morris", "trajectories": 5, "parameters": RANGES}, 5 * (3 + 1)),
    ],
)
def test_design_sizes(sweep: dict, size: int) -> None:
    """Each method gives the number of points its definition says."""
    design = build_design(experiment(sweep=sweep))
    assert len(design.points) == size


def test_sampled_points_in_bounds_and_integers_rounded() -> None:
    """Sampled values stay in their ranges; whole-number fields are rounded."""
    design = build_design(
        experiment(sweep={"method": "latin", "samples": 20, "parameters": RANGES})
    )
    assert all(0.05 <= p["contract.payment.at_risk_share"] <= 0.3 for p in design.points)
    assert all(
        isinstance(p["contract.referral_months"], int) and 6 <= p["contract.referral_months"] <= 18
        for p in design.points
    )


def test_design_is_reproducible() -> None:
    """The same file gives the same points."""
    exp = experiment(sweep={"method": "morris", "trajectories": 4, "parameters": RANGES})
    assert build_design(exp).points == build_design(exp).points


def test_plan_size_is_scenarios_points_replications() -> None:
    """Runs = scenarios x design points x replications, each with a unique id."""
    exp = experiment(
        scenarios=[str(SCENARIOS / "tr_hybrid.yaml"), str(SCENARIOS / "binary_pbr.yaml")],
        replications=3,
        sweep={"method": "grid", "parameters": {"cohort.drift_pp_per_year": [0, 1]}},
    )
    plan = plan_experiment(exp, ROOT)
    assert len(plan.tasks) == 2 * 2 * 3
    assert len({t.run_id for t in plan.tasks}) == 12


# ---------------------------------------------------------------- seeds


def test_seed_is_spawned_child_of_root() -> None:
    """derive_seed(root, r) is SeedSequence(root).spawn(...)[r]: documented, not an accident."""
    child = np.random.SeedSequence(7).spawn(4)[3]
    assert derive_seed(7, 3) == int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def test_seeds_do_not_depend_on_order_or_batch() -> None:
    """A run's seed is the same whatever order runs are derived in or which others exist."""
    keys = [(r, s, p) for r in range(5) for s in range(3) for p in range(4)]
    shuffled = keys[:]
    random.Random(1).shuffle(shuffled)
    seeds = {k: derive_seed(42, *k) for k in keys}
    assert {k: derive_seed(42, *k) for k in shuffled} == seeds
    assert len(set(seeds.values())) == len(keys)
    assert all(0 <= s < 2**63 for s in seeds.values())


def test_common_random_numbers_across_scenarios_and_points() -> None:
    """Replication r of every scenario and design point gets the same seed; replications differ."""
    exp = experiment(
        scenarios=[str(SCENARIOS / "tr_hybrid.yaml"), str(SCENARIOS / "binary_pbr.yaml")],
        replications=2,
        sweep={"method": "grid", "parameters": {"cohort.drift_pp_per_year": [0, 1]}},
    )
    tasks = plan_experiment(exp, ROOT).tasks
    assert {t.replication: t.seed for t in tasks} == {
        0: derive_seed(20111, 0),
        1: derive_seed(20111, 1),
    }
    assert len({(t.replication, t.seed) for t in tasks}) == 2


def test_independent_streams_when_asked() -> None:
    """Without common random numbers every run has its own seed."""
    exp = experiment(
        replications=2,
        common_random_numbers=False,
        sweep={"method": "grid", "parameters": {"cohort.drift_pp_per_year": [0, 1]}},
    )
    tasks = plan_experiment(exp, ROOT).tasks
    assert len({t.seed for t in tasks}) == 4


def test_seeds_do_not_depend_on_other_scenarios() -> None:
    """Adding a scenario to a batch leaves the other runs' seeds unchanged."""
    one = plan_experiment(experiment(replications=3), ROOT).tasks
    two = plan_experiment(
        experiment(
            replications=3,
            scenarios=[str(SCENARIOS / "tr_hybrid.yaml"), str(SCENARIOS / "binary_pbr.yaml")],
        ),
        ROOT,
    ).tasks
    assert [(t.run_id, t.seed) for t in one] == [(t.run_id, t.seed) for t in two[:3]]


# ---------------------------------------------------------------- shipped files


@pytest.mark.parametrize("name", ["shipped_designs.yaml", "sensitivity.yaml"])
def test_shipped_experiments_plan(name: str) -> None:
    """The shipped experiment files validate and plan without a problem."""
    path = EXPERIMENTS / name
    plan = plan_experiment(load_experiment(path), path.parent, file=str(path))
    assert plan.tasks and all(t.problem is None for t in plan.tasks)
