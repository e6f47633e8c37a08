"""The common protocol: every indicator exposes `value` and the price ones `update(price)`."""

from __future__ import annotations

import pytest

from data_feeds.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    BollingerBands,
    Indicator,
    OrderBook,
    PriceIndicator,
    RealizedVolatility,
    SentimentAsOf,
    TradeFlowImbalance,
    VolumeZScore,
)


def price_indicators() -> list[PriceIndicator[object]]:
    return [SMA(3), EMA(3), RSI(3), MACD(2, 3, 2), BollingerBands(3), RealizedVolatility(3)]


def other_indicators() -> list[Indicator[object]]:
    return [ATR(3), VWAP(), VolumeZScore(3), OrderBook(), TradeFlowImbalance(), SentimentAsOf()]


def name(ind: object) -> str:
    return type(ind).__name__


@pytest.mark.parametrize("ind", [*price_indicators(), *other_indicators()], ids=name)
def test_every_indicator_is_slotted_and_starts_without_a_value(ind: Indicator[object]) -> None:
    """Each indicator satisfies the protocol, has no __dict__, and is None before data."""
    assert isinstance(ind, Indicator)
    assert not hasattr(ind, "__dict__")
    assert ind.value is None


@pytest.mark.parametrize("ind", price_indicators(), ids=name)
def test_price_indicators_take_one_price_per_update(ind: PriceIndicator[object]) -> None:
    """The price indicators satisfy PriceIndicator and warm up on a handful of prices."""
    assert isinstance(ind, PriceIndicator)
    for price in (10.0, 10.5, 10.2, 10.9, 11.3, 11.0):
        ind.update(price)
    assert ind.value is not None
