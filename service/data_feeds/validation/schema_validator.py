"""SchemaValidator: one raw stream message in, one normalized record (or ``InvalidMessage``) out.

Accepted layouts
----------------
- Ours: a stream entry with a single ``data`` field holding compact JSON (``cache/codec.py``,
  ``records.*.to_dict``), or that JSON object itself as bytes, str or dict. Keys and values of
  an entry may be bytes (redis-py with ``decode_responses=False``) or str. An entry with a
  ``data`` field is read from that field alone (other fields, such as trace ids, are ignored).
- cryptofeed's Redis Streams backend (``cryptofeed/backends/redis.py``, ``RedisStreamCallback``):
  one flat entry per object, fields from the type's ``to_dict(numeric_type=float,
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

Field names read (anything else is ignored): ``kind``, ``symbol``, ``keyword``, ``asset_class``,
``exchange``, ``price``, ``volume`` (or ``amount``), ``bid``, ``ask``, ``close``, ``stop``,
``closed``, ``side``, ``trade_id`` (or ``id``), ``bids``, ``asks``, ``delta``, ``book``, ``score``,
``source``, ``timestamp``.

Rules
-----
- Kind: the ``kind`` field (``price``, ``trade``, ``book``, ``sentiment``), else the stream key,
  else inferred: ``bids``/``asks``/``book``/``delta`` -> book; ``keyword``/``score`` ->
  sentiment; ``side`` -> trade; ``price``/``close``/``bid``/``ask`` -> price tick.
- A stream key whose kind, symbol or asset class disagrees with the payload's: ``stream_mismatch``.
  A payload without a symbol (keyword) takes the stream key's.
- Symbols and keywords: ASCII, at most 64 characters as sent; after ``keys.normalize_symbol``
  (upper case, ``-`` ``/`` ``_`` ``:`` removed) 1-32 characters of ``A-Z 0-9 .``.
- Asset class: the ``asset_class`` field, else the stream key's, else the ``asset_classes``
  mapping (by normalized symbol), else ``default_asset_class``. Lower-cased; 1-32 characters of
  ``a-z 0-9 _`` starting with a letter.
- Numbers: JSON numbers or numeric text (ASCII); booleans are not numbers (``wrong_type``);
  NaN, infinities and numbers beyond a float are ``non_finite``. ``None``/``'None'``/``''``
  mean absent.
- Timestamps: read by ``data_feeds.timestamps`` (s, ms, us or ns by magnitude, or ISO-8601
  text, naive meaning UTC); must lie in ``[min_timestamp_s, now + max_future_s]``.
- Trade sides: ``buy``/``sell`` in lower, upper or title case, or ``b``/``s`` (either case);
  normalized to ``buy``/``sell``.
- Ticks: ``bid > ask`` (both given) is ``crossed_book``; a locked quote (equal) is accepted.
- Books: levels are ``[price, size]`` pairs (or a ``{price: size}`` object), at most
  ``max_book_levels`` per side, sizes >= 0 (0 deletes a level in a delta); bids are returned
  best (highest) first, asks lowest first (stable, so repeated prices in a delta keep their
  order). A snapshot whose best bid >= best ask is ``crossed_book``; deltas are not checked.
- Size: ``max_payload_bytes`` bounds the raw bytes (for a field mapping: all names and values
  together), checked before anything is parsed.

Every failure raises ``InvalidMessage`` with a code from ``errors.REASONS``; see
``docs/reason_codes.md``. No other exception escapes ``validate`` for any input.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from operator import itemgetter
from typing import Annotated, Any, Final, Literal, Protocol, cast

import msgspec
from orjson import JSONDecodeError
from orjson import loads as _loads

from data_feeds.cache.keys import StreamInfo, normalize_symbol, parse_stream_key
from data_feeds.checks import check_int, check_number
from data_feeds.errors import InvalidMessage, shown
from data_feeds.records import (
    BOOK,
    DEFAULT_ASSET_CLASS,
    PRICE,
    SENTIMENT,
    TRADE,
    BookDelta,
    BookSnapshot,
    Level,
    Record,
    Sentiment,
    Tick,
    Trade,
)
from data_feeds.timestamps import SECONDS_CEILING, epoch_seconds

__all__ = ["SchemaValidator"]

_SYMBOL_RE: Final = re.compile(r"[A-Z0-9.]{1,32}")
_ASSET_CLASS_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_SYMBOL_INPUT_CHARS: Final = 64
_MAX_TEXT_CHARS: Final = 128  # exchange, source, trade id
_MAX_FIELDS: Final = 64  # fields of one flat entry; cryptofeed's largest type has 14
_CACHE_LIMIT: Final = 4096  # distinct symbols / stream keys remembered as already valid
_MAX_TRADE_ID_INT: Final = 1 << 64

_NONE: Final = "None"  # cryptofeed's none_to
_KINDS: Final = frozenset((PRICE, TRADE, BOOK, SENTIMENT))
_SIDES: Final = {
    "buy": "buy",
    "BUY": "buy",
    "Buy": "buy",
    "b": "buy",
    "B": "buy",
    "sell": "sell",
    "SELL": "sell",
    "Sell": "sell",
    "s": "sell",
    "S": "sell",
}
_BOOK_FIELDS: Final = ("bids", "asks", "book", "delta")
_SENTIMENT_FIELDS: Final = ("keyword", "score")
_PRICE_FIELDS: Final = ("price", "close", "bid", "ask")
_BY_PRICE: Final = itemgetter(0)
_new: Final = object.__new__
# validate's fast path fills in a Tick's fields itself, which saves the call of the dataclass
# __init__ (a Python frame, a few percent of the tick's cost). That makes the same object as
# Tick(...) as long as Tick is a plain dataclass of exactly these fields; the fast path calls
# Tick(...) otherwise (and tests/validation/test_hot_paths.py fails).
_TICK_BY_HAND: Final = tuple(field.name for field in fields(Tick)) == (
    "symbol",
    "price",
    "volume",
    "timestamp",
    "asset_class",
    "bid",
    "ask",
    "exchange",
) and not hasattr(Tick, "__post_init__")


class _NativeTick(Protocol):
    """What _native_tick_decoder's decoder returns."""

    price: float
    volume: float
    timestamp: float
    symbol: str | None
    asset_class: str | None
    bid: float | None
    ask: float | None


@functools.lru_cache(maxsize=64)
def _native_tick_decoder(
    max_price: float, max_volume: float, min_ts: float
) -> Callable[[bytes], _NativeTick]:
    """A msgspec decoder of our price tick layout within these limits (one per configuration).

    It takes a JSON object of ``kind`` (``"price"``), ``price``, ``volume`` and ``timestamp``, and
    optionally (absent or ``null``) ``symbol``, ``asset_class``, ``bid`` and ``ask``; numbers are
    JSON numbers (integers become floats; booleans and text are refused) with a price in
    ``(0, max_price]``, a volume in ``[0, max_volume]`` and a timestamp ``>= min_ts``. Anything
    else raises a ``ValueError``; the general path then tells what is wrong.
    """
    price = Annotated[float, msgspec.Meta(gt=0.0, le=max_price)]
    layout = msgspec.defstruct(
        "NativeTick",
        [
            ("kind", Literal["price"]),
            ("price", price),
            ("volume", Annotated[float, msgspec.Meta(ge=0.0, le=max_volume)]),
            ("timestamp", Annotated[float, msgspec.Meta(ge=min_ts)]),
            ("symbol", str | None, None),
            ("asset_class", str | None, None),
            ("bid", price | None, None),
            ("ask", price | None, None),
        ],
        forbid_unknown_fields=True,
        gc=False,  # text and numbers only, and dropped at once
    )
    return cast(Callable[[bytes], _NativeTick], msgspec.json.Decoder(layout).decode)


def _absent(value: object) -> bool:
    """``None``, ``''`` and cryptofeed's ``'None'`` all mean "not given"."""
    return value is None or (type(value) is str and (not value or value == _NONE))


def _text_size(text: str) -> int:
    """The UTF-8 size of text (lone surrogates counted as 3 bytes; they fail later)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


class _NonFiniteError(Exception):
    """Raised from the stdlib JSON hooks when a rejected document held a non-finite number."""


def _constant_hook(_: str) -> float:
    raise _NonFiniteError


def _float_hook(text: str) -> float:
    if not math.isfinite(float(text)):
        raise _NonFiniteError
    return 0.0


def _int_hook(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > 309:  # float's maximum is about 1.8e308
        raise _NonFiniteError
    if digits == 309:
        try:
            float(int(text))
        except OverflowError:
            raise _NonFiniteError from None
    return 0


def _holds_non_finite(text: str) -> bool:
    """Whether JSON text that orjson refused is JSON with a NaN, an infinity or an overflow.

    orjson rejects ``NaN``/``Infinity`` (not JSON) and numbers beyond a double (``1e400``, long
    integers) alike; the standard library parser with hooks tells them apart. Error path only.
    """
    try:
        json.loads(
            text, parse_constant=_constant_hook, parse_float=_float_hook, parse_int=_int_hook
        )
    except _NonFiniteError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def _json_failure(
    data: bytes | bytearray | str, exc: ValueError, field: str | None
) -> InvalidMessage:
    """Sort a JSON text orjson refused into invalid_utf8, non_finite or malformed_json."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            return InvalidMessage("invalid_utf8", f"invalid UTF-8 at byte {err.start}", field)
    if _holds_non_finite(text):
        return InvalidMessage("non_finite", "a NaN, infinite or float-overflowing number", field)
    return InvalidMessage("malformed_json", str(exc)[:160], field)


def _config_asset_class(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.isascii():
        raise ValueError(f"{name} must be an asset class name, got {shown(value)}")
    lowered = value.lower()
    if _ASSET_CLASS_RE.fullmatch(lowered) is None:
        raise ValueError(
            f"{name}: {value!r} is not 1-32 characters of a-z 0-9 _ starting with a letter"
        )
    return lowered


class SchemaValidator:
    """Turn a raw stream message into a normalized record, or raise ``InvalidMessage``.

    ``asset_classes`` maps symbols (normalized here) to their asset class, for payloads and
    stream keys that do not say; ``default_asset_class`` covers the rest. The limits bound
    what is accepted: raw size, levels per book side, prices, volumes and sizes, and the
    timestamp window ``[min_timestamp_s, clock() + max_future_s]``. ``clock`` is read only
    when a timestamp goes past its last reading, so it is assumed not to run backwards (a
    backward step loosens the future bound by that step, never tightens it).

    Valid symbols, asset classes and stream keys are remembered (up to 4096 of each), so the
    hot path costs a dictionary lookup per field. The commonest message of all, a plain price
    tick in our layout read from its own price stream, is checked against the stream key's
    already normalized symbol and asset class and built directly (``validate``'s fast path);
    anything else about it goes the general way. One instance serves one consumer; it is not
    meant to be shared between threads.
    """

    __slots__ = (
        "_asset_map",
        "_asset_names",
        "_clock",
        "_decode_native",
        "_default_asset",
        "_hints",
        "_max_bytes",
        "_max_future",
        "_max_levels",
        "_max_price",
        "_max_volume",
        "_min_ts",
        "_price_streams",
        "_symbols",
        "_ts_ceiling",
    )

    def __init__(
        self,
        *,
        asset_classes: Mapping[str, str] | None = None,
        default_asset_class: str = DEFAULT_ASSET_CLASS,
        max_payload_bytes: int = 65536,
        max_book_levels: int = 1000,
        max_price: float = 1e12,
        max_volume: float = 1e15,
        min_timestamp_s: float = 946684800.0,
        max_future_s: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._default_asset = _config_asset_class("default_asset_class", default_asset_class)
        self._max_bytes = check_int("max_payload_bytes", max_payload_bytes)
        self._max_levels = check_int("max_book_levels", max_book_levels)
        self._max_price = check_number("max_price", max_price, positive=True)
        self._max_volume = check_number("max_volume", max_volume, positive=True)
        self._min_ts = check_number("min_timestamp_s", min_timestamp_s)
        self._max_future = check_number("max_future_s", max_future_s)
        if not callable(clock):
            raise ValueError(f"clock must be a callable returning epoch seconds, got {clock!r}")
        self._clock = clock
        # Float seconds up to this pass the hot path without reading the clock. It is
        # clock() + max_future_s as last read (capped below the millisecond range), refreshed
        # whenever a timestamp goes past it: the clock only moves on, so it never admits a
        # timestamp that a fresh reading would refuse.
        self._ts_ceiling = -math.inf
        # Caches of already-validated text: raw symbol -> normalized, raw asset class ->
        # normalized, stream key -> hint. Bounded; only valid entries are stored.
        self._symbols: dict[str, str] = {}
        self._asset_names: dict[str, str] = {self._default_asset: self._default_asset}
        self._hints: dict[str, StreamInfo | None] = {}
        # The native price streams among them (an asset class, no exchange): stream key ->
        # (symbol, asset class), what validate's fast path compares a tick with.
        self._price_streams: dict[str | None, tuple[str, str]] = {}
        self._decode_native = _native_tick_decoder(self._max_price, self._max_volume, self._min_ts)
        self._asset_map: dict[str, str] = {}
        if asset_classes is not None:
            if not isinstance(asset_classes, Mapping):
                raise ValueError(
                    f"asset_classes must be a mapping of symbol to asset class, "
                    f"got {shown(asset_classes)}"
                )
            for symbol, asset_class in asset_classes.items():
                if (
                    not isinstance(symbol, str)
                    or not symbol.isascii()
                    or _SYMBOL_RE.fullmatch(normalize_symbol(symbol)) is None
                ):
                    raise ValueError(f"asset_classes: {shown(symbol)} is not a valid symbol")
                name = _config_asset_class(f"asset_classes[{symbol!r}]", asset_class)
                self._asset_map[normalize_symbol(symbol)] = name
                self._asset_names[name] = name

    # -- entry point -------------------------------------------------------------------------

    def validate(self, raw: object, *, stream: str | None = None) -> Record:
        """The normalized record ``raw`` carries; ``stream`` is the key it was read from.

        ``raw``: bytes, bytearray, memoryview or str of JSON, a dict (the JSON object), or a
        stream entry's field mapping (bytes or str keys and values). Raises ``InvalidMessage``.
        """
        # Fast path: a data field of bytes within the size limit, read from a native price
        # stream seen before, holding our tick layout (Tick.to_dict without exchange) with the
        # stream's own symbol and asset class or none (normalized already, so equal text
        # normalizes to itself; none means the stream's). msgspec decodes and checks it in one
        # pass against a type made of this validator's limits (_native_tick_decoder): kind
        # "price", no other fields, plain numbers within range, no booleans. What is left is
        # the comparison with the stream, the moving timestamp ceiling and a crossed quote.
        # Anything that fails a test takes the general path below, which parses again and
        # decides as it always did.
        if type(raw) is dict and len(raw) == 1:
            try:
                fast = self._price_streams.get(stream)
                data = raw[b"data"]
            except (TypeError, KeyError):  # a bad stream key, another layout
                fast = None
            if fast is not None and type(data) is bytes and len(data) <= self._max_bytes:
                try:
                    native = self._decode_native(data)
                except ValueError:  # msgspec's DecodeError and ValidationError, bad UTF-8
                    pass
                else:
                    ts = native.timestamp
                    bid = native.bid
                    ask = native.ask
                    symbol = native.symbol
                    asset_class = native.asset_class
                    if (
                        (symbol == fast[0] or symbol is None)
                        and (asset_class == fast[1] or asset_class is None)
                        and ts <= self._ts_ceiling
                        and (bid is None or ask is None or bid <= ask)
                    ):
                        if not _TICK_BY_HAND:
                            return Tick(fast[0], native.price, native.volume, ts, fast[1], bid, ask)
                        tick = _new(Tick)
                        tick.symbol = fast[0]
                        tick.price = native.price
                        tick.volume = native.volume
                        tick.timestamp = ts
                        tick.asset_class = fast[1]
                        tick.bid = bid
                        tick.ask = ask
                        tick.exchange = None
                        return tick
        hint: StreamInfo | None = None
        if stream is not None:
            try:
                hint = self._hints[stream]
            except (KeyError, TypeError):
                hint = self._new_hint(stream)
        if type(raw) is dict and len(raw) == 1:  # fast path: our single-field entry
            data = raw.get(b"data")
            if data is None:
                data = raw.get("data")
            if data is not None:
                if type(data) is bytes and 0 < len(data) <= self._max_bytes:
                    try:
                        obj = _loads(data)
                    except JSONDecodeError as exc:
                        raise _json_failure(data, exc, "data") from None
                    # The commonest message of all goes straight to its builder.
                    if (
                        type(obj) is dict
                        and obj.get("kind") == PRICE
                        and (hint is None or hint.kind == PRICE)
                    ):
                        return self._tick(obj, hint)
                    return self._build(obj, hint, "data")
                return self._build(self._loads(data, "data"), hint, "data")
        if type(raw) is bytes or type(raw) is str:
            return self._build(self._loads(raw, None), hint, None)
        if isinstance(raw, Mapping):
            fields = self._fields(raw)
            if "data" in fields:
                return self._build(self._loads(fields["data"], "data"), hint, "data")
            return self._build(fields, hint, None)
        if isinstance(raw, bytes | bytearray | memoryview | str):
            return self._build(self._loads(raw, None), hint, None)
        raise InvalidMessage(
            "wrong_type", f"a message is JSON text or a field mapping, not {shown(raw)}"
        )

    # -- layouts -----------------------------------------------------------------------------

    def _loads(self, data: object, field: str | None) -> Any:
        """Parse JSON text after checking its size and encoding."""
        buf: bytes | bytearray | str
        if type(data) is bytes or isinstance(data, bytes | bytearray):
            buf = data
            size = len(buf)
        elif isinstance(data, str):
            size = len(data)
            if size > self._max_bytes:  # UTF-8 is never shorter than the character count
                raise InvalidMessage(
                    "payload_too_large", f"{size} characters > {self._max_bytes}", field
                )
            if data.isascii():
                buf = data
            else:
                try:
                    buf = data.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidMessage(
                        "invalid_utf8", "text with lone surrogates", field
                    ) from None
                size = len(buf)
        elif isinstance(data, memoryview):
            try:
                size = data.nbytes
                buf = data.tobytes() if size <= self._max_bytes else b""
            except ValueError:
                raise InvalidMessage("wrong_type", "a released memoryview", field) from None
        else:
            raise InvalidMessage("wrong_type", f"expected JSON text, got {shown(data)}", field)
        if size == 0:
            raise InvalidMessage("empty_payload", "no bytes", field)
        if size > self._max_bytes:
            raise InvalidMessage("payload_too_large", f"{size} bytes > {self._max_bytes}", field)
        try:
            return _loads(buf)
        except JSONDecodeError as exc:
            raise _json_failure(buf, exc, field) from None

    def _fields(self, raw: Mapping[Any, Any]) -> dict[str, Any]:
        """A field mapping (or a dict payload) as ``{str: value}``, byte values decoded."""
        count = len(raw)
        if count == 0:
            raise InvalidMessage("empty_payload", "no fields")
        if count > _MAX_FIELDS:
            raise InvalidMessage("payload_too_large", f"{count} fields > {_MAX_FIELDS}")
        limit = self._max_bytes
        size = 0
        out: dict[str, Any] = {}
        for key, raw_value in raw.items():
            if isinstance(key, str):
                name = key
                size += _text_size(key)
            elif isinstance(key, bytes):
                size += len(key)
                try:
                    name = key.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidMessage("invalid_utf8", f"field name {shown(key)}") from None
            else:
                raise InvalidMessage("wrong_type", f"a field name must be text, not {shown(key)}")
            value: Any = raw_value
            if isinstance(raw_value, bytes | bytearray | memoryview):
                try:
                    size += (
                        raw_value.nbytes if isinstance(raw_value, memoryview) else len(raw_value)
                    )
                    if size > limit:
                        raise InvalidMessage("payload_too_large", f"fields > {limit} bytes")
                    value = bytes(raw_value).decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InvalidMessage(
                        "invalid_utf8", f"invalid UTF-8 at byte {err.start}", name
                    ) from None
                except ValueError:
                    raise InvalidMessage("wrong_type", "a released memoryview", name) from None
            elif isinstance(raw_value, str):
                size += _text_size(raw_value)
            else:
                size += 8  # a number, boolean, null or container of a dict payload
            if size > limit:
                raise InvalidMessage("payload_too_large", f"fields > {limit} bytes")
            out[name] = value
        if len(out) != count:
            raise InvalidMessage("wrong_type", "the same field name twice (as bytes and as text)")
        return out

    # -- records -----------------------------------------------------------------------------

    def _build(self, obj: Any, hint: StreamInfo | None, field: str | None) -> Record:
        """The record a payload object describes; ``field`` is where the object came from."""
        if type(obj) is not dict:
            raise InvalidMessage(
                "wrong_type", f"the JSON payload is {shown(obj)}, not an object", field
            )
        if not obj:
            raise InvalidMessage("empty_payload", "an empty object", field)
        kind = obj.get("kind")
        if type(kind) is not str or not kind or kind == _NONE:
            if not _absent(kind):
                raise InvalidMessage("wrong_type", f"kind must be text, not {shown(kind)}", "kind")
            kind = hint.kind if hint is not None else _infer_kind(obj)
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
            bid = None if _absent(bid) else self._price(bid, "bid")
        ask = get("ask")
        if ask is not None:
            ask = None if _absent(ask) else self._price(ask, "ask")
        if bid is not None and ask is not None and bid > ask:
            raise InvalidMessage("crossed_book", f"bid {bid!r} > ask {ask!r}", "bid")
        ts = get("timestamp")
        ts_field = "timestamp"
        volume_default: float | None = None
        price = get("price")
        if type(price) is float and 0.0 < price <= self._max_price:
            pass
        elif not _absent(price):
            price = self._price(price, "price")
        else:
            close = get("close")
            if not _absent(close):  # a candle: the close, at the end of its interval
                price = self._price(close, "close")
                stop = get("stop")
                # an unfinished candle ('closed' False) is news of now, not of its interval's end
                if not _absent(stop) and not _unfinished(get("closed")):
                    ts, ts_field = stop, "stop"
            elif bid is not None and ask is not None:  # a quote: the mid, nothing traded
                price = bid * 0.5 + ask * 0.5
                volume_default = 0.0
            else:
                raise InvalidMessage("missing_field", "a price tick needs a price", "price")
        volume = get("volume")
        if volume is None:
            volume = get("amount")
        if type(volume) is float and 0.0 <= volume <= self._max_volume:
            pass
        elif volume_default is not None and _absent(volume):
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
        side = _SIDES.get(raw_side) if type(raw_side) is str else None
        if side is None:
            if _absent(raw_side):
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
        book = get("book")
        delta = get("delta")
        is_delta = False
        if not _absent(book):  # cryptofeed snapshot: {"bid": {price: size}, "ask": {...}}
            bids_v, asks_v = self._sides(book, "book")
        else:
            if isinstance(delta, str | bytes) and not _absent(delta):
                delta = self._loads(delta, "delta")
                if _absent(delta):  # cryptofeed writes an empty delta as "None"
                    delta = None
            if type(delta) is dict:  # cryptofeed delta: {"bid": [[price, size]], "ask": [...]}
                bids_v, asks_v = self._sides(delta, "delta")
                is_delta = True
            elif delta is None or type(delta) is bool:  # ours: bids, asks and a delta flag
                is_delta = delta is True
                bids_v = get("bids")
                asks_v = get("asks")
            else:
                raise InvalidMessage(
                    "wrong_type", f"delta must be a flag or an object, not {shown(delta)}", "delta"
                )
        if _absent(bids_v) and _absent(asks_v):
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

    # -- fields ------------------------------------------------------------------------------

    def _identity(
        self, obj: dict[str, Any], hint: StreamInfo | None
    ) -> tuple[str, str, str | None]:
        """``(symbol, asset_class, exchange)`` of a market record; cache hits stay inline."""
        value = obj.get("symbol")
        symbol = self._symbols.get(value) if type(value) is str else None
        if symbol is None or (hint is not None and symbol != hint.symbol):
            symbol = self._symbol_of(value, hint, "symbol")
        value = obj.get("asset_class")
        asset_class = self._asset_names.get(value) if type(value) is str else None
        if asset_class is None or (
            hint is not None and hint.asset_class is not None and asset_class != hint.asset_class
        ):
            asset_class = self._asset_class_of(value, hint, symbol)
        exchange = obj.get("exchange")
        if exchange is not None:
            exchange = self._exchange_of(exchange, hint)
        elif hint is not None:
            exchange = hint.exchange
        return symbol, asset_class, exchange

    def _new_hint(self, stream: object) -> StreamInfo | None:
        """What a stream key says, with its symbol and asset class validated and normalized."""
        key = stream
        if isinstance(key, bytes | bytearray):
            try:
                key = key.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidMessage("invalid_utf8", "the stream key", "stream") from None
        if not isinstance(key, str):
            raise InvalidMessage("wrong_type", f"a stream key is text, not {shown(key)}", "stream")
        info = parse_stream_key(key)
        if info is not None:
            symbol = self._symbol(info.symbol, "stream")
            asset_class = (
                None if info.asset_class is None else self._asset_class(info.asset_class, "stream")
            )
            exchange = None if info.exchange is None else self._text(info.exchange, "stream")
            info = StreamInfo(info.kind, symbol, asset_class, info.layout, exchange)
        if len(self._hints) < _CACHE_LIMIT and isinstance(stream, str):
            self._hints[stream] = info
            if (
                type(stream) is str
                and info is not None
                and info.kind == PRICE
                and info.asset_class is not None
                and info.exchange is None
            ):
                self._price_streams[stream] = (info.symbol, info.asset_class)
        return info

    def _symbol(self, value: str, field: str) -> str:
        """A symbol or keyword, normalized; cached once valid."""
        symbol = self._symbols.get(value)
        if symbol is not None:
            return symbol
        if len(value) > _MAX_SYMBOL_INPUT_CHARS or not value.isascii():
            raise InvalidMessage("invalid_symbol", f"{shown(value)}", field)
        symbol = normalize_symbol(value)
        if _SYMBOL_RE.fullmatch(symbol) is None:
            raise InvalidMessage("invalid_symbol", f"{shown(value)}", field)
        if len(self._symbols) < _CACHE_LIMIT and value != _NONE:
            self._symbols[value] = symbol
        return symbol

    def _symbol_of(self, value: object, hint: StreamInfo | None, field: str) -> str:
        if type(value) is str and value != _NONE:
            symbol = self._symbols.get(value)
            if symbol is None:
                symbol = self._symbol(value, field)
            if hint is not None and symbol != hint.symbol:
                raise InvalidMessage(
                    "stream_mismatch", f"{symbol!r} in the stream of {hint.symbol!r}", field
                )
            return symbol
        if value is None or type(value) is str:  # absent, or cryptofeed's 'None'
            if hint is None:
                raise InvalidMessage("missing_field", f"no {field}", field)
            return hint.symbol
        raise InvalidMessage("wrong_type", f"{field} must be text, not {shown(value)}", field)

    def _asset_class(self, value: str, field: str) -> str:
        name = self._asset_names.get(value)
        if name is not None:
            return name
        lowered = value.lower() if value.isascii() else ""
        if _ASSET_CLASS_RE.fullmatch(lowered) is None:
            raise InvalidMessage("invalid_asset_class", f"{shown(value)}", field)
        if len(self._asset_names) < _CACHE_LIMIT and value != _NONE:
            self._asset_names[value] = lowered
        return lowered

    def _asset_class_of(self, value: object, hint: StreamInfo | None, symbol: str) -> str:
        if type(value) is str:
            name = self._asset_names.get(value)
            if name is None:
                if not value or value == _NONE:
                    return self._implied_asset_class(hint, symbol)
                name = self._asset_class(value, "asset_class")
            if hint is not None and hint.asset_class is not None and name != hint.asset_class:
                raise InvalidMessage(
                    "stream_mismatch", f"{name!r} in a {hint.asset_class!r} stream", "asset_class"
                )
            return name
        if value is None:
            return self._implied_asset_class(hint, symbol)
        raise InvalidMessage(
            "wrong_type", f"asset_class must be text, not {shown(value)}", "asset_class"
        )

    def _implied_asset_class(self, hint: StreamInfo | None, symbol: str) -> str:
        """The stream key's asset class, else the symbol's configured one, else the default."""
        if hint is not None and hint.asset_class is not None:
            return hint.asset_class
        return self._asset_map.get(symbol, self._default_asset)

    @staticmethod
    def _text(value: object, field: str) -> str | None:
        """An optional short label (exchange, source)."""
        if _absent(value):
            return None
        if type(value) is not str:
            raise InvalidMessage("wrong_type", f"{field} must be text, not {shown(value)}", field)
        if len(value) > _MAX_TEXT_CHARS:
            raise InvalidMessage("wrong_type", f"{field} over {_MAX_TEXT_CHARS} characters", field)
        return value

    def _exchange_of(self, value: object, hint: StreamInfo | None) -> str | None:
        if value is None:
            return None if hint is None else hint.exchange
        exchange = self._text(value, "exchange")
        if exchange is None and hint is not None:
            return hint.exchange
        return exchange

    @staticmethod
    def _trade_id(value: object) -> str | None:
        if type(value) is int:
            if -_MAX_TRADE_ID_INT < value < _MAX_TRADE_ID_INT:
                return str(value)
            raise InvalidMessage("wrong_type", f"trade id is {shown(value)}", "trade_id")
        return SchemaValidator._text(value, "trade_id")

    # -- numbers -----------------------------------------------------------------------------

    @staticmethod
    def _number(value: object, field: str) -> float:
        """Any accepted number as a finite plain float (booleans are not numbers)."""
        if isinstance(value, float):
            number = float(value)  # also turns a float subclass (numpy.float64) into a float
        elif isinstance(value, str):
            if not value or value == _NONE:
                raise InvalidMessage("missing_field", f"no {field}", field)
            if not value.isascii():  # float() would read other scripts' digits
                raise InvalidMessage("wrong_type", f"{field} is {shown(value)}", field)
            try:
                number = float(value)
            except ValueError:
                raise InvalidMessage(
                    "wrong_type", f"{field} is {shown(value)}, not a number", field
                ) from None
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise InvalidMessage("non_finite", f"{field} is {shown(value)}", field) from None
        elif value is None:
            raise InvalidMessage("missing_field", f"no {field}", field)
        else:
            raise InvalidMessage("wrong_type", f"{field} is {shown(value)}, not a number", field)
        if not math.isfinite(number):
            raise InvalidMessage("non_finite", f"{field} is {number!r}", field)
        return number

    def _price(self, value: object, field: str) -> float:
        price = self._number(value, field)
        if price <= 0.0:
            raise InvalidMessage("non_positive_price", f"{field} {price!r}", field)
        if price > self._max_price:
            raise InvalidMessage(
                "price_out_of_range", f"{field} {price!r} > {self._max_price!r}", field
            )
        return price

    def _size(self, value: object, field: str) -> float:
        size = self._number(value, field)
        if size < 0.0:
            raise InvalidMessage("negative_volume", f"{field} {size!r}", field)
        if size > self._max_volume:
            raise InvalidMessage(
                "volume_out_of_range", f"{field} {size!r} > {self._max_volume!r}", field
            )
        return size + 0.0  # -0.0 -> 0.0

    def _timestamp(self, value: object, field: str) -> float:
        """Epoch seconds by the rules of ``data_feeds.timestamps``, within the allowed window."""
        ts = epoch_seconds(value, field)
        if ts < self._min_ts:
            raise InvalidMessage(
                "timestamp_out_of_range", f"{field} {ts!r} s is before {self._min_ts!r}", field
            )
        horizon = self._clock() + self._max_future
        self._ts_ceiling = min(horizon, SECONDS_CEILING)
        if ts > horizon:
            raise InvalidMessage(
                "timestamp_out_of_range",
                f"{field} {ts!r} is more than {self._max_future!r} s ahead",
                field,
            )
        return ts

    # -- books -------------------------------------------------------------------------------

    def _sides(self, value: object, field: str) -> tuple[object, object]:
        """``(bids, asks)`` of a cryptofeed ``book`` or ``delta`` object (or its JSON text)."""
        sides = self._loads(value, field) if isinstance(value, str | bytes) else value
        if type(sides) is not dict:
            raise InvalidMessage("wrong_type", f"{field} must be an object of bid and ask", field)
        bids = sides.get("bid")
        if bids is None:
            bids = sides.get("bids")
        asks = sides.get("ask")
        if asks is None:
            asks = sides.get("asks")
        return bids, asks

    def _levels(self, value: object, field: str, *, best_high: bool) -> tuple[Level, ...]:
        if _absent(value):
            return ()
        if isinstance(value, str | bytes):
            value = self._loads(value, field)
        pairs: Any
        if type(value) is list or type(value) is tuple:
            pairs = value
        elif type(value) is dict:
            pairs = value.items()
        else:
            raise InvalidMessage("wrong_type", f"{field} must be a list of levels", field)
        if len(pairs) > self._max_levels:
            raise InvalidMessage(
                "too_many_levels", f"{len(pairs)} {field} > {self._max_levels}", field
            )
        max_price = self._max_price
        max_volume = self._max_volume
        levels: list[Level] = []
        for level in pairs:
            if (type(level) is list or type(level) is tuple) and len(level) == 2:
                price, size = level
            else:
                raise InvalidMessage("wrong_type", f"a {field} level must be [price, size]", field)
            if not (type(price) is float and 0.0 < price <= max_price):
                price = self._price(price, field)
            if not (type(size) is float and 0.0 <= size <= max_volume):
                size = self._size(size, field)
            levels.append((price, size))
        levels.sort(key=_BY_PRICE, reverse=best_high)
        return tuple(levels)


def _infer_kind(obj: dict[str, Any]) -> str:
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


def _unfinished(closed: object) -> bool:
    """cryptofeed's ``closed`` of a candle still in progress: ``'False'`` (as text), ``False``.
    Compared by type first: a wire value may be anything (``==`` on a Decimal sNaN raises)."""
    if closed is False:
        return True
    kind = type(closed)
    return (kind is str and closed == "False") or (kind is bytes and closed == b"False")
