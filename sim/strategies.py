"""How a prime allocates service effort across its caseload.

A strategy sees a :class:`Caseload` (what the prime can observe about the
people it is serving this month) and returns hours of service by service type
for each of them. It never sees true risk, complexity or responsiveness. The
contract's service floor is applied by the prime after the strategy has
chosen, so a strategy cannot undercut it.

A strategy is one object with the whole protocol a prime asks of it
(:class:`ProviderStrategy`): allocate effort, screen referrals where the
contract lets the prime refuse them, observe the outcomes it saw, and reprice
when it holds the contract at new terms. :func:`make_strategy` builds it from
the scenario; nothing else in the model asks which strategy a prime follows.

The adaptive strategies follow the rule in DESIGN.md's appendix: raise effort
on a person until the believed marginal revenue of an hour meets its marginal
cost. Nothing in them names creaming, parking or the binary cliff; those
follow from the contract's prices, the measure and the prime's beliefs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from pbrsim.sim.bases import BAND_MIDPOINTS, REOFFENCES_PER_REOFFENDER, basis_of
from pbrsim.sim.scenario import SERVICE_TYPES, ContractSpec, PrimeSpec, Scenario, Strategy

__all__ = [
    "Beliefs",
    "believed_complexity",
    "block_grant_per_referral",
    "Caseload",
    "MarginalStrategy",
    "MissionDrivenStrategy",
    "Observation",
    "ProfitSeekingStrategy",
    "ProviderStrategy",
    "Referrals",
    "UniformStrategy",
    "make_strategy",
    "marginal_values",
]

#: Band midpoints of 12-month risk, the prior a prime starts from before it has seen outcomes.
_BAND_MIDPOINTS = BAND_MIDPOINTS
#: Typical complexity per assessed need: public knowledge of how costly multiple needs are.
_COMPLEXITY_BASE, _COMPLEXITY_PER_NEED = 20.0, 0.35
#: Prior monthly rate of further reoffences once someone has reoffended.
_PRIOR_LATER_RATE = 0.24


@dataclass(frozen=True)
class Caseload:
    """The people a prime serves this month, as the prime sees them.

    Attributes:
        rows: rows of the offender store.
        month: the current month.
        months_in_service: months since referral (0 in the referral month).
        observed_band: assessed risk band (from the noisy score, never true risk).
        needs: assessed needs by service type.
        engaged: whether the person engages with services.
        reoffended: whether a reoffence has been seen since referral.
        dose: effective service given so far.

    """

    rows: np.ndarray
    month: int
    months_in_service: np.ndarray
    observed_band: np.ndarray
    needs: np.ndarray
    engaged: np.ndarray
    reoffended: np.ndarray
    dose: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def believed_complexity(needs: np.ndarray) -> np.ndarray:
    """Complexity a prime expects from a person's number of assessed needs (it cannot see the rest)."""
    return _COMPLEXITY_BASE * (1.0 + _COMPLEXITY_PER_NEED * needs.sum(axis=1))


@dataclass(frozen=True)
class Referrals:
    """New referrals as a prime sees them when it decides whether to take them on.

    Attributes:
        observed_band: assessed risk band (from the noisy score, never true risk).
        needs: assessed needs by service type.
        engaged: whether the person engages with services.

    """

    observed_band: np.ndarray
    needs: np.ndarray
    engaged: np.ndarray


@dataclass(frozen=True)
class Observation:
    """What a prime saw of a month's caseload by the month's end.

    Attributes:
        caseload: the caseload as it was when served.
        served: whether each person got any hours.
        dose: effective service given so far, this month's included.
        first: whether each person's first proven reoffence fell this month.
        later: further reoffences this month by people who had reoffended before.
        in_window: whether each person is still inside the measurement window.

    """

    caseload: Caseload
    served: np.ndarray
    dose: np.ndarray
    first: np.ndarray
    later: np.ndarray
    in_window: np.ndarray


class ProviderStrategy(Protocol):
    """Everything a prime asks of its strategy.

    Attributes:
        learns: whether :meth:`observe` uses what the prime saw (if not, the
            prime need not record it).

    """

    learns: bool

    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Hours this month, shape (people, service types).

        ``retained_share`` is the share of outcome payments the prime keeps after passing
        shares down its supply chain; ``cost_per_hour`` what an hour costs it.
        """
        ...

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Which referrals the prime refuses where the contract lets it choose (bool per person)."""
        ...

    def observe(self, seen: Observation) -> None:
        """Learn from one month of outcomes in the caseload."""
        ...

    def reprice(self, contract: ContractSpec, block_grant_per_referral: float) -> None:
        """Weigh outcomes at new terms (the contract at the price the prime holds it)."""
        ...


def _spread(needs: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Split each person's hours evenly over their assessed needs (all types if none)."""
    needs = needs.astype(np.float32)
    n_needs = needs.sum(axis=1, keepdims=True)
    share = np.where(n_needs > 0, needs / np.maximum(n_needs, 1.0), 1.0 / len(SERVICE_TYPES))
    return (share * hours[:, None]).astype(np.float32)


class UniformStrategy:
    """Same hours for every engaged person, split evenly over their assessed needs.

    The no-behaviour reference: it ignores the contract entirely, so any
    difference in effort between groups under it comes from who engages, not
    from incentives.
    """

    learns: ClassVar[bool] = False

    def __init__(self, hours_per_month: float) -> None:
        self.hours_per_month = hours_per_month

    @classmethod
    def build(cls, spec: PrimeSpec, scenario: Scenario) -> UniformStrategy:
        """The strategy for a prime's scenario entry: its ``hours_per_month``."""
        return cls(spec.hours_per_month)

    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Spread ``hours_per_month`` over each engaged person's needs."""
        return _spread(caseload.needs, self.hours_per_month * caseload.engaged.astype(np.float32))

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Take everyone."""
        return np.zeros(referrals.observed_band.size, dtype=bool)

    def observe(self, seen: Observation) -> None:
        """Learn nothing: effort never depends on outcomes."""

    def reprice(self, contract: ContractSpec, block_grant_per_referral: float) -> None:
        """Ignore the terms."""


def marginal_values(contract: ContractSpec, block_grant_per_referral: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """What the contract pays the prime, at the margin, by observed band.

    Returns:
        (value of one more person without a proven reoffence, value of one
        reoffence avoided), each per band, in pounds. Fee-for-service pays
        neither. Pots are linearised between threshold and target. A block grant
        counts towards a pot at ``block_grant_per_referral``: the grant of one
        area's month spread over that month's referrals.

    """
    pay = contract.payment
    per_person_fees = (pay.fee_per_referral + pay.fee_per_supervision_month * contract.service.months
                       + block_grant_per_referral)
    pot_per_person = pay.at_risk_share * per_person_fees
    binary = np.zeros(4)
    frequency = np.zeros(4)
    for component in pay.outcomes:
        binary_c, frequency_c = basis_of(component).marginal_values(pot_per_person)
        binary += binary_c
        frequency += frequency_c
    return binary, frequency


class Beliefs:
    """A prime's running estimates, by observed band, of how people reoffend and respond to service.

    Gamma-Poisson style running estimates: the untreated monthly hazard is
    learnt from people who get no service (those who do not engage), the
    response from people who do, and the rate of further reoffences from those
    who have already reoffended. Each starts at a prior worth ``prior_weight``
    person-months of evidence.
    """

    def __init__(self, prior_effect: float, prior_weight: float) -> None:
        self.w = max(prior_weight, 1e-9)
        self.prior_hazard = 1.0 - (1.0 - _BAND_MIDPOINTS) ** (1.0 / 12.0)
        self.prior_effect = prior_effect
        self.untreated_events = np.zeros(4)
        self.untreated_exposure = np.zeros(4)
        self.served_events = np.zeros(4)
        self.served_exposure = np.zeros(4)
        self.served_reach = np.zeros(4)  # sum of (1 - exp(-dose / complexity)) over served exposure
        self.later_events = np.zeros(4)
        self.later_exposure = np.zeros(4)

    @property
    def hazard(self) -> np.ndarray:
        """Believed untreated monthly hazard of a first reoffence, by band."""
        return (self.w * self.prior_hazard + self.untreated_events) / (self.w + self.untreated_exposure)

    @property
    def effect(self) -> np.ndarray:
        """Believed largest relative cut in hazard that service achieves, by band."""
        expected = self.hazard * self.served_exposure
        observed = np.divide(expected - self.served_events, self.hazard * self.served_reach,
                             out=np.full(4, self.prior_effect), where=self.served_reach > 0)
        observed = np.clip(observed, 0.0, 0.95)
        return (self.w * self.prior_effect + self.served_exposure * observed) / (self.w + self.served_exposure)

    @property
    def later_rate(self) -> np.ndarray:
        """Believed monthly rate of further reoffences after a first, by band."""
        return (self.w * _PRIOR_LATER_RATE + self.later_events) / (self.w + self.later_exposure)

    def observe(self, band: np.ndarray, at_risk: np.ndarray, served: np.ndarray, reach: np.ndarray,
                first: np.ndarray, reoffended_before: np.ndarray, later: np.ndarray) -> None:
        """Update from one month of outcomes the prime saw in its caseload."""
        def add(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(band[mask], weights=None if weights is None else weights[mask], minlength=4)

        untreated = at_risk & ~served
        treated = at_risk & served
        self.untreated_exposure += add(untreated)
        self.untreated_events += add(untreated & first)
        self.served_exposure += add(treated)
        self.served_events += add(treated & first)
        self.served_reach += add(treated, reach)
        self.later_exposure += add(reoffended_before)
        self.later_events += add(reoffended_before, later.astype(float))


def block_grant_per_referral(scenario: Scenario) -> float:
    """One area's monthly block grant spread over that month's expected referrals."""
    per_area_month = scenario.cohort.referrals_per_year / 12.0 / max(scenario.areas, 1)
    grant = scenario.contract.payment.block_grant_per_year / 12.0
    return grant / per_area_month if per_area_month > 0 else 0.0


class MarginalStrategy:
    """Adaptive allocation of effort: what profit-seeking and mission-driven primes share.

    For each person the prime computes the believed value of one more hour:
    the contract's marginal value of keeping them from a (first) reoffence or
    of a reoffence avoided, times the believed effect of the hour on that
    outcome over the rest of their window, which falls with the dose already
    given (diminishing returns) and with complexity. It gives hours until that
    value falls to the marginal cost of an hour. The closed form below is the
    solution of ``value * exp(-(dose + x) / c) / c = cost`` for ``x``.

    It learns its beliefs from what it sees, reprices outcomes at the terms it
    holds the contract at, and takes every referral.
    """

    learns: ClassVar[bool] = True
    #: Value the prime puts on a reoffence avoided beside any payment for it.
    social_value_per_reoffence: float = 0.0

    def __init__(self, spec: PrimeSpec, contract: ContractSpec, follow_up: int,
                 block_grant_per_referral: float = 0.0) -> None:
        self.spec = spec
        self.contract = contract
        self.follow_up = follow_up
        self.binary_value, self.contract_frequency_value = marginal_values(contract, block_grant_per_referral)
        self.beliefs = Beliefs(spec.prior_effect, spec.prior_weight)

    @classmethod
    def build(cls, spec: PrimeSpec, scenario: Scenario) -> MarginalStrategy:
        """The strategy for a prime's scenario entry, valuing outcomes at the contract's terms."""
        contract = scenario.contract
        return cls(spec, contract, contract.measure.follow_up_months, block_grant_per_referral(scenario))

    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Hours that equate believed marginal revenue and marginal cost, person by person.

        Only the retained share of outcome payments counts as the prime's revenue; a mission
        weight on reoffences avoided is the prime's own and is not passed down.
        """
        band = caseload.observed_band.astype(np.intp)
        b = self.beliefs
        hazard, effect, later = b.hazard[band], b.effect[band], b.later_rate[band]
        n_needs = caseload.needs.sum(axis=1)
        complexity = believed_complexity(caseload.needs)
        remaining = np.maximum(self.follow_up - caseload.months_in_service, 0).astype(float)
        survival = np.exp(-hazard * remaining)
        not_yet = ~caseload.reoffended
        # d(outcome)/d(multiplier) over the rest of the window, at the margin
        binary_gain = np.where(not_yet, survival * hazard * remaining, 0.0)
        frequency_gain = np.where(not_yet, hazard * remaining * (1.0 + later * remaining / 2.0), later * remaining)
        binary_value = self.binary_value[band] * retained_share
        frequency_value = self.contract_frequency_value[band] * retained_share + self.social_value_per_reoffence
        value = effect * (binary_value * binary_gain + frequency_value * frequency_gain)
        value = np.where((n_needs > 0) & caseload.engaged, value, 0.0)
        ratio = value / (complexity * max(cost_per_hour, 1e-9))
        with np.errstate(divide="ignore"):
            target_dose = complexity * np.log(np.maximum(ratio, 1e-300))
        hours = np.clip(target_dose - caseload.dose, 0.0, self.spec.max_hours_per_month)
        return _spread(caseload.needs, hours.astype(np.float32))

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Take everyone."""
        return np.zeros(referrals.observed_band.size, dtype=bool)

    def observe(self, seen: Observation) -> None:
        """Update beliefs from the reoffences seen this month among the people in the caseload."""
        caseload = seen.caseload
        reach = 1.0 - np.exp(-seen.dose / believed_complexity(caseload.needs))
        self.beliefs.observe(
            caseload.observed_band.astype(np.intp), seen.in_window & ~caseload.reoffended, seen.served, reach,
            seen.first, seen.in_window & caseload.reoffended, seen.later,
        )

    def reprice(self, contract: ContractSpec, block_grant_per_referral: float) -> None:
        """Weigh outcomes at the marginal values of the new terms (beliefs are kept)."""
        self.binary_value, self.contract_frequency_value = marginal_values(contract, block_grant_per_referral)


class ProfitSeekingStrategy(MarginalStrategy):
    """Maximises believed profit: effort by the marginal rule, and refuses referrals that lose money."""

    def screen(self, referrals: Referrals, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Refuse a person whose expected income falls short of the cost of the service owed to them.

        Expected income is the fees, plus the outcome payments the prime believes
        the specified service would earn on them, plus any payment for an outcome
        that needs no effort at all (a basis's effortless value, such as a price
        per non-reoffender). It is judged at the contract's own terms.
        """
        contract = self.contract
        pay, months = contract.payment, contract.service.months
        band = referrals.observed_band.astype(np.intp)
        beliefs = self.beliefs
        risk = 1.0 - (1.0 - beliefs.hazard[band]) ** contract.measure.follow_up_months
        hours = contract.service.min_hours_per_month * months * referrals.engaged
        reach = 1.0 - np.exp(-hours / believed_complexity(referrals.needs))
        fewer_reoffenders = risk * beliefs.effect[band] * reach
        income = (pay.fee_per_referral + pay.fee_per_supervision_month * months) * (1.0 - pay.at_risk_share)
        income = income + retained_share * (self.binary_value[band] * fewer_reoffenders
                                            + self.contract_frequency_value[band] * fewer_reoffenders
                                            * REOFFENCES_PER_REOFFENDER)
        for component in pay.outcomes:
            effortless = basis_of(component).effortless_value()
            if effortless.any():
                income = income + retained_share * effortless[band] * (1.0 - risk)
        return income < hours * cost_per_hour


class MissionDrivenStrategy(MarginalStrategy):
    """Weighs a social value per reoffence avoided beside the contract's payments; takes everyone."""

    def __init__(self, spec: PrimeSpec, contract: ContractSpec, follow_up: int,
                 block_grant_per_referral: float = 0.0) -> None:
        super().__init__(spec, contract, follow_up, block_grant_per_referral)
        self.social_value_per_reoffence = spec.social_value_per_reoffence


#: The class each scenario ``strategy`` names: the one place a strategy's name becomes behaviour.
_STRATEGIES: dict[Strategy, Callable[[PrimeSpec, Scenario], ProviderStrategy]] = {
    Strategy.UNIFORM: UniformStrategy.build,
    Strategy.PROFIT_SEEKING: ProfitSeekingStrategy.build,
    Strategy.MISSION_DRIVEN: MissionDrivenStrategy.build,
}


def make_strategy(spec: PrimeSpec, scenario: Scenario) -> ProviderStrategy:
    """Build the strategy named in a prime's scenario entry."""
    return _STRATEGIES[spec.strategy](spec, scenario)
