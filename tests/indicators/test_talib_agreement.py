"""SMA, EMA, RSI, MACD, BBANDS and ATR against TA-Lib, value by value.

Tolerance: price-valued outputs (averages, bands, MACD lines, ATR) must agree within
``1e-9 * mean(|close|)`` of the series, i.e. 1e-9 relative to its price level (prices run from
1e-5 to 1e5 here, so an absolute bound would mean nothing); RSI, in points on a 0-100 scale,
within 1e-9 points. Every comparison also requires both to emit their first value on the same
observation and neither to emit a NaN afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import pytest
import talib

from data_feeds.indicators import ATR, EMA, MACD, RSI, SMA, BollingerBands
from tests.indicators.series import OHLCV, RANDOM_WALK_SEEDS, REAL_SERIES, random_walk

SERIES = [f"walk{seed}" for seed in RANDOM_WALK_SEEDS] + list(REAL_SERIES)
REL_TOL = 1e-9
RSI_TOL_POINTS = 1e-9

Runner = Callable[[OHLCV], list[np.ndarray]]


@cache
def _load_cached(name: str) -> OHLCV:
    if name.startswith("walk"):
        return random_walk(int(name.removeprefix("walk")))
    return REAL_SERIES[name]()


def load(name: str) -> OHLCV:
    """The series called ``name`` (skips the test when its shared data is absent)."""
    return _load_cached(name)


def stream_price(make: Callable[[], object], prices: np.ndarray, outputs: int) -> list[np.ndarray]:
    """Feed ``prices`` one by one; collect each output after each update, NaN while None."""
    ind = make()
    out = np.full((outputs, len(prices)), np.nan)
    for i, price in enumerate(prices.tolist()):
        ind.update(price)  # type: ignore[attr-defined]
        value = ind.value  # type: ignore[attr-defined]
        if value is not None:
            out[:, i] = value
    return list(out)


def assert_agrees(ours: np.ndarray, ref: np.ndarray, tol: float, what: str) -> None:
    """Same first emitted index, no NaN afterwards, every value within ``tol``."""
    first_ours = int(np.argmax(~np.isnan(ours)))
    first_ref = int(np.argmax(~np.isnan(ref)))
    assert not np.isnan(ref[first_ref]), f"{what}: TA-Lib emitted nothing"
    assert first_ours == first_ref, f"{what}: first value at {first_ours}, TA-Lib at {first_ref}"
    assert not np.isnan(ours[first_ours:]).any(), f"{what}: None after warm-up"
    diff = np.abs(ours[first_ours:] - ref[first_ref:])
    worst = int(np.argmax(diff))
    assert diff[worst] <= tol, (
        f"{what}: |ours - talib| = {diff[worst]:.3g} > {tol:.3g} at {first_ours + worst} "
        f"(ours {ours[first_ours + worst]!r}, talib {ref[first_ref + worst]!r})"
    )


def check(
    name: str,
    ours: Sequence[np.ndarray],
    refs: Sequence[np.ndarray],
    tol: float,
) -> None:
    for i, (o, r) in enumerate(zip(ours, refs, strict=True)):
        assert_agrees(o, r, tol, f"{name}[{i}]")


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("period", [2, 20, 50])
def test_sma_matches_talib(series: str, period: int) -> None:
    """SMA equals TA-Lib's SMA from its first value on."""
    s = load(series)
    ours = stream_price(lambda: SMA(period), s.close, 1)
    check("SMA", ours, [talib.SMA(s.close, period)], REL_TOL * s.scale)


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("period", [2, 12, 50])
def test_ema_matches_talib(series: str, period: int) -> None:
    """EMA, seeded with the SMA of its first period, equals TA-Lib's EMA."""
    s = load(series)
    ours = stream_price(lambda: EMA(period), s.close, 1)
    check("EMA", ours, [talib.EMA(s.close, period)], REL_TOL * s.scale)


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_matches_talib(series: str, period: int) -> None:
    """RSI with Wilder smoothing equals TA-Lib's RSI, in RSI points."""
    s = load(series)
    ours = stream_price(lambda: RSI(period), s.close, 1)
    check("RSI", ours, [talib.RSI(s.close, period)], RSI_TOL_POINTS)


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 4, 1)])
def test_macd_matches_talib(series: str, fast: int, slow: int, signal: int) -> None:
    """MACD line, signal and histogram equal TA-Lib's MACD, seed alignment included."""
    s = load(series)
    ours = stream_price(lambda: MACD(fast, slow, signal), s.close, 3)
    refs = talib.MACD(s.close, fast, slow, signal)
    check("MACD", ours, refs, REL_TOL * s.scale)


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (5, 1.0), (50, 2.5)])
def test_bbands_match_talib(series: str, period: int, k: float) -> None:
    """Bollinger Bands (SMA middle, population deviation) equal TA-Lib's BBANDS."""
    s = load(series)
    ours = stream_price(lambda: BollingerBands(period, k), s.close, 3)
    upper, middle, lower = talib.BBANDS(s.close, period, k, k)
    check("BBANDS", ours, [lower, middle, upper], REL_TOL * s.scale)


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("period", [2, 14, 30])
def test_atr_matches_talib(series: str, period: int) -> None:
    """ATR over (high, low, close) bars equals TA-Lib's ATR, first value at bar `period`."""
    s = load(series)
    atr = ATR(period)
    ours = np.full(len(s.close), np.nan)
    for i, (high, low, close) in enumerate(
        zip(s.high.tolist(), s.low.tolist(), s.close.tolist(), strict=True)
    ):
        atr.update(high, low, close)
        if atr.value is not None:
            ours[i] = atr.value
    check("ATR", [ours], [talib.ATR(s.high, s.low, s.close, period)], REL_TOL * s.scale)


def test_long_series_does_not_drift_from_talib() -> None:
    """Over 200k observations SMA and BBANDS stay within tolerance of TA-Lib to the end."""
    rng = np.random.default_rng(42)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, 200_000)))
    scale = float(np.mean(close))
    check("SMA", stream_price(lambda: SMA(20), close, 1), [talib.SMA(close, 20)], REL_TOL * scale)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0)
    ours = stream_price(lambda: BollingerBands(20, 2.0), close, 3)
    check("BBANDS", ours, [lower, middle, upper], REL_TOL * scale)
