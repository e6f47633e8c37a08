"""features(): the model's input dict, always the same keys, neutral zeros until warm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_feeds.indicators import IndicatorConfig, Indicators
from data_feeds.records import BookSnapshot, Sentiment, Tick, Trade
from data_feeds.signals.features import FEATURE_NAMES, RETURN_LAGS, features
from tests.indicators.series import REAL_SERIES

T0 = 1_700_000_040.0


def warm_bundle(n: int = 200, seed: int = 4) -> tuple[Indicators, list[float]]:
    rng = np.random.default_rng(seed)
    prices = (250.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))).tolist()
    ind = Indicators("ETHUSDT", IndicatorConfig(bar_s=10.0))
    for i, price in enumerate(prices):
        ind.update(Tick("ETHUSDT", price, 1.0 + (i * 7919 % 13), T0 + i))
    return ind, prices


def test_a_fresh_bundle_gives_every_feature_as_zero() -> None:
    """Before any record, the dict has exactly FEATURE_NAMES, in order, all 0.0."""
    out = features(Indicators("BTCUSDT"))
    assert tuple(out) == FEATURE_NAMES
    assert set(out.values()) == {0.0}


def test_names_are_unique_and_lags_match_the_return_features() -> None:
    """FEATURE_NAMES has no duplicate and one log-return feature per lag."""
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert [n for n in FEATURE_NAMES if n.startswith("log_return_")] == [
        f"log_return_{lag}" for lag in RETURN_LAGS
    ]


def test_partially_warm_bundle_keeps_every_key_and_zeros_the_cold_ones() -> None:
    """After 10 ticks, short lags have values, long lags and slow indicators are 0.0."""
    ind, prices = warm_bundle(n=10)
    out = features(ind)
    assert tuple(out) == FEATURE_NAMES
    assert out["log_return_1"] == math.log(prices[-1] / prices[-2])
    assert out["log_return_5"] == math.log(prices[-1] / prices[-6])
    assert out["log_return_15"] == out["log_return_60"] == 0.0
    assert out["macd_hist_rel"] == out["bb_width"] == out["volatility"] == 0.0


def test_warm_values_are_the_documented_transforms_of_the_indicators() -> None:
    """Each feature is the documented transform of its indicator's current value."""
    ind, prices = warm_bundle()
    ind.update(BookSnapshot("ETHUSDT", T0 + 200, ((99.0, 3.0),), ((101.0, 1.0),)))
    ind.update(Trade("ETHUSDT", 100.0, 3.0, "buy", T0 + 200))
    ind.update(Trade("ETHUSDT", 100.0, 1.0, "sell", T0 + 200))
    ind.update(Sentiment("ETH", -0.6, T0 + 200))
    out = features(ind)
    p = prices[-1]
    assert ind.rsi.value is not None and ind.macd.histogram is not None
    assert ind.bbands.value is not None and ind.atr.value is not None
    assert ind.ema_fast.value and ind.ema_slow.value and ind.vwap.value
    lower, middle, upper = ind.bbands.value
    expected = {
        "log_return_60": math.log(p / prices[-61]),
        "rsi_centered": (ind.rsi.value - 50.0) / 50.0,
        "macd_hist_rel": ind.macd.histogram / p,
        "ema_fast_dist": (p - ind.ema_fast.value) / ind.ema_fast.value,
        "ema_slow_dist": (p - ind.ema_slow.value) / ind.ema_slow.value,
        "vwap_dist": (p - ind.vwap.value) / ind.vwap.value,
        "bb_upper_dist": (p - upper) / p,
        "bb_lower_dist": (p - lower) / p,
        "bb_width": (upper - lower) / middle,
        "volatility": ind.volatility.value,
        "atr_rel": ind.atr.value / p,
        "volume_zscore": ind.volume_zscore.value,
        "spread_bps": 200.0,
        "book_imbalance": 0.5,
        "trade_flow_imbalance": 0.5,
        "sentiment": -0.6,
    }
    for name, value in expected.items():
        assert out[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert out["slippage_bps"] == pytest.approx(100.0, rel=1e-12)  # one level: half the spread
    assert all(v != 0.0 for v in out.values())


def test_features_over_a_real_series_are_plain_finite_floats() -> None:
    """Replaying real candles as ticks, every feature is a finite Python float."""
    s = REAL_SERIES["UNITTEST_BTC-1m"]()
    ind = Indicators("ALTBTC")
    for ts, price, volume in zip(
        s.timestamp_s.tolist(), s.close.tolist(), s.volume.tolist(), strict=True
    ):
        ind.update(Tick("ALTBTC", price, volume, ts))
        out = features(ind)
        assert tuple(out) == FEATURE_NAMES
        assert all(type(v) is float and math.isfinite(v) for v in out.values())
    assert out["atr_rel"] != 0.0 and out["log_return_60"] != 0.0
