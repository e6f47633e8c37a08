"""cryptofeed's Redis Streams layout: what its entries say differently from ours.

cryptofeed's Redis Streams backend (``cryptofeed/backends/redis.py``, ``RedisStreamCallback``)
writes one flat entry per object, fields from the type's ``to_dict(numeric_type=float,
none_to='None')`` written by redis-py, so numbers arrive as text (``'6.38e-06'``) and a missing
value as the literal ``'None'``; stream key ``{channel}-{EXCHANGE}-{SYMBOL}``.

========  ======================================================================================
trades    exchange, symbol (``BTC-USDT``), side, amount, price, id, type, timestamp,
          receipt_timestamp
ticker    exchange, symbol, bid, ask, timestamp, receipt_timestamp -> a Tick at the mid price,
          volume 0
book      exchange, symbol, ``book`` = JSON ``{"bid": {price: size}, "ask": {...}}`` (snapshot)
          or ``delta`` = JSON ``{"bid": [[price, size], ...], "ask": [...]}``, timestamp,
          receipt_timestamp
candles   exchange, symbol, start, stop, interval, trades, open, close, high, low, volume,
          closed, timestamp, receipt_timestamp -> a Tick at the close, timestamped ``stop``
          when closed, else (an unfinished candle, ``closed`` ``'False'``) ``timestamp``
========  ======================================================================================

The flat fields are decoded by ``validation.wire.field_map``, the names ``amount`` and ``id``
read as ``volume`` and ``trade_id`` by the builders; this module holds the rest: a price tick
without a price (candles and tickers) and the ``book``/``delta`` objects.
"""

from __future__ import annotations

from typing import Any

from data_feeds.errors import InvalidMessage, shown
from data_feeds.validation.fields import FieldRules, absent

__all__ = ["book_parts", "candle_or_quote", "unfinished"]


def unfinished(closed: object) -> bool:
    """cryptofeed's ``closed`` of a candle still in progress: ``'False'`` (as text), ``False``.
    Compared by type first: a wire value may be anything (``==`` on a Decimal sNaN raises)."""
    if closed is False:
        return True
    kind = type(closed)
    return (kind is str and closed == "False") or (kind is bytes and closed == b"False")


def candle_or_quote(
    rules: FieldRules, obj: dict[str, Any], bid: float | None, ask: float | None
) -> tuple[float, object, str, float | None]:
    """``(price, timestamp value, its field, default volume)`` of a price tick with no price.

    A candle: its close, at the end of its interval (``stop``) unless it is unfinished (then
    ``timestamp``, news of now). A ticker: the mid of its quote, nothing traded (volume 0).
    """
    get = obj.get
    close = get("close")
    if not absent(close):
        price = rules._price(close, "close")
        stop = get("stop")
        if not absent(stop) and not unfinished(get("closed")):
            return price, stop, "stop", None
        return price, get("timestamp"), "timestamp", None
    if bid is not None and ask is not None:
        return bid * 0.5 + ask * 0.5, get("timestamp"), "timestamp", 0.0
    raise InvalidMessage("missing_field", "a price tick needs a price", "price")


def _sides(rules: FieldRules, value: object, field: str) -> tuple[object, object]:
    """``(bids, asks)`` of a cryptofeed ``book`` or ``delta`` object (or its JSON text)."""
    sides = rules._loads(value, field) if isinstance(value, str | bytes) else value
    if type(sides) is not dict:
        raise InvalidMessage("wrong_type", f"{field} must be an object of bid and ask", field)
    bids = sides.get("bid")
    if bids is None:
        bids = sides.get("bids")
    asks = sides.get("ask")
    if asks is None:
        asks = sides.get("asks")
    return bids, asks


def book_parts(rules: FieldRules, obj: dict[str, Any]) -> tuple[object, object, bool]:
    """``(bids, asks, is_delta)`` of a book payload: cryptofeed's ``book`` (a snapshot) or
    ``delta`` object, else ours (``bids``, ``asks`` and a ``delta`` flag)."""
    get = obj.get
    book = get("book")
    if not absent(book):  # cryptofeed snapshot: {"bid": {price: size}, "ask": {...}}
        bids, asks = _sides(rules, book, "book")
        return bids, asks, False
    delta = get("delta")
    if isinstance(delta, str | bytes) and not absent(delta):
        delta = rules._loads(delta, "delta")
        if absent(delta):  # cryptofeed writes an empty delta as "None"
            delta = None
    if type(delta) is dict:  # cryptofeed delta: {"bid": [[price, size]], "ask": [...]}
        bids, asks = _sides(rules, delta, "delta")
        return bids, asks, True
    if delta is None or type(delta) is bool:  # ours: bids, asks and a delta flag
        return get("bids"), get("asks"), delta is True
    raise InvalidMessage(
        "wrong_type", f"delta must be a flag or an object, not {shown(delta)}", "delta"
    )
