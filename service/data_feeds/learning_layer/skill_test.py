"""A paired skill test that holds when labels overlap: the circular block bootstrap.

The rows of a holdout are not independent when the label horizon is longer than the spacing of
the rows: the moves of two rows less than one horizon apart share part of their path, so their
losses (and the loss differences between two models) are autocorrelated over about one
horizon. The naive standard error ``stdev(d) / sqrt(n)`` then understates the error of
``mean(d)`` by about ``sqrt(rows per horizon)``, and a model without skill "wins" on noise.

``BlockBootstrap.test(d, block_length)`` resamples the per-row differences ``d_i`` (reference
loss - challenger loss, positive: the challenger is better) in circular blocks of
``b = block_length`` consecutive rows: a replicate joins ``k = ceil(n / b)`` blocks whose starts
are drawn uniformly from ``0 .. n - 1`` (a block running past the end wraps to the start), and
its mean is ``m* = sum(block sums) / (k b)``. Over ``B`` replicates,

    SE = std(m*) * sqrt(k b / n)          (the standard error of a mean of n rows)

which estimates ``sqrt(sigma_LR^2 / n)`` with the long-run variance
``sigma_LR^2 = sum_{|j| < b} (1 - |j| / b) gamma_j`` (``gamma_j``: lag-``j`` autocovariance of
``d``; Künsch 1989, Politis & Romano 1992): autocorrelation shorter than a block is counted,
longer is not. The statistic is ``z = mean(d) / SE`` and the effective sample size is
``ESS = var(d) / SE^2`` (``n`` for independent rows, about ``n / rows per horizon`` for
overlapping ones).

``rows_per_horizon(timestamps, horizon_s)`` gives the horizon in rows from the data: the median,
over the rows, of how many rows (of any symbol: rows of several symbols interleave, and a block
spans the interleaved order) have a timestamp in ``[t_i, t_i + horizon_s)``.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def rows_per_horizon(timestamps: Sequence[float], horizon_s: float) -> int:
    """Median number of rows whose timestamp falls in ``[t_i, t_i + horizon_s)`` (>= 1).

    ``timestamps`` must be sorted (a dataset's are).
    """
    if not (math.isfinite(horizon_s) and horizon_s > 0.0):
        raise ValueError(f"horizon_s must be a finite number > 0, got {horizon_s!r}")
    if not timestamps:
        return 1
    ends = (bisect.bisect_left(timestamps, t + horizon_s, lo=i) for i, t in enumerate(timestamps))
    counts = [end - i for i, end in enumerate(ends)]
    return max(1, round(statistics.median(counts)))


@dataclass(frozen=True, slots=True)
class SkillTest:
    """The outcome of one paired test on per-row differences ``d`` (see the module doc)."""

    n: int
    mean: float
    """``mean(d)``: mean loss reduction per row (positive: the challenger is better)."""
    se: float
    """Block-bootstrap standard error of ``mean``."""
    naive_se: float
    """``stdev(d) / sqrt(n)``, what the rows would give if they were independent."""
    z: float
    """``mean / se``."""
    ess: float
    """Effective sample size ``var(d) / se^2``."""
    block_length: int
    n_boot: int


class BlockBootstrap:
    """Circular block bootstrap of the mean of per-row differences (see the module doc).

    ``n_boot``: replicates ``B``; ``seed``: the generator's seed (the same inputs and seed give
    the same standard error).
    """

    def __init__(self, *, n_boot: int = 2000, seed: int = 0) -> None:
        if n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {n_boot!r}")
        self.n_boot = n_boot
        self.seed = seed

    def test(self, diffs: Sequence[float], block_length: int) -> SkillTest:
        """Mean, block-bootstrap standard error, ``z`` and ``ESS`` of ``diffs`` (in row order)."""
        if block_length < 1:
            raise ValueError(f"block_length must be >= 1, got {block_length!r}")
        d = np.asarray(diffs, dtype=float)
        n = int(d.size)
        if n < 2:
            nan = math.nan
            mean = float(d.mean()) if n else nan
            return SkillTest(n, mean, math.inf, math.inf, nan, float(n), block_length, 0)
        b = min(block_length, n)
        mean = float(d.mean())
        var = float(d.var(ddof=1))
        k = -(-n // b)
        # Sums of the n circular blocks of length b, from prefix sums of d wrapped once.
        prefix = np.concatenate(([0.0], np.cumsum(np.concatenate((d, d[: b - 1])))))
        block_sums = prefix[b : b + n] - prefix[:n]
        rng = np.random.default_rng(self.seed)
        starts = rng.integers(0, n, size=(self.n_boot, k))
        means = block_sums[starts].sum(axis=1) / (k * b)
        se = float(means.std(ddof=1)) * math.sqrt(k * b / n)
        naive = math.sqrt(var / n)
        if se > 0.0:
            z, ess = mean / se, var / (se * se)
        else:  # constant differences: no noise at all
            z = math.copysign(math.inf, mean) if mean else 0.0
            ess = float(n)
        return SkillTest(n, mean, se, naive, z, ess, b, self.n_boot)
