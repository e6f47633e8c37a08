"""Momentum oscillators: RSI and MACD, both exactly as TA-Lib computes them."""

from __future__ import annotations


class RSI:
    """Relative Strength Index with Wilder smoothing (TA-Lib ``RSI``).

    Seeded with the plain mean of the first ``period`` gains and losses, so the first value
    comes with the ``period + 1``-th price; then ``avg = (avg * (period - 1) + x) / period``.
    When the average gain and loss are both exactly zero (a perfectly flat start) the value is
    50 (neutral), where TA-Lib returns 0.
    """

    __slots__ = ("_count", "_gain", "_loss", "_prev", "period", "value")

    period: int
    value: float | None

    def __init__(self, period: int = 14) -> None:
        if period < 2:
            raise ValueError(f"period must be >= 2, got {period}")
        self.period = period
        self.value = None
        self._prev: float | None = None
        self._gain = 0.0
        self._loss = 0.0
        self._count = 0

    def update(self, price: float) -> None:
        """Fold one price into the oscillator."""
        prev = self._prev
        self._prev = price
        if prev is None:
            return
        change = price - prev
        period = self.period
        if self.value is not None:
            gain = self._gain * (period - 1)
            loss = self._loss * (period - 1)
            if change < 0.0:
                loss -= change
            else:
                gain += change
            gain /= period
            loss /= period
        else:
            if change < 0.0:
                self._loss -= change
            else:
                self._gain += change
            self._count += 1
            if self._count < period:
                return
            gain = self._gain / period
            loss = self._loss / period
        self._gain = gain
        self._loss = loss
        total = gain + loss
        self.value = 100.0 * (gain / total) if total != 0.0 else 50.0


class MACD:
    """Moving Average Convergence/Divergence (TA-Lib ``MACD``).

    ``value`` is ``(macd, signal, histogram)`` where ``macd = EMA_fast - EMA_slow``,
    ``signal = EMA_signal(macd)`` and ``histogram = macd - signal``.

    TA-Lib alignment, matched here: both EMAs start on the same price, the ``slow``-th one. The
    slow EMA is seeded with the mean of the first ``slow`` prices and the fast EMA with the
    mean of the last ``fast`` of those same prices (not of the first ``fast`` prices, as a
    stand-alone fast EMA would be). The signal EMA is seeded with the mean of the first
    ``signal`` MACD values, so the first complete value comes with price number
    ``slow + signal - 1`` (34 for 12/26/9). ``macd`` alone is available from price ``slow``.
    """

    __slots__ = (
        "_count",
        "_fast_ema",
        "_fast_sum",
        "_k_fast",
        "_k_signal",
        "_k_slow",
        "_signal_count",
        "_signal_sum",
        "_slow_ema",
        "_slow_sum",
        "fast",
        "histogram",
        "macd",
        "signal",
        "signal_period",
        "slow",
    )

    fast: int
    slow: int
    signal_period: int
    macd: float | None
    signal: float | None
    histogram: float | None

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if fast < 1 or signal < 1:
            raise ValueError(f"fast and signal must be >= 1, got {fast} and {signal}")
        if slow <= fast:
            raise ValueError(f"slow must be > fast, got fast={fast} slow={slow}")
        self.fast = fast
        self.slow = slow
        self.signal_period = signal
        self._k_fast = 2.0 / (fast + 1)
        self._k_slow = 2.0 / (slow + 1)
        self._k_signal = 2.0 / (signal + 1)
        self._count = 0
        self._fast_sum = 0.0
        self._slow_sum = 0.0
        self._fast_ema = 0.0
        self._slow_ema: float | None = None
        self._signal_sum = 0.0
        self._signal_count = 0
        self.macd = None
        self.signal = None
        self.histogram = None

    @property
    def value(self) -> tuple[float, float, float] | None:
        """``(macd, signal, histogram)``, ``None`` until the signal line is warmed up."""
        if self.histogram is None or self.macd is None or self.signal is None:
            return None
        return (self.macd, self.signal, self.histogram)

    def update(self, price: float) -> None:
        """Fold one price into both EMAs and the signal line."""
        slow_ema = self._slow_ema
        if slow_ema is None:
            count = self._count + 1
            self._count = count
            self._slow_sum += price
            if count > self.slow - self.fast:
                self._fast_sum += price
            if count < self.slow:
                return
            slow_ema = self._slow_sum / self.slow
            fast_ema = self._fast_sum / self.fast
        else:
            slow_ema = (price - slow_ema) * self._k_slow + slow_ema
            fast_ema = (price - self._fast_ema) * self._k_fast + self._fast_ema
        self._slow_ema = slow_ema
        self._fast_ema = fast_ema
        macd = fast_ema - slow_ema
        self.macd = macd
        signal = self.signal
        if signal is None:
            self._signal_sum += macd
            self._signal_count += 1
            if self._signal_count < self.signal_period:
                return
            signal = self._signal_sum / self.signal_period
        else:
            signal = (macd - signal) * self._k_signal + signal
        self.signal = signal
        self.histogram = macd - signal
