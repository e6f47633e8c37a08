"""Threshold policies: the BUY/SELL margin a model version is served with.

- ``fixed``: the configured margin (``DATA_FEEDS_MARGIN``, default 0.05) whatever the model;
- ``calibrated``: the margin, from a grid, whose positions (``signals.positions``, the
  backtest's rule) earned the most net of ``cost_bps`` and of the stored books' spread
  or slippage (``positions.book_cost_bps``, from the rows' own features) per bar on rows
  the model never learned from (its validation holdout, served in its serving mode),
  filled as the backtest fills them (``delay`` rows after the signal, each symbol's rows on
  their own), provided that is more than 0; otherwise 0.5, which never trades (a model with
  no edge over its costs stays flat)::

      m* = argmax_{m in grid} mean_i r_i(m)          r_i(m): net bps of row i's bar
      margin = m* if mean_i r_i(m*) > 0 else 0.5

The chosen margin is recorded with the version (``ModelVersion.margin``) and the service serves
the version with it (``SignalGenerator.swap_model``), so the live signals use the threshold the
backtest and the validation measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from data_feeds.signals.positions import (
    FLAT,
    Ledger,
    check_hold,
    cost_rate,
    delayed,
    positions_from_probabilities,
)

FIXED: Final = "fixed"
CALIBRATED: Final = "calibrated"
POLICIES: Final = (FIXED, CALIBRATED)
NEVER: Final = 0.5
"""The margin that never trades: no probability is above 1 or below 0."""
GRID: Final = (0.0, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"threshold policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    return policy


@dataclass(frozen=True, slots=True)
class Threshold:
    """A chosen margin and why: ``expected_bps`` is the mean net bps per row it earned on the
    calibration rows (``None`` for ``fixed``)."""

    policy: str
    margin: float
    cost_bps: float
    expected_bps: float | None = None
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "margin": self.margin,
            "cost_bps": self.cost_bps,
            "expected_bps": self.expected_bps,
            "rows": self.rows,
        }


class ThresholdPolicy:
    """Chooses a version's margin (see the module doc). ``book_costs``: count the rows' book
    costs (the backtest's ``--no-book-costs`` turns it off); ``delay``: a position is taken
    this many rows after its signal (``positions.delayed``; the backtest's ``delay_bars``, 1
    by default, as the backtest fills), each symbol's rows on their own."""

    def __init__(
        self,
        policy: str = FIXED,
        *,
        margin: float = 0.05,
        cost_bps: float = 0.0,
        hold: str = FLAT,
        grid: Sequence[float] = GRID,
        book_costs: bool = True,
        delay: int = 1,
    ) -> None:
        self.policy = check_policy(policy)
        if not 0.0 <= margin <= NEVER:
            raise ValueError(f"margin must be in [0, 0.5], got {margin!r}")
        if not (math.isfinite(cost_bps) and cost_bps >= 0.0):
            raise ValueError(f"cost_bps must be a finite number >= 0, got {cost_bps!r}")
        if not grid or any(not 0.0 <= m < NEVER for m in grid):
            raise ValueError("the margin grid must be non-empty values in [0, 0.5)")
        self.margin = margin
        self.cost_bps = cost_bps
        self.hold = check_hold(hold)
        self.grid = tuple(sorted(grid))
        self.book_costs = book_costs
        if delay < 0:
            raise ValueError(f"delay must be >= 0 rows, got {delay!r}")
        self.delay = delay

    def choose(
        self,
        probabilities: Sequence[float],
        prices: Sequence[float],
        symbols: Sequence[str],
        book_bps: Sequence[float] | None = None,
    ) -> Threshold:
        """The margin for a model whose served P(up) on rows in time order (with their prices
        and symbols) is ``probabilities``; ``book_bps``: per row, what crossing the book cost
        there (``positions.book_cost_bps``), added to ``cost_bps``."""
        if self.policy == FIXED:
            return Threshold(FIXED, self.margin, self.cost_bps, None, len(probabilities))
        n = len(probabilities)
        if n < 2 or len(prices) != n or len(symbols) != n or (book_bps and len(book_bps) != n):
            return Threshold(CALIBRATED, NEVER, self.cost_bps, None, n)
        use_book = book_bps is not None and self.book_costs
        extra = np.asarray(book_bps, dtype=float) if use_book else np.zeros(n)
        rates = cost_rate(self.cost_bps + extra)
        p = np.asarray(probabilities, dtype=float)
        px = np.asarray(prices, dtype=float)
        groups: dict[str, list[int]] = {}
        for i, symbol in enumerate(symbols):
            groups.setdefault(symbol, []).append(i)
        best_margin, best = NEVER, 0.0
        for m in self.grid:
            net = np.zeros(n)
            for idx in groups.values():  # each symbol's rows are its own positions
                asked = positions_from_probabilities(p[idx], m, self.hold)
                net[idx] = Ledger(px[idx], delayed(asked, self.delay), rates[idx]).net_bps
            mean = float(np.mean(net))
            if mean > best:  # ties keep the smaller margin: the grid is sorted
                best_margin, best = m, mean
        expected = best if best_margin != NEVER else 0.0
        return Threshold(CALIBRATED, best_margin, self.cost_bps, expected, n)
