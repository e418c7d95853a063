"""The catalogue of measures: every number a run reports, with its unit, label and meaning.

A run reports two kinds of number (docs/ODD.md 4.11): final **metrics**
(``RunResult.metrics``, ``metrics.json``, one row of a results store's
``metrics/*.parquet``) and monthly **series** (``RunResult.monthly``,
``monthly.csv``, ``monthly/*.parquet``). Each is described once here by a
:class:`Measure`: its key, its :class:`Unit` (how to show it), a label in a
commissioner's words, the :class:`Section` of a report it belongs to, its
:class:`Direction` (whether more is better for the commissioner and the
people referred) and the docs/ODD.md section that defines it.

Keys that come in families (one per risk band, protected group, sector,
ledger kind, prime...) are declared once as a :class:`Family` and expanded to
concrete keys; a family whose members are only known at run time (each
prime's ``cash_<name>``, each bond cohort's ``sib_cohort_<k>_reduction_pct``)
is *open* and matched by its pattern.

Look measures up with :func:`measure` (metrics) and :func:`series` (monthly
columns): an unknown key raises :class:`UnknownMeasure` naming it, so a
misspelt key fails loudly instead of silently showing nothing. Analysis
formats and labels numbers from here and nothing else.

To add a measure: compute it in the model (``sim/results.py`` or the
mechanism's metrics function), add one line here (or a :class:`Family`),
define it in docs/ODD.md 4.11, and the catalogue tests
(tests/test_measures.py) check that runs and catalogue agree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from pbrsim.sim.vocabulary import AGE_GROUPS, BAND_NAMES, SECTORS
from pbrsim.sim.vocabulary import Kind as LedgerKind

__all__ = [
    "AGE_GROUPS",
    "BAND_WORDS",
    "GROUP_WORDS",
    "LEDGER_KINDS",
    "METRICS",
    "NEEDS_WORDS",
    "SERIES",
    "Direction",
    "Family",
    "Kind",
    "Measure",
    "Section",
    "Unit",
    "UnknownMeasure",
    "families",
    "family",
    "find",
    "measure",
    "members",
    "series",
]


class Unit(StrEnum):
    """What a number counts, and so how it is shown."""

    MONEY = "money"  #: pounds sterling paid, held or lost (the only unit a money flow may have)
    MONEY_PER = "money_per"  #: pounds per person or per reoffence (a price, not a flow)
    SHARE = "share"  #: a fraction 0-1, shown as a percentage; differences in percentage points
    POINTS = "points"  #: already in percentage points (an impact, a gap between two rates)
    PERCENT = "percent"  #: already in per cent (a percentage fall); differences in points
    COUNT = "count"  #: people, events or organisations (a mean over runs may be fractional)
    HOURS = "hours"  #: hours of service
    NUMBER = "number"  #: a ratio, index or multiple without unit
    MONTH = "month"  #: a month of the run (month 1 is the first referral month)
    FLAG = "flag"  #: a contract rule, 1 when in force, 0 when not


class Direction(StrEnum):
    """Whether more of a measure is better, from the commissioner's and the public's side."""

    HIGHER_BETTER = "higher_better"
    LOWER_BETTER = "lower_better"
    NEITHER = "neither"  #: context, or best near a target (a creaming index near 1)


class Section(StrEnum):
    """Where a measure belongs in a summary or report (the value is the heading)."""

    PEOPLE = "People"
    REOFFENDING = "Reoffending"
    IMPACT = "Impact"
    MONEY = "Money paid by the commissioner"
    PROVIDERS = "Providers"
    EFFORT = "Where the effort went"
    EQUALITY = "Equality"
    SUPPLY_CHAIN = "Supply chain"
    SELECTION = "Selection at referral"
    COMMISSIONING = "Commissioning"
    STEWARDSHIP = "Stewardship"
    SOCIAL_IMPACT_BOND = "Social impact bond"
    ACTIVITY = "Activity"


class Kind(StrEnum):
    """Which table of a run a measure is a column of."""

    METRIC = "metric"  #: a final measure of the run (metrics.json)
    SERIES = "series"  #: a column of the monthly series (monthly.csv)


class UnknownMeasure(KeyError):
    """A key the catalogue does not hold: misspelt, or computed but never catalogued."""

    def __init__(self, key: str, kind: Kind, known: Iterable[str]) -> None:
        close = difflib.get_close_matches(key, list(known), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        where = "final metric" if kind is Kind.METRIC else "monthly series column"
        self.key = key
        self.message = f"unknown {where} {key!r} (not in pbrsim.sim.measures){hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        """Return the message itself (KeyError would show its repr)."""
        return self.message


@dataclass(frozen=True)
class Measure:
    """One number a run reports.

    Attributes:
        key: The column name in metrics or the monthly series.
        unit: What it counts, and so how it is shown.
        label: What a commissioner calls it, short enough for a table row.
        section: Where it belongs in a summary or report.
        direction: Whether more of it is better.
        odd: The docs/ODD.md section that defines it.
        kind: Final metric or monthly series column.
        family: The pattern of the family it belongs to (``None`` if it is on its own).
        member: Its suffix within that family (a band, a group, a prime's name).
        unreached: Why a short run of the shipped scenarios never produces it
            (``None``: some shipped scenario's short run does).

    """

    key: str
    unit: Unit
    label: str
    section: Section
    direction: Direction = Direction.NEITHER
    odd: str = "4.11.1"
    kind: Kind = Kind.METRIC
    family: str | None = None
    member: str | None = None
    unreached: str | None = None


@dataclass(frozen=True)
class Family:
    """Measures that differ only by a suffix (or infix): one per band, group, sector, prime...

    ``pattern`` names the key with one placeholder in braces, spelt as docs/ODD.md
    spells it (``"hours_per_engaged_person_{g}"``); ``label`` has ``{words}``
    where the member's words go. ``members`` maps each suffix to its words;
    ``None`` makes the family open: any non-empty suffix is a member and is its
    own words (a prime's name).
    """

    pattern: str
    unit: Unit
    label: str
    section: Section
    direction: Direction = Direction.NEITHER
    odd: str = "4.11.1"
    kind: Kind = Kind.METRIC
    members: Mapping[str, str] | None = None
    unreached: Mapping[str, str] = field(default_factory=dict)

    @property
    def _parts(self) -> tuple[str, str]:
        head, _, rest = self.pattern.partition("{")
        return head, rest.partition("}")[2]

    def key(self, member: str) -> str:
        """Return the key of one member."""
        head, tail = self._parts
        return f"{head}{member}{tail}"

    def member(self, member: str, words: str | None = None) -> Measure:
        """Return the measure of one member."""
        return Measure(self.key(member), self.unit, self.label.format(words=words or member),
                       self.section, self.direction, self.odd, self.kind, self.pattern, member,
                       self.unreached.get(member))

    @property
    def title(self) -> str:
        """The family's label without the member: a heading over all its members."""
        return self.label.replace(", {words}", "").replace(": {words}", "").replace(" {words}", "")

    def expand(self) -> list[Measure]:
        """Return every member of a closed family (none for an open one)."""
        return [self.member(m, w) for m, w in (self.members or {}).items()]

    def match(self, key: str) -> Measure | None:
        """Return the member ``key`` names, or None if it is not one of this family."""
        head, tail = self._parts
        found = re.fullmatch(re.escape(head) + "(.+)" + re.escape(tail), key)
        if found is None:
            return None
        suffix = found.group(1)
        if self.members is None:
            return self.member(suffix)
        return self.member(suffix, self.members[suffix]) if suffix in self.members else None


#: Age groups of the equality measures (``age_group`` codes 0, 1, 2 of the offender store).

#: Risk bands in words.
BAND_WORDS: Mapping[str, str] = MappingProxyType({
    "low": "low risk", "medium": "medium risk", "high": "high risk", "very_high": "very high risk",
})
if tuple(BAND_WORDS) != BAND_NAMES:  # the bands are the model's, in its order
    raise ImportError("BAND_WORDS must name the bands of pbrsim.sim.vocabulary, in order")
#: Groups of the equality measures: true risk bands, then sex and age.
GROUP_WORDS: Mapping[str, str] = MappingProxyType({
    **BAND_WORDS, "female": "women", "male": "men",
    **{f"age_{g}": "aged " + g.replace("_plus", "+").replace("_", "-") for g in AGE_GROUPS},
})
_SECTOR_WORDS = {s: s.replace("_", " ") for s in SECTORS}
#: Groups by number of assessed needs (``parking_share_needs_{k}``), in words.
NEEDS_WORDS: Mapping[str, str] = MappingProxyType({
    "1": "people with one need", "2": "people with two needs", "3": "people with three needs",
    "4_plus": "people with four or more needs",
})
#: Kinds of ledger entry (docs/ODD.md 4.11.4), each a monthly ``paid_<kind>`` column.
LEDGER_KINDS: Mapping[str, str] = MappingProxyType({kind.value: words for kind, words in {
    LedgerKind.FEES: "fees", LedgerKind.OUTCOME_BINARY: "outcome payments, binary measure",
    LedgerKind.OUTCOME_FREQUENCY: "outcome payments, frequency measure",
    LedgerKind.FEE_RECONCILIATION: "volume-band reconciliation", LedgerKind.DELIVERY_COST: "front-line delivery",
    LedgerKind.OVERHEAD: "overhead", LedgerKind.SUBCONTRACT_FEE: "subcontract fees",
    LedgerKind.OUTCOME_SHARE: "outcome shares to sub-primes", LedgerKind.MARGIN_CLAWBACK: "margin clawed back",
    LedgerKind.SIB_SERVICE_FEE: "service fees from investors", LedgerKind.PROCUREMENT: "procurement",
}.items()})
assert set(LEDGER_KINDS) == {k.value for k in LedgerKind}, "every ledger kind needs its words here"

U, S, D = Unit, Section, Direction
_UP, _DOWN = D.HIGHER_BETTER, D.LOWER_BETTER


def _m(key: str, unit: Unit, label: str, section: Section, direction: Direction = D.NEITHER,
       odd: str = "4.11.1", unreached: str | None = None) -> Measure:
    return Measure(key, unit, label, section, direction, odd, Kind.METRIC, unreached=unreached)


def _s(key: str, unit: Unit, label: str, section: Section = S.ACTIVITY,
       direction: Direction = D.NEITHER) -> Measure:
    return Measure(key, unit, label, section, direction, "4.11.2", Kind.SERIES)


_METRICS: tuple[Measure | Family, ...] = (
    # people and selection at referral
    _m("referrals", U.COUNT, "People referred", S.PEOPLE),
    _m("people_measured", U.COUNT, "People counted in the measured cohorts", S.PEOPLE),
    _m("referral_selection", U.FLAG, "Providers may refuse referrals", S.SELECTION, odd="7.17"),
    _m("referrals_refused", U.COUNT, "Referrals refused (no commissioned service, not measured)",
       S.SELECTION, _DOWN, "7.17"),
    Family("refusal_rate_{band}", U.SHARE, "Share refused, {words}", S.SELECTION, _DOWN,
           "7.17", members=BAND_WORDS),
    # true and measured reoffending
    _m("true_reoffending_rate", U.SHARE, "True reoffending rate", S.REOFFENDING, _DOWN),
    _m("untreated_reoffending_rate", U.SHARE, "Same people with no service (true counterfactual)",
       S.REOFFENDING),
    _m("true_reoffences_per_offender", U.NUMBER, "Reoffences per person referred",
       S.REOFFENDING, _DOWN),
    _m("untreated_reoffences_per_offender", U.NUMBER,
       "Reoffences per person referred, with no service", S.REOFFENDING),
    _m("reoffences_per_reoffender", U.NUMBER, "Reoffences per reoffender", S.REOFFENDING, _DOWN),
    _m("untreated_reoffences_per_reoffender", U.NUMBER,
       "Reoffences per reoffender, with no service", S.REOFFENDING),
    _m("measured_reoffending_rate", U.SHARE, "Measured reoffending rate (counted cohorts)",
       S.REOFFENDING, _DOWN),
    _m("counterfactual_reoffending_rate", U.SHARE, "Commissioner's counterfactual rate",
       S.REOFFENDING),
    _m("measured_reoffences_per_offender", U.NUMBER, "Measured reoffences per person counted",
       S.REOFFENDING, _DOWN),
    _m("counterfactual_reoffences_per_offender", U.NUMBER,
       "Counterfactual reoffences per person counted", S.REOFFENDING),
    # impact
    _m("true_impact_pp", U.POINTS, "True impact on reoffending", S.IMPACT, _UP),
    _m("measured_impact_pp", U.POINTS, "Impact as the contract measured it", S.IMPACT),
    _m("measurement_error_pp", U.POINTS, "Measurement error (measured minus true)", S.IMPACT),
    _m("reoffences_avoided_true", U.COUNT, "Reoffences truly avoided", S.IMPACT, _UP),
    _m("reoffences_avoided_measured", U.COUNT, "Reoffences avoided, as measured", S.IMPACT),
    # the commissioner's money
    _m("paid_block_grant", U.MONEY, "Block grant", S.MONEY),
    _m("paid_referral_fees", U.MONEY, "Referral fees", S.MONEY),
    _m("paid_supervision_fees", U.MONEY, "Supervision fees", S.MONEY),
    _m("paid_fees", U.MONEY, "Fees paid", S.MONEY),
    _m("paid_fee_reconciliation", U.MONEY, "Volume-band reconciliation (top-ups less repayments)",
       S.MONEY),
    _m("paid_outcome_binary", U.MONEY, "Outcome payments, binary measure", S.MONEY),
    _m("paid_outcome_frequency", U.MONEY, "Outcome payments, frequency measure", S.MONEY),
    _m("paid_outcomes", U.MONEY, "Outcome payments", S.MONEY),
    _m("withheld_fees", U.MONEY, "Fees withheld at risk", S.MONEY),
    _m("withheld_fees_not_earned", U.MONEY, "Fees withheld at risk and not earned back", S.MONEY),
    _m("commissioner_outlay", U.MONEY, "Total outlay by the commissioner", S.MONEY, _DOWN),
    _m("outlay_per_referral", U.MONEY_PER, "Outlay per referral", S.MONEY, _DOWN),
    _m("deadweight_payments", U.MONEY, "Paid for deadweight", S.MONEY, _DOWN),
    _m("cost_per_reoffence_avoided_true", U.MONEY_PER, "Cost per reoffence truly avoided",
       S.MONEY, _DOWN),
    _m("cost_per_reoffence_avoided_measured", U.MONEY_PER, "Cost per reoffence avoided, as measured",
       S.MONEY),
    # the primes' accounts
    _m("prime_income", U.MONEY, "Primes' income", S.PROVIDERS),
    _m("prime_delivery_cost", U.MONEY, "Primes' own front-line delivery cost", S.PROVIDERS),
    _m("prime_overhead", U.MONEY, "Primes' overhead", S.PROVIDERS),
    _m("prime_subcontract_cost", U.MONEY, "Primes' payments to sub-primes", S.PROVIDERS),
    _m("prime_repaid_to_commissioner", U.MONEY, "Primes' repayments to the commissioner",
       S.PROVIDERS),
    _m("prime_margin", U.MONEY, "Primes' margin", S.PROVIDERS),
    _m("prime_margin_share", U.SHARE, "Primes' margin, share of their income", S.PROVIDERS),
    _m("prime_min_cash", U.MONEY, "Lowest cash any prime held", S.PROVIDERS, _UP),
    _m("primes_in_deficit", U.COUNT, "Primes that ran out of cash", S.PROVIDERS, _DOWN),
    _m("front_line_share", U.SHARE, "Share of outlay reaching front-line delivery", S.PROVIDERS,
       _UP),
    # effort, creaming and parking
    _m("hours_per_person", U.HOURS, "Hours of service per person referred", S.EFFORT),
    _m("creaming_index", U.NUMBER, "Creaming index (1 = even)", S.EFFORT),
    _m("parking_share", U.POINTS, "Parking of the hardest to help", S.EFFORT, _DOWN),
    _m("hardest_to_help_at_minimum_share", U.SHARE, "Hardest to help at the bare minimum", S.EFFORT, _DOWN),
    _m("others_at_minimum_share", U.SHARE, "Other participants at the bare minimum", S.EFFORT),
    Family("parking_share_{band}", U.POINTS, "Parking of the hardest to help, {words}",
           S.EFFORT, _DOWN, members=BAND_WORDS),
    Family("parking_share_needs_{k}", U.SHARE, "Left at the bare minimum, {words}", S.EFFORT,
           _DOWN, members=NEEDS_WORDS),
    _m("effort_ratio_within_groups", U.NUMBER,
       "Creaming inside payment groups: hours of the best quarter by true results per £ / worst, within bands",
       S.EFFORT),
    Family("learnt_effect_{band}", U.NUMBER, "Effect of service adaptive primes learnt, {words}", S.EFFORT,
           members=BAND_WORDS),
    Family("true_effect_{band}", U.NUMBER, "True mean responsiveness of participants with a need, {words}",
           S.EFFORT, members=BAND_WORDS),
    _m("learnt_effect_error", U.NUMBER, "Mean gap between the learnt and the true effect", S.EFFORT, _DOWN),
    _m("refused_share_hardest_to_help", U.SHARE, "Hardest to help refused at referral",
       S.SELECTION, _DOWN),
    _m("effort_ratio_better_paying_half", U.NUMBER,
       "Effort on the better-paying half / the other half (1 = even)", S.EFFORT),
    _m("share_under_half_mean_effort", U.SHARE, "Engaged people getting under half the mean hours",
       S.EFFORT),
    Family("share_under_half_mean_effort_{band}", U.SHARE,
           "Engaged people getting under half the mean hours, {words}", S.EFFORT,
           members=BAND_WORDS),
    _m("effort_ratio_very_high", U.NUMBER, "Effort on very high risk people / the mean effort",
       S.EFFORT),
    _m("effort_ratio_after_reoffence", U.NUMBER,
       "Effort after a first reoffence / before (0 = dropped at the binary cliff)", S.EFFORT),
    # equality: by true risk band and protected group
    Family("share_{g}", U.SHARE, "Share of referrals, {words}", S.EQUALITY, members=GROUP_WORDS),
    Family("hours_per_engaged_person_{g}", U.HOURS, "Hours per engaged person, {words}",
           S.EQUALITY, members=GROUP_WORDS),
    Family("true_reoffending_rate_{g}", U.SHARE, "True reoffending rate, {words}", S.EQUALITY,
           _DOWN, members=GROUP_WORDS),
    Family("untreated_reoffending_rate_{g}", U.SHARE, "Reoffending rate with no service, {words}",
           S.EQUALITY, members=GROUP_WORDS),
    Family("true_impact_pp_{g}", U.POINTS, "True impact on reoffending, {words}", S.EQUALITY, _UP,
           members=GROUP_WORDS),
    # supply chain and market health (only with a market)
    _m("risk_transfer_ratio", U.NUMBER, "Risk transfer ratio (sub-primes)", S.SUPPLY_CHAIN),
    _m("subprime_income", U.MONEY, "Paid to sub-primes", S.SUPPLY_CHAIN),
    _m("subprime_at_risk_income", U.MONEY, "Outcome shares paid to sub-primes (at risk)",
       S.SUPPLY_CHAIN),
    _m("subprime_at_risk_share", U.SHARE, "Share of sub-primes' income at risk", S.SUPPLY_CHAIN),
    _m("subprime_at_risk_realised", U.NUMBER, "Outcome shares paid / expected", S.SUPPLY_CHAIN),
    _m("subprime_delivery_cost", U.MONEY, "Sub-primes' front-line delivery cost", S.SUPPLY_CHAIN),
    _m("subprime_overhead", U.MONEY, "Sub-primes' overhead", S.SUPPLY_CHAIN),
    _m("subprime_losses", U.MONEY, "Sub-primes' losses", S.SUPPLY_CHAIN, _DOWN),
    _m("subprime_losses_to_prime_margin", U.NUMBER, "Sub-primes' losses / primes' margin",
       S.SUPPLY_CHAIN, _DOWN),
    _m("subprime_deficit_at_exit", U.MONEY, "Shortfall of sub-primes that left insolvent",
       S.SUPPLY_CHAIN, _DOWN),
    _m("subprime_exits", U.COUNT, "Sub-prime exits", S.SUPPLY_CHAIN, _DOWN),
    _m("subprime_insolvencies", U.COUNT, "Sub-prime insolvencies", S.SUPPLY_CHAIN, _DOWN),
    _m("subprime_exits_losses", U.COUNT, "Sub-primes that left after sustained losses",
       S.SUPPLY_CHAIN, _DOWN),
    _m("subprime_first_exit_month", U.MONTH, "Month of the first sub-prime exit", S.SUPPLY_CHAIN),
    _m("subprime_entries", U.COUNT, "Sub-prime entries", S.SUPPLY_CHAIN),
    _m("subprimes_ever", U.COUNT, "Sub-primes ever in the market", S.SUPPLY_CHAIN),
    _m("active_subprimes_end", U.COUNT, "Active sub-primes at the end", S.SUPPLY_CHAIN, _UP),
    _m("subprime_min_cash", U.MONEY, "Lowest cash any sub-prime held", S.SUPPLY_CHAIN, _UP),
    _m("subprime_margin", U.MONEY, "Sub-primes' margin", S.SUPPLY_CHAIN),
    _m("subcontracted_hours_share", U.SHARE, "Share of hours bought from sub-primes",
       S.SUPPLY_CHAIN),
    _m("bid_candy_share", U.SHARE, "Promised hours never referred (bid candy)", S.SUPPLY_CHAIN,
       _DOWN),
    _m("subprime_income_hhi", U.NUMBER, "Concentration of sub-primes' income (HHI, 0-1)",
       S.SUPPLY_CHAIN, _DOWN),
    Family("sector_share_{sector}", U.SHARE, "Share of sub-prime income, {words}", S.SUPPLY_CHAIN,
           members=_SECTOR_WORDS),
    # stewardship
    _m("merlin_standard", U.FLAG, "Merlin-style supply-chain standard", S.STEWARDSHIP, odd="7.14"),
    _m("open_book", U.FLAG, "Open-book reporting", S.STEWARDSHIP, odd="7.14"),
    _m("margin_cap", U.SHARE, "Cap on prime margin (share of income)", S.STEWARDSHIP, odd="7.14"),
    _m("margin_clawed_back", U.MONEY, "Margin clawed back by the commissioner", S.STEWARDSHIP,
       odd="7.14"),
    _m("open_book_prime_costs", U.MONEY, "Primes' costs the open book showed", S.STEWARDSHIP,
       odd="7.14"),
    _m("open_book_prime_margin_share", U.SHARE,
       "Prime margin the open book showed (before any clawback)", S.STEWARDSHIP, odd="7.14"),
    _m("merlin_outcome_share_cut", U.SHARE, "Subcontract offers whose outcome share it cut",
       S.STEWARDSHIP, odd="7.14"),
    # social impact bond
    _m("investor_capital", U.MONEY, "Investors' capital committed", S.SOCIAL_IMPACT_BOND),
    _m("investor_drawn", U.MONEY, "Investors' capital drawn to pay for the service",
       S.SOCIAL_IMPACT_BOND),
    _m("investor_repaid", U.MONEY, "Repaid to investors by the commissioner on results",
       S.SOCIAL_IMPACT_BOND),
    _m("investor_return", U.SHARE, "Investors' return a year", S.SOCIAL_IMPACT_BOND),
    _m("investor_irr", U.SHARE, "Investors' internal rate of return a year", S.SOCIAL_IMPACT_BOND),
    _m("investor_loss", U.MONEY, "Investors' loss (drawn and not repaid)", S.SOCIAL_IMPACT_BOND),
    _m("investor_multiple", U.NUMBER, "Investors' money multiple (repaid / drawn)",
       S.SOCIAL_IMPACT_BOND),
    _m("investor_capital_exhausted_month", U.MONTH, "Month the investors' capital ran out",
       S.SOCIAL_IMPACT_BOND),
    _m("sib_cohorts", U.COUNT, "Bond cohorts", S.SOCIAL_IMPACT_BOND),
    _m("sib_cohorts_paid_early", U.COUNT, "Cohorts paid early (met the cohort trigger)",
       S.SOCIAL_IMPACT_BOND),
    _m("sib_early_payments", U.MONEY, "Paid on the cohort trigger", S.SOCIAL_IMPACT_BOND),
    _m("sib_final_payment", U.MONEY, "Paid at the end on the pilot trigger", S.SOCIAL_IMPACT_BOND),
    _m("sib_pilot_reduction_pct", U.PERCENT, "Fall in reconviction events across the pilot, measured",
       S.SOCIAL_IMPACT_BOND),
    _m("sib_pilot_true_reduction_pct", U.PERCENT,
       "Fall in reconviction events across the pilot, true", S.SOCIAL_IMPACT_BOND, _UP),
    _m("sib_deadweight_payments", U.MONEY, "Bond payments for deadweight", S.SOCIAL_IMPACT_BOND,
       _DOWN),
    Family("sib_cohort_{k}_reduction_pct", U.PERCENT, "Fall in reconviction events, bond cohort "
           "{words}, measured", S.SOCIAL_IMPACT_BOND),
    # commissioning over time
    _m("competitions", U.COUNT, "Competitions run", S.COMMISSIONING),
    _m("prime_failures", U.COUNT, "Primes failed (handed their contracts back)", S.COMMISSIONING,
       _DOWN),
    _m("handbacks", U.COUNT, "Contracts handed back", S.COMMISSIONING, _DOWN),
    _m("terminations", U.COUNT, "Contracts terminated for poor performance", S.COMMISSIONING),
    _m("rectification_notices", U.COUNT, "Rectification notices served", S.COMMISSIONING),
    _m("contract_breaks", U.COUNT, "Contracts walked away from at a break point", S.COMMISSIONING,
       _DOWN),
    _m("procurement_costs", U.MONEY, "Commissioner's procurement costs", S.COMMISSIONING, _DOWN),
    _m("areas_with_interim_provider_months", U.COUNT, "Area-months served by the interim provider",
       S.COMMISSIONING, _DOWN),
    _m("winning_price_factor_mean", U.NUMBER,
       "Winning bids' price, multiple of list prices: mean", S.COMMISSIONING),
    _m("winning_price_factor_min", U.NUMBER, "Winning bids' price, multiple of list prices: lowest",
       S.COMMISSIONING),
    _m("winning_price_factor_max", U.NUMBER,
       "Winning bids' price, multiple of list prices: highest", S.COMMISSIONING),
    _m("initial_price_factor_mean", U.NUMBER,
       "Winning bids' price in the first competitions: mean", S.COMMISSIONING),
    _m("prime_losses", U.MONEY, "Losses of primes ending below their starting capital",
       S.COMMISSIONING, _DOWN),
    _m("primes_with_losses", U.COUNT, "Primes ending below their starting capital", S.COMMISSIONING,
       _DOWN),
    _m("referrals_vs_plan", U.SHARE, "Referrals against the plan bids were priced on",
       S.COMMISSIONING),
)

_SERIES: tuple[Measure | Family, ...] = (
    _s("month", U.MONTH, "Month of the contract"),
    _s("referrals", U.COUNT, "People referred"),
    _s("in_service", U.COUNT, "People in their service period"),
    Family("effort_{band}", U.HOURS, "Hours per engaged person in service, {words}", S.EFFORT,
           odd="4.11.2", kind=Kind.SERIES, members=BAND_WORDS),
    Family("cash_{prime name}", U.MONEY, "Cash held by {words}", S.PROVIDERS, _UP, "4.11.2",
           Kind.SERIES),
    _s("competitions", U.COUNT, "Competitions held", S.COMMISSIONING),
    _s("prime_handbacks", U.COUNT, "Contracts handed back", S.COMMISSIONING, _DOWN),
    _s("terminations", U.COUNT, "Contracts terminated", S.COMMISSIONING),
    _s("rectification_notices", U.COUNT, "Rectification notices served",
       S.COMMISSIONING),
    _s("contract_breaks", U.COUNT, "Contracts walked away from at a break point", S.COMMISSIONING,
       _DOWN),
    _s("areas_interim", U.COUNT, "Areas held by the interim provider", S.COMMISSIONING, _DOWN),
    _s("active_subprimes", U.COUNT, "Active sub-primes", S.SUPPLY_CHAIN),
    Family("active_subprimes_{sector}", U.COUNT, "Active sub-primes, {words}", S.SUPPLY_CHAIN,
           odd="4.11.2", kind=Kind.SERIES, members=_SECTOR_WORDS),
    _s("contracted_subprimes", U.COUNT, "Sub-primes holding a subcontract", S.SUPPLY_CHAIN),
    _s("subprime_exits", U.COUNT, "Sub-prime exits", S.SUPPLY_CHAIN, _DOWN),
    _s("subprime_entries", U.COUNT, "Sub-prime entries", S.SUPPLY_CHAIN),
    _s("subprime_cash_total", U.MONEY, "Cash of the active sub-primes", S.SUPPLY_CHAIN),
    _s("subcontracted_hours_share", U.SHARE, "Share of hours bought from sub-primes",
       S.SUPPLY_CHAIN),
    Family("paid_{kind}", U.MONEY, "Paid: {words}", S.MONEY, odd="4.11.2",
           kind=Kind.SERIES, members=LEDGER_KINDS),
)


def _expand(declared: tuple[Measure | Family, ...]) -> tuple[dict[str, Measure], list[Family]]:
    concrete: dict[str, Measure] = {}
    open_families: list[Family] = []
    for item in declared:
        expanded = [item] if isinstance(item, Measure) else item.expand()
        if isinstance(item, Family) and item.members is None:
            open_families.append(item)
        for m in expanded:
            if m.key in concrete:
                raise ValueError(f"measure {m.key!r} is declared twice")
            concrete[m.key] = m
    return concrete, open_families


_METRIC_MAP, _OPEN_METRICS = _expand(_METRICS)
_SERIES_MAP, _OPEN_SERIES = _expand(_SERIES)
#: Every concrete final metric, by key (open families are matched by :func:`measure`).
METRICS: Mapping[str, Measure] = MappingProxyType(_METRIC_MAP)
#: Every concrete monthly series column, by key.
SERIES: Mapping[str, Measure] = MappingProxyType(_SERIES_MAP)


def find(key: str, kind: Kind = Kind.METRIC) -> Measure | None:
    """Return the measure ``key`` names, or None if the catalogue has no such key.

    For columns found in data (a store written by another version may hold
    others); code that names a key should call :func:`measure` or :func:`series`.
    """
    concrete, open_families = ((_METRIC_MAP, _OPEN_METRICS) if kind is Kind.METRIC
                               else (_SERIES_MAP, _OPEN_SERIES))
    if key in concrete:
        return concrete[key]
    for fam in open_families:
        if (found := fam.match(key)) is not None:
            return found
    return None


def _lookup(key: str, kind: Kind) -> Measure:
    found = find(key, kind)
    if found is None:
        raise UnknownMeasure(key, kind, _METRIC_MAP if kind == Kind.METRIC else _SERIES_MAP)
    return found


def measure(key: str) -> Measure:
    """Return the final metric ``key``.

    Raises:
        UnknownMeasure: The catalogue has no such metric (a KeyError naming it).

    """
    return _lookup(key, Kind.METRIC)


def series(key: str) -> Measure:
    """Return the monthly series column ``key``.

    Raises:
        UnknownMeasure: The catalogue has no such column (a KeyError naming it).

    """
    return _lookup(key, Kind.SERIES)


def families(kind: Kind | None = None) -> list[Family]:
    """Return every declared family (of one kind, or of both)."""
    return [f for f in (*_METRICS, *_SERIES) if isinstance(f, Family)
            and (kind is None or f.kind is kind)]


def family(pattern: str) -> Family:
    """Return the family ``pattern`` declares, e.g. ``"true_impact_pp_{g}"``.

    Raises:
        UnknownMeasure: No family has that pattern.

    """
    for fam in families():
        if fam.pattern == pattern:
            return fam
    raise UnknownMeasure(pattern, Kind.METRIC, [f.pattern for f in families()])


def members(pattern: str, columns: Iterable[str] | None = None) -> list[Measure]:
    """Return the members of the family ``pattern``, in declaration order.

    Args:
        pattern: The family's pattern, e.g. ``"hours_per_engaged_person_{g}"``.
        columns: Keep only the members among these columns (for an open family,
            the members are exactly the matching columns, in their order).

    Raises:
        UnknownMeasure: No family has that pattern.

    """
    fam = family(pattern)
    if fam.members is None:
        return [m for c in (() if columns is None else columns) if (m := fam.match(c)) is not None]
    found = fam.expand()
    if columns is None:
        return found
    present = set(columns)
    return [m for m in found if m.key in present]
