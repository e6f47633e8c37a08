"""Incremental indicators: ``update(...)`` per observation, ``value`` ``None`` until warm.

One small module per family; :class:`Indicators` bundles everything one symbol needs.
"""

from data_feeds.indicators.bands import BollingerBands
from data_feeds.indicators.base import Indicator, PriceIndicator, RollingMoments
from data_feeds.indicators.book import OrderBook
from data_feeds.indicators.bundle import IndicatorConfig, Indicators, base_asset
from data_feeds.indicators.flow import TradeFlowImbalance
from data_feeds.indicators.momentum import MACD, RSI
from data_feeds.indicators.moving_average import EMA, SMA
from data_feeds.indicators.sentiment import SentimentAsOf
from data_feeds.indicators.volatility import ATR, RealizedVolatility
from data_feeds.indicators.volume import VWAP, VolumeZScore

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "VWAP",
    "BollingerBands",
    "Indicator",
    "IndicatorConfig",
    "Indicators",
    "OrderBook",
    "PriceIndicator",
    "RealizedVolatility",
    "RollingMoments",
    "SentimentAsOf",
    "TradeFlowImbalance",
    "VolumeZScore",
    "base_asset",
]
