"""Optional contract mechanisms behind one protocol (sim/mechanisms.py), one owner of who holds an area
(sim/areas.py), and the ledger's parties and kinds (sim/ledger.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pbrsim.sim.mechanisms as mechanisms
import pytest
from pbrsim.sim.commissioning import Commissioning
from pbrsim.sim.investment import SocialImpactBond
from pbrsim.sim.ledger import Kind, Ledger, Party
from pbrsim.sim.mechanisms import Mechanism, MechanismType, Settled
from pbrsim.sim.model import PbRModel
from pbrsim.sim.results import run_scenario
from pbrsim.sim.stewardship import MarginCap
from pbrsim.sim.supply_chain import Market

from pbrsim.api import load_scenario, shipped_scenario

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"cohort": {"referrals_per_year": 2400}, "contract": {"referral_months": 12}}


def shipped(name: str, overrides: dict | None = None):
    return load_scenario(shipped_scenario(name), overrides)


class Diary(Mechanism):
    """A toy mechanism that writes down every hook it is called at."""

    def __init__(self, model: PbRModel) -> None:
        self.model = model
        self.calls: list[tuple[str, int]] = []

    def end_of_month(self, month: int) -> None:
        self.calls.append(("end_of_month", month))

    def on_settled(self, settled: Settled) -> None:
        assert settled.cohort.result is not None, "settled before the cohort was paid for"
        self.calls.append(("on_settled", settled.month))

    def monthly_row(self) -> dict[str, float]:
        self.calls.append(("monthly_row", self.model.steps))
        return {"diary_entries": float(len(self.calls))}

    def metrics(self) -> dict[str, float | None]:
        return {"diary_settlements": float(sum(c[0] == "on_settled" for c in self.calls))}


def _with_diary(monkeypatch: pytest.MonkeyPatch) -> list[Diary]:
    made: list[Diary] = []

    def build(model: PbRModel) -> Diary:
        made.append(Diary(model))
        return made[-1]

    registered = mechanisms.mechanism_types()
    toy = MechanismType("diary", build=build, absent_metrics=lambda model: {"diary_settlements": None})
    monkeypatch.setattr(mechanisms, "mechanism_types", lambda: [*registered, toy])
    return made


def test_a_registered_mechanism_gets_every_hook_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A toy mechanism added to the registry is called each month, at each settlement, and reports."""
    made = _with_diary(monkeypatch)
    result = run_scenario(shipped("binary_pbr", SMALL), seed=3)
    diary = made[0]
    months = result.monthly["month"].tolist()
    assert [m for hook, m in diary.calls if hook == "monthly_row"] == months
    ends = [m for hook, m in diary.calls if hook == "end_of_month"]
    assert ends == months  # every step, before that month's record
    for month in months:
        assert diary.calls.index(("end_of_month", month)) < diary.calls.index(("monthly_row", month))
    settled = [m for hook, m in diary.calls if hook == "on_settled"]
    assert len(settled) == len(result.cohorts) and settled == sorted(settled)
    assert result.metrics["diary_settlements"] == len(result.cohorts)
    assert diary.calls[-1][0] == "monthly_row"  # the record is the last thing each month
    assert result.monthly["diary_entries"].iloc[-1] == len(diary.calls)


def test_a_run_without_a_mechanism_reports_its_absent_measures(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mechanism the scenario does not build still reports its keys (here, as null)."""
    registered = mechanisms.mechanism_types()
    never = MechanismType("never", build=lambda model: None, absent_metrics=lambda model: {"never_built": None})
    monkeypatch.setattr(mechanisms, "mechanism_types", lambda: [*registered, never])
    result = run_scenario(shipped("fee_for_service", SMALL), seed=3)
    assert "never_built" in result.metrics and result.metrics["never_built"] is None


def test_the_scenario_decides_which_mechanisms_a_run_has() -> None:
    """Each shipped design builds exactly the mechanisms it asks for; commissioning is always there."""
    cases = {
        "fee_for_service": {Commissioning},
        "supply_chain_risk_passed_down": {Commissioning, Market},
        "margin_cap": {Commissioning, MarginCap},
        "peterborough_sib": {Commissioning, SocialImpactBond},
    }
    for name, kinds in cases.items():
        model = PbRModel(shipped(name, SMALL if name != "peterborough_sib" else {}))
        assert {type(m) for m in model.mechanisms} == kinds, name
        for kind in (Market, MarginCap, SocialImpactBond):
            assert (model.mechanism(kind) is not None) == (kind in kinds)


def _names_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name.rsplit(".", 1)[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom | ast.Import)
              for a in n.names}
    names |= {n.module.rsplit(".", 1)[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names


def test_the_model_core_names_no_mechanism() -> None:
    """sim/model.py, sim/agents.py and sim/results.py never name a concrete mechanism or its module."""
    concrete = {"Market", "MarginCap", "SocialImpactBond", "Commissioning", "build_market", "build_margin_cap",
                "build_social_impact_bond", "supply_chain", "stewardship", "investment", "commissioning",
                "market", "margin_cap"}
    assert "Market" in _names_in(ROOT / "sim" / "supply_chain.py")  # the check can see a name
    for core in ("model.py", "agents.py", "results.py"):
        named = _names_in(ROOT / "sim" / core) & concrete
        assert not named, f"sim/{core} names {sorted(named)}"


def test_one_record_of_who_holds_each_area() -> None:
    """Holders, the delivery array, a prime's own areas and the cohort table agree, through re-letting."""
    model = PbRModel(shipped("competition_lowest_tender", {"contract": {"referral_months": 30}}))
    model.run()
    areas = model.areas
    holders = areas.holders()
    assert [p.index for p in holders] == areas.as_array().tolist()
    for prime in model.primes:
        assert prime.areas == [a for a, p in enumerate(holders) if p is prime]
    with pytest.raises(ValueError):
        areas.as_array()[0] = 0  # delivery reads it; only assign() changes it
    assert model.mechanism(Commissioning).history, "nothing was re-let: the check would prove little"
    result = run_scenario(shipped("competition_lowest_tender", {"contract": {"referral_months": 30}}))
    # a cohort is credited to whoever held its area in its referral month, as the commissioning history says
    switched = result.cohorts.groupby("area")["prime"].nunique()
    assert (switched > 1).any(), "no area changed hands: the check would prove nothing"


def test_ledger_kinds_and_parties_are_enums_that_write_plain_values() -> None:
    """Payments are recorded by kind; the journal holds the kinds' plain values; unknown kinds are refused."""
    ledger = Ledger()
    ledger.record(1, Party.COMMISSIONER, "Prime A", Kind.FEES, 10.0)
    ledger.record(2, Party.COMMISSIONER, "Prime A", "fees", 5.0)
    assert ledger.total(Kind.FEES) == ledger.total("fees") == 15.0
    frame = ledger.frame()
    assert frame["kind"].tolist() == ["fees", "fees"] and type(frame["kind"][0]) is str
    assert frame["payer"][0] == "commissioner" and type(frame["payer"][0]) is str
    with pytest.raises(ValueError):
        ledger.record(3, Party.COMMISSIONER, "Prime A", "fess", 1.0)
    assert Kind.outcome("binary") is Kind.OUTCOME_BINARY
