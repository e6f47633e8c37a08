"""The normalized records every stage passes along.

Slotted dataclasses of plain Python floats and strings (no numpy scalars on the hot path).
Every ``timestamp`` is the event time in float epoch seconds (UTC), whatever unit the wire used.
Symbols are normalized to upper case without separators (``BTC-USDT`` -> ``BTCUSDT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

PRICE: Final = "price"
TRADE: Final = "trade"
BOOK: Final = "book"
SENTIMENT: Final = "sentiment"
KINDS: Final = (PRICE, TRADE, BOOK, SENTIMENT)

BUY: Final = "BUY"
SELL: Final = "SELL"
HOLD: Final = "HOLD"
ACTIONS: Final = (BUY, SELL, HOLD)

DEFAULT_ASSET_CLASS: Final = "crypto"

Level = tuple[float, float]
"""One order-book level: (price, size)."""


@dataclass(slots=True)
class Tick:
    """A price observation: last or mid price, with the volume traded since the previous tick."""

    symbol: str
    price: float
    volume: float
    timestamp: float
    asset_class: str = DEFAULT_ASSET_CLASS
    bid: float | None = None
    ask: float | None = None
    exchange: str | None = None

    kind: ClassVar[str] = PRICE

    @property
    def key(self) -> str:
        """What the record is about: its symbol."""
        return self.symbol

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": PRICE,
            "symbol": self.symbol,
            "price": self.price,
            "volume": self.volume,
            "timestamp": self.timestamp,
            "asset_class": self.asset_class,
        }
        if self.bid is not None:
            d["bid"] = self.bid
        if self.ask is not None:
            d["ask"] = self.ask
        if self.exchange is not None:
            d["exchange"] = self.exchange
        return d


@dataclass(slots=True)
class Trade:
    """One executed trade. ``side`` is the aggressor's side, ``"buy"`` or ``"sell"``."""

    symbol: str
    price: float
    volume: float
    side: str
    timestamp: float
    asset_class: str = DEFAULT_ASSET_CLASS
    trade_id: str | None = None
    exchange: str | None = None

    kind: ClassVar[str] = TRADE

    @property
    def key(self) -> str:
        return self.symbol

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": TRADE,
            "symbol": self.symbol,
            "price": self.price,
            "volume": self.volume,
            "side": self.side,
            "timestamp": self.timestamp,
            "asset_class": self.asset_class,
        }
        if self.trade_id is not None:
            d["trade_id"] = self.trade_id
        if self.exchange is not None:
            d["exchange"] = self.exchange
        return d


@dataclass(slots=True)
class BookSnapshot:
    """A full level-2 book: ``bids`` best (highest) first, ``asks`` best (lowest) first."""

    symbol: str
    timestamp: float
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    asset_class: str = DEFAULT_ASSET_CLASS
    exchange: str | None = None

    kind: ClassVar[str] = BOOK
    is_delta: ClassVar[bool] = False

    @property
    def key(self) -> str:
        return self.symbol

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": BOOK,
            "symbol": self.symbol,
            "timestamp": self.timestamp,
            "bids": [list(lv) for lv in self.bids],
            "asks": [list(lv) for lv in self.asks],
            "delta": False,
            "asset_class": self.asset_class,
        }
        if self.exchange is not None:
            d["exchange"] = self.exchange
        return d


@dataclass(slots=True)
class BookDelta:
    """Changed levels of a book since the previous message; a size of 0 deletes the level."""

    symbol: str
    timestamp: float
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    asset_class: str = DEFAULT_ASSET_CLASS
    exchange: str | None = None

    kind: ClassVar[str] = BOOK
    is_delta: ClassVar[bool] = True

    @property
    def key(self) -> str:
        return self.symbol

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": BOOK,
            "symbol": self.symbol,
            "timestamp": self.timestamp,
            "bids": [list(lv) for lv in self.bids],
            "asks": [list(lv) for lv in self.asks],
            "delta": True,
            "asset_class": self.asset_class,
        }
        if self.exchange is not None:
            d["exchange"] = self.exchange
        return d


@dataclass(slots=True)
class Sentiment:
    """A sentiment score in [-1, 1] for a keyword (``BTC``, ``bitcoin``...) from one source."""

    keyword: str
    score: float
    timestamp: float
    source: str | None = None

    kind: ClassVar[str] = SENTIMENT

    @property
    def key(self) -> str:
        return self.keyword

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": SENTIMENT,
            "keyword": self.keyword,
            "score": self.score,
            "timestamp": self.timestamp,
        }
        if self.source is not None:
            d["source"] = self.source
        return d


@dataclass(slots=True)
class Signal:
    """What the service emits per tick.

    ``entry_id`` is the Redis entry id of the input tick in ``stream``, and ``signal_id``
    derives from both (``{stream}/{entry_id}``), so a redelivered input yields a recognisable
    duplicate. ``probability`` is the model's probability of an up-move over the horizon.
    """

    symbol: str
    action: str
    probability: float
    model_version: str
    entry_id: str
    stream: str
    timestamp: float
    price: float

    @property
    def signal_id(self) -> str:
        return f"{self.stream}/{self.entry_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "action": self.action,
            "probability": self.probability,
            "model_version": self.model_version,
            "entry_id": self.entry_id,
            "signal_id": self.signal_id,
            "timestamp": self.timestamp,
            "price": self.price,
        }


Record = Tick | Trade | BookSnapshot | BookDelta | Sentiment
"""Any market record a feed carries."""
