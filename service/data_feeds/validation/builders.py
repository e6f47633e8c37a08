"""Record builders: a payload object (ours or a foreign layout's) in, one record out, by kind.

- Kind: the ``kind`` field (``price``, ``trade``, ``book``, ``sentiment``), else the stream key,
  else inferred: ``bids``/``asks``/``book``/``delta`` -> book; ``keyword``/``score`` ->
  sentiment; ``side`` -> trade; ``price``/``close``/``bid``/``ask`` -> price tick.
- A stream key whose kind, symbol or asset class disagrees with the payload's: ``stream_mismatch``.
  A payload without a symbol (keyword) takes the stream key's.
- Ticks: ``bid > ask`` (both given) is ``crossed_book``; a locked quote (equal) is accepted.
  Without a price, cryptofeed's candle and ticker layouts give one (``layouts.cryptofeed``).
- Books: ours (``bids``, ``asks``, a ``delta`` flag) or cryptofeed's ``book``/``delta`` objects;
  a snapshot whose best bid >= best ask is ``crossed_book``; deltas are not checked.
- ``volume`` may be named ``amount`` and ``trade_id`` ``id`` (cryptofeed's names).

Each builder applies the field rules (``validation.fields``) and keeps a cheap inline check
before each rule call for the commonest well-formed values.
"""

from __future__ import annotations

from typing import Any, Final

from data_feeds.cache.keys import StreamInfo
from data_feeds.errors import InvalidMessage, shown
from data_feeds.records import (
    BOOK,
    PRICE,
    SENTIMENT,
    TRADE,
    BookDelta,
    BookSnapshot,
    Record,
    Sentiment,
    Tick,
    Trade,
)
from data_feeds.validation.fields import NONE, SIDES, FieldRules, absent
from data_feeds.validation.layouts import cryptofeed

__all__ = ["RecordBuilder", "infer_kind"]

_KINDS: Final = frozenset((PRICE, TRADE, BOOK, SENTIMENT))
_BOOK_FIELDS: Final = ("bids", "asks", "book", "delta")
_SENTIMENT_FIELDS: Final = ("keyword", "score")
_PRICE_FIELDS: Final = ("price", "close", "bid", "ask")


class RecordBuilder(FieldRules):
    """The record of each kind from a decoded payload object, by the field rules."""

    __slots__ = ()

    def _build(self, obj: Any, hint: StreamInfo | None, field: str | None) -> Record:
        """The record a payload object describes; ``field`` is where the object came from."""
        if type(obj) is not dict:
            raise InvalidMessage(
                "wrong_type", f"the JSON payload is {shown(obj)}, not an object", field
            )
        if not obj:
            raise InvalidMessage("empty_payload", "an empty object", field)
        kind = obj.get("kind")
        if type(kind) is not str or not kind or kind == NONE:
            if not absent(kind):
                raise InvalidMessage("wrong_type", f"kind must be text, not {shown(kind)}", "kind")
            kind = hint.kind if hint is not None else infer_kind(obj)
        elif hint is not None and kind != hint.kind:
            if kind in _KINDS:
                raise InvalidMessage(
                    "stream_mismatch", f"a {kind} record in a {hint.kind} stream", "kind"
                )
            raise InvalidMessage("unknown_kind", f"kind {shown(kind)}", "kind")
        if kind == PRICE:
            return self._tick(obj, hint)
        if kind == TRADE:
            return self._trade(obj, hint)
        if kind == BOOK:
            return self._book(obj, hint)
        if kind == SENTIMENT:
            return self._sentiment(obj, hint)
        raise InvalidMessage("unknown_kind", f"kind {shown(kind)}", "kind")

    def _tick(self, obj: dict[str, Any], hint: StreamInfo | None) -> Tick:
        get = obj.get
        # _identity, inlined on the hottest path.
        value = get("symbol")
        symbol = self._symbols.get(value) if type(value) is str else None
        if symbol is None or (hint is not None and symbol != hint.symbol):
            symbol = self._symbol_of(value, hint, "symbol")
        value = get("asset_class")
        asset_class = self._asset_names.get(value) if type(value) is str else None
        if asset_class is None or (
            hint is not None and hint.asset_class is not None and asset_class != hint.asset_class
        ):
            asset_class = self._asset_class_of(value, hint, symbol)
        exchange = get("exchange")
        if exchange is not None:
            exchange = self._exchange_of(exchange, hint)
        elif hint is not None:
            exchange = hint.exchange
        bid = get("bid")
        if bid is not None:
            bid = None if absent(bid) else self._price(bid, "bid")
        ask = get("ask")
        if ask is not None:
            ask = None if absent(ask) else self._price(ask, "ask")
        if bid is not None and ask is not None and bid > ask:
            raise InvalidMessage("crossed_book", f"bid {bid!r} > ask {ask!r}", "bid")
        ts = get("timestamp")
        ts_field = "timestamp"
        volume_default: float | None = None
        price = get("price")
        if type(price) is float and 0.0 < price <= self._max_price:
            pass
        elif not absent(price):
            price = self._price(price, "price")
        else:  # no price: cryptofeed's candle (its close) or ticker (the mid of its quote)
            price, ts, ts_field, volume_default = cryptofeed.candle_or_quote(self, obj, bid, ask)
        volume = get("volume")
        if volume is None:
            volume = get("amount")
        if type(volume) is float and 0.0 <= volume <= self._max_volume:
            pass
        elif volume_default is not None and absent(volume):
            volume = volume_default
        else:
            volume = self._size(volume, "volume")
        if not (type(ts) is float and self._min_ts <= ts <= self._ts_ceiling):
            ts = self._timestamp(ts, ts_field)
        return Tick(symbol, price, volume, ts, asset_class, bid, ask, exchange)

    def _trade(self, obj: dict[str, Any], hint: StreamInfo | None) -> Trade:
        get = obj.get
        symbol, asset_class, exchange = self._identity(obj, hint)
        price = get("price")
        if not (type(price) is float and 0.0 < price <= self._max_price):
            price = self._price(price, "price")
        volume = get("volume")
        if volume is None:
            volume = get("amount")
        if not (type(volume) is float and 0.0 <= volume <= self._max_volume):
            volume = self._size(volume, "volume")
        raw_side = get("side")
        side = SIDES.get(raw_side) if type(raw_side) is str else None
        if side is None:
            if absent(raw_side):
                raise InvalidMessage("missing_field", "a trade needs a side", "side")
            raise InvalidMessage("invalid_side", f"side {shown(raw_side)}", "side")
        trade_id = get("trade_id")
        if trade_id is None:
            trade_id = get("id")
        if trade_id is not None:
            trade_id = self._trade_id(trade_id)
        ts = get("timestamp")
        if not (type(ts) is float and self._min_ts <= ts <= self._ts_ceiling):
            ts = self._timestamp(ts, "timestamp")
        return Trade(symbol, price, volume, side, ts, asset_class, trade_id, exchange)

    def _book(self, obj: dict[str, Any], hint: StreamInfo | None) -> BookSnapshot | BookDelta:
        get = obj.get
        symbol, asset_class, exchange = self._identity(obj, hint)
        bids_v, asks_v, is_delta = cryptofeed.book_parts(self, obj)
        if absent(bids_v) and absent(asks_v):
            raise InvalidMessage("missing_field", "a book needs bids or asks", "bids")
        bids = self._levels(bids_v, "bids", best_high=True)
        asks = self._levels(asks_v, "asks", best_high=False)
        ts = get("timestamp")
        if not (type(ts) is float and self._min_ts <= ts <= self._ts_ceiling):
            ts = self._timestamp(ts, "timestamp")
        if is_delta:
            return BookDelta(symbol, ts, bids, asks, asset_class, exchange)
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise InvalidMessage(
                "crossed_book", f"best bid {bids[0][0]!r} >= best ask {asks[0][0]!r}", "bids"
            )
        return BookSnapshot(symbol, ts, bids, asks, asset_class, exchange)

    def _sentiment(self, obj: dict[str, Any], hint: StreamInfo | None) -> Sentiment:
        get = obj.get
        keyword = self._symbol_of(get("keyword"), hint, "keyword")
        score = get("score")
        if not (type(score) is float and -1.0 <= score <= 1.0):
            score = self._number(score, "score")
            if not -1.0 <= score <= 1.0:
                raise InvalidMessage("score_out_of_range", f"score {score!r}", "score")
        source = get("source")
        if source is not None:
            source = self._text(source, "source")
        ts = get("timestamp")
        if not (type(ts) is float and self._min_ts <= ts <= self._ts_ceiling):
            ts = self._timestamp(ts, "timestamp")
        return Sentiment(keyword, score, ts, source)


def infer_kind(obj: dict[str, Any]) -> str:
    """The kind of a payload that names none, from the fields it has."""
    for name in _BOOK_FIELDS:
        if name in obj:
            return BOOK
    for name in _SENTIMENT_FIELDS:
        if name in obj:
            return SENTIMENT
    if "side" in obj:
        return TRADE
    for name in _PRICE_FIELDS:
        if name in obj:
            return PRICE
    raise InvalidMessage("unknown_kind", "no kind field, stream key or recognisable fields", "kind")
