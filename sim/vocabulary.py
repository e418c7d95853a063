"""The model's fixed vocabulary: service types, risk bands, sectors, age groups, and the ledger's words."""

from __future__ import annotations

import enum

__all__ = ["AGE_GROUPS", "BAND_NAMES", "SECTORS", "SERVICE_TYPES", "Kind", "Party"]

#: Service types, after the NOMS reducing-reoffending pathways.
SERVICE_TYPES: tuple[str, ...] = (
    "accommodation",
    "employment_training",
    "substance_misuse",
    "mental_health",
    "finance",
    "family",
    "thinking_behaviour",
)

#: Risk bands of the 12-month proven reoffending probability (see docs/ODD.md).
BAND_NAMES: tuple[str, ...] = ("low", "medium", "high", "very_high")

#: Sectors of provider organisations (NOMS commissioning guidance, 2011).
SECTORS: tuple[str, ...] = ("voluntary", "social_enterprise", "private", "public")

#: Age groups of protected characteristics (equality reporting), in the order of ``age_group`` codes.
AGE_GROUPS: tuple[str, ...] = ("18_24", "25_39", "40_plus")


class Party(enum.StrEnum):
    """Ledger parties that are not agents (agents appear under their own names)."""

    COMMISSIONER = "commissioner"
    OVERHEAD = "overhead"
    """Fixed costs of providers (premises, management): money that leaves the model."""
    FRONT_LINE = "front_line_delivery"
    """Caseworkers' time: the cost of service delivered, money that leaves the model."""
    PROCUREMENT = "procurement"
    """The cost of running a competition."""


class Kind(enum.StrEnum):
    """What a payment is for. The values are what ledger.csv and the ``paid_<kind>`` measures say."""

    FEES = "fees"
    """Fees for service and block grant, invoiced (less any share withheld at risk)."""
    FEE_RECONCILIATION = "fee_reconciliation"
    """Annual reconciliation of fees for service by volume band (either way)."""
    OUTCOME_BINARY = "outcome_binary"
    OUTCOME_FREQUENCY = "outcome_frequency"
    DELIVERY_COST = "delivery_cost"
    OVERHEAD = "overhead"
    SUBCONTRACT_FEE = "subcontract_fee"
    OUTCOME_SHARE = "outcome_share"
    """The share of outcome payments a prime passes down to a sub-prime."""
    PROCUREMENT = "procurement"
    MARGIN_CLAWBACK = "margin_clawback"
    SIB_SERVICE_FEE = "sib_service_fee"
    """Investors paying the provider's costs under a social impact bond."""

    @classmethod
    def outcome(cls, measure: str) -> Kind:
        """The kind of an outcome payment on ``measure`` (``binary`` or ``frequency``)."""
        return cls(f"outcome_{measure}")
