"""A readable summary of one run: the numbers a commissioner asks for first, in plain words.

Which measures are shown, and in which order, is chosen here; their labels,
units and section headings come from the catalogue (:mod:`pbrsim.sim.measures`).
Sections for mechanisms a run did not have (a supply chain, competitions,
stewardship rules, a social impact bond, selection at referral) are left out.
"""

from __future__ import annotations

from collections.abc import Callable

from pbrsim.analysis.formatting import format_value, label_of
from pbrsim.sim.measures import BAND_WORDS, Section, measure
from pbrsim.sim.vocabulary import SECTORS
from rich.console import Console
from rich.table import Table

__all__ = ["SUMMARY_MEASURES", "print_run_summary", "run_summary_rows"]

Metrics = dict[str, float | None]
#: A titled section of (label, value) rows.
SummarySection = tuple[str, list[tuple[str, str]]]

#: The measures of the summary in order; rows are grouped under their catalogue section.
SUMMARY_MEASURES: tuple[str, ...] = tuple(measure(key).key for key in (
    "referrals", "people_measured",
    "measured_reoffending_rate", "counterfactual_reoffending_rate", "true_reoffending_rate",
    "untreated_reoffending_rate", "measured_reoffences_per_offender",
    "counterfactual_reoffences_per_offender", "reoffences_per_reoffender",
    "true_impact_pp", "measured_impact_pp", "measurement_error_pp", "reoffences_avoided_true",
    "reoffences_avoided_measured",
    "paid_block_grant", "paid_referral_fees", "paid_supervision_fees", "paid_outcome_binary",
    "paid_outcome_frequency", "withheld_fees_not_earned", "paid_fee_reconciliation",
    "commissioner_outlay", "deadweight_payments", "cost_per_reoffence_avoided_true",
    "cost_per_reoffence_avoided_measured",
    "prime_income", "prime_delivery_cost", "prime_subcontract_cost", "prime_overhead",
    "prime_margin", "prime_margin_share", "front_line_share", "prime_min_cash",
    "creaming_index", "parking_share", "hardest_to_help_at_minimum_share", "effort_ratio_within_groups",
    "share_under_half_mean_effort", "share_under_half_mean_effort_very_high", "effort_ratio_after_reoffence",
    *(f"learnt_effect_{band}" for band in BAND_WORDS), *(f"true_effect_{band}" for band in BAND_WORDS),
    "subprime_income", "subprime_at_risk_income", "risk_transfer_ratio", "subprime_exits",
    "subprime_insolvencies", "subprime_entries", "active_subprimes_end",
    *(f"sector_share_{sector}" for sector in SECTORS),
    "referrals_refused", *(f"refusal_rate_{band}" for band in BAND_WORDS),
    "refused_share_hardest_to_help",
    "competitions", "winning_price_factor_mean", "winning_price_factor_min",
    "winning_price_factor_max", "initial_price_factor_mean", "prime_failures", "handbacks",
    "terminations", "rectification_notices", "contract_breaks",
    "areas_with_interim_provider_months", "procurement_costs", "prime_losses", "referrals_vs_plan",
    "merlin_standard", "merlin_outcome_share_cut", "open_book_prime_margin_share", "margin_cap",
    "margin_clawed_back",
    "investor_capital", "investor_drawn", "investor_repaid", "investor_return", "investor_loss",
    "sib_cohorts", "sib_cohorts_paid_early", "sib_pilot_reduction_pct",
    "sib_pilot_true_reduction_pct",
    *(f"hours_per_engaged_person_{band}" for band in BAND_WORDS),
))

#: Sections shown only where the run had the mechanism.
_SECTION_APPLIES: dict[Section, Callable[[Metrics], bool]] = {
    Section.SUPPLY_CHAIN: lambda m: "subprime_income" in m,
    Section.SELECTION: lambda m: bool(m.get("referral_selection") or m.get("referrals_refused")),
    Section.COMMISSIONING: lambda m: bool(m.get("competitions")),
    Section.STEWARDSHIP: lambda m: bool(m.get("merlin_standard") or m.get("open_book")
                                        or m.get("margin_cap") is not None),
    Section.SOCIAL_IMPACT_BOND: lambda m: m.get("investor_capital") is not None,
}

#: Rows shown only where they say something: a rule's own measures only where it is in force.
_ROW_APPLIES: dict[str, Callable[[Metrics], bool]] = {
    "paid_fee_reconciliation": lambda m: bool(m.get("paid_fee_reconciliation")),
    "merlin_standard": lambda m: bool(m.get("merlin_standard")),
    "merlin_outcome_share_cut": lambda m: bool(m.get("merlin_standard")),
    "open_book_prime_margin_share": lambda m: bool(m.get("open_book")),
    "margin_cap": lambda m: m.get("margin_cap") is not None,
    "margin_clawed_back": lambda m: m.get("margin_cap") is not None,
}


def run_summary_rows(m: Metrics) -> list[SummarySection]:
    """Sections of (label, value) pairs describing one run's final metrics."""
    sections: dict[Section, list[tuple[str, str]]] = {}
    for key in SUMMARY_MEASURES:
        found = measure(key)
        applies = _SECTION_APPLIES.get(found.section)
        if key not in m or (applies is not None and not applies(m)):
            continue
        if key in _ROW_APPLIES and not _ROW_APPLIES[key](m):
            continue
        sections.setdefault(found.section, []).append((label_of(found), format_value(found, m[key])))
    return [(section.value, rows) for section, rows in sections.items()]


def print_run_summary(title: str, metrics: Metrics, console: Console | None = None) -> None:
    """Print a run's summary as a table."""
    console = console or Console()
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for section, rows in run_summary_rows(metrics):
        table.add_row(f"[bold]{section}[/bold]", "")
        for label, value in rows:
            table.add_row(f"  {label}", value)
    console.print(table)
