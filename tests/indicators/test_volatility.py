"""ATR by hand, and the realized volatility of log returns against a direct computation."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from data_feeds.indicators import ATR, RealizedVolatility
from tests.indicators.series import REAL_SERIES


def test_atr_seed_excludes_the_first_bar_then_smooths() -> None:
    """ATR(2): the first bar has no true range; the first value is the mean of bars 2-3."""
    bars = [(10.0, 9.0, 9.5), (10.5, 9.8, 10.2), (12.0, 10.0, 11.0), (11.5, 11.0, 11.2)]
    atr = ATR(2)
    values = []
    for bar in bars:
        atr.update(*bar)
        values.append(atr.value)
    # True ranges: bar 2 = max(0.7, |9.5-10.5|, |9.5-9.8|) = 1.0; bar 3 = 2.0; bar 4 = 0.5.
    assert values[:2] == [None, None]
    assert values[2] == pytest.approx(1.5, rel=1e-15)
    assert values[3] == pytest.approx((1.5 * 1 + 0.5) / 2, rel=1e-15)


def test_realized_volatility_is_the_sample_std_of_log_returns() -> None:
    """Volatility equals statistics.stdev of the last `window` log returns."""
    rng = np.random.default_rng(5)
    prices = (20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, 3000)))).tolist()
    window = 30
    vol = RealizedVolatility(window)
    for i, price in enumerate(prices):
        vol.update(price)
        if i < window:
            assert vol.value is None
        else:
            returns = [math.log(prices[j] / prices[j - 1]) for j in range(i - window + 1, i + 1)]
            assert vol.value == pytest.approx(statistics.stdev(returns), rel=1e-9)


def test_realized_volatility_keeps_the_latest_log_return() -> None:
    """last_return is exactly ln(p_t / p_{t-1}), None before the second price."""
    vol = RealizedVolatility(3)
    assert vol.last_return is None
    vol.update(100.0)
    assert vol.last_return is None
    for prev, price in [(100.0, 101.5), (101.5, 99.25), (99.25, 99.25), (99.25, 120.0)]:
        vol.update(price)
        assert vol.last_return == math.log(price / prev)


def test_realized_volatility_of_real_trades_matches_direct_computation() -> None:
    """On real Binance trades (with many repeated prices) the rolling std is exact to 1e-9."""
    prices = REAL_SERIES["btcusdt-trades"]().close.tolist()
    window = 50
    vol = RealizedVolatility(window)
    returns: list[float] = []
    for i, price in enumerate(prices):
        vol.update(price)
        if i:
            returns.append(math.log(price / prices[i - 1]))
        if vol.value is not None:
            expected = statistics.stdev(returns[-window:])
            assert abs(vol.value - expected) <= 1e-9 * max(expected, 1e-6)


def test_realized_volatility_of_a_flat_market_is_zero() -> None:
    """When the price has not moved over the window, volatility is exactly 0."""
    vol = RealizedVolatility(5)
    for price in [100.0, 101.0, 99.0] + [100.5] * 6:
        vol.update(price)
    assert vol.value == 0.0


@pytest.mark.parametrize("make", [lambda: ATR(0), lambda: RealizedVolatility(1)])
def test_bad_windows_are_refused(make: object) -> None:
    """ATR needs a period of 1 or more, realized volatility a window of 2 or more."""
    with pytest.raises(ValueError, match="must be"):
        make()  # type: ignore[operator]
