"""What a strategy earned on the test windows, with honest intervals.

From the per-bar series of a strategy (``signals.positions.Ledger``, one symbol's bars after
another's, each in time order, or the bars of all symbols merged in time order):

- ``trades``: bars where the position changed; ``turnover``: ``sum |pos_i - pos_{i-1}|``;
  ``exposure``: share of bars with a position; ``hit_rate``: share of the bars with a position
  and a price move whose gross return was positive;
- ``gross_bps`` / ``net_bps``: total return in bps (sum over bars, per unit of notional);
  ``mean_bps``: mean net bps per bar with a 95 % interval ``mean +- 1.96 SE``;
- ``sharpe``: ``mean / std * sqrt(bars per year)``, the bars per year read off the data's own
  time (bars per symbol over the span of the test windows), with the interval of ``mean``
  scaled the same way;
- ``max_drawdown_bps``: the largest fall of the cumulative net return from its running peak.

``SE`` is the circular block bootstrap's (``skill_test.BlockBootstrap``): bar returns are not
independent (a position is held over many bars and labels overlap), and the bars of several
symbols move together. So the bars are resampled **in time order, all symbols together**, in
blocks of ``max(2 x bars per label horizon x symbols, n^(1/3))`` bars (two horizons of every
symbol's bars), and ``ess`` says how many independent bars the series is worth. A series
shorter than ``MIN_BLOCKS`` blocks has no honest interval: it is ``NaN`` (``Interval.known``
false) and a verdict on it says "undetermined", never yes or no. ``compare(a, b)`` is the same
interval on the per-bar difference of two strategies on the same bars (``a`` beats ``b`` when
the whole interval is above 0).

The Sharpe interval is the mean's interval over the same point estimate of the standard
deviation (a scaled mean interval, not a bootstrap of the ratio).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from data_feeds.learning_layer.skill_test import BlockBootstrap, SkillTest
from data_feeds.signals.positions import FloatArray, Ledger

BoolArray = npt.NDArray[np.bool_]
YEAR_S: Final = 365.25 * 86_400.0
Z95: Final = 1.959964
MIN_BLOCKS: Final = 10
"""Fewest blocks a series must span for its interval to count (the promotion gate's rule)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean with its block-bootstrap 95 % interval and effective sample size."""

    mean: float
    low: float
    high: float
    se: float
    ess: float
    block: int

    n: int = 0

    @classmethod
    def of(cls, test: SkillTest, *, enough: bool = True) -> Interval:
        """The 95 % interval of ``test``; NaN bounds when the series spans too few blocks."""
        if not enough or not math.isfinite(test.se):
            nan = math.nan
            return cls(test.mean, nan, nan, nan, nan, test.block_length, test.n)
        half = Z95 * test.se
        return cls(test.mean, test.mean - half, test.mean + half, test.se, test.ess,
                   test.block_length, test.n)  # fmt: skip

    @property
    def known(self) -> bool:
        """Whether the series spanned enough blocks for an interval."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def excludes_zero(self) -> bool:
        return self.known and (self.low > 0.0 or self.high < 0.0)

    def text(self, digits: int = 3) -> str:
        return f"[{self.low:.{digits}g}, {self.high:.{digits}g}]"


@dataclass(frozen=True, slots=True)
class Performance:
    """One strategy's figures on a set of bars (see the module doc)."""

    bars: int
    trades: int
    turnover: float
    exposure: float
    hit_rate: float | None
    gross_bps: float
    cost_bps: float
    net_bps: float
    mean_bps: Interval
    sharpe: float | None
    sharpe_low: float | None
    sharpe_high: float | None
    max_drawdown_bps: float
    pnl: float
    """Net profit in quote currency of one unit per symbol (``Ledger.pnl`` summed)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def max_drawdown(net_bps: FloatArray) -> float:
    """The largest fall of ``cumsum(net_bps)`` from its running peak (>= 0; the peak starts
    at 0, before the first bar)."""
    if net_bps.size == 0:
        return 0.0
    equity = np.concatenate(([0.0], np.cumsum(net_bps)))
    return float(np.max(np.maximum.accumulate(equity) - equity))


class Scorer:
    """Turns ledgers into ``Performance`` (see the module doc).

    ``bars_per_horizon``: bars in one label horizon (the block is twice that, at least);
    ``span_s``: the time the bars cover (for the annualisation); the symbols are counted on
    the bars scored.
    """

    def __init__(
        self,
        *,
        bars_per_horizon: int,
        span_s: float,
        n_boot: int = 2000,
        seed: int = 0,
    ) -> None:
        if bars_per_horizon < 1:
            raise ValueError(f"bars_per_horizon must be >= 1, got {bars_per_horizon!r}")
        self.bars_per_horizon = bars_per_horizon
        self.span_s = span_s
        self.bootstrap = BlockBootstrap(n_boot=n_boot, seed=seed)

    def block(self, n: int, symbols: int = 1) -> int:
        """Bars per block: two horizons of every symbol's bars, at least ``n^(1/3)``."""
        return int(max(2 * self.bars_per_horizon * max(1, symbols), math.ceil(n ** (1 / 3)), 1))

    def interval(self, series: FloatArray, symbols: int = 1) -> Interval:
        """The interval of the mean of ``series`` (bars in time order, ``symbols`` of them
        interleaved)."""
        n = int(series.size)
        b = self.block(n, symbols)
        test = self.bootstrap.test(series.tolist(), b)
        return Interval.of(test, enough=n >= MIN_BLOCKS * b)

    def score(self, bars: Bars, mask: BoolArray | None = None) -> Performance:
        """The figures of ``bars`` (only where ``mask`` is true, when given)."""
        if mask is not None:
            bars = bars.where(mask)
        symbols = int(np.unique(bars.symbols).size) or 1
        net, gross, positions, turnover = (
            bars.net_bps,
            bars.gross_bps,
            bars.positions,
            bars.turnover,
        )
        n = int(net.size)
        exposed = positions != 0.0
        moved = exposed & (gross != 0.0)
        mean = self.interval(net[bars.time_order()], symbols)
        sharpe = low = high = None
        std = float(np.std(net, ddof=1)) if n > 1 else 0.0
        if std > 0.0 and self.span_s > 0.0:
            scale = math.sqrt(n / symbols / (self.span_s / YEAR_S)) / std
            sharpe, low, high = mean.mean * scale, mean.low * scale, mean.high * scale
        return Performance(
            bars=n,
            trades=int(np.count_nonzero(turnover)),
            turnover=float(np.sum(turnover)),
            exposure=float(np.mean(exposed)) if n else 0.0,
            hit_rate=float(np.mean(gross[moved] > 0.0)) if np.any(moved) else None,
            gross_bps=float(np.sum(gross)),
            cost_bps=float(np.sum(bars.cost_bps)),
            net_bps=float(np.sum(net)),
            mean_bps=mean,
            sharpe=sharpe,
            sharpe_low=low,
            sharpe_high=high,
            max_drawdown_bps=max_drawdown(net),
            pnl=float(np.sum(bars.pnl)),
        )

    def compare(self, a: Bars, b: Bars, mask: BoolArray | None = None) -> Interval:
        """The interval of the mean per-bar net difference ``a - b`` on the same bars."""
        if mask is not None:
            a, b = a.where(mask), b.where(mask)
        diff = a.net_bps - b.net_bps
        return self.interval(diff[a.time_order()], int(np.unique(a.symbols).size) or 1)


@dataclass(frozen=True, slots=True)
class Bars:
    """A strategy's bars: the ledgers of its symbols one after another, with each bar's
    symbol and time (the ``where`` of a mask keeps a part: a symbol, a fold)."""

    times: FloatArray
    symbols: npt.NDArray[np.str_]
    positions: FloatArray
    turnover: FloatArray
    gross_bps: FloatArray
    cost_bps: FloatArray
    net_bps: FloatArray
    pnl: FloatArray
    """Per bar, ``gross_i - cost_i`` in quote currency (one unit)."""

    @classmethod
    def join(cls, ledgers: Sequence[tuple[str, FloatArray, Ledger]]) -> Bars:
        """Bars of ``(symbol, times, ledger)`` parts, in the order given."""
        parts = list(ledgers)
        return cls(
            times=_cat([t for _, t, _ in parts]),
            symbols=np.concatenate([np.full(len(x), s) for s, _, x in parts])
            if parts
            else np.zeros(0, dtype=str),
            positions=_cat([x.positions for *_, x in parts]),
            turnover=_cat([x.turnover for *_, x in parts]),
            gross_bps=_cat([x.gross_bps for *_, x in parts]),
            cost_bps=_cat([x.cost_bps for *_, x in parts]),
            net_bps=_cat([x.net_bps for *_, x in parts]),
            pnl=_cat([x.gross - x.cost_bps * x.prices / 1e4 for *_, x in parts]),
        )

    def where(self, mask: BoolArray) -> Bars:
        return Bars(*(getattr(self, f)[mask] for f in _BAR_FIELDS))

    def time_order(self) -> npt.NDArray[np.intp]:
        """Indices of the bars in time order (the symbols interleaved; stable)."""
        return np.argsort(self.times, kind="stable")

    def equity(self) -> tuple[FloatArray, FloatArray]:
        """``(times, cumulative net bps)`` over all bars in time order, summed over the
        symbols (one unit of each): it ends at the table's ``net_bps``."""
        order = self.time_order()
        return self.times[order], np.cumsum(self.net_bps[order])


_BAR_FIELDS: Final = ("times", "symbols", "positions", "turnover", "gross_bps", "cost_bps",
                      "net_bps", "pnl")  # fmt: skip


def _cat(parts: Sequence[FloatArray]) -> FloatArray:
    return np.concatenate(parts) if parts else np.zeros(0)
