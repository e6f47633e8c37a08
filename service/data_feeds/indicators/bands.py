"""Bollinger Bands: a moving average with bands ``k`` standard deviations away."""

from __future__ import annotations

from math import sqrt

from data_feeds.indicators.base import RollingMoments


class BollingerBands:
    """Bollinger Bands over ``period`` prices (TA-Lib ``BBANDS`` with an SMA middle band).

    ``value`` is ``(lower, middle, upper)``; the deviation is the population standard
    deviation (divide by ``period``), as TA-Lib does. Computed with a sliding Welford update
    (see :class:`RollingMoments`), not TA-Lib's ``E[x^2] - E[x]^2``, so on flat windows the
    width is exactly or very nearly zero where TA-Lib's cancellation can leave a few 1e-8 of
    the price.
    """

    __slots__ = ("_moments", "k", "lower", "middle", "period", "upper")

    period: int
    k: float
    lower: float | None
    middle: float | None
    upper: float | None

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        if period < 2:
            raise ValueError(f"period must be >= 2, got {period}")
        if not k > 0.0:
            raise ValueError(f"k must be > 0, got {k}")
        self.period = period
        self.k = float(k)
        self._moments = RollingMoments(period)
        self.lower = None
        self.middle = None
        self.upper = None

    @property
    def value(self) -> tuple[float, float, float] | None:
        """``(lower, middle, upper)``, ``None`` until ``period`` prices were seen."""
        if self.lower is None or self.middle is None or self.upper is None:
            return None
        return (self.lower, self.middle, self.upper)

    @property
    def stddev(self) -> float | None:
        """The population standard deviation of the window."""
        if self.middle is None:
            return None
        return sqrt(self._moments.m2 / self.period)

    def update(self, price: float) -> None:
        """Fold one price into the window."""
        moments = self._moments
        if not moments.push(price):
            return
        middle = moments.mean
        width = sqrt(moments.m2 / self.period) * self.k
        self.middle = middle
        self.upper = middle + width
        self.lower = middle - width
