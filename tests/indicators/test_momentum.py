"""RSI and MACD conventions beyond the value-by-value TA-Lib comparison."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from data_feeds.indicators import EMA, MACD, RSI


def test_rsi_first_value_comes_with_period_plus_one_prices() -> None:
    """RSI(3) needs 3 changes: None for 3 prices, then 100 * avg gain / (avg gain + avg loss)."""
    rsi = RSI(3)
    for price in (10.0, 11.0, 10.5):
        rsi.update(price)
        assert rsi.value is None
    rsi.update(12.0)
    gain, loss = (1.0 + 1.5) / 3, 0.5 / 3
    assert rsi.value == pytest.approx(100.0 * gain / (gain + loss), rel=1e-15)


def test_rsi_only_rising_is_100_only_falling_is_0() -> None:
    """A series that only rises has RSI 100; one that only falls has RSI 0."""
    up, down = RSI(5), RSI(5)
    for i in range(20):
        up.update(100.0 + i)
        down.update(100.0 - i)
    assert (up.value, down.value) == (100.0, 0.0)


def test_rsi_of_a_flat_start_is_neutral_where_talib_says_zero() -> None:
    """A perfectly flat start gives RSI 50 (TA-Lib returns 0, a documented difference)."""
    prices = np.full(20, 42.0)
    rsi = RSI(14)
    for price in prices.tolist():
        rsi.update(price)
    assert rsi.value == 50.0
    assert talib.RSI(prices, 14)[-1] == 0.0


def test_macd_fast_ema_is_seeded_on_the_slow_emas_first_price() -> None:
    """MACD's fast EMA starts at price `slow`, seeded with the mean of its last `fast` prices."""
    rng = np.random.default_rng(11)
    prices = (100.0 + np.cumsum(rng.normal(0.0, 1.0, 60))).tolist()
    fast, slow, signal = 3, 6, 2
    macd = MACD(fast, slow, signal)
    lines = []
    for price in prices:
        macd.update(price)
        lines.append(macd.macd)
    assert lines[slow - 2] is None
    # By hand, TA-Lib's way: both EMAs begin at index slow - 1.
    fast_ema = sum(prices[slow - fast : slow]) / fast
    slow_ema = sum(prices[:slow]) / slow
    expected = [fast_ema - slow_ema]
    for price in prices[slow:]:
        fast_ema = (price - fast_ema) * (2.0 / (fast + 1)) + fast_ema
        slow_ema = (price - slow_ema) * (2.0 / (slow + 1)) + slow_ema
        expected.append(fast_ema - slow_ema)
    assert lines[slow - 1 :] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # ...which is not what two independent EMAs give.
    independent_fast, independent_slow = EMA(fast), EMA(slow)
    for price in prices[:slow]:
        independent_fast.update(price)
        independent_slow.update(price)
    assert independent_fast.value is not None and independent_slow.value is not None
    naive = independent_fast.value - independent_slow.value
    assert abs(naive - expected[0]) > 1e-6


def test_macd_value_is_none_until_the_signal_line_is_warm() -> None:
    """MACD(12, 26, 9) yields (macd, signal, histogram) from the 34th price on."""
    macd = MACD()
    for i in range(33):
        macd.update(100.0 + (i % 5))
        assert macd.value is None
    macd.update(101.0)
    assert macd.value is not None
    line, signal, histogram = macd.value
    assert histogram == line - signal


@pytest.mark.parametrize(("fast", "slow", "signal"), [(26, 12, 9), (12, 12, 9), (12, 26, 0)])
def test_macd_refuses_inconsistent_periods(fast: int, slow: int, signal: int) -> None:
    """MACD needs fast < slow and a signal period of at least 1."""
    with pytest.raises(ValueError, match="must be"):
        MACD(fast, slow, signal)


def test_rsi_period_must_be_at_least_two() -> None:
    """RSI(1) is refused."""
    with pytest.raises(ValueError, match="period"):
        RSI(1)
