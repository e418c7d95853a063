"""Numbers for people: every measure formatted and labelled from the catalogue (sim/measures.py).

Nothing here reads a unit from a measure's name: :func:`format_value` takes a
key, looks it up with :func:`pbrsim.sim.measures.measure` (an unknown key
raises :class:`~pbrsim.sim.measures.UnknownMeasure`) and formats by its
:class:`~pbrsim.sim.measures.Unit`. Pass a
:class:`~pbrsim.sim.measures.Measure` for a monthly series column.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pbrsim.sim.measures import Direction, Measure, Unit, find, measure

__all__ = [
    "Formattable",
    "axis",
    "describe",
    "format_interval",
    "format_money",
    "format_number",
    "format_value",
    "label_of",
    "verdict",
]


#: What a number can be formatted by: a final metric's key, a catalogue entry, or a bare unit.
Formattable = str | Measure | Unit


def _measure(m: str | Measure) -> Measure:
    return m if isinstance(m, Measure) else measure(m)


def _unit(m: Formattable) -> Unit:
    return m if isinstance(m, Unit) else _measure(m).unit


def _minus(text: str) -> str:
    return text.replace("-", "−")


def format_money(x: float, signed: bool = False, million_digits: int = 2) -> str:
    """Pounds, shortened to m or bn; ``signed`` puts + before a gain."""
    sign = "−" if x < 0 else ("+" if signed and x > 0 else "")
    x = abs(x)
    if x >= 1e9:
        return f"{sign}£{x / 1e9:,.2f}bn"
    if x >= 1e6:
        return f"{sign}£{x / 1e6:,.{million_digits}f}m"
    return f"{sign}£{x:,.0f}"


def format_number(x: float, signed: bool = False) -> str:
    """A number without unit: three significant figures, or whole from 100 up."""
    sign = "+" if signed and x > 0 else ""
    if abs(x) >= 100:
        return _minus(f"{sign}{x:,.0f}")
    return _minus(f"{sign}{x:#.3g}".rstrip("."))


def _count(x: float, signed: bool) -> str:
    sign = "+" if signed and x > 0 else ""
    # a mean over replications need not be whole: 1.5 hand-backs on average
    whole = abs(x) >= 100 or float(x).is_integer()
    return _minus(f"{sign}{x:,.0f}" if whole else f"{sign}{x:,.1f}")


def _month(x: float, signed: bool) -> str:
    if signed:
        return _minus(f"{x:+.1f} months")
    return f"month {x:.0f}" if float(x).is_integer() else f"month {x:.1f}"


def _flag(x: float, signed: bool) -> str:
    if signed:
        return format_number(x, True)
    if x in (0.0, 1.0):
        return "on" if x else "off"
    return f"on in {100 * x:.0f}% of runs"


_FORMATS: dict[Unit, Callable[[float, bool], str]] = {
    Unit.MONEY: format_money,
    Unit.MONEY_PER: format_money,
    # a difference of two shares is in percentage points
    Unit.SHARE: lambda x, d: _minus(f"{100 * x:+.1f} pp" if d else f"{100 * x:.1f}%"),
    Unit.POINTS: lambda x, d: _minus(f"{x:+.2f} pp" if d else f"{x:.2f} pp"),
    Unit.PERCENT: lambda x, d: _minus(f"{x:+.1f} pp" if d else f"{x:.1f}%"),
    Unit.HOURS: lambda x, d: _minus(f"{x:+.1f} h" if d else f"{x:.1f} h"),
    Unit.COUNT: _count,
    Unit.NUMBER: format_number,
    Unit.MONTH: _month,
    Unit.FLAG: _flag,
}


def format_value(m: Formattable, value: float | None, difference: bool = False) -> str:
    """Format a value of a measure by its unit in the catalogue.

    Args:
        m: A final metric's key, any catalogue :class:`Measure` (a monthly
            series column), or a :class:`Unit` (a column the catalogue lacks).
        value: The value; None or NaN gives ``"n/a"``.
        difference: Format as a signed difference (a share's difference is in
            percentage points).

    Raises:
        UnknownMeasure: ``m`` is a key the catalogue does not hold.

    """
    unit = _unit(m)
    if value is None or not math.isfinite(value):
        return "n/a"
    return _FORMATS[unit](float(value), difference)


def format_interval(m: Formattable, low: float, high: float, difference: bool = False) -> str:
    """Format a 95% interval as ``"a to b"``, or ``"undefined"`` where it is not defined."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undefined"
    a, b = format_value(m, low, difference), format_value(m, high, difference)
    for unit in (" pp", "%", " h", " months"):  # say the unit once: "1.1 to 4.2 pp"
        if a.endswith(unit) and b.endswith(unit):
            return f"{a.removesuffix(unit)} to {b}"
    return f"{a} to {b}"


def label_of(m: str | Measure) -> str:
    """Return a measure's label (a final metric's key, or a catalogue :class:`Measure`)."""
    return _measure(m).label


def verdict(m: Formattable, low: float, high: float) -> str | None:
    """Say whether a difference with interval ``low`` to ``high`` is better or worse.

    Returns:
        ``"better"`` or ``"worse"`` where the interval excludes zero and the
        catalogue says which way is better; None otherwise (no direction, or a
        difference not told apart from none).

    """
    if isinstance(m, Unit):
        return None
    direction = _measure(m).direction
    if direction is Direction.NEITHER or not (math.isfinite(low) and math.isfinite(high)):
        return None
    if low > 0:
        return "better" if direction is Direction.HIGHER_BETTER else "worse"
    if high < 0:
        return "worse" if direction is Direction.HIGHER_BETTER else "better"
    return None


_AXES: dict[Unit, tuple[str, float]] = {
    Unit.MONEY: ("£m", 1e6), Unit.MONEY_PER: ("£", 1.0), Unit.SHARE: ("%", 100.0),
    Unit.POINTS: ("pp", 1.0), Unit.PERCENT: ("%", 1.0), Unit.HOURS: ("hours", 1.0),
}


def axis(m: str | Measure) -> tuple[str, float]:
    """Return an axis title for a measure and the factor its values are multiplied by on it.

    Money is plotted in £m and shares in per cent; other units as they are.
    """
    found = _measure(m)
    unit, scale = _AXES.get(found.unit, ("", 1.0))
    if not unit:
        return found.label, scale
    return (f"{found.label}, {unit}" if found.label.endswith(")") else f"{found.label} ({unit})"), scale


def describe(key: str) -> tuple[str, Formattable]:
    """Label of a metric column found in data, and what to format its values by.

    A store may hold columns this version does not catalogue (written by
    another version); they are shown under their key as plain numbers.
    """
    found = find(key)
    return (found.label, found) if found is not None else (key, Unit.NUMBER)
