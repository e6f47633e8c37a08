"""Thin a long series for plotting without losing its extremes."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

MAX_POINTS: Final = 4000
"""Points per curve a figure draws at most (a 1000-pixel-wide plot shows no more)."""

Floats = NDArray[np.float64]


def decimate(x: Floats, y: Floats, max_points: int = MAX_POINTS) -> tuple[Floats, Floats]:
    """At most ``max_points`` of the points ``(x, y)``, in their order: the first and the last
    point and, in each of ``(max_points - 2) // 2`` equal buckets, the lowest and the highest
    (NaN counts as neither; a bucket of NaN only keeps one, so the line still breaks there)."""
    if max_points < 4:
        raise ValueError(f"max_points must be >= 4, got {max_points!r}")
    n = len(y)
    if n <= max_points:
        return x, y
    buckets = (max_points - 2) // 2
    size = -(-n // buckets)
    pad = buckets * size - n
    missing = np.isnan(y)
    low = np.pad(np.where(missing, np.inf, y), (0, pad), constant_values=np.inf)
    high = np.pad(np.where(missing, -np.inf, y), (0, pad), constant_values=-np.inf)
    base = np.arange(buckets) * size
    picks = np.concatenate(
        (
            [0, n - 1],
            base + low.reshape(buckets, size).argmin(axis=1),
            base + high.reshape(buckets, size).argmax(axis=1),
        )
    )
    keep = np.unique(picks[picks < n])
    return x[keep], y[keep]
