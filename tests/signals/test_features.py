"""features(): the model's input dict, always the same keys, neutral zeros until warm."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from data_feeds.indicators import IndicatorConfig, Indicators
from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
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


def reference_features(ind: Indicators) -> dict[str, float]:
    """features() written the plain way: one None-checked expression per feature, in order.

    The arithmetic of each feature is spelled as the service spells it, so the optimized
    features() must agree to the bit.
    """
    price = ind.price
    prices = list(ind.prices)

    def log_return(lag: int) -> float:
        if price is None or len(prices) <= lag:
            return 0.0
        return math.log(price / prices[-1 - lag])

    def dist(x: float | None) -> float:
        return 0.0 if price is None or x is None else price / x - 1.0

    def per_price(x: float | None) -> float:
        return 0.0 if price is None or x is None else x / price

    def or_zero(x: float | None) -> float:
        return 0.0 if x is None else x

    bands = ind.bbands
    upper, lower, middle = bands.upper, bands.lower, bands.middle
    bands_warm = price is not None and None not in (upper, lower, middle)
    out: dict[str, float] = {f"log_return_{lag}": log_return(lag) for lag in RETURN_LAGS}
    out["rsi_centered"] = 0.0 if ind.rsi.value is None else ind.rsi.value * 0.02 - 1.0
    out["macd_hist_rel"] = per_price(ind.macd.histogram)
    out["ema_fast_dist"] = dist(ind.ema_fast.value)
    out["ema_slow_dist"] = dist(ind.ema_slow.value)
    out["vwap_dist"] = dist(ind.vwap.value)
    if bands_warm:
        assert price is not None and upper is not None and lower is not None
        assert middle is not None
        out["bb_upper_dist"] = (price - upper) / price
        out["bb_lower_dist"] = (price - lower) / price
        out["bb_width"] = (upper - lower) / middle
    else:
        out["bb_upper_dist"] = out["bb_lower_dist"] = out["bb_width"] = 0.0
    out["volatility"] = or_zero(ind.volatility.value)
    out["atr_rel"] = per_price(ind.atr.value)
    out["volume_zscore"] = or_zero(ind.volume_zscore.value)
    out["spread_bps"] = or_zero(ind.spread_bps)
    out["book_imbalance"] = or_zero(ind.book.imbalance)
    out["slippage_bps"] = or_zero(ind.book.slippage_bps)
    out["trade_flow_imbalance"] = or_zero(ind.trade_flow.value)
    out["sentiment"] = or_zero(ind.sentiment_now())
    clocks = list(ind.clocks)
    span_60 = clocks[-1] - clocks[-61] if len(clocks) > 60 else 0.0
    out["return_per_hour"] = out["log_return_60"] * 3600.0 / span_60 if span_60 > 0.0 else 0.0
    vol = ind.volatility
    squares = vol.sum_of_squares
    span = clocks[-1] - clocks[-vol.window - 1] if len(clocks) > vol.window else 0.0
    out["volatility_per_hour"] = (
        math.sqrt(squares * 3600.0 / span) if squares is not None and span > 0.0 else 0.0
    )
    return out


def mixed_records(n: int, seed: int) -> list[Record]:
    """Ticks (some quoted, some late, some without volume, a flat stretch, a UTC day boundary
    with a volume-less first tick) among trades, book snapshots and deltas, and sentiment."""
    rng = np.random.default_rng(seed)
    day = 86_400.0
    ts = (T0 // day + 1) * day - 0.6 * n  # the day turns over mid-stream
    price = 250.0
    out: list[Record] = []
    for i in range(n):
        ts += float(rng.uniform(0.2, 2.0))
        if not n // 3 <= i < n // 3 + 80:  # a flat stretch longer than every window
            price *= math.exp(float(rng.normal(0.0, 0.002)))
        volume = 0.0 if rng.uniform() < 0.05 else float(rng.lognormal(0.0, 1.0))
        stamp = ts - float(rng.uniform(0.0, 120.0)) if rng.uniform() < 0.02 else ts
        if (stamp // day) != ((stamp - 2.0) // day):
            volume = 0.0  # a volume-less tick right after midnight: VWAP has no value yet
        if rng.uniform() < 0.3:
            out.append(Tick("ETHUSDT", price, volume, stamp, bid=price - 0.01, ask=price + 0.01))
        else:
            out.append(Tick("ETHUSDT", price, volume, stamp))
        u = rng.uniform()
        if u < 0.15:
            side = "buy" if rng.uniform() < 0.5 else "sell"
            out.append(Trade("ETHUSDT", price, float(rng.lognormal(0.0, 1.0)), side, ts))
        elif u < 0.18:
            bids = ((price - 0.02, float(rng.uniform(0.5, 3.0))), (price - 0.05, 4.0))
            asks = ((price + 0.02, float(rng.uniform(0.5, 3.0))), (price + 0.06, 5.0))
            out.append(BookSnapshot("ETHUSDT", ts, bids, asks))
        elif u < 0.20:
            out.append(BookDelta("ETHUSDT", ts, ((price - 0.03, float(rng.uniform())),), ()))
        elif u < 0.21:
            out.append(Sentiment("ETH", float(rng.uniform(-1.0, 1.0)), ts))
    return out


@pytest.mark.parametrize(
    "config",
    [
        IndicatorConfig(bar_s=10.0),
        IndicatorConfig(bar_s=30.0, atr_period=3, vwap_anchor=None, volume_window=90),
        IndicatorConfig(price_history=40, ema_slow_period=70, rsi_period=5),  # no 60-tick return
    ],
    ids=["default-windows", "long-volume-window", "short-history"],
)
def test_features_equal_a_straightforward_reference_to_the_bit(config: IndicatorConfig) -> None:
    """Over thousands of mixed records (warm-up, day turnover, flat stretch, books, trades,
    sentiment, a pickle round trip midway), features() is bit-identical to the plain version."""
    ind = Indicators("ETHUSDT", config)
    records = mixed_records(4000, seed=12)
    for i, record in enumerate(records):
        ind.update(record)
        if i == len(records) // 2:
            ind = pickle.loads(pickle.dumps(ind))
        out = features(ind)
        expected = reference_features(ind)
        assert tuple(out) == FEATURE_NAMES
        assert [v.hex() for v in out.values()] == [v.hex() for v in expected.values()], i
    assert ind.atr.value is not None and ind.vwap.value is not None


def walk(n: int, step_s: float, sigma_per_hour: float, calendar: str, seed: int) -> Indicators:
    """Indicators after ``n`` ticks of a random walk sampled every ``step_s`` seconds of open
    time on ``calendar`` (its closed hours skipped), with volatility ``sigma_per_hour`` per
    square root of an open hour."""
    from data_feeds.calendars import calendar as get  # noqa: PLC0415

    cal = get(calendar)
    rng = np.random.default_rng(seed)
    ind = Indicators("SPY", IndicatorConfig(), cal)
    t, price = 1_704_205_800.0, 100.0  # Tuesday 2 January 2024, 14:30 UTC: the NYSE opens
    sigma = sigma_per_hour * math.sqrt(step_s / 3600.0)
    for _ in range(n):
        t += step_s
        while not cal.is_open(t - step_s / 2):
            t += step_s
        price *= math.exp(float(rng.normal(0.0, sigma)))
        ind.update(Tick("SPY", price, 1.0, t, "equity"))
    return ind


def test_volatility_per_open_hour_does_not_depend_on_sampling_or_market_hours() -> None:
    """The same volatility per open hour, sampled every minute around the clock or every
    5 minutes of NYSE hours over nights and weekends: volatility_per_hour reads about the
    same (its window holds 60 returns: within 35 % of the truth), while the per-tick
    volatility differs by the square root of the sampling ratio."""
    truth = 0.01
    readings = {}
    for name, step, cal in (("minute-24/7", 60.0, "24/7"), ("5min-nyse", 300.0, "XNYS")):
        values = []
        for seed in range(20):
            ind = walk(400, step, truth, cal, seed)
            values.append(features(ind))
        readings[name] = (
            float(np.mean([v["volatility_per_hour"] for v in values])),
            float(np.mean([v["volatility"] for v in values])),
        )
    for per_hour, _ in readings.values():
        assert abs(per_hour / truth - 1.0) < 0.35
    ratio = readings["5min-nyse"][1] / readings["minute-24/7"][1]
    assert abs(ratio / math.sqrt(5.0) - 1.0) < 0.35


def test_ticks_while_the_market_is_closed_do_not_blow_up_the_per_hour_features() -> None:
    """Quotes on a Sunday afternoon, before the FX week opens, then a move at the open: the
    ticks show the feed trading, so their wall time counts, and the move is not divided by the
    one open second since the open (which read 17.96 an hour before this test was written)."""
    from datetime import datetime  # noqa: PLC0415
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from data_feeds.calendars import calendar  # noqa: PLC0415

    new_york = ZoneInfo("America/New_York")
    ind = Indicators("EURUSD", IndicatorConfig(), calendar("fx"))
    t = datetime(2024, 1, 7, 15, 50, tzinfo=new_york).timestamp()
    for i in range(69):
        ind.update(Tick("EURUSD", 1.08 * (1 + 1e-5 * (i % 3)), 1.0, t + i * 8, "fx"))
    opened = datetime(2024, 1, 7, 17, 0, 1, tzinfo=new_york).timestamp()
    ind.update(Tick("EURUSD", 1.08 * 1.005, 1.0, opened, "fx"))
    out = features(ind)
    span_h = (ind.clocks[-1] - ind.clocks[-61]) / 3600.0
    assert span_h > 0.1  # the Sunday quotes' wall time, not one second
    assert out["return_per_hour"] == pytest.approx(out["log_return_60"] / span_h)
    assert abs(out["return_per_hour"]) < 0.1
