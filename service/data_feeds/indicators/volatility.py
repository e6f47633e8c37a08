"""Volatility: Average True Range over bars, realized volatility of log returns."""

from __future__ import annotations

from math import log, sqrt

from data_feeds.indicators.base import RollingMoments


class ATR:
    """Average True Range with Wilder smoothing (TA-Lib ``ATR``), fed one bar at a time.

    The true range needs the previous close, so the first bar yields none. The first value
    comes with bar number ``period + 1``: the mean of the ``period`` true ranges of bars 2 to
    ``period + 1``; then ``atr = (atr * (period - 1) + tr) / period``.
    """

    __slots__ = ("_count", "_prev_close", "_tr_sum", "period", "value")

    period: int
    value: float | None

    def __init__(self, period: int = 14) -> None:
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        self.value = None
        self._prev_close: float | None = None
        self._count = 0
        self._tr_sum = 0.0

    def update(self, high: float, low: float, close: float) -> None:
        """Fold one completed bar into the average."""
        prev_close = self._prev_close
        self._prev_close = close
        if prev_close is None:
            return
        true_range = high - low
        gap = abs(prev_close - high)
        true_range = max(true_range, gap)
        gap = abs(prev_close - low)
        true_range = max(true_range, gap)
        period = self.period
        value = self.value
        if value is not None:
            self.value = (value * (period - 1) + true_range) / period
            return
        self._tr_sum += true_range
        self._count += 1
        if self._count == period:
            self.value = self._tr_sum / period


class RealizedVolatility:
    """Rolling realized volatility: the sample standard deviation of the last ``window`` log
    returns ``ln(p_t / p_{t-1})``, per observation (not annualized).

    The first value comes with price number ``window + 1``. ``last_return`` is the latest log
    return (``None`` before the second price).
    """

    __slots__ = ("_moments", "_prev", "last_return", "value", "window")

    window: int
    value: float | None
    last_return: float | None

    def __init__(self, window: int = 60) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.window = window
        self.value = None
        self.last_return = None
        self._prev: float | None = None
        self._moments = RollingMoments(window)

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        slots = state[1]
        for name, value in slots.items():
            setattr(self, name, value)
        if "last_return" not in slots:  # pickled before it was kept: the window's newest
            moments = self._moments
            buf = moments._buf
            self.last_return = buf[moments._pos - 1] if moments.count else None

    @property
    def sum_of_squares(self) -> float | None:
        """``sum(r**2)`` over the window's log returns once it is full (``m2 + n * mean**2``)."""
        if self.value is None:
            return None
        moments = self._moments
        return moments.m2 + self.window * moments.mean * moments.mean

    def update(self, price: float) -> None:
        """Fold one (positive) price into the window of log returns."""
        prev = self._prev
        self._prev = price
        if prev is None:
            return
        log_return = log(price / prev)
        self.last_return = log_return
        moments = self._moments
        if moments.push(log_return):
            self.value = sqrt(moments.m2 / (self.window - 1))
