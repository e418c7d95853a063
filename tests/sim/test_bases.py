"""Payment bases and outcome measures as objects (sim/bases.py), against hand-worked numbers.

Each basis is checked for what it pays a cohort, what it would pay for the
true impact only, what one more non-reoffender or reoffence avoided is worth
to a provider, what it pays that needs no effort, and which terms it refuses.
The last tests prove that nothing outside sim/bases.py chooses behaviour by
comparing a basis or measure name.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import numpy as np
import pytest
from pbrsim.sim.bases import (
    BASIS_NAMES,
    MEASURE_NAMES,
    PerNonReoffender,
    PerPoint,
    PerReoffenceAvoided,
    Pot,
    basis_of,
    measure_of,
)
from pbrsim.sim.payments import MeasuredOutcome
from pbrsim.sim.scenario import BandPrices, OutcomeComponent
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]


def component(**terms) -> OutcomeComponent:
    """A validated outcome component."""
    return OutcomeComponent(**terms)


def cohort(n: float, reoffenders: float, cf_reoffenders: float, reoffences: float = 0.0,
           cf_reoffences: float = 0.0, pot: float = 0.0) -> MeasuredOutcome:
    """One cohort, everybody in the first payment band."""
    return MeasuredOutcome.single_group(n, reoffenders, reoffences, cf_reoffenders, cf_reoffences, pot)


def one_band(x: float) -> np.ndarray:
    return np.array([x, 0.0, 0.0, 0.0])


# ---------------------------------------------------------------- the registry


def test_registry_names_are_the_schema_literals():
    """The schema allows exactly the registered bases and measures, in the registry's order."""
    fields = OutcomeComponent.model_fields
    assert typing.get_args(fields["basis"].annotation) == BASIS_NAMES
    assert typing.get_args(fields["measure"].annotation) == MEASURE_NAMES
    assert BASIS_NAMES == ("per_point", "per_non_reoffender", "per_reoffence_avoided", "pot")
    assert MEASURE_NAMES == ("binary", "frequency")


@pytest.mark.parametrize(("terms", "cls"), [
    ({"measure": "binary", "basis": "per_point", "price": 1.0}, PerPoint),
    ({"measure": "binary", "basis": "per_non_reoffender", "price": 1.0}, PerNonReoffender),
    ({"measure": "frequency", "basis": "per_reoffence_avoided", "price": 1.0}, PerReoffenceAvoided),
    ({"measure": "frequency", "basis": "pot", "pot_share": 1.0, "target": 5.0}, Pot),
])
def test_basis_of_binds_the_named_basis_to_the_component(terms, cls):
    """basis_of gives the class the component names, holding the component's terms."""
    c = component(**terms)
    basis = basis_of(c)
    assert type(basis) is cls and basis.name == c.basis and basis.component is c


def test_only_a_pot_draws_on_withheld_fees():
    """A pot is paid from fees withheld at risk; priced bases are not."""
    pot = component(measure="binary", basis="pot", pot_share=1.0, target=5.0)
    priced = component(measure="binary", basis="per_point", price=1.0)
    assert basis_of(pot).draws_on_pot and not basis_of(priced).draws_on_pot


def test_measures_improve_in_their_own_units():
    """Binary: points of the cohort; frequency: per cent of the counterfactual's reoffences."""
    assert measure_of("binary").improvement(200, 50, 0, 60, 0) == pytest.approx(5.0)
    assert measure_of("frequency").improvement(200, 0, 90, 0, 120) == pytest.approx(25.0)
    assert measure_of("binary").improvement(0, 0, 0, 0, 0) == 0.0
    assert measure_of("frequency").improvement(10, 0, 3, 0, 0) == 0.0


# ---------------------------------------------------------------- per_point


def test_per_point_pays_price_per_point_per_offender():
    """£100 a point, 5 points on 1,000 people: £500,000; deductible 2: 3 points, £300,000."""
    outcome = cohort(1000, 300, 350)
    assert basis_of(component(measure="binary", basis="per_point", price=100.0)).pay(outcome) == 500_000.0
    deductible = component(measure="binary", basis="per_point", price=100.0, threshold=2.0,
                           threshold_mode="deductible")
    assert basis_of(deductible).pay(outcome) == pytest.approx(300_000.0)


def test_per_point_true_value_is_100_price_per_extra_non_reoffender():
    """40 more non-reoffenders than untreated at £100 a point: 40 x 100 x £100 = £400,000."""
    c = component(measure="binary", basis="per_point", price=100.0, threshold=10.0)
    value = basis_of(c).true_value(one_band(1000), one_band(300), one_band(0), one_band(340), one_band(0))
    assert value == pytest.approx(400_000.0)


def test_per_point_marginal_value_is_100_prices_of_a_non_reoffender():
    """One more non-reoffender is 100 points of one person: £10,000 at £100; no reoffence value."""
    c = component(measure="binary", basis="per_point",
                  prices_by_band=BandPrices(low=100.0, medium=200.0, high=300.0, very_high=400.0))
    binary, frequency = basis_of(c).marginal_values(pot_per_person=1_000.0)
    assert binary.tolist() == [10_000.0, 20_000.0, 30_000.0, 40_000.0]
    assert frequency.tolist() == [0.0] * 4
    assert basis_of(c).effortless_value().tolist() == [0.0] * 4


# ---------------------------------------------------------------- per_non_reoffender


def test_per_non_reoffender_pays_every_non_reoffender_and_counts_them_effortless():
    """£50 for each of 700 non-reoffenders (£35,000), even if worse than the counterfactual."""
    c = component(measure="binary", basis="per_non_reoffender", price=50.0)
    basis = basis_of(c)
    assert basis.pay(cohort(1000, 300, 250)) == pytest.approx(35_000.0)
    # paid for people who would not have reoffended anyway: income that needs no effort
    assert basis.effortless_value().tolist() == [50.0] * 4
    binary, frequency = basis.marginal_values(pot_per_person=0.0)
    assert binary.tolist() == [50.0] * 4 and frequency.tolist() == [0.0] * 4


def test_per_non_reoffender_trigger_and_true_value():
    """A 10-point trigger with 5 points achieved pays nothing; 40 extra non-reoffenders are worth £2,000."""
    c = component(measure="binary", basis="per_non_reoffender", price=50.0, threshold=10.0)
    assert basis_of(c).pay(cohort(1000, 300, 350)) == 0.0
    assert basis_of(c).pay(cohort(1000, 200, 350)) == pytest.approx(40_000.0)
    value = basis_of(c).true_value(one_band(1000), one_band(300), one_band(0), one_band(340), one_band(0))
    assert value == pytest.approx(2_000.0)


# ---------------------------------------------------------------- per_reoffence_avoided


def test_per_reoffence_avoided_pays_price_per_reoffence_below_counterfactual():
    """10% below 1,550 reoffences is 155 avoided: £155,000 at £1,000; below a 12% trigger, nothing."""
    outcome = cohort(1000, 0, 0, reoffences=1395, cf_reoffences=1550)
    c = component(measure="frequency", basis="per_reoffence_avoided", price=1000.0)
    assert basis_of(c).pay(outcome) == pytest.approx(155_000.0)
    trigger = component(measure="frequency", basis="per_reoffence_avoided", price=1000.0, threshold=12.0)
    assert basis_of(trigger).pay(outcome) == 0.0


def test_per_reoffence_avoided_true_and_marginal_values():
    """55 reoffences fewer than untreated at £1,000: £55,000; each one avoided is worth the price."""
    c = component(measure="frequency", basis="per_reoffence_avoided", price=1000.0)
    basis = basis_of(c)
    assert basis.true_value(one_band(1000), one_band(0), one_band(1395), one_band(0),
                            one_band(1450)) == pytest.approx(55_000.0)
    # worse than untreated is worth nothing, never a negative payment
    assert basis.true_value(one_band(1000), one_band(0), one_band(1500), one_band(0), one_band(1450)) == 0.0
    binary, frequency = basis.marginal_values(pot_per_person=0.0)
    assert binary.tolist() == [0.0] * 4 and frequency.tolist() == [1000.0] * 4


# ---------------------------------------------------------------- pot


def test_linear_pot_pays_its_share_between_threshold_and_target():
    """Threshold 2, target 6, 5 points achieved: three quarters of a £10,000 pot."""
    c = component(measure="binary", basis="pot", pot_share=1.0, threshold=2.0, target=6.0)
    basis = basis_of(c)
    assert basis.pay(cohort(1000, 300, 350, pot=10_000.0)) == pytest.approx(7_500.0)
    # against the untreated outcomes 3 points: a quarter
    value = basis.true_value(one_band(1000), one_band(300), one_band(0), one_band(330), one_band(0), 10_000.0)
    assert value == pytest.approx(2_500.0)
    assert basis.effortless_value().tolist() == [0.0] * 4


def test_pot_marginal_value_is_linearised_between_threshold_and_target():
    """£100 withheld a person over a 4-point span: a non-reoffender (100 points of one) is worth £2,500."""
    c = component(measure="binary", basis="pot", pot_share=1.0, threshold=2.0, target=6.0)
    binary, frequency = basis_of(c).marginal_values(pot_per_person=100.0)
    assert binary.tolist() == pytest.approx([2_500.0] * 4)
    assert frequency.tolist() == [0.0] * 4


def test_frequency_pot_marginal_value_per_reoffence_by_band():
    """Half a pot over 10 per cent, all or nothing: £500 a per cent, spread over a band's reoffences.

    At the band midpoint 0.125 and 2.9 reoffences per reoffender, a low-risk
    person is expected to commit 0.3625 reoffences: £500 / 0.3625 each.
    """
    c = component(measure="frequency", basis="pot", pot_share=0.5, threshold=4.0, target=10.0,
                  all_or_nothing=True)
    binary, frequency = basis_of(c).marginal_values(pot_per_person=100.0)
    assert binary.tolist() == [0.0] * 4
    assert frequency.tolist() == pytest.approx([500.0 / 0.3625, 500.0 / 1.0875, 500.0 / 1.8125, 500.0 / 2.5375])


def test_cap_per_cohort_applies_to_every_basis():
    """£7,500 earned against a £5,000 cap per cohort pays £5,000."""
    pot = component(measure="binary", basis="pot", pot_share=1.0, threshold=2.0, target=6.0,
                    cap_per_cohort=5_000.0)
    priced = component(measure="binary", basis="per_non_reoffender", price=50.0, cap_per_cohort=5_000.0)
    assert basis_of(pot).pay(cohort(1000, 300, 350, pot=10_000.0)) == 5_000.0
    assert basis_of(priced).pay(cohort(1000, 300, 350)) == 5_000.0


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(("terms", "message"), [
    ({"measure": "frequency", "basis": "per_point", "price": 1.0}, "basis 'per_point' needs measure 'binary'"),
    ({"measure": "frequency", "basis": "per_non_reoffender", "price": 1.0},
     "basis 'per_non_reoffender' needs measure 'binary'"),
    ({"measure": "binary", "basis": "per_reoffence_avoided", "price": 1.0},
     "basis 'per_reoffence_avoided' needs measure 'frequency'"),
    ({"measure": "binary", "basis": "per_non_reoffender", "price": 1.0, "threshold": 2.0,
      "threshold_mode": "deductible"}, "its threshold can only be a 'trigger'"),
    ({"measure": "binary", "basis": "per_point"}, "needs exactly one of 'price' or 'prices_by_band'"),
    ({"measure": "binary", "basis": "per_point", "price": 1.0, "pot_share": 1.0},
     "'pot_share' and 'target' belong to basis 'pot' only"),
    ({"measure": "binary", "basis": "pot", "target": 5.0}, "basis 'pot' needs 'pot_share' and 'target'"),
    ({"measure": "binary", "basis": "pot", "pot_share": 1.0, "target": 5.0, "price": 1.0},
     "basis 'pot' is paid from withheld fees"),
    ({"measure": "binary", "basis": "pot", "pot_share": 1.0, "threshold": 5.0, "target": 5.0},
     "'target' must be above 'threshold' for a linear pot"),
])
def test_each_basis_refuses_terms_it_cannot_pay_on(terms, message):
    """The basis's own rules refuse the component, with a message naming what is wrong."""
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        OutcomeComponent(**terms)


def test_pot_accepts_either_measure():
    """A pot can be judged on the binary or the frequency measure."""
    for measure in MEASURE_NAMES:
        component(measure=measure, basis="pot", pot_share=1.0, target=5.0)


# ---------------------------------------------------------------- no string dispatch elsewhere

_NAMES = frozenset(BASIS_NAMES) | frozenset(MEASURE_NAMES)


def _is_name(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in _NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_name(e) for e in node.elts)
    return False


def _is_basis_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "basis"


def basis_dispatch(source: str) -> list[int]:
    """Lines that choose behaviour by a basis or measure name, or by a component's ``basis``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_name(o) or _is_basis_attribute(o) for o in operands):
                lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and _is_name(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and _is_basis_attribute(node.slice):
            lines.append(node.lineno)
    return lines


def test_dispatch_detector_finds_each_form():
    """The detector flags comparisons, membership tests, match cases and lookups by basis."""
    assert basis_dispatch('if c.basis == "pot":\n    pass\n') == [1]
    assert basis_dispatch('x = m in ("binary", "frequency")\n') == [1]
    assert basis_dispatch('match b:\n    case "per_point":\n        pass\n') == [2]
    assert basis_dispatch("y = table[c.basis]\n") == [1]
    assert basis_dispatch('kind = f"outcome_{c.measure}"\nimprovement("frequency", 1, 2, 3, 4, 5)\n') == []


def test_no_string_dispatch_on_basis_or_measure_outside_bases():
    """Only sim/bases.py turns a basis or measure name into behaviour."""
    found = {}
    for folder in ("sim", "analysis", "experiments", "pbrsim"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "sim" / "bases.py":
                continue
            lines = basis_dispatch(path.read_text(encoding="utf-8"))
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}
