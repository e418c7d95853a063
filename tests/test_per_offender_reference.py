"""The per-offender Mesa reference (benchmarks/per_offender_reference.py) runs pbrsim's uniform process.

Same people as pbrsim draws (identical traits, row for row), and both engines'
reoffending within sampling error of the exact expectation given those people.
Its speed is shown in benchmarks/README.md, never asserted here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ref():
    path = ROOT / "benchmarks" / "per_offender_reference.py"
    spec = importlib.util.spec_from_file_location("per_offender_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def both(ref):
    from pbrsim.sim.model import PbRModel

    design = ref.scenario_for("base", months=12, referrals_per_year=12000)
    reference = ref.reference_model_class()(design)
    reference.run()
    pbrsim = PbRModel(design)
    pbrsim.run()
    return design, reference, pbrsim


def test_same_people_row_for_row(ref, both):
    _, reference, pbrsim = both
    people = reference.people_columns()
    store = pbrsim.store.trimmed()
    assert people["hazard"].size == pbrsim.store.size > 10_000
    for name in ref.PEOPLE_COLUMNS:
        np.testing.assert_array_equal(people[name], store[name], err_msg=name)
    assert ref.fingerprint(people) == ref.fingerprint(store)


def test_one_agent_per_offender_for_its_follow_up_then_removed(both):
    design, reference, _ = both
    follow_up = design.contract.measure.follow_up_months
    assert len(reference.agents) == 0
    assert reference.agent_months == len(reference.first) * follow_up


def test_dose_rule_is_the_uniform_hours_times_effectiveness(ref, both):
    design, reference, pbrsim = both
    assert ref.dose_per_month(design) == 4.0
    # pbrsim's dose after the 12 service months: 12 x the monthly dose, for engaged people with needs only
    dose = reference.people_columns()["dose_per_month"] * design.contract.service.months
    np.testing.assert_allclose(pbrsim.store.dose[:pbrsim.store.size], dose, rtol=1e-6)


def test_both_engines_within_sampling_error_of_the_exact_expectation(ref, both):
    design, reference, pbrsim = both
    exact = ref.expected(reference.people_columns(), design.contract.measure.follow_up_months,
                         design.contract.service.months)
    for engine in (ref.realised(reference.outcomes()), ref.realised(pbrsim.store.trimmed())):
        for key in ref.MEASURES:
            assert abs(engine[key]["value"] - exact[key]["value"]) < 4.0 * exact[key]["se"], key
    # service cuts reoffending: the treated expectation is below the untreated one
    assert exact["treated_rate"]["value"] < exact["untreated_rate"]["value"]


def test_expectation_without_service_is_the_untreated_one(ref):
    rng = np.random.default_rng(1)
    n = 1000
    people = {"hazard": rng.uniform(0.01, 0.1, n), "responsiveness": rng.uniform(0, 0.5, n),
              "complexity": rng.uniform(20, 60, n), "frequency": rng.uniform(0.1, 0.4, n),
              "dose_per_month": np.zeros(n)}
    exact = ref.expected(people, 12, 12)
    assert exact["treated_rate"] == exact["untreated_rate"]
    # one person, hazard h, no frequency: P(any) = 1 - (1 - h)^12, reoffences = the same
    one = ref.expected({**{k: v[:1] for k, v in people.items()}, "frequency": np.zeros(1)}, 12, 12)
    h = people["hazard"][0]
    assert one["untreated_rate"]["value"] == pytest.approx(1 - (1 - h) ** 12)
    assert one["untreated_reoffences_per_offender"]["value"] == pytest.approx(1 - (1 - h) ** 12)
