"""Means and differences of means over replications, with t-intervals.

Replication ``r`` of every scenario in a batch runs on the same seed (common
random numbers), so where the replications of two scenarios match, their
difference is taken replication by replication (a paired interval, much
narrower than comparing two means); otherwise Welch's unequal-variance
interval is used.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["LEVEL", "Interval", "column_stats", "difference_interval", "mean_interval", "welch"]

#: Confidence level of every interval.
LEVEL = 0.95


class Interval(NamedTuple):
    """A mean (or difference of means) with its confidence interval.

    ``low`` and ``high`` are NaN where the interval is undefined (fewer than
    two values); ``df`` is the t distribution's degrees of freedom.
    """

    n: int
    mean: float
    sd: float
    low: float
    high: float
    df: float


_NAN = float("nan")


def _t_half_width(sd: np.ndarray, n: np.ndarray, df: np.ndarray, level: float) -> np.ndarray:
    """Half-widths ``t(level, df) * sd / sqrt(n)``; NaN where ``df`` is undefined."""
    sd, n, df = (np.asarray(a, dtype=float) for a in (sd, n, df))
    out = np.full(np.broadcast(sd, n, df).shape, np.nan)
    ok = (df > 0) & (n > 0) & np.isfinite(sd)
    if ok.any():
        q = stats.t.ppf(0.5 + level / 2, np.broadcast_to(df, out.shape)[ok])
        sd, n = np.broadcast_to(sd, out.shape), np.broadcast_to(n, out.shape)
        out[ok] = q * sd[ok] / np.sqrt(n[ok])
    return out


def mean_interval(values: Any, level: float = LEVEL) -> Interval:
    """Mean of ``values`` (missing values dropped) with its t-interval.

    Args:
        values: Numbers; None and NaN are ignored.
        level: Confidence level.

    Returns:
        The interval; ``low``/``high`` are NaN for fewer than two values.

    """
    x = pd.Series(values, dtype="float64").dropna().to_numpy()
    n = len(x)
    if n == 0:
        return Interval(0, _NAN, _NAN, _NAN, _NAN, _NAN)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, _NAN, _NAN, _NAN, _NAN)
    sd = float(x.std(ddof=1))
    half = float(_t_half_width(np.array(sd), np.array(n), np.array(n - 1), level))
    return Interval(n, mean, sd, mean - half, mean + half, float(n - 1))


def difference_interval(x: Any, ref: Any, paired: bool, level: float = LEVEL) -> Interval:
    """Difference ``x - ref`` with its t-interval, paired or by Welch.

    Args:
        x: Values of the scenario; for ``paired``, aligned with ``ref`` by
            position (a pair with a missing value is dropped).
        ref: Values of the reference scenario.
        paired: Difference replication by replication (common random
            numbers) rather than of the two means.
        level: Confidence level.

    Returns:
        For ``paired``, ``n`` is the number of pairs and ``sd`` the standard
        deviation of the differences; for Welch, ``n`` is the number of
        values of ``x`` and ``sd`` the standard error of the difference.

    """
    xs = pd.Series(x, dtype="float64").reset_index(drop=True)
    rs = pd.Series(ref, dtype="float64").reset_index(drop=True)
    if paired:
        if len(xs) != len(rs):
            raise ValueError("paired differences need as many values as the reference")
        return mean_interval((xs - rs).to_numpy(), level)
    xs, rs = xs.dropna(), rs.dropna()
    n1, n2 = len(xs), len(rs)
    if n1 == 0 or n2 == 0:
        return Interval(n1, _NAN, _NAN, _NAN, _NAN, _NAN)
    diff = float(xs.mean() - rs.mean())
    if n1 < 2 or n2 < 2:
        return Interval(n1, diff, _NAN, _NAN, _NAN, _NAN)
    v1, v2 = float(xs.var(ddof=1)) / n1, float(rs.var(ddof=1)) / n2
    se = math.sqrt(v1 + v2)
    if se == 0.0:  # both samples constant: the difference is exact
        return Interval(n1, diff, 0.0, diff, diff, _NAN)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return Interval(n1, diff, se, diff - half, diff + half, df)


def column_stats(x: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Per column of ``x`` (NaN = missing): n, mean, sd and the t-interval; no warnings."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(ok, x, 0.0).sum(axis=0) / n
        var = (np.where(ok, x - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
    mean = np.where(n > 0, mean, np.nan)
    sd = np.sqrt(np.where(n > 1, var, np.nan))
    half = _t_half_width(sd, n, n - 1.0, level)
    return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def welch(a: dict[str, np.ndarray], b: dict[str, np.ndarray], level: float) -> dict[str, Any]:
    """Welch differences ``a - b`` of two :func:`column_stats`, column by column."""
    n1, n2 = a["n"].astype(float), b["n"].astype(float)
    diff = a["mean"] - b["mean"]
    with np.errstate(divide="ignore", invalid="ignore"):
        v1, v2 = a["sd"] ** 2 / n1, b["sd"] ** 2 / n2
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    df = np.where(se > 0, df, np.nan)
    half = np.where(se == 0, 0.0, _t_half_width(se, np.ones_like(se), df, level))
    return {"difference": diff, "difference_ci_low": diff - half,
            "difference_ci_high": diff + half, "difference_df": df}
