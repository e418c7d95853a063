"""How a prime allocates service effort across its caseload.

A strategy sees a :class:`Caseload` (what the prime can observe about the
people it is serving this month) and returns hours of service by service type
for each of them. It never sees true risk, complexity or responsiveness. The
contract's service floor is applied by the prime after the strategy has
chosen, so a strategy cannot undercut it.

The adaptive strategies follow the rule in DESIGN.md's appendix: raise effort
on a person until the believed marginal revenue of an hour meets its marginal
cost. Nothing in them names creaming, parking or the binary cliff; those
follow from the contract's prices, the measure and the prime's beliefs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from pbrsim.sim.payments import REOFFENCES_PER_REOFFENDER
from pbrsim.sim.scenario import SERVICE_TYPES, ContractSpec, PrimeSpec, Scenario, Strategy

__all__ = [
    "Beliefs",
    "believed_complexity",
    "block_grant_per_referral",
    "Caseload",
    "EffortStrategy",
    "MarginalStrategy",
    "UniformStrategy",
    "make_strategy",
    "marginal_values",
]

#: Band midpoints of 12-month risk, the prior a prime starts from before it has seen outcomes.
_BAND_MIDPOINTS = np.array([0.125, 0.375, 0.625, 0.875])
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


class EffortStrategy(Protocol):
    """Decides hours of service by type for everyone in a caseload."""

    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Hours this month, shape (people, service types).

        ``retained_share`` is the share of outcome payments the prime keeps after passing
        shares down its supply chain; ``cost_per_hour`` what an hour costs it.
        """
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

    def __init__(self, hours_per_month: float) -> None:
        self.hours_per_month = hours_per_month

    def allocate(self, caseload: Caseload, cost_per_hour: float, retained_share: float = 1.0) -> np.ndarray:
        """Spread ``hours_per_month`` over each engaged person's needs."""
        return _spread(caseload.needs, self.hours_per_month * caseload.engaged.astype(np.float32))


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
    for c in pay.outcomes:
        prices = np.asarray(c.band_prices())
        if c.basis == "per_point":
            binary += 100.0 * prices
        elif c.basis == "per_non_reoffender":
            binary += prices
        elif c.basis == "per_reoffence_avoided":
            frequency += prices
        else:
            span = (c.target or 1.0) - (0.0 if c.all_or_nothing else c.threshold)
            per_unit = (c.pot_share or 0.0) * pot_per_person * 100.0 / max(span, 1e-9)
            if c.measure == "binary":
                binary += per_unit
            else:
                # per cent of the counterfactual's reoffences: about 1 reoffence per person at base
                frequency += per_unit / np.maximum(_BAND_MIDPOINTS * REOFFENCES_PER_REOFFENDER, 0.1)
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


class MarginalStrategy:
    """Profit-seeking (and, with a social value, mission-driven) allocation of effort.

    For each person the prime computes the believed value of one more hour:
    the contract's marginal value of keeping them from a (first) reoffence or
    of a reoffence avoided, times the believed effect of the hour on that
    outcome over the rest of their window, which falls with the dose already
    given (diminishing returns) and with complexity. It gives hours until that
    value falls to the marginal cost of an hour. The closed form below is the
    solution of ``value * exp(-(dose + x) / c) / c = cost`` for ``x``.
    """

    def __init__(self, spec: PrimeSpec, contract: ContractSpec, follow_up: int,
                 block_grant_per_referral: float = 0.0) -> None:
        self.spec = spec
        self.follow_up = follow_up
        self.binary_value, self.contract_frequency_value = marginal_values(contract, block_grant_per_referral)
        self.beliefs = Beliefs(spec.prior_effect, spec.prior_weight)

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
        frequency_value = self.contract_frequency_value[band] * retained_share + self.spec.social_value_per_reoffence
        value = effect * (binary_value * binary_gain + frequency_value * frequency_gain)
        value = np.where((n_needs > 0) & caseload.engaged, value, 0.0)
        ratio = value / (complexity * max(cost_per_hour, 1e-9))
        with np.errstate(divide="ignore"):
            target_dose = complexity * np.log(np.maximum(ratio, 1e-300))
        hours = np.clip(target_dose - caseload.dose, 0.0, self.spec.max_hours_per_month)
        return _spread(caseload.needs, hours.astype(np.float32))


def block_grant_per_referral(design: Scenario) -> float:
    """One area's monthly block grant spread over that month's expected referrals."""
    per_area_month = design.cohort.referrals_per_year / 12.0 / max(design.areas, 1)
    grant = design.contract.payment.block_grant_per_year / 12.0
    return grant / per_area_month if per_area_month > 0 else 0.0


def make_strategy(spec: PrimeSpec, design: Scenario) -> EffortStrategy:
    """Build the strategy named in a prime's scenario entry."""
    if spec.strategy == Strategy.UNIFORM:
        return UniformStrategy(spec.hours_per_month)
    contract = design.contract
    return MarginalStrategy(spec, contract, contract.measure.follow_up_months, block_grant_per_referral(design))
