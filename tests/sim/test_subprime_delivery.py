"""Sub-prime delivery on per-person hours gives what the (people x service types) matrices gave.

A chain that buys hours type by type (sim/subcontracting.py) works from each person's hours per
type and need code: hours by type from a bincount over codes, dose as the same float32 products
added in the order of the einsum it replaced, claims from each cohort's run of the caseload.
"""

from __future__ import annotations

import numpy as np
from pbrsim.sim.model import PbRModel
from pbrsim.sim.subcontracting import _BITS, _N_CODES, _dose, need_codes
from pbrsim.sim.vocabulary import SERVICE_TYPES

from tests.conftest import small

TYPES = len(SERVICE_TYPES)


def spread_hours(needs: np.ndarray, n_needs: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """The reference: each person's hours split evenly over their assessed needs (all types if none).

    The (people, types) matrix sub-prime delivery used to build, before it worked on each person's
    hours per type and need code.
    """
    n = n_needs.astype(np.float32)
    per_need = np.where(n > 0, hours / np.maximum(n, 1.0), 0.0).astype(np.float32)
    matrix = needs * per_need[:, None]
    none = n == 0
    if none.any():
        matrix[none] = (hours[none] / needs.shape[1])[:, None]
    return matrix


def _people(seed: int, n: int = 5000):
    rng = np.random.default_rng(seed)
    needs = rng.random((n, TYPES)) < 0.3
    n_needs = needs.sum(axis=1).astype(np.int8)
    hours = np.where(rng.random(n) < 0.2, 0.0, rng.lognormal(1.0, 1.0, n)).astype(np.float32)
    return needs, n_needs, hours


def _per_type(hours, n_needs):
    spread = n_needs.astype(np.float32)
    spread[n_needs == 0] = TYPES
    return hours / spread


def test_need_codes_hold_each_persons_needs():
    needs, _, _ = _people(1)
    codes = need_codes(needs)
    assert codes.dtype == np.uint8
    assert np.array_equal(codes.astype(int), needs @ (1 << np.arange(TYPES)))
    assert np.array_equal(_BITS[codes].astype(bool), needs)


def test_dose_is_bit_identical_to_the_matrix_product():
    for seed in range(4):
        needs, n_needs, hours = _people(seed)
        effectiveness = np.random.default_rng(seed + 10).uniform(0.8, 1.3, TYPES).astype(np.float32)
        on_need = spread_hours(needs, n_needs, hours) * needs
        want = np.einsum("ij,j->i", on_need, effectiveness)
        got = _dose(_per_type(hours, n_needs), need_codes(needs), effectiveness)
        assert got.dtype == np.float32
        assert np.array_equal(got, want)


def test_hours_by_type_from_need_codes():
    needs, n_needs, hours = _people(5)
    matrix = spread_hours(needs, n_needs, hours)
    by_code = np.bincount(need_codes(needs), weights=_per_type(hours, n_needs), minlength=_N_CODES)
    matched = by_code @ _BITS
    np.testing.assert_allclose(matched, (matrix * needs).sum(axis=0, dtype=np.float64), rtol=1e-13)
    np.testing.assert_allclose(matched + by_code[0], matrix.sum(axis=0, dtype=np.float64), rtol=1e-13)


def test_cohort_runs_are_the_caseloads_cohorts():
    """Each chain's caseload splits into the runs of its cohorts, as referral month and area say."""
    model = PbRModel(small("supply_chain_risk_passed_down"))
    market = next(m for m in model.mechanisms if hasattr(m, "cohort_runs"))
    areas = model.areas.count
    checked = 0
    for _ in range(8):
        model.step()
        for chain in market.chains:
            rows = chain._rows
            if rows.size == 0:
                continue
            at, columns = market.cohort_runs(rows)
            key = model.store.referral_month[rows].astype(np.int64) * areas + model.store.area[rows]
            starts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
            assert np.array_equal(at, starts)
            assert np.array_equal(columns, key[starts] - areas)
            assert np.array_equal(market.need_codes(rows), need_codes(model.store.needs[rows]))
            checked += 1
    assert checked


def test_cohort_runs_skip_empty_cohorts_and_others_cohorts():
    """Cohorts with no rows (or another prime's) are left out; the rest are found by their first row."""
    from types import SimpleNamespace

    from pbrsim.sim.supply_chain import Market

    sizes = [3, 0, 4, 2, 0, 5, 1]  # three areas: months 1-3, cohorts in store order
    areas = 3
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    cohorts = [SimpleNamespace(start=int(s), stop=int(s + n), month=1 + k // areas, area=k % areas)
               for k, (s, n) in enumerate(zip(starts, sizes, strict=True))]
    model = SimpleNamespace(cohorts=cohorts, areas=SimpleNamespace(count=areas))
    market = SimpleNamespace(model=model, _cohort_starts=np.zeros(0, dtype=np.int64),
                             _cohort_columns=np.zeros(0, dtype=np.intp))
    held = [0, 1, 3, 5]  # cohort 1 is empty; 2, 4 and 6 are another prime's
    rows = np.concatenate([np.arange(cohorts[k].start, cohorts[k].stop) for k in held])
    at, columns = Market.cohort_runs(market, rows)
    assert at.tolist() == [0, 3, 5]
    assert columns.tolist() == [0, 3, 5]
    at, columns = Market.cohort_runs(market, rows[3:])
    assert at.tolist() == [0, 2] and columns.tolist() == [3, 5]
    empty = Market.cohort_runs(market, np.zeros(0, dtype=np.intp))
    assert empty[0].size == 0 and empty[1].size == 0
