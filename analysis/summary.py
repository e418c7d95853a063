"""A readable summary of one run: the numbers a commissioner asks for first, in plain words."""

from __future__ import annotations

from pbrsim.analysis.tables import format_money
from rich.console import Console
from rich.table import Table

__all__ = ["print_run_summary", "run_summary_rows"]

#: A titled section of (label, value) rows.
Section = tuple[str, list[tuple[str, str]]]
BANDS = ("low", "medium", "high", "very_high")


def _money(x: float | None) -> str:
    return "n/a" if x is None else format_money(x, million_digits=1)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _pp(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f} pp"


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def _supply_chain_rows(m: dict[str, float | None]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The supply-chain section, when the run had a market of sub-primes."""
    if "subprime_income" not in m:
        return []
    rows = [
        ("Paid to sub-primes", _money(m.get("subprime_income"))),
        ("  of which outcome shares (at risk)", _money(m.get("subprime_at_risk_income"))),
        ("Risk transfer ratio (sub-primes' share of at-risk income / of all income; >1 = disproportionate)",
         _num(m.get("risk_transfer_ratio"))),
        ("Sub-prime exits (of which insolvencies)",
         f"{_num(m.get('subprime_exits'), 0)} ({_num(m.get('subprime_insolvencies'), 0)})"),
        ("Sub-prime entries", _num(m.get("subprime_entries"), 0)),
        ("Active sub-primes at the end", _num(m.get("active_subprimes_end"), 0)),
    ]
    for sector in ("voluntary", "social_enterprise", "private"):
        if f"sector_share_{sector}" in m:
            rows.append((f"Share of sub-prime income, {sector.replace('_', ' ')}", _pct(m[f"sector_share_{sector}"])))
    return [("Supply chain", rows)]


def _count(x: float | None) -> str:
    return _num(x, 0)


def _commissioning_rows(m: dict[str, float | None]) -> list[Section]:
    """Competitions and what followed them, when areas were let by competition."""
    if not m.get("competitions"):
        return []
    low, high = m.get("winning_price_factor_min"), m.get("winning_price_factor_max")
    spread = f" ({_num(low)} to {_num(high)})" if low is not None else ""
    rows = [
        ("Competitions run", _count(m.get("competitions"))),
        ("Winning bids' price, multiple of list prices: mean (range)",
         _num(m.get("winning_price_factor_mean")) + spread),
        ("  mean in the first competitions", _num(m.get("initial_price_factor_mean"))),
        ("Primes failed (handed their contracts back)", _count(m.get("prime_failures"))),
        ("  contracts handed back", _count(m.get("handbacks"))),
        ("Contracts terminated for poor performance", _count(m.get("terminations"))),
        ("Rectification notices served", _count(m.get("rectification_notices"))),
        ("Contracts walked away from at a break point", _count(m.get("contract_breaks"))),
        ("Area-months served by the interim provider",
         _count(m.get("areas_with_interim_provider_months"))),
        ("Commissioner's procurement costs", _money(m.get("procurement_costs"))),
        ("Losses of primes ending below their starting capital", _money(m.get("prime_losses"))),
        ("Referrals against the plan bids were priced on", _pct(m.get("referrals_vs_plan"))),
    ]
    return [("Commissioning", rows)]


def _stewardship_rows(m: dict[str, float | None]) -> list[Section]:
    """Stewardship rules in force (Merlin-style standard, open book, margin cap)."""
    merlin, open_book, cap = m.get("merlin_standard"), m.get("open_book"), m.get("margin_cap")
    if not merlin and not open_book and cap is None:
        return []
    rows: list[tuple[str, str]] = []
    if merlin:
        rows.append(("Merlin-style supply-chain standard", "in force"))
        rows.append(("Subcontract offers whose outcome share it cut",
                     _pct(m.get("merlin_outcome_share_cut"))))
    if open_book:
        rows.append(("Prime margin the open book showed (before any clawback)",
                     _pct(m.get("open_book_prime_margin_share"))))
    if cap is not None:
        rows.append(("Cap on prime margin (share of income)", _pct(cap)))
        rows.append(("Margin clawed back by the commissioner", _money(m.get("margin_clawed_back"))))
    return [("Stewardship", rows)]


def _bond_rows(m: dict[str, float | None]) -> list[Section]:
    """Return the social impact bond's section: what its investors put in and got back."""
    if m.get("investor_capital") is None:
        return []
    cohorts = m.get("sib_cohorts")
    rows = [
        ("Investors' capital committed", _money(m.get("investor_capital"))),
        ("  drawn to pay for the service", _money(m.get("investor_drawn"))),
        ("Repaid by the commissioner on results", _money(m.get("investor_repaid"))),
        ("Investors' return a year", _pct(m.get("investor_return"))),
        ("Investors' loss (drawn and not repaid)", _money(m.get("investor_loss"))),
    ]
    if cohorts is not None:
        rows += [
            ("Cohorts paid early (met the cohort trigger)",
             f"{_count(m.get('sib_cohorts_paid_early'))} of {_count(cohorts)}"),
            ("Fall in reconviction events across the pilot, measured / true",
             f"{_num(m.get('sib_pilot_reduction_pct'), 1)}% / "
             f"{_num(m.get('sib_pilot_true_reduction_pct'), 1)}%"),
        ]
    return [("Social impact bond", rows)]


def _selection_rows(m: dict[str, float | None]) -> list[Section]:
    """Referrals refused at the door, where the contract let providers refuse."""
    if not m.get("referral_selection") and not m.get("referrals_refused"):
        return []
    rows = [
        ("Referrals refused (no commissioned service, not measured)",
         _count(m.get("referrals_refused"))),
        ("  share of all referrals", _pct(_share(m.get("referrals_refused"), m.get("referrals")))),
    ]
    rows += [(f"Share refused, {band.replace('_', ' ')} risk band",
              _pct(m.get(f"refusal_rate_{band}"))) for band in BANDS]
    return [("Selection at referral", rows)]


def _share(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else part / whole


def run_summary_rows(m: dict[str, float | None]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Sections of (label, value) pairs describing one run's final metrics."""
    return [
        ("People", [
            ("Referred", _num(m["referrals"], 0)),
            ("Counted in the measured cohorts", _num(m["people_measured"], 0)),
        ]),
        ("Reoffending (12-month proven)", [
            ("Measured rate (counted cohorts)", _pct(m["measured_reoffending_rate"])),
            ("Commissioner's counterfactual rate", _pct(m["counterfactual_reoffending_rate"])),
            ("True rate, everybody referred", _pct(m["true_reoffending_rate"])),
            ("Same people with no service (true counterfactual)", _pct(m["untreated_reoffending_rate"])),
            ("Reoffences per offender, measured / counterfactual",
             f"{_num(m['measured_reoffences_per_offender'])} / {_num(m['counterfactual_reoffences_per_offender'])}"),
            ("Reoffences per reoffender", _num(m["reoffences_per_reoffender"])),
        ]),
        ("Impact", [
            ("True impact (untreated minus treated)", _pp(m["true_impact_pp"])),
            ("Measured impact (counterfactual minus measured)", _pp(m["measured_impact_pp"])),
            ("Measurement error (measured minus true)", _pp(m["measurement_error_pp"])),
            ("Reoffences avoided, true / measured",
             f"{_num(m['reoffences_avoided_true'], 0)} / {_num(m['reoffences_avoided_measured'], 0)}"),
        ]),
        ("Money paid by the commissioner", [
            ("Block grant", _money(m["paid_block_grant"])),
            ("Referral fees", _money(m["paid_referral_fees"])),
            ("Supervision fees", _money(m["paid_supervision_fees"])),
            ("Outcome payments, binary measure", _money(m["paid_outcome_binary"])),
            ("Outcome payments, frequency measure", _money(m["paid_outcome_frequency"])),
            ("Fees withheld at risk and not earned back", _money(m["withheld_fees_not_earned"])),
            *([("Volume-band reconciliation (top-ups less repayments)",
                _money(m["paid_fee_reconciliation"]))] if m.get("paid_fee_reconciliation") else []),
            ("Total outlay", _money(m["commissioner_outlay"])),
            ("Paid for deadweight (beyond true impact)", _money(m["deadweight_payments"])),
            ("Cost per reoffence avoided, true", _money(m["cost_per_reoffence_avoided_true"])),
            ("Cost per reoffence avoided, as measured", _money(m["cost_per_reoffence_avoided_measured"])),
        ]),
        ("Providers", [
            ("Prime income", _money(m["prime_income"])),
            ("Primes' own front-line delivery cost", _money(m["prime_delivery_cost"])),
            ("Primes' payments to sub-primes", _money(m.get("prime_subcontract_cost"))),
            ("Overhead", _money(m["prime_overhead"])),
            ("Prime margin", f"{_money(m['prime_margin'])} ({_pct(m['prime_margin_share'])} of income)"),
            ("Share of outlay reaching front-line delivery", _pct(m["front_line_share"])),
            ("Lowest cash any prime held", _money(m["prime_min_cash"])),
        ]),
        ("Where the effort went", [
            ("Creaming index (effort on the more profitable half / the rest; 1 = even)",
             _num(m.get("creaming_index"))),
            ("Parked: engaged people given under half the mean effort", _pct(m.get("parking_share"))),
            ("Parked in the very high risk band", _pct(m.get("parking_share_very_high"))),
            ("Effort after a first reoffence / before (0 = dropped at the binary cliff)",
             _num(m.get("effort_ratio_after_reoffence"))),
        ]),
        *_supply_chain_rows(m),
        *_selection_rows(m),
        *_commissioning_rows(m),
        *_stewardship_rows(m),
        *_bond_rows(m),
        ("Effort by true risk band (hours per engaged person)", [
            (band.replace("_", " "), _num(m[f"hours_per_engaged_person_{band}"], 1))
            for band in BANDS
        ]),
    ]


def print_run_summary(title: str, metrics: dict[str, float | None], console: Console | None = None) -> None:
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
