"""The model's fixed vocabulary: service types, risk bands and sectors."""

__all__ = ["BAND_NAMES", "SECTORS", "SERVICE_TYPES"]

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
