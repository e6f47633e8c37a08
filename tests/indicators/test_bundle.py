"""Indicators: one symbol's bundle, fed records of every kind through update()."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import talib

from data_feeds.indicators import (
    EMA,
    MACD,
    RSI,
    VWAP,
    BollingerBands,
    IndicatorConfig,
    Indicators,
    PriceIndicator,
    RealizedVolatility,
    VolumeZScore,
    base_asset,
)
from data_feeds.records import BookDelta, BookSnapshot, Sentiment, Tick, Trade

T0 = 1_700_000_040.0  # a multiple of 60 s


@pytest.mark.parametrize(
    ("symbol", "base"),
    [("BTCUSDT", "BTC"), ("ETHBTC", "ETH"), ("SOLFDUSD", "SOL"), ("EURUSD", "EUR"),
     ("AAPL", "AAPL"), ("USDT", "USDT"), ("btcusdt", "BTC")],
)  # fmt: skip
def test_base_asset_strips_the_quote_currency(symbol: str, base: str) -> None:
    """The base asset is the symbol without its known quote currency suffix."""
    assert base_asset(symbol) == base


def test_sentiment_keywords_default_to_base_asset_and_symbol() -> None:
    """By default BTC and BTCUSDT (any case) feed BTCUSDT's sentiment; ETH does not."""
    ind = Indicators("BTCUSDT")
    assert ind.keywords == frozenset({"BTC", "BTCUSDT"})
    ind.update(Sentiment("ETH", -1.0, T0))
    assert ind.sentiment_now() is None
    ind.update(Sentiment("btc", 0.5, T0))
    assert ind.sentiment_now() == 0.5
    ind.update(Sentiment("BTCUSDT", 0.3, T0))
    assert ind.sentiment_now() == pytest.approx(0.4, rel=1e-15)


def test_configured_keywords_replace_the_default() -> None:
    """With keywords configured, only those feed the symbol's sentiment."""
    ind = Indicators("BTCUSDT", IndicatorConfig(keywords=("bitcoin",)))
    ind.update(Sentiment("BTC", 1.0, T0))
    ind.update(Sentiment("Bitcoin", -0.5, T0))
    assert ind.sentiment_now() == -0.5


def test_sentiment_decays_with_the_symbols_market_clock() -> None:
    """Sentiment is valued as of the latest tick's time, so it decays while ticks flow."""
    cfg = IndicatorConfig(sentiment_half_life_s=60.0)
    ind = Indicators("BTCUSDT", cfg)
    ind.update(Sentiment("BTC", 0.8, T0))
    ind.update(Tick("BTCUSDT", 100.0, 1.0, T0 + 120.0))
    assert ind.sentiment_now() == pytest.approx(0.2, rel=1e-14)


def test_ticks_drive_the_price_indicators_like_standalone_ones() -> None:
    """After ticks, every price indicator equals a standalone one fed the same prices."""
    rng = np.random.default_rng(1)
    prices = (100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, 500)))).tolist()
    volumes = rng.lognormal(0.0, 1.0, 500).tolist()
    cfg = IndicatorConfig(vwap_anchor=None)
    ind = Indicators("ETHUSDT", cfg)
    alone: list[PriceIndicator[object]] = [
        EMA(12),
        EMA(26),
        RSI(14),
        MACD(12, 26, 9),
        BollingerBands(20, 2.0),
    ]
    vwap, vol = VWAP(), RealizedVolatility(cfg.volatility_window)
    zscore = VolumeZScore(cfg.volume_window)
    for i, (price, volume) in enumerate(zip(prices, volumes, strict=True)):
        ind.update(Tick("ETHUSDT", price, volume, T0 + i))
        for a in alone:
            a.update(price)
        vwap.update(price, volume)
        vol.update(price)
        zscore.update(volume)
        bundled: list[PriceIndicator[object]] = [ind.ema_fast, ind.ema_slow, ind.rsi, ind.macd]
        bundled.append(ind.bbands)
        assert [b.value for b in bundled] == [a.value for a in alone]
        assert (ind.vwap.value, ind.volatility.value) == (vwap.value, vol.value)
        assert (ind.volatility.last_return, ind.volume_zscore.value) == (
            vol.last_return,
            zscore.value,
        )
    assert all(a.value is not None for a in alone)
    assert ind.price == prices[-1] and ind.timestamp == T0 + 499 and ind.ticks == 500
    assert list(ind.prices) == prices[-cfg.price_history :]


@pytest.mark.parametrize(
    "config",
    [
        IndicatorConfig(),  # volatility: window 60 + 1
        IndicatorConfig(ema_fast_period=70),
        IndicatorConfig(ema_slow_period=90),
        IndicatorConfig(rsi_period=75),
        IndicatorConfig(macd_slow=50, macd_signal=30),
        IndicatorConfig(bbands_period=64),
        IndicatorConfig(volume_window=80),
        IndicatorConfig(ema_fast_period=3, ema_slow_period=4, rsi_period=2, macd_fast=2,
                        macd_slow=3, macd_signal=2, bbands_period=2, volatility_window=2,
                        volume_window=2),
    ],
)  # fmt: skip
def test_ticks_to_warm_is_the_tick_the_last_price_indicator_warms_on(
    config: IndicatorConfig,
) -> None:
    """Until ticks_to_warm ticks one of the tick-count indicators has no value; from then on
    every one has, for good (features() relies on it to skip its checks)."""
    ind = Indicators("ETHUSDT", config)
    rng = np.random.default_rng(6)
    prices = (100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, 300)))).tolist()
    for i, price in enumerate(prices):
        ind.update(Tick("ETHUSDT", price, 1.0 + i % 7, T0 + i))
        values = (
            ind.ema_fast.value, ind.ema_slow.value, ind.rsi.value, ind.macd.histogram,
            ind.bbands.upper, ind.bbands.lower, ind.bbands.middle, ind.volatility.value,
            ind.volatility.last_return, ind.volume_zscore.value,
        )  # fmt: skip
        assert (None not in values) == (ind.ticks >= ind.ticks_to_warm), ind.ticks


def test_atr_runs_on_time_bars_built_from_ticks() -> None:
    """Ticks are bucketed in bar_s bars; ATR over them equals TA-Lib's ATR on those bars."""
    rng = np.random.default_rng(2)
    times = np.sort(T0 + rng.uniform(0.0, 40 * 60.0, 4000))
    prices = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, 4000)))
    ind = Indicators("SOLUSDT", IndicatorConfig(bar_s=60.0, atr_period=5))
    for ts, price in zip(times.tolist(), prices.tolist(), strict=True):
        ind.update(Tick("SOLUSDT", price, 1.0, ts))
    bars = (times // 60.0).astype(np.int64)
    closed = np.unique(bars)[:-1]  # the last bar is still open
    high = np.array([prices[bars == b].max() for b in closed])
    low = np.array([prices[bars == b].min() for b in closed])
    close = np.array([prices[bars == b][-1] for b in closed])
    expected = talib.ATR(high, low, close, 5)[-1]
    assert ind.atr.value == pytest.approx(expected, rel=1e-12)


def test_a_late_tick_does_not_amend_a_closed_bar() -> None:
    """A tick stamped in an already closed bar leaves the bars (and ATR) as they were."""
    cfg = IndicatorConfig(bar_s=60.0, atr_period=1)
    on_time, with_late = Indicators("X", cfg), Indicators("X", cfg)
    stream = [(T0, 10.0), (T0 + 60, 11.0), (T0 + 120, 12.0), (T0 + 180, 12.5)]
    for ind in (on_time, with_late):
        for i, (ts, price) in enumerate(stream):
            ind.update(Tick("X", price, 1.0, ts))
            if ind is with_late and i == 1:
                ind.update(Tick("X", 50.0, 1.0, T0 + 5))
    assert on_time.atr.value == with_late.atr.value == 1.0


def test_trades_and_books_reach_their_indicators_and_advance_the_clock() -> None:
    """Trades feed trade flow, snapshots and deltas the book; ticks expire old trades."""
    ind = Indicators("BTCUSDT", IndicatorConfig(trade_flow_window_s=10.0))
    ind.update(Trade("BTCUSDT", 100.0, 2.0, "buy", T0))
    ind.update(Trade("BTCUSDT", 100.0, 1.0, "sell", T0 + 5))
    assert ind.trade_flow.value == pytest.approx(1 / 3, rel=1e-15)
    ind.update(BookSnapshot("BTCUSDT", T0 + 6, ((99.0, 1.0),), ((101.0, 1.0),)))
    ind.update(BookDelta("BTCUSDT", T0 + 7, ((99.0, 0.0), (98.0, 3.0)), ()))
    assert (ind.book.mid, ind.timestamp) == (99.5, T0 + 7)
    ind.update(Tick("BTCUSDT", 100.0, 1.0, T0 + 12))
    assert ind.trade_flow.value == -1.0


def test_spread_comes_from_the_book_or_else_the_ticks_quotes() -> None:
    """Without a book, spread_bps is the latest tick's bid/ask spread; a book takes over."""
    ind = Indicators("BTCUSDT")
    assert ind.spread_bps is None
    ind.update(Tick("BTCUSDT", 100.0, 1.0, T0, bid=99.95, ask=100.05))
    assert ind.spread_bps == pytest.approx(10.0, rel=1e-12)
    ind.update(BookSnapshot("BTCUSDT", T0, ((99.0, 1.0),), ((101.0, 1.0),)))
    assert ind.spread_bps == pytest.approx(200.0, rel=1e-12)


def test_a_record_for_another_symbol_is_refused() -> None:
    """Feeding ETHUSDT's tick to BTCUSDT's bundle raises instead of corrupting it."""
    ind = Indicators("BTCUSDT")
    with pytest.raises(ValueError, match="ETHUSDT"):
        ind.update(Tick("ETHUSDT", 1.0, 1.0, T0))
    with pytest.raises(ValueError, match="ETHUSDT"):
        ind.update(Trade("ETHUSDT", 1.0, 1.0, "buy", T0))
    assert ind.ticks == 0


def test_config_is_frozen_and_checked() -> None:
    """IndicatorConfig is immutable; bad values raise at construction or bundle build."""
    cfg = IndicatorConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rsi_period = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="bar_s"):
        IndicatorConfig(bar_s=0.0)
    with pytest.raises(ValueError, match="vwap_anchor"):
        IndicatorConfig(vwap_anchor="H")
    with pytest.raises(TypeError, match="keywords"):
        IndicatorConfig(keywords="BTC")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="period"):
        Indicators("BTCUSDT", IndicatorConfig(rsi_period=1))
