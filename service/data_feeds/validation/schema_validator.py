"""SchemaValidator: one raw stream message in, one normalized record (or ``InvalidMessage``) out.

The front of the validation stage. It reads the stream key (``cache.keys.parse_stream_key``:
kind, symbol, asset class, exchange, layout), picks the way in and hands the payload on:

- ``layouts.native``: our own layout, a stream entry with a single ``data`` field holding
  compact JSON (``cache/codec.py``, ``records.*.to_dict``), or that JSON object itself as bytes,
  str or dict. Keys and values of an entry may be bytes (redis-py with
  ``decode_responses=False``) or str. An entry with a ``data`` field is read from that field
  alone (other fields, such as trace ids, are ignored). A plain price tick from its own price
  stream takes the msgspec fast path.
- ``layouts.cryptofeed``: cryptofeed's Redis Streams backend, one flat entry per object
  (trades, ticker, book, candles; numbers as text, ``'None'`` for missing).
- ``wire``: decoding and size limits (``max_payload_bytes`` bounds the raw bytes, for a field
  mapping all names and values together, checked before anything is parsed).
- ``builders``: the record of each kind, applying the field rules of ``fields``.

Field names read (anything else is ignored): ``kind``, ``symbol``, ``keyword``, ``asset_class``,
``exchange``, ``price``, ``volume`` (or ``amount``), ``bid``, ``ask``, ``close``, ``stop``,
``closed``, ``side``, ``trade_id`` (or ``id``), ``bids``, ``asks``, ``delta``, ``book``, ``score``,
``source``, ``timestamp``. Timestamps are read by ``data_feeds.timestamps`` (s, ms, us or ns by
magnitude, or ISO-8601 text; naive means UTC).

Every failure raises ``InvalidMessage`` with a code from ``errors.REASONS``; see
``docs/reason_codes.md``. No other exception escapes ``validate`` for any input.
"""

from __future__ import annotations

from collections.abc import Mapping

from orjson import JSONDecodeError
from orjson import loads as _loads

from data_feeds.cache.keys import StreamInfo, parse_stream_key
from data_feeds.errors import InvalidMessage, shown
from data_feeds.records import PRICE, Record, Tick
from data_feeds.validation.builders import RecordBuilder
from data_feeds.validation.fields import CACHE_LIMIT
from data_feeds.validation.layouts.native import TICK_BY_HAND, native_tick_decoder
from data_feeds.validation.wire import field_map, json_failure

__all__ = ["SchemaValidator"]

_new = object.__new__


class SchemaValidator(RecordBuilder):
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

    __slots__ = ("_decode_native", "_hints", "_price_streams")

    def _prepare(self) -> None:
        """The stream-key caches and the fast path's decoder, made of the checked limits."""
        # Stream key -> what it says (validated), bounded like the field caches; and the native
        # price streams among them (an asset class, no exchange): stream key -> (symbol, asset
        # class), what validate's fast path compares a tick with.
        self._hints: dict[str, StreamInfo | None] = {}
        self._price_streams: dict[str | None, tuple[str, str]] = {}
        self._decode_native = native_tick_decoder(self._max_price, self._max_volume, self._min_ts)

    def validate(self, raw: object, *, stream: str | None = None) -> Record:
        """The normalized record ``raw`` carries; ``stream`` is the key it was read from.

        ``raw``: bytes, bytearray, memoryview or str of JSON, a dict (the JSON object), or a
        stream entry's field mapping (bytes or str keys and values). Raises ``InvalidMessage``.
        """
        # Fast path: a data field of bytes within the size limit, read from a native price
        # stream seen before, holding our tick layout (Tick.to_dict without exchange) with the
        # stream's own symbol and asset class or none (normalized already, so equal text
        # normalizes to itself; none means the stream's). msgspec decodes and checks it in one
        # pass against a type made of this validator's limits (layouts.native): kind
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
                        if not TICK_BY_HAND:
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
                        raise json_failure(data, exc, "data") from None
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
            fields = field_map(raw, self._max_bytes)
            if "data" in fields:
                return self._build(self._loads(fields["data"], "data"), hint, "data")
            return self._build(fields, hint, None)
        if isinstance(raw, bytes | bytearray | memoryview | str):
            return self._build(self._loads(raw, None), hint, None)
        raise InvalidMessage(
            "wrong_type", f"a message is JSON text or a field mapping, not {shown(raw)}"
        )

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
        if len(self._hints) < CACHE_LIMIT and isinstance(stream, str):
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
