"""Provider strategies: each one class with the whole protocol (sim/strategies.py).

Checks each protocol call directly, on hand-built caseloads: the uniform
strategy ignores the contract; a profit-seeking one refuses referrals that
lose it money; observing outcomes moves beliefs; repricing changes the value
of effort. The last test proves nothing outside make_strategy asks which
strategy a prime follows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from pbrsim.sim.scenario import Strategy
from pbrsim.sim.strategies import (
    Caseload,
    MarginalStrategy,
    MissionDrivenStrategy,
    Observation,
    ProfitSeekingStrategy,
    Referrals,
    UniformStrategy,
    make_strategy,
    marginal_values,
)

from tests.conftest import small, with_primes

ROOT = Path(__file__).resolve().parents[2]
N_TYPES = 7


def needs(n: int, k: int = 1) -> np.ndarray:
    """``n`` people, each with the first ``k`` assessed needs."""
    out = np.zeros((n, N_TYPES), dtype=bool)
    out[:, :k] = True
    return out


def caseload(band: list[int], engaged: bool = True) -> Caseload:
    """People new to service this month, one per entry of ``band``."""
    n = len(band)
    return Caseload(rows=np.arange(n), month=1, months_in_service=np.zeros(n, dtype=int),
                    observed_band=np.asarray(band, dtype=np.int8), needs=needs(n),
                    engaged=np.full(n, engaged), reoffended=np.zeros(n, dtype=bool),
                    dose=np.zeros(n, dtype=np.float32))


def referrals(band: list[int], engaged: list[bool] | None = None) -> Referrals:
    n = len(band)
    return Referrals(observed_band=np.asarray(band, dtype=np.int8), needs=needs(n),
                     engaged=np.asarray([True] * n if engaged is None else engaged))


def strategy_for(name: str, strategy: str, **fields):
    design = with_primes(small(name), strategy=strategy, **fields)
    return make_strategy(design.primes[0], design), design


# ---------------------------------------------------------------- building


@pytest.mark.parametrize(("strategy", "fields", "cls"), [
    ("uniform", {}, UniformStrategy),
    ("profit_seeking", {}, ProfitSeekingStrategy),
    ("mission_driven", {"social_value_per_reoffence": 5000.0}, MissionDrivenStrategy),
])
def test_make_strategy_builds_the_named_class(strategy, fields, cls):
    """Every strategy the schema allows has its class."""
    built, _ = strategy_for("binary_pbr", strategy, **fields)
    assert type(built) is cls


def test_every_schema_strategy_has_a_class():
    """No strategy name falls through make_strategy."""
    design = small("binary_pbr")
    for strategy in Strategy:
        extra = {"social_value_per_reoffence": 1.0} if strategy == Strategy.MISSION_DRIVEN else {}
        d = with_primes(design, strategy=strategy.value, **extra)
        assert make_strategy(d.primes[0], d) is not None


# ---------------------------------------------------------------- uniform


def test_uniform_ignores_the_contract_and_learns_nothing():
    """Same hours whatever the contract, cost or retained share; takes everyone; repricing changes nothing."""
    fee, fee_design = strategy_for("fee_for_service", "uniform", hours_per_month=4.0)
    pbr, pbr_design = strategy_for("binary_pbr", "uniform", hours_per_month=4.0)
    people = caseload([0, 1, 2, 3])
    hours = fee.allocate(people, 45.0)
    assert np.array_equal(hours, pbr.allocate(people, 900.0, retained_share=0.1))
    assert hours.tolist() == pytest.approx([4.0] * 4)
    assert not fee.learns
    assert not fee.screen(referrals([0, 3]), cost_per_hour=1e9).any()
    pbr.reprice(fee_design.contract, 0.0)
    assert np.array_equal(pbr.allocate(people, 45.0), hours)
    # unengaged people get nothing
    assert fee.allocate(caseload([0, 3], engaged=False), 45.0).sum() == 0.0


# ---------------------------------------------------------------- screening


def test_profit_seeking_screens_out_the_costly_where_selection_is_allowed():
    """£2,500 a non-reoffender, 24 hours owed: a low-risk person pays, a very-high-risk one does not."""
    strategy, design = strategy_for("selection_at_referral", "profit_seeking")
    assert design.contract.referral_selection
    refused = strategy.screen(referrals([0, 3]), cost_per_hour=45.0)
    assert refused.tolist() == [False, True]
    # a person who will not engage is owed no hours, so costs nothing and is never refused
    assert not strategy.screen(referrals([3], engaged=[False]), cost_per_hour=45.0).any()
    # free hours: nobody loses money
    assert not strategy.screen(referrals([0, 1, 2, 3]), cost_per_hour=0.0).any()


def test_effortless_income_keeps_the_low_risk_in():
    """Without the non-reoffender price's effortless income, low-risk referrals no longer pay their way."""
    strategy, design = strategy_for("selection_at_referral", "profit_seeking")
    # the binary value alone, as a per_point contract of the same marginal value would give
    per_point = design.contract.model_copy(update={"payment": design.contract.payment.model_copy(update={
        "outcomes": [design.contract.payment.outcomes[0].model_copy(
            update={"basis": "per_point", "price": 25.0})]})})
    alone = ProfitSeekingStrategy(design.primes[0], design.model_copy(update={"contract": per_point}))
    assert np.array_equal(alone.binary_value, strategy.binary_value)
    assert strategy.screen(referrals([0]), 45.0).tolist() == [False]
    assert alone.screen(referrals([0]), 45.0).tolist() == [True]


def test_mission_driven_takes_everyone():
    """A mission-driven prime never refuses, even where the contract lets it."""
    strategy, _ = strategy_for("selection_at_referral", "mission_driven", social_value_per_reoffence=5000.0)
    assert not strategy.screen(referrals([0, 1, 2, 3]), cost_per_hour=1e6).any()


# ---------------------------------------------------------------- observing and repricing


def test_observe_moves_beliefs_once_the_reoffences_are_proven():
    """Every unserved low-band person reoffends in month 1: the prime learns it only after the proving lag."""
    strategy, design = strategy_for("binary_pbr", "profit_seeking")
    lag = design.contract.measure.proving_lag_months
    assert strategy.learns and lag == 6
    before = strategy.beliefs.hazard.copy()
    n = 500

    def month(m: int, reoffend: bool) -> Observation:
        people = Caseload(rows=np.arange(n), month=m, months_in_service=np.zeros(n, dtype=int),
                          observed_band=np.zeros(n, dtype=np.int8), needs=needs(n),
                          engaged=np.ones(n, dtype=bool), reoffended=np.zeros(n, dtype=bool),
                          dose=np.zeros(n, dtype=np.float32))
        return Observation(caseload=people, served=np.zeros(n, dtype=bool), dose=np.zeros(n, dtype=np.float32),
                           first=np.full(n, reoffend), later=np.zeros(n), in_window=np.ones(n, dtype=bool))

    strategy.observe(month(1, reoffend=True))
    for m in range(2, 1 + lag):
        strategy.observe(month(m, reoffend=False))
        assert np.array_equal(strategy.beliefs.hazard, before)  # not proven yet
    strategy.observe(month(1 + lag, reoffend=False))
    after = strategy.beliefs.hazard
    assert after[0] > before[0]
    assert np.array_equal(after[1:], before[1:])


def test_reprice_values_outcomes_at_the_new_terms():
    """At doubled prices the value of a non-reoffender doubles and effort rises; beliefs are kept."""
    strategy, design = strategy_for("binary_pbr", "profit_seeking")
    beliefs = strategy.beliefs
    people = caseload([1, 2])
    hours = strategy.allocate(people, 45.0).sum()
    doubled = design.contract.model_copy(update={"payment": design.contract.payment.model_copy(update={
        "outcomes": [c.model_copy(update={"price": c.price * 2}) for c in design.contract.payment.outcomes]})})
    strategy.reprice(doubled, 0.0)
    assert np.array_equal(strategy.binary_value, marginal_values(doubled)[0])
    assert strategy.binary_value == pytest.approx(2 * marginal_values(design.contract)[0])
    assert strategy.allocate(people, 45.0).sum() > hours
    assert strategy.beliefs is beliefs


def test_mission_value_buys_effort_that_fees_alone_do_not():
    """Under fee for service a profit-seeker gives no discretionary hours; a mission-driven prime does."""
    profit, _ = strategy_for("fee_for_service", "profit_seeking")
    mission, _ = strategy_for("fee_for_service", "mission_driven", social_value_per_reoffence=5000.0)
    people = caseload([1, 2, 3])
    assert profit.allocate(people, 45.0).sum() == 0.0
    assert mission.allocate(people, 45.0).sum() > 0.0


# ---------------------------------------------------------------- no dispatch on strategy elsewhere

_CLASSES = {c.__name__ for c in (MarginalStrategy, UniformStrategy, ProfitSeekingStrategy,
                                 MissionDrivenStrategy)}


def strategy_dispatch(source: str, allow_enum: bool = False) -> list[int]:
    """Lines that ask which strategy a prime follows: isinstance on a strategy class, or ``Strategy.X``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
            if names & _CLASSES:
                lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and not allow_enum:
            for operand in (node.left, *node.comparators):
                enum = (isinstance(operand, ast.Attribute) and isinstance(operand.value, ast.Name)
                        and operand.value.id == "Strategy")
                name = isinstance(operand, ast.Constant) and operand.value in {s.value for s in Strategy}
                if enum or name:
                    lines.append(node.lineno)
    return lines


def test_strategy_dispatch_detector_finds_each_form():
    """The detector flags isinstance checks and comparisons with a strategy's name."""
    assert strategy_dispatch("if isinstance(p.strategy, MarginalStrategy):\n    pass\n") == [1]
    assert strategy_dispatch("ok = spec.strategy != Strategy.PROFIT_SEEKING\n") == [1]
    assert strategy_dispatch('ok = spec.strategy == "uniform"\n') == [1]
    assert strategy_dispatch("spec = PrimeSpec(name='x', strategy=Strategy.UNIFORM)\n") == []


def test_no_strategy_dispatch_outside_make_strategy():
    """Only make_strategy's table turns a strategy's name into a class.

    The schema (sim/scenario.py) may still say which fields go with which
    strategy, so comparisons with the enum are allowed there, never isinstance.
    """
    found = {}
    for folder in ("sim", "analysis", "experiments", "pbrsim"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            schema = path == ROOT / "sim" / "scenario.py"
            lines = strategy_dispatch(path.read_text(encoding="utf-8"), allow_enum=schema)
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}


def test_segments_with_doses_of_their_own_value_and_learn_as_person_by_person():
    """Doses that differ inside a segment (a sub-prime market): hours, outlook and evidence as person by person."""
    import copy

    strategy, design = strategy_for("binary_pbr", "profit_seeking")
    rng = np.random.default_rng(11)
    n, month, areas = 4000, 9, strategy.areas
    referral = rng.integers(month - 4, month + 1, n)
    order = np.argsort(referral, kind="stable")  # whole cohorts, in the order they were referred
    referral = referral[order]
    known = rng.random(n) < 0.2
    people = Caseload(
        rows=np.arange(n), month=month, months_in_service=(month - referral).astype(np.int16),
        observed_band=rng.integers(0, 4, n).astype(np.int8), n_needs=rng.integers(0, 8, n).astype(np.int8),
        engaged=rng.random(n) < 0.8, reoffended=known,
        dose=rng.choice(np.array([0.0, 2.5, 6.0, 40.0], dtype=np.float32), n),
        reoffences_known=np.where(known, rng.integers(1, 4, n), 0),
        cohort=referral.astype(np.int64) * areas, counted=rng.random(n) < 0.9,
    )
    by_person = copy.deepcopy(strategy)
    hours = strategy.allocate(people, 30.0)
    sampled = by_person.beliefs.sample_effect(by_person.rng)
    expected = by_person._allocate_by_person(people, 30.0, 1.0, sampled)
    assert (people.dose != people.dose[0]).sum() > n // 2
    np.testing.assert_allclose(hours, expected, rtol=1e-6, atol=1e-5)
    assert strategy._outlook.keys() == by_person._outlook.keys()
    for key, sums in strategy._outlook.items():
        np.testing.assert_allclose(sums, by_person._outlook[key], rtol=1e-9, atol=1e-9)
    # what they did: a dose of each person's own (effectiveness by service type), some first reoffences
    seen = Observation(
        caseload=people, served=hours > 0,
        dose=people.dose + hours * rng.choice(np.array([0.7, 1.0, 1.3], dtype=np.float32), n),
        first=~known & (rng.random(n) < 0.1), later=np.where(known, rng.integers(0, 3, n), 0),
        in_window=rng.random(n) < 0.95, reoffended_before=known,
    )
    strategy.observe(seen)
    by_person.observe(seen)
    for ours, theirs in zip(strategy._pending[-1][1], by_person._pending[-1][1], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
