"""The ledger as arrays: many payments at once are the same journal, totals and books as one at a time."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pbrsim.sim.agents import Prime
from pbrsim.sim.ledger import Kind, Ledger, Party
from pbrsim.sim.model import PbRModel
from pbrsim.sim.subcontracting import SubcontractedSupply

from pbrsim.scenario_files import load_scenario
from tests.conftest import SCENARIOS


def amounts(n: int, seed: int = 3) -> np.ndarray:
    """Payments of very different sizes, some zero: sums in another order round differently."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(8.0, 4.0, n)
    values[rng.random(n) < 0.1] = 0.0
    return values


def journal(months: list[int], payers: list[str], payees: list[str], kinds: list[Kind],
            values: np.ndarray) -> Ledger:
    ledger = Ledger(capacity=2)
    for row in zip(months, payers, payees, kinds, values, strict=True):
        ledger.record(*row)
    return ledger


def test_record_many_is_one_record_each():
    """The same rows, frame, totals by kind and filtered totals, to the last bit; zeros skipped."""
    values = amounts(3000)
    names = [f"Sub-prime {i % 37}" for i in range(values.size)]
    one = journal([4] * 50, [Party.COMMISSIONER] * 50, ["Prime A"] * 50, [Kind.FEES] * 50, values[:50])
    for i in range(values.size):
        one.record(5, "Prime A", names[i], Kind.OUTCOME_SHARE, values[i])
    one.record(6, "Prime A", Party.OVERHEAD, Kind.OVERHEAD, 1.5)

    many = journal([4] * 50, [Party.COMMISSIONER] * 50, ["Prime A"] * 50, [Kind.FEES] * 50, values[:50])
    half = values.size // 2
    many.record_many(5, "Prime A", names[:half], Kind.OUTCOME_SHARE, values[:half])
    # the rest by party codes, as a prime that knows its sub-primes' codes pays them
    many.record_many(5, "Prime A", many.parties(names[half:]), "outcome_share", values[half:])
    many.record(6, "Prime A", Party.OVERHEAD, Kind.OVERHEAD, 1.5)

    assert len(many) == len(one) == 50 - (values[:50] == 0).sum() + (values > 0).sum() + 1
    pd.testing.assert_frame_equal(many.frame(), one.frame())
    for kind in Kind:
        assert many.total(kind) == one.total(kind)
    # the running total is the sum in journal order, not a differently rounded one
    shares = values[values > 0]
    sequential = 0.0
    for v in shares.tolist():
        sequential += v
    assert many.total(Kind.OUTCOME_SHARE) == sequential != float(np.sum(shares))
    for name in {*names, "Prime A", "commissioner", "nobody"}:
        assert many.total(payee=name) == one.total(payee=name)
        assert many.total(payer=name) == one.total(payer=name)
        assert many.total(Kind.OUTCOME_SHARE, payer="Prime A", payee=name) == one.total(
            Kind.OUTCOME_SHARE, payer="Prime A", payee=name)
    assert many.payees(Kind.OUTCOME_SHARE) == set(names)
    paid_to = many.amounts(payees={"Sub-prime 3"})
    assert paid_to.tolist() == [v for n, v in zip(names, values, strict=True) if n == "Sub-prime 3" and v > 0]


def test_record_many_refuses_what_record_refuses():
    """A negative payment, an unknown kind or a mismatch refuses the whole batch: nothing is recorded."""
    ledger = Ledger()
    ledger.record(1, Party.COMMISSIONER, "Prime A", Kind.FEES, 10.0)
    with pytest.raises(ValueError, match="negative payment -2.0 for outcome_share from Prime A to B"):
        ledger.record_many(2, "Prime A", ["A", "B"], Kind.OUTCOME_SHARE, np.array([1.0, -2.0]))
    with pytest.raises(ValueError):
        ledger.record_many(2, "Prime A", ["A"], "outcome_shares", np.array([1.0]))
    with pytest.raises(ValueError):
        ledger.record_many(2, "Prime A", ["A", "B"], Kind.OUTCOME_SHARE, np.array([1.0]))
    with pytest.raises(ValueError, match="negative payment"):
        ledger.record(2, "Prime A", "A", Kind.OUTCOME_SHARE, -1.0)
    assert len(ledger) == 1 and ledger.total(Kind.OUTCOME_SHARE) == 0.0
    ledger.record_many(3, "Prime A", ["A"], Kind.OUTCOME_SHARE, np.zeros(1))
    assert len(ledger) == 1 and Kind.OUTCOME_SHARE.value not in ledger._by_kind


def test_empty_ledger_frame_is_unchanged():
    """An empty journal is the same empty table as ever."""
    frame = Ledger().frame()
    assert list(frame.columns) == ["month", "payer", "payee", "kind", "amount"] and len(frame) == 0


def prime_books(cash: float) -> SimpleNamespace:
    return SimpleNamespace(model=SimpleNamespace(ledger=Ledger()), name="Prime A", cash=cash,
                           min_cash=cash, costs=0.0, clawed_back=0.0)


@pytest.mark.parametrize("kind", [Kind.OUTCOME_SHARE, Kind.MARGIN_CLAWBACK])
def test_spend_many_is_one_spend_each(kind):
    """A prime paying many at once ends with the same cash, lowest cash, books and journal, bit for bit."""
    values = amounts(500, seed=11)
    names = [f"Sub-prime {i % 7}" for i in range(values.size)]
    one, many = prime_books(2.0e6), prime_books(2.0e6)
    for name, value in zip(names, values, strict=True):
        Prime.spend(one, 9, name, kind, value)
    Prime.spend_many(many, 9, names, kind, values)
    for books in ("cash", "min_cash", "costs", "clawed_back"):
        assert getattr(many, books) == getattr(one, books), books
    assert type(many.cash) is type(one.cash)
    assert many.cash < 0 < many.clawed_back + many.costs  # the cash path went below zero: min_cash saw it
    pd.testing.assert_frame_equal(many.model.ledger.frame(), one.model.ledger.frame())


def test_outcome_shares_are_paid_as_one_payment_each(monkeypatch):
    """A cohort's outcome shares at once: each claimant gets amount x min(claim / dose, 1), in order."""
    original = SubcontractedSupply.on_outcome_payment
    checked: list[int] = []

    def checking(chain: SubcontractedSupply, cohort, amount: float, month: int) -> None:
        model = chain.market.model
        index = (cohort.month - 1) * model.areas.count + cohort.area
        dose = float(model.store.dose[cohort.start:cohort.stop].sum(dtype=np.float64))
        claimants = chain.claimants
        if not checked and amount > 0 and dose > 0 and claimants:
            claimants[0].claims[index] = 2 * dose  # a claim above the whole dose earns the whole payment
        before = {s.name: (s.cash, s.income, s.at_risk_income) for s in claimants}
        prime_cash, rows = chain.prime.cash, len(model.ledger)
        original(chain, cohort, amount, month)
        new = model.ledger.frame().iloc[rows:]
        if amount <= 0 or dose <= 0:
            assert new.empty
            return
        expected = [(s.name, amount * min(s.claims[index] / dose, 1.0)) for s in claimants
                    if s.claims[index] > 0]
        assert list(zip(new.payee, new.amount, strict=True)) == expected
        assert (new.payer == chain.prime.name).all() and (new.kind == "outcome_share").all()
        if not checked:
            assert expected[0] == (claimants[0].name, amount)
        cash = prime_cash
        for _, share in expected:
            cash -= share
        assert chain.prime.cash == cash
        for name, share in expected:
            s = next(s for s in claimants if s.name == name)
            assert (s.cash, s.income, s.at_risk_income) == tuple(v + share for v in before[name])
        checked.append(len(expected))

    monkeypatch.setattr(SubcontractedSupply, "on_outcome_payment", checking)
    design = load_scenario(SCENARIOS / "supply_chain_risk_passed_down.yaml",
                           overrides={"contract": {"referral_months": 12}})
    PbRModel(design, rng=5).run()
    assert len(checked) > 10 and sum(checked) > 100


def test_claims_are_rows_of_one_matrix_that_grows():
    """Each sub-prime's claims are its row of the market's claims matrix, kept when the matrix grows."""
    from pbrsim.sim.supply_chain import Market

    design = load_scenario(SCENARIOS / "supply_chain_risk_passed_down.yaml",
                           overrides={"contract": {"referral_months": 12}})
    model = PbRModel(design, rng=5)
    model.run()
    market = model.mechanism(Market)
    before = {s.name: s.claims.copy() for s in market.subprimes}
    assert any(c.any() for c in before.values())
    size = market.claims.shape[0]
    while market.claims.shape[0] == size:
        market._create(market.spec.subprimes[0], 0, entered=model.steps)
    assert len({s.claim_row for s in market.subprimes}) == len(market.subprimes)
    for s in market.subprimes:
        assert np.shares_memory(s.claims, market.claims)
        assert (market.claims[s.claim_row] == before.get(s.name, 0.0)).all()
        s.claims[0] += 1.0
        assert market.claims[s.claim_row, 0] == s.claims[0]
