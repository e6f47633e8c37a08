"""Simple and exponential moving averages of a price."""

from __future__ import annotations

from math import fsum

from data_feeds.indicators.base import RECOMPUTE_EVERY


class SMA:
    """Simple moving average over the last ``period`` prices (TA-Lib ``SMA``).

    The first value comes with the ``period``-th price. The running sum is recomputed exactly
    every ``max(period, 1024)`` updates so it never drifts.
    """

    __slots__ = ("_buf", "_pos", "_sum", "_until_exact", "period", "value")

    period: int
    value: float | None

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        self.value = None
        self._buf: list[float] = []
        self._pos = 0
        self._sum = 0.0
        self._until_exact = max(period, RECOMPUTE_EVERY)

    def update(self, price: float) -> None:
        """Fold one price into the average."""
        buf = self._buf
        period = self.period
        if len(buf) < period:
            buf.append(price)
            if len(buf) == period:
                self._sum = fsum(buf)
                self.value = self._sum / period
            return
        pos = self._pos
        old = buf[pos]
        buf[pos] = price
        pos += 1
        self._pos = 0 if pos == period else pos
        self._until_exact -= 1
        if self._until_exact == 0:
            self._sum = fsum(buf)
            self._until_exact = max(period, RECOMPUTE_EVERY)
        else:
            self._sum += price - old
        self.value = self._sum / period


class EMA:
    """Exponential moving average, ``k = 2 / (period + 1)`` (TA-Lib ``EMA``).

    TA-Lib's default convention: the first value, with the ``period``-th price, is the simple
    average of the first ``period`` prices; then ``ema += (price - ema) * k``.
    """

    __slots__ = ("_count", "_seed_sum", "k", "period", "value")

    period: int
    k: float
    value: float | None

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        self.k = 2.0 / (period + 1)
        self.value = None
        self._count = 0
        self._seed_sum = 0.0

    def update(self, price: float) -> None:
        """Fold one price into the average."""
        value = self.value
        if value is not None:
            self.value = (price - value) * self.k + value
            return
        self._seed_sum += price
        self._count += 1
        if self._count == self.period:
            self.value = self._seed_sum / self.period
