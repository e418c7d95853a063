"""Typed schema of a social impact bond (``contract.social_impact_bond``).

Kept apart from :mod:`sim.scenario` (which imports it) so the schema cannot
form an import cycle with :mod:`sim.investment` and :mod:`sim.payments`.

A social impact bond, as at HMP Peterborough (from September 2010; figures in
docs/sources.md): investors commit capital (£5m from 17 charitable
foundations) that is drawn down to pay the service provider; the outcome payer
pays the investors, not the provider, and only on results: a fall in the
frequency of proven reoffending against the counterfactual of at least 10% in
one cohort pays for that cohort early; otherwise, at the end, a fall of at
least 7.5% across the whole pilot pays for every cohort. Total outcome
payments are capped (about £13m at Peterborough, unconfirmed).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SocialImpactBondSpec"]


class SocialImpactBondSpec(BaseModel):
    """Investors fund the service up front; the commissioner pays them on a frequency measure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    investors: Annotated[str, Field(min_length=1)] = "investors"
    """The investors' name in the ledger."""
    investor_capital: Annotated[float, Field(gt=0.0)] = 5_000_000.0
    """Capital committed, drawn down month by month to pay the provider (Peterborough: £5m)."""
    provider_margin: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Investors pay the provider its month's costs plus this margin on them."""
    price_per_reoffence_avoided: Annotated[float, Field(ge=0.0)]
    """Paid to the investors for each proven reoffence below the counterfactual, in a cohort
    whose payment is triggered."""
    cohort_months: Annotated[int, Field(ge=1, le=120)] = 12
    """Months of referrals that make one bond cohort (Peterborough: about 1,000 men each)."""
    cohort_trigger_pct: Annotated[float, Field(ge=0.0, le=100.0)] = 10.0
    """A cohort whose reoffences fall at least this far (per cent of the counterfactual) is paid
    for as soon as it is measured (Peterborough: 10%)."""
    overall_trigger_pct: Annotated[float, Field(ge=0.0, le=100.0)] = 7.5
    """At the end, a fall of at least this much across every cohort together pays for them all,
    less what was paid early (Peterborough: 7.5%)."""
    outcome_cap: Annotated[float, Field(ge=0.0)] | None = None
    """Most the commissioner pays the investors in all (Peterborough: about £13m, unconfirmed)."""
