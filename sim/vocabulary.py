"""The model's fixed vocabulary: service types, risk bands and sectors."""

__all__ = ["AGE_GROUPS", "BAND_NAMES", "SECTORS", "SERVICE_TYPES"]

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
