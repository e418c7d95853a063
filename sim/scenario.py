"""Typed schema of a contract design (a scenario).

A scenario says who is referred (the cohort), what the commissioner pays for
(the contract: payment model, outcome measure, counterfactual, service
specification) and which providers hold the contract. Everything here is pure
data: loading files lives in :mod:`pbrsim.scenario_files`, so the model stays
free of any knowledge of files.

Every model refuses unknown fields (``extra="forbid"``) so a misspelt field in
a scenario file is an error, never silently ignored.
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BAND_NAMES",
    "SERVICE_TYPES",
    "BandPrices",
    "CohortSpec",
    "CohortType",
    "ContractSpec",
    "Counterfactual",
    "MeasureSpec",
    "OutcomeComponent",
    "PaymentSpec",
    "PrimeSpec",
    "Scenario",
    "ServiceSpec",
    "Strategy",
    "VolumeBand",
]

from pbrsim.sim.bases import BASIS_NAMES, MEASURE_NAMES, basis_of  # noqa: E402
from pbrsim.sim.renames import rename_in  # noqa: E402
from pbrsim.sim.scenario_commissioning import CompetitionSpec, PerformanceSpec, VolumeShock  # noqa: E402
from pbrsim.sim.scenario_investment import SocialImpactBondSpec  # noqa: E402
from pbrsim.sim.scenario_stewardship import StewardshipSpec  # noqa: E402
from pbrsim.sim.scenario_supply import MarketSpec, SubcontractPolicy  # noqa: E402
from pbrsim.sim.vocabulary import BAND_NAMES, SERVICE_TYPES  # noqa: E402  (re-exported)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0)]


class CohortType(enum.StrEnum):
    """Published cohorts whose no-intervention proven reoffending rate the model matches."""

    ALL_OFFENDERS = "all_offenders"
    ADULTS = "adults"
    ADULTS_CUSTODY_OR_COURT_ORDER = "adults_custody_or_court_order"
    ADULTS_SHORT_CUSTODY = "adults_short_custody"
    ADULTS_CUSTODY_6M_OR_LESS = "adults_custody_6m_or_less"
    PETERBOROUGH_SHORT_SENTENCE_MEN = "peterborough_short_sentence_men"


class CohortSpec(_Strict):
    """Who is referred, how many, and how the population changes over time."""

    type: CohortType = CohortType.ADULTS_CUSTODY_OR_COURT_ORDER
    referrals_per_year: Annotated[float, Field(ge=0.0)] = 12_000.0
    drift_pp_per_year: Annotated[float, Field(ge=-10.0, le=10.0)] = 0.0
    """True change in every offender's reoffending probability per year, in
    percentage points; a historical baseline does not see it."""
    volume_shocks: list[VolumeShock] = Field(default_factory=list)
    """Months in which referrals differ from the plan (``referrals_per_year``) that bids assume."""


class MeasureSpec(_Strict):
    """How outcomes are measured: window, proving lag and who counts."""

    follow_up_months: Annotated[int, Field(ge=1, le=60)] = 12
    proving_lag_months: Annotated[int, Field(ge=0, le=24)] = 6
    cohort_definition: Literal["all_referrals", "engaged"] = "all_referrals"


class HistoricalBaseline(_Strict):
    """Counterfactual: rates measured on a cohort before the contract began."""

    kind: Literal["historical_baseline"]
    baseline_cohort_size: Annotated[int, Field(ge=100)] = 20_000
    assumed_drift_pp_per_year: Annotated[float, Field(ge=-10.0, le=10.0)] = 0.0


class RiskAdjustedBaseline(_Strict):
    """Counterfactual: the baseline cohort's rates by predicted-risk decile, applied to each cohort's mix."""

    kind: Literal["risk_adjusted_baseline"]
    baseline_cohort_size: Annotated[int, Field(ge=100)] = 20_000
    groups: Annotated[int, Field(ge=2, le=100)] = 10
    """Predicted-risk groups (quantiles of the assessed score) the baseline rates are taken in."""


class ComparisonGroup(_Strict):
    """Counterfactual: a matched comparison group of untreated offenders, with sampling noise."""

    kind: Literal["comparison_group"]
    size_ratio: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    matching_bias_pp: Annotated[float, Field(ge=-20.0, le=20.0)] = 0.0


class Oracle(_Strict):
    """Counterfactual: the model's true untreated outcomes (a reference, not a real design)."""

    kind: Literal["oracle"]


Counterfactual = Annotated[
    HistoricalBaseline | RiskAdjustedBaseline | ComparisonGroup | Oracle,
    Field(discriminator="kind"),
]


class BandPrices(_Strict):
    """A price for each risk band (differential pricing by payment group)."""

    low: Money
    medium: Money
    high: Money
    very_high: Money

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Prices in the order of :data:`BAND_NAMES`."""
        return (self.low, self.medium, self.high, self.very_high)


class OutcomeComponent(_Strict):
    """One outcome payment of a contract.

    Bases:
      * ``per_point`` (binary): ``price`` per percentage point of reduction in
        the binary rate below the counterfactual, per offender in the cohort.
      * ``per_non_reoffender`` (binary): ``price`` for each person in the
        cohort without a proven reoffence (no netting of the counterfactual).
      * ``per_reoffence_avoided`` (frequency): ``price`` per reoffence below
        the counterfactual number.
      * ``pot`` (either): a ``pot_share`` of the fees withheld under
        ``at_risk_share`` is earned back between ``threshold`` and ``target``
        (or all at once at ``target`` if ``all_or_nothing``).

    ``threshold`` is in percentage points for binary and per cent of the
    counterfactual for frequency. As a ``trigger`` nothing is paid below it and
    the whole improvement is paid above it; as a ``deductible`` only the
    improvement above it is paid.
    """

    measure: Literal[MEASURE_NAMES]
    basis: Literal[BASIS_NAMES]
    price: Money | None = None
    prices_by_band: BandPrices | None = None
    threshold: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    threshold_mode: Literal["trigger", "deductible"] = "trigger"
    target: Annotated[float, Field(gt=0.0, le=100.0)] | None = None
    pot_share: Share | None = None
    all_or_nothing: bool = False
    cap_per_cohort: Money | None = None

    @model_validator(mode="after")
    def _basis_fits(self) -> OutcomeComponent:
        # each basis states which measures and terms it accepts (sim/bases.py)
        basis_of(self).validate()
        return self

    def band_prices(self) -> tuple[float, float, float, float]:
        """The price in each risk band (uniform prices repeat the one price)."""
        if self.prices_by_band is not None:
            return self.prices_by_band.as_tuple()
        price = self.price or 0.0
        return (price, price, price, price)


class VolumeBand(_Strict):
    """One volume band of fee for service: the unit price's multiple when referrals fall in it.

    A band runs from ``from_share_of_plan`` (inclusive) to the next band's
    start. Transforming Rehabilitation paid fees for service by volume bands
    with an annual reconciliation (docs/sources.md).
    """

    from_share_of_plan: Annotated[float, Field(ge=0.0, le=10.0)]
    """Lower edge of the band: a year's referrals as a share of the planned volume."""
    fee_factor: Annotated[float, Field(gt=0.0, le=10.0)]
    """Multiple of the unit price (referral and supervision fees) paid for a year in this band."""


class PaymentSpec(_Strict):
    """What the commissioner pays for, per contract area."""

    block_grant_per_year: Money = 0.0
    fee_per_referral: Money = 0.0
    fee_per_supervision_month: Money = 0.0
    at_risk_share: Share = 0.0
    """Share of every fee withheld and earned back only through ``pot`` outcome components."""
    invoice_months: Annotated[int, Field(ge=1, le=12)] = 3
    outcomes: list[OutcomeComponent] = Field(default_factory=list)
    outcome_cap_total: Money | None = None
    """Most the commissioner will pay in outcome payments over the whole run, all areas together."""
    volume_bands: list[VolumeBand] = Field(default_factory=list)
    """Annual reconciliation of referral and supervision fees by volume against the plan
    (:func:`sim.payments.fee_reconciliation`); empty: every unit at the unit price."""

    @model_validator(mode="after")
    def _bands_fit(self) -> PaymentSpec:
        bands = self.volume_bands
        if not bands:
            return self
        if not (self.fee_per_referral or self.fee_per_supervision_month):
            raise ValueError("volume_bands reconcile referral and supervision fees: "
                             "give fee_per_referral or fee_per_supervision_month")
        if bands[0].from_share_of_plan != 0.0:
            raise ValueError(f"volume_bands: the first band must start at from_share_of_plan 0 so every "
                             f"volume has a price (got {bands[0].from_share_of_plan:g})")
        starts = [b.from_share_of_plan for b in bands]
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise ValueError(f"volume_bands must be in increasing order of from_share_of_plan, "
                             f"each start different (got {starts})")
        return self

    @model_validator(mode="after")
    def _pots_fit(self) -> PaymentSpec:
        pot_total = sum(c.pot_share or 0.0 for c in self.outcomes if basis_of(c).draws_on_pot)
        if self.at_risk_share > 0 and abs(pot_total - 1.0) > 1e-9:
            raise ValueError(
                f"with at_risk_share > 0 the 'pot' components' pot_share must add up to 1 (got {pot_total:g})"
            )
        if self.at_risk_share == 0 and pot_total > 0:
            raise ValueError("'pot' outcome components need at_risk_share > 0")
        return self


class ServiceSpec(_Strict):
    """The service specification: how long people are in service and the minimum they must get."""

    months: Annotated[int, Field(ge=1, le=60)] = 12
    min_hours_per_month: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0


class ContractSpec(_Strict):
    """The contract let in each area: payment, measure, counterfactual and service specification."""

    referral_months: Annotated[int, Field(ge=1, le=240)] = 84
    """Months in which referrals are made (7 years by default); outcomes then run off.
    Old name: ``months`` (still read, with a FutureWarning)."""
    payment: PaymentSpec = Field(default_factory=PaymentSpec)
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    counterfactual: Counterfactual = Field(default_factory=lambda: Oracle(kind="oracle"))
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    stewardship: StewardshipSpec = Field(default_factory=StewardshipSpec)
    """Stewardship rules: Merlin-style supply-chain standard, open book, margin cap (sim/stewardship.py)."""
    social_impact_bond: SocialImpactBondSpec | None = None
    """Investors fund the service and are paid on results instead of the prime (sim/investment.py)."""
    referral_selection: bool = False
    """Whether providers may refuse referrals.

    Refused people get no commissioned service and leave the measured cohort."""
    term_months: Annotated[int, Field(ge=1, le=240)] | None = None
    """Length of each area's contract; at its end the area is re-competed (needs ``competition``).
    None: one contract for the whole referral period (``months``)."""
    break_clause_months: Annotated[int, Field(ge=1, le=240)] | None = None
    """Break points every this many months of a contract (sim/commissioning.py)."""
    performance: PerformanceSpec | None = None
    """Monitoring, rectification notices and termination (needs ``competition``); none: no regime."""

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: object) -> object:
        # fields built in code (a dict, not a file) may still use the old name
        return rename_in(data, "months", "referral_months", "contract.") if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _bond_replaces_payment(self) -> ContractSpec:
        # Under a social impact bond the investors pay the provider and the commissioner pays only
        # the investors: fees or outcome payments to the prime as well would pay for it twice.
        if self.social_impact_bond is None:
            return self
        pay = self.payment
        if (pay.block_grant_per_year or pay.fee_per_referral or pay.fee_per_supervision_month
                or pay.at_risk_share or pay.outcomes):
            raise ValueError("with a social_impact_bond the commissioner pays only the investors: "
                             "payment must have no fees, block grant, at_risk_share or outcomes")
        if self.stewardship.margin_cap is not None:
            raise ValueError("a margin_cap has nothing to cap under a social_impact_bond "
                             "(the investors pay the provider its costs)")
        return self

    @model_validator(mode="after")
    def _service_ends_before_measurement(self) -> ContractSpec:
        # Fees withheld at risk go into a cohort's pot until its outcome is measured; service paid for
        # after that would withhold money that no pot can ever pay back.
        window = self.measure.follow_up_months + self.measure.proving_lag_months
        if self.payment.at_risk_share > 0 and self.service.months > window:
            raise ValueError(
                f"with fees at risk, service.months ({self.service.months}) must not run past the "
                f"measurement at follow_up_months + proving_lag_months ({window})"
            )
        return self


class Strategy(enum.StrEnum):
    """How a prime allocates service effort (docs/ODD.md, "Adaptation")."""

    UNIFORM = "uniform"
    PROFIT_SEEKING = "profit_seeking"
    MISSION_DRIVEN = "mission_driven"


class PrimeSpec(_Strict):
    """A prime provider: costs, capital, beliefs and how it allocates effort."""

    name: Annotated[str, Field(min_length=1)]
    strategy: Strategy = Strategy.UNIFORM
    areas: Annotated[int, Field(ge=1)] = 1
    """Number of contract areas this prime holds by direct award. Under a ``competition`` areas are
    won, and these only add up to the number of lots when ``competition.areas`` is not given."""
    hours_per_month: Annotated[float, Field(ge=0.0, le=100.0)] = 4.0
    """Hours per engaged person per month under the uniform strategy."""
    max_hours_per_month: Annotated[float, Field(gt=0.0, le=100.0)] = 16.0
    """Most hours any one person can be given in a month (caseworker time)."""
    unit_cost_per_hour: Money = 45.0
    overhead_per_month: Money = 50_000.0
    """Fixed overhead per contract area per month."""
    capital: float = 5_000_000.0
    effectiveness: Annotated[float, Field(gt=0.0, le=5.0)] = 1.0
    risk_appetite: Share = 0.5
    """0: cuts discretionary effort hard as its cash falls below its starting capital; 1: ignores its cash."""
    prior_effect: Share = 0.3
    """Believed largest relative cut in hazard that service achieves, before any outcome is seen
    (the mean of the prior; docs/ODD.md 5.3 gives its source)."""
    prior_weight: Annotated[float, Field(ge=0.0)] = 2000.0
    """How many person-months of evidence the prior beliefs are worth (at full reach, for the effect)."""
    signal_noise: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    """Its caseworkers' private reading of each person's prospects (responsiveness and complexity):
    the standard deviation of the reading's noise on the log scale (0: exact; 1 or more: nearly
    useless). None: no reading beyond the assessed band and needs. The commissioner never sees it."""
    social_value_per_reoffence: Money = 0.0
    """Mission-driven primes: the value they put on a reoffence avoided, beside any payment."""
    subcontracting: SubcontractPolicy | None = None
    """Terms it offers sub-primes when the scenario has a ``market``; none: the market's ``policy``."""
    optimism_bias: Annotated[float, Field(ge=-0.5, le=2.0)] = 0.0
    """In competitions: how much bigger it believes volumes and its effect on reoffending are
    than they are when it prices a bid (0.2: 20% bigger), so an optimist underbids."""
    bid_margin: Annotated[float, Field(ge=-0.5, le=2.0)] = 0.05
    """In competitions: the margin over its expected cost it prices a bid at."""
    bids_from_month: Annotated[int, Field(ge=0)] = 0
    """In competitions: the month from which it bids (0: from the first competition; later: a new entrant)."""

    @model_validator(mode="after")
    def _mission_has_a_mission(self) -> PrimeSpec:
        if self.strategy == Strategy.MISSION_DRIVEN and self.social_value_per_reoffence <= 0:
            raise ValueError("a mission_driven prime needs social_value_per_reoffence > 0")
        if self.strategy != Strategy.MISSION_DRIVEN and self.social_value_per_reoffence > 0:
            raise ValueError("social_value_per_reoffence is for mission_driven primes only")
        return self


class Scenario(_Strict):
    """A complete contract design, ready to run."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 20111
    cohort: CohortSpec = Field(default_factory=CohortSpec)
    contract: ContractSpec = Field(default_factory=ContractSpec)
    primes: Annotated[list[PrimeSpec], Field(min_length=1)]
    market: MarketSpec | None = None
    """Sub-primes the primes can subcontract to; none: every prime delivers in-house."""
    competition: CompetitionSpec | None = None
    """How areas are let (sim/commissioning.py); none: direct award to the primes in list order."""

    @model_validator(mode="after")
    def _unique_prime_names(self) -> Scenario:
        names = [p.name for p in self.primes]
        if len(set(names)) != len(names):
            raise ValueError(f"prime names must be unique, got {names}")
        return self

    @model_validator(mode="after")
    def _reletting_needs_a_competition(self) -> Scenario:
        # Without a competition areas are directly awarded once; nothing could re-let them.
        contract = self.contract
        if self.competition is None:
            asked = [name for name, value in (("contract.term_months", contract.term_months),
                                              ("contract.break_clause_months", contract.break_clause_months),
                                              ("contract.performance", contract.performance)) if value is not None]
            asked += [f"primes.{p.name}.bids_from_month" for p in self.primes if p.bids_from_month > 0]
            if asked:
                raise ValueError(f"{', '.join(asked)} need(s) a 'competition' to re-let areas")
        elif self.competition.interim.name in {p.name for p in self.primes}:
            raise ValueError(f"competition.interim.name '{self.competition.interim.name}' is a prime's name")
        return self

    @property
    def areas(self) -> int:
        """Number of contract areas: the competition's lots, or one per prime ``areas``."""
        if self.competition is not None and self.competition.areas is not None:
            return self.competition.areas
        return sum(p.areas for p in self.primes)
