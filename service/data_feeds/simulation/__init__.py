"""Simulated market data, published to the streams production reads (recorded files are read
by ``data_feeds.sources`` and published by the same ``StreamPublisher``).

- ``feeds``: ``MarketSimulator`` (ticks, trades, level-2 books; regimes, jumps, intraday volume)
- ``sentiment``: ``TwitterSentiment``, ``NewsScraper`` (scores that can lead the price)
- ``edge_cases``: ``FaultInjector`` (labelled bad, duplicate, reordered and missing messages)
- ``publisher``: ``StreamPublisher`` (pipelined XADD, paced by rate or by timestamps)
"""

from data_feeds.simulation.edge_cases import (
    FAULT_TYPES,
    Fault,
    FaultConfig,
    FaultInjector,
    RawMessage,
)
from data_feeds.simulation.feeds import (
    ASSET_CLASSES,
    FeedConfig,
    MarketSimulator,
    PricePath,
    RegimeModel,
    SymbolSpec,
    make_symbols,
)
from data_feeds.simulation.publisher import PublishResult, StreamPublisher, encode_message
from data_feeds.simulation.sentiment import NewsScraper, SentimentSource, TwitterSentiment

__all__ = [
    "ASSET_CLASSES",
    "FAULT_TYPES",
    "Fault",
    "FaultConfig",
    "FaultInjector",
    "FeedConfig",
    "MarketSimulator",
    "NewsScraper",
    "PricePath",
    "PublishResult",
    "RawMessage",
    "RegimeModel",
    "SentimentSource",
    "StreamPublisher",
    "SymbolSpec",
    "TwitterSentiment",
    "encode_message",
    "make_symbols",
]
