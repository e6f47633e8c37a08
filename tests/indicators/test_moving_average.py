"""SMA and EMA: warm-up, values, validation and the numerics of the running sum."""

from __future__ import annotations

from math import fsum

import numpy as np
import pytest

from data_feeds.indicators import EMA, SMA
from data_feeds.indicators.base import RECOMPUTE_EVERY


def test_sma_is_none_until_period_then_the_window_mean() -> None:
    """SMA has no value before `period` prices, then the mean of the last `period`."""
    sma = SMA(3)
    for price in (1.0, 2.0):
        sma.update(price)
        assert sma.value is None
    sma.update(6.0)
    assert sma.value == 3.0
    sma.update(10.0)
    assert sma.value == 6.0


def test_ema_is_seeded_with_the_sma_then_smooths_with_k() -> None:
    """EMA's first value is the SMA of the first period, then ema += (p - ema) * 2/(n+1)."""
    ema = EMA(3)
    for price in (1.0, 2.0):
        ema.update(price)
        assert ema.value is None
    ema.update(6.0)
    assert ema.value == 3.0
    ema.update(11.0)
    assert ema.value == 3.0 + (11.0 - 3.0) * 0.5


@pytest.mark.parametrize("cls", [SMA, EMA])
def test_period_must_be_positive(cls: type[SMA] | type[EMA]) -> None:
    """A period below 1 is refused at construction."""
    with pytest.raises(ValueError, match="period"):
        cls(0)


def test_sma_running_sum_does_not_drift_over_a_long_series() -> None:
    """Over 300k prices the SMA stays within 1e-12 relative of the exact window mean."""
    rng = np.random.default_rng(7)
    prices = (50_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, 300_000)))).tolist()
    period = 50
    sma = SMA(period)
    worst = 0.0
    for i, price in enumerate(prices):
        sma.update(price)
        if i % 997 == 0 and sma.value is not None:
            exact = fsum(prices[i - period + 1 : i + 1]) / period
            worst = max(worst, abs(sma.value - exact) / exact)
    assert worst < 1e-12


def test_sma_recovers_exactness_after_huge_prices_leave_the_window() -> None:
    """Residue of a 1e9 regime is gone from the SMA of 1e-3 prices after the exact recompute."""
    period = 10
    sma = SMA(period)
    for _ in range(500):
        sma.update(1e9 + 0.123)
    small = [1e-3 * (1.0 + 0.01 * (i % 7)) for i in range(2 * RECOMPUTE_EVERY)]
    for price in small:
        sma.update(price)
    assert sma.value is not None
    exact = fsum(small[-period:]) / period
    assert abs(sma.value - exact) <= 1e-12 * exact
    # A plain running sum keeps the 1e9 regime's rounding residue (about 1e-7) for ever.
    window = [1e9 + 0.123] * period
    naive = fsum(window)
    for i, price in enumerate(small):
        naive += price - window[i % period]
        window[i % period] = price
    assert abs(naive / period - exact) > 1e-9 * exact
