"""Every Redis key the package reads or writes, built in one place.

Input streams (one per kind and symbol; the stream is both the live log and the history):
    ``{asset_class}_{kind}:{SYMBOL}``   e.g. ``crypto_price:BTCUSDT``, ``equity_trade:AAPL``
    ``sentiment:{KEYWORD}``
Foreign layouts read through adapters:
    cryptofeed's Redis Streams backend: ``{channel}-{EXCHANGE}-{SYMBOL}`` e.g.
    ``trades-BINANCE-BTC-USDT``, ``book-KRAKEN-ETH-USD``.
Outputs: ``signals:{SYMBOL}``, ``dlq:{source stream}``, ``quarantine:{SYMBOL}``, ``events:feed``;
state: ``models:*``, ``training:*``, ``research:*``, ``metrics:*``, ``checkpoint:*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from data_feeds.records import BOOK, PRICE, SENTIMENT, TRADE, Record, Sentiment

SEP: Final = ":"

SIGNALS: Final = "signals"
DLQ: Final = "dlq"
QUARANTINE: Final = "quarantine"
EVENTS_FEED: Final = "events:feed"
MODELS: Final = "models"
TRAINING: Final = "training"
RESEARCH: Final = "research"
METRICS: Final = "metrics"
CHECKPOINT: Final = "checkpoint"

# Prefixes under which nothing is an input stream, so pattern scans can skip them.
OUTPUT_PREFIXES: Final = (
    SIGNALS,
    DLQ,
    QUARANTINE,
    "events",
    MODELS,
    TRAINING,
    RESEARCH,
    METRICS,
    CHECKPOINT,
)

# cryptofeed channel name -> our kind. Candles carry a close price, so they read as price ticks.
CRYPTOFEED_CHANNELS: Final = {
    "trades": TRADE,
    "ticker": PRICE,
    "candles": PRICE,
    "book": BOOK,
    "l2_book": BOOK,
}


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a stream key says about the messages in it."""

    kind: str
    symbol: str
    asset_class: str | None
    layout: str  # "native" or "cryptofeed"
    exchange: str | None = None


def normalize_symbol(symbol: str) -> str:
    """``btc-usdt`` / ``BTC/USDT`` / ``BTC_USDT`` -> ``BTCUSDT`` (dots are kept: ``BRK.B``)."""
    return symbol.upper().replace("-", "").replace("/", "").replace("_", "").replace(":", "")


def stream_key(asset_class: str, kind: str, symbol: str) -> str:
    """The input stream of one kind of record for one symbol, e.g. ``crypto_price:BTCUSDT``."""
    if kind == SENTIMENT:
        return f"{SENTIMENT}{SEP}{symbol}"
    return f"{asset_class}_{kind}{SEP}{symbol}"


def record_stream(record: Record) -> str:
    """The stream a record is stored in."""
    if isinstance(record, Sentiment):
        return stream_key("", SENTIMENT, record.keyword)
    return stream_key(record.asset_class, record.kind, record.symbol)


def signals_key(symbol: str) -> str:
    return f"{SIGNALS}{SEP}{symbol}"


def dlq_key(stream: str) -> str:
    return f"{DLQ}{SEP}{stream}"


def quarantine_key(symbol: str) -> str:
    return f"{QUARANTINE}{SEP}{symbol}"


def checkpoint_key(group: str, worker: str) -> str:
    return f"{CHECKPOINT}{SEP}{group}{SEP}{worker}"


def models_key(*parts: str) -> str:
    return SEP.join((MODELS, *parts))


def training_key(*parts: str) -> str:
    return SEP.join((TRAINING, *parts))


def research_key(*parts: str) -> str:
    return SEP.join((RESEARCH, *parts))


def metrics_key(*parts: str) -> str:
    return SEP.join((METRICS, *parts))


def parse_stream_key(key: str) -> StreamInfo | None:
    """Read kind, symbol and asset class off an input stream key; ``None`` if it is not one."""
    head, sep, tail = key.partition(SEP)
    if sep:
        if not tail or head in OUTPUT_PREFIXES or SEP in tail:
            return None
        if head == SENTIMENT:
            return StreamInfo(kind=SENTIMENT, symbol=tail, asset_class=None, layout="native")
        asset_class, us, kind = head.rpartition("_")
        if not us or not asset_class or kind not in (PRICE, TRADE, BOOK):
            return None
        return StreamInfo(kind=kind, symbol=tail, asset_class=asset_class, layout="native")
    channel, dash, rest = key.partition("-")
    cf_kind = CRYPTOFEED_CHANNELS.get(channel)
    if not dash or cf_kind is None:
        return None
    exchange, dash, symbol = rest.partition("-")
    if not dash or not exchange or not symbol:
        return None
    return StreamInfo(
        kind=cf_kind,
        symbol=normalize_symbol(symbol),
        asset_class=None,
        layout="cryptofeed",
        exchange=exchange,
    )
