"""Supply chains: sub-primes, subcontract terms, risk transfer, exits and entry, money conserved."""

from __future__ import annotations

import numpy as np
import pytest
from pbrsim.sim import run_scenario
from pbrsim.sim.model import PbRModel
from pbrsim.sim.supply_chain import InHouse, Market, SubcontractedSupply, Terms, acceptable, bargaining_power

from pbrsim.scenario_files import ScenarioFileError, load_scenario
from tests.conftest import SCENARIOS

FEES_ONLY = SCENARIOS / "supply_chain_fees_only.yaml"
RISK_DOWN = SCENARIOS / "supply_chain_risk_passed_down.yaml"
SEEDS = (20111, 7)

ONE_PRIME = [{"name": "Northgate Rehabilitation", "strategy": "uniform", "hours_per_month": 4,
              "unit_cost_per_hour": 45, "overhead_per_month": 60000, "capital": 5000000}]


def accommodation(name: str, reserves: float, **extra) -> dict:
    """One accommodation sub-prime with no spread: its reserves are exactly as given."""
    return {"name": name, "sector": "voluntary", "service_types": ["accommodation"], "count": 1,
            "capacity_hours_per_month": 900, "unit_cost_per_hour": 34, "overhead_per_month": 6000,
            "effectiveness": 1.25, "reserves": reserves, "risk_tolerance": 0.15,
            "min_margin": -0.05, "spread": 0.0, **extra}


def one_prime_market(subprimes: list[dict], policy: dict | None = None, entry: float = 0.0,
                     months: int = 24, contract: dict | None = None):
    """A small region with one uniform prime and a market of the given sub-primes."""
    overrides = {
        "cohort": {"referrals_per_year": 6000},
        "contract": {"referral_months": months, **(contract or {})},
        "primes": ONE_PRIME,
        "market": {"subprimes": subprimes, "policy": policy or {},
                   "entry": {"probability_per_month": entry}},
    }
    return load_scenario(FEES_ONLY, overrides=overrides)


def run(design, seed: int | None = None) -> PbRModel:
    model = PbRModel(design, rng=seed)
    model.run()
    return model


@pytest.fixture(scope="module")
def pair():
    """The two shipped supply-chain scenarios at full size on two seeds: {seed: (fees, risk)}."""
    fees, risk = load_scenario(FEES_ONLY), load_scenario(RISK_DOWN)
    return {seed: (run(fees, seed), run(risk, seed)) for seed in SEEDS}


# -- pure functions -------------------------------------------------------------------------------


def test_bargaining_power_grows_with_reserves_and_alternatives():
    """More months of costs in reserve, or more primes bidding, give more power to refuse."""
    cashes = (-5.0, 0.0, 10_000.0, 30_000.0, 1e7)
    powers = [bargaining_power(cash, 10_000.0, 0, 3.0) for cash in cashes]
    assert powers[0] == powers[1] == 0.0
    assert all(a < b for a, b in zip(powers[1:], powers[2:], strict=False))
    assert powers[-1] == pytest.approx(1.0, abs=1e-2)
    assert bargaining_power(30_000.0, 10_000.0, 0, 3.0) == pytest.approx(0.5)
    assert bargaining_power(30_000.0, 10_000.0, 1, 3.0) == pytest.approx(0.75)
    assert bargaining_power(0.0, 10_000.0, 2, 3.0) == pytest.approx(2 / 3)


def test_power_decides_who_takes_risky_or_thin_terms():
    """Terms with much income at risk, or a thin margin, are taken without power, not with it."""
    common = {"full_cost_per_hour": 40.0, "risk_tolerance": 0.2, "min_margin": -0.05,
              "demanded_margin": 0.10, "discount_rate": 0.0, "outcome_delay_months": 20.0}
    risky = Terms(fee_per_hour=20.0, outcome_share=1.0, expected_share_per_hour=24.0,
                  payment_lag_months=1, hours=500.0)
    assert risky.at_risk_share == pytest.approx(24 / 44)
    assert acceptable(risky, power=0.0, **common)
    assert not acceptable(risky, power=0.9, **common)
    thin = Terms(fee_per_hour=41.0, outcome_share=0.0, expected_share_per_hour=0.0,
                 payment_lag_months=1, hours=500.0)
    assert acceptable(thin, power=0.0, **common) and not acceptable(thin, power=1.0, **common)
    late = Terms(fee_per_hour=44.0, outcome_share=0.0, expected_share_per_hour=0.0,
                 payment_lag_months=12, hours=500.0)
    assert acceptable(late, power=1.0, **common)
    assert not acceptable(late, power=1.0, **{**common, "discount_rate": 0.01})


# -- the schema ----------------------------------------------------------------------------------


def test_no_market_means_in_house(small_scenario):
    """Without a market every prime delivers in-house and no market measures appear."""
    model = PbRModel(small_scenario("tr_hybrid"))
    assert model.mechanism(Market) is None
    assert all(isinstance(p.supply, InHouse) for p in model.primes)


def test_policies_and_errors(tmp_path):
    """A prime's own policy overrides the market's; impossible or misspelt fields are refused."""
    primes = [dict(ONE_PRIME[0], subcontracting={"max_subprimes_per_type": 0}),
              dict(ONE_PRIME[0], name="Second prime")]
    design = load_scenario(FEES_ONLY, overrides={"primes": primes})
    model = PbRModel(design)
    assert isinstance(model.primes[0].supply, InHouse)
    assert isinstance(model.primes[1].supply, SubcontractedSupply)
    assert model.primes[1].supply.policy == design.market.policy
    for text, field in [
        ("market:\n  policy:\n    fee_margin_over_cost: 0.3\n", "market.policy"),
        ("market:\n  subprimes:\n    - {sector: charity}\n", "market.subprimes.0.sector"),
        ("market:\n  entry:\n    probablity_per_month: 0.2\n", "market.entry.probablity_per_month"),
    ]:
        path = tmp_path / "bad.yaml"
        path.write_text(f"extends: {FEES_ONLY}\n{text}")
        with pytest.raises(ScenarioFileError, match=field.replace(".", r"\.")):
            load_scenario(path)


# -- the shipped pair -----------------------------------------------------------------------------


def test_money_is_conserved_through_the_supply_chain(pair):
    """Commissioner -> primes -> sub-primes: each agent's cash change is its ledger in less out."""
    for models in pair.values():
        for model in models:
            ledger = model.ledger.frame()
            received = ledger.groupby("payee")["amount"].sum()
            paid = ledger.groupby("payer")["amount"].sum()
            primes = [p.name for p in model.primes]
            assert paid["commissioner"] == pytest.approx(received[primes].sum(), rel=1e-12)
            for prime in model.primes:
                change = prime.cash - prime.spec.capital
                flows = received[prime.name] - paid[prime.name]
                assert change == pytest.approx(flows, rel=1e-9, abs=1e-3)
            for sub in model.mechanism(Market).subprimes:
                flows = received.get(sub.name, 0.0) - paid.get(sub.name, 0.0)
                assert sub.cash - sub.reserves == pytest.approx(flows, rel=1e-9, abs=1e-3)
                assert sub.income - sub.costs == pytest.approx(flows, rel=1e-9, abs=1e-3)
            # sub-primes are paid only by primes, and pay only staff and overheads
            subs = {s.name for s in model.mechanism(Market).subprimes}
            assert set(ledger.loc[ledger.payee.isin(subs), "payer"]) <= set(primes)
            payees = set(ledger.loc[ledger.payer.isin(subs), "payee"])
            assert payees <= {"front_line_delivery", "overhead"}
            assert not model.mechanism(Market)._fees_due, "fees owed to sub-primes were never paid"


def test_outcome_shares_come_out_of_outcome_payments(pair):
    """A prime passes down at most the outcome payments it received; with fees only, nothing."""
    for fees, risk in pair.values():
        for model, passed in ((fees, False), (risk, True)):
            ledger = model.ledger.frame()
            for prime in model.primes:
                to_prime = (ledger.payee == prime.name) & ledger.kind.str.startswith("outcome_")
                from_prime = (ledger.payer == prime.name) & (ledger.kind == "outcome_share")
                got = ledger.loc[to_prime, "amount"].sum()
                shared = ledger.loc[from_prime, "amount"].sum()
                assert shared <= got
                assert (shared > 0.3 * got) if passed else shared == 0


def test_passing_risk_down_transfers_it_and_drives_exits(pair):
    """Outcome shares and late fees give sub-primes more risk than money, and more exits."""
    for fees, risk in pair.values():
        f, r = fees.mechanism(Market).metrics(), risk.mechanism(Market).metrics()
        assert f["risk_transfer_ratio"] == 0.0
        assert r["risk_transfer_ratio"] > 1.05
        assert r["subprime_exits"] >= f["subprime_exits"] + 10
        assert r["subprime_insolvencies"] > f["subprime_insolvencies"]
        assert r["sector_share_voluntary"] < f["sector_share_voluntary"]
        # the prime's belief about the share's value is neither wildly optimistic nor pessimistic
        assert 0.8 < r["subprime_at_risk_realised"] < 1.2


def test_capacity_is_respected(pair):
    """No sub-prime ever delivers, or contracts, more hours in a month than its capacity."""
    for models in pair.values():
        for model in models:
            for sub in model.mechanism(Market).subprimes:
                assert sub.max_hours_month <= sub.capacity * (1 + 1e-9)
                assert sub.free_hours >= -1e-6


def test_market_measures_are_reported(pair):
    """Market health is in every month's record; final measures add up over the months."""
    model = pair[SEEDS[0]][1]
    for row in model.monthly:
        assert {"active_subprimes", "active_subprimes_voluntary", "subprime_exits",
                "subprime_entries", "subprime_cash_total"} <= set(row)
    m = model.mechanism(Market).metrics()
    assert sum(row["subprime_exits"] for row in model.monthly) == m["subprime_exits"]
    assert sum(row["subprime_entries"] for row in model.monthly) == m["subprime_entries"]
    sectors = ("voluntary", "social_enterprise", "private", "public")
    assert sum(m[f"sector_share_{s}"] for s in sectors) == pytest.approx(1.0)


# -- behaviour in small, controlled markets -------------------------------------------------------


def test_reserves_buy_the_power_to_decline():
    """Offered the same risky terms, a sub-prime with big reserves declines; a poor one accepts."""
    design = one_prime_market(
        [accommodation("Rich", 5_000_000), accommodation("Poor", 20_000)],
        policy={"outcome_share_passed": 1.0, "fee_margin_over_cost": 0.08,
                "max_fee_margin_over_cost": 0.08},
        contract={"payment": {"at_risk_share": 0.5}},
    )
    model = run(design, 1)
    first = model.mechanism(Market).decisions_frame().query("month == 1").set_index("subprime")
    rich, poor = first.loc["Rich 1"], first.loc["Poor 1"]
    assert rich["at_risk_share"] == pytest.approx(poor["at_risk_share"])
    assert rich["at_risk_share"] > 0.3
    assert not rich["accepted"] and poor["accepted"]
    assert rich["power"] > poor["power"]


def test_exits_send_work_back_in_house():
    """When the only sub-prime runs out of cash, its hours go back to the prime's own staff."""
    design = one_prime_market([accommodation("Thin", 40_000)], policy={"payment_lag_months": 6})
    model = run(design, 2)
    sub = model.mechanism(Market).subprimes[0]
    assert sub.exit_reason == "insolvency"
    shares = [row["subcontracted_hours_share"] for row in model.monthly]
    assert max(shares[: sub.exit_month]) > 0
    assert all(s == 0 for s in shares[sub.exit_month:])
    assert not any(model.primes[0].supply.by_type)


def test_entrants_take_up_work_left_by_exits():
    """Where a prime still wants to subcontract after an exit, new sub-primes enter, deliver."""
    design = one_prime_market([accommodation("Thin", 40_000)], entry=0.5,
                              policy={"payment_lag_months": 6, "max_subprimes_per_type": 1})
    model = run(design, 2)
    market = model.mechanism(Market)
    entrants = [s for s in market.subprimes if s.entered > 0]
    assert market.entries == len(entrants)
    # accommodation had a sub-prime from the start: entrants came only once it had gone
    original = market.subprimes[0]
    assert original.exit_month is not None
    newcomers = [s for s in entrants if s.service_type == original.service_type]
    assert newcomers and min(s.entered for s in newcomers) >= original.exit_month
    assert any(s.hours_total > 0 for s in newcomers)
    # other types had none: primes wanting to buy them drew entrants from the start
    assert any(s.service_type != original.service_type for s in entrants)


def test_work_that_stops_paying_ends_in_exit():
    """A sub-prime losing money month after month leaves once its cash is under half its reserve."""
    model = PbRModel(load_scenario(FEES_ONLY, overrides={"cohort": {"referrals_per_year": 600}}))
    spec = model.design.market
    sub = model.mechanism(Market).subprimes[0]
    sub.cash = 0.4 * sub.reserves
    reasons = []
    for _ in range(spec.exit_loss_months):
        sub.month_net = -1.0
        reasons.append(sub.review(spec))
    assert reasons[:-1] == [None] * (spec.exit_loss_months - 1) and reasons[-1] == "losses"
    sub.cash = -1.0
    assert sub.review(spec) == "insolvency"


def test_promised_volumes_and_bid_candy():
    """Hours promised but never referred are measured, and paid for only if promises are kept."""
    subprimes = [accommodation("Big", 500_000, capacity_hours_per_month=4000)]
    kept = one_prime_market(subprimes, policy={"volume_commitment_share": 1.0,
                                               "honour_volume_commitment": True})
    broken = one_prime_market(subprimes, policy={"volume_commitment_share": 1.0})
    m_kept, m_broken = run(kept, 4), run(broken, 4)
    assert m_kept.mechanism(Market).metrics()["bid_candy_share"] > 0
    assert m_kept.mechanism(Market).honoured_fees > 0
    assert m_broken.mechanism(Market).honoured_fees == 0


def test_same_seed_same_market():
    """The same scenario and seed give the same market, offers, answers and ledger."""
    small = {"cohort": {"referrals_per_year": 6000}, "contract": {"referral_months": 24}}
    design = load_scenario(RISK_DOWN, overrides=small)
    a, b = run_scenario(design, 3), run_scenario(design, 3)
    assert a.metrics == b.metrics
    assert a.monthly.equals(b.monthly)
    assert a.ledger.equals(b.ledger)
    assert a.metrics["subprimes_ever"] > 0 and "risk_transfer_ratio" in a.metrics
    assert np.isfinite(a.metrics["subprime_income"])
