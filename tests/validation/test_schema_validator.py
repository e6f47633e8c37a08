"""SchemaValidator: every accepted layout, every reason code, units, hints and configuration."""

from __future__ import annotations

import ast
import json
import math
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from data_feeds.cache.codec import encode_fields
from data_feeds.cache.keys import record_stream
from data_feeds.errors import REASONS, InvalidMessage
from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.validation.schema_validator import SchemaValidator

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z, the validator's clock in these tests
TS = 1_699_999_999.5  # 2023-11-14T22:13:19.5Z
DOCS = Path(__file__).resolve().parents[2] / "docs" / "reason_codes.md"


def fixed_clock() -> float:
    return NOW


@pytest.fixture
def validator() -> SchemaValidator:
    return SchemaValidator(clock=fixed_clock)


def tick_obj(**changes: Any) -> dict[str, Any]:
    """A valid native price tick payload with some fields changed (None removes one)."""
    obj: dict[str, Any] = {
        "kind": "price",
        "symbol": "BTCUSDT",
        "price": 50000.0,
        "volume": 1.0,
        "timestamp": TS,
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def trade_obj(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "kind": "trade",
        "symbol": "BTCUSDT",
        "price": 50000.0,
        "volume": 0.5,
        "side": "buy",
        "timestamp": TS,
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def book_obj(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "kind": "book",
        "symbol": "BTCUSDT",
        "timestamp": TS,
        "bids": [[99.0, 1.0], [98.0, 2.0]],
        "asks": [[101.0, 1.0], [102.0, 2.0]],
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def sentiment_obj(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": "sentiment", "keyword": "btc", "score": 0.5, "timestamp": TS}
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def data(obj: dict[str, Any]) -> dict[bytes, bytes]:
    """Our single-field entry exactly as redis-py returns it."""
    return {b"data": orjson.dumps(obj)}


def reason_of(validator: SchemaValidator, raw: object, stream: Any = None) -> str:
    """The reason code validate raises for raw (failing the test if it accepts it)."""
    with pytest.raises(InvalidMessage) as info:
        validator.validate(raw, stream=stream)
    assert info.value.reason in REASONS
    return info.value.reason


def tick_of(validator: SchemaValidator, raw: object, stream: Any = None) -> Tick:
    """validate(raw), which must be a Tick."""
    record = validator.validate(raw, stream=stream)
    assert isinstance(record, Tick)
    return record


# -- every reason code -----------------------------------------------------------------------

BIG_INT_TEXT = "1" * 5000
REASON_CASES: list[tuple[str, object, str | None, str]] = [
    ("empty bytes", b"", None, "empty_payload"),
    ("empty str", "", None, "empty_payload"),
    ("empty mapping", {}, None, "empty_payload"),
    ("empty data field", {b"data": b""}, None, "empty_payload"),
    ("empty JSON object", b"{}", None, "empty_payload"),
    ("64 KiB + 1 bytes", b" " * 65537, None, "payload_too_large"),
    ("big data field", {b"data": b"{" + b" " * 70000 + b"}"}, None, "payload_too_large"),
    ("big str", " " * 65537, None, "payload_too_large"),
    (
        "big flat fields",
        {b"symbol": b"x" * 40000, b"price": b"1" * 40000},
        None,
        "payload_too_large",
    ),
    ("too many fields", {f"f{i}".encode(): b"1" for i in range(65)}, None, "payload_too_large"),
    ("bad UTF-8 in JSON", b'{"symbol": "\xff"}', None, "invalid_utf8"),
    ("bad UTF-8 value", {b"symbol": b"\xc3\x28", b"price": b"1"}, None, "invalid_utf8"),
    ("bad UTF-8 field name", {b"\xff": b"1", b"price": b"1"}, None, "invalid_utf8"),
    ("lone surrogate", '{"symbol": "\ud800"}', None, "invalid_utf8"),
    ("truncated JSON", b'{"kind": "price"', None, "malformed_json"),
    ("10k-deep nesting", b"[" * 10000 + b"]" * 10000, None, "malformed_json"),
    ("single quotes", b"{'kind': 'price'}", None, "malformed_json"),
    ("JSON array", b"[1, 2]", None, "wrong_type"),
    ("an int", 42, None, "wrong_type"),
    ("a list", [b"data", b"{}"], None, "wrong_type"),
    ("boolean price", tick_obj(price=True), None, "wrong_type"),
    ("boolean timestamp", data(tick_obj(timestamp=True)), None, "wrong_type"),
    ("list price", data(tick_obj(price=[1.0])), None, "wrong_type"),
    ("numeric symbol", data(tick_obj(symbol=5)), None, "wrong_type"),
    ("kind not text", data(tick_obj(kind=1)), None, "wrong_type"),
    ("word price", data(tick_obj(price="fifty")), None, "wrong_type"),
    ("bad ISO time", data(tick_obj(timestamp="2023-13-45T00:00:00Z")), None, "wrong_type"),
    ("level not a pair", data(book_obj(bids=[[1.0, 2.0, 3.0]])), None, "wrong_type"),
    ("huge trade id", trade_obj(trade_id=10**30), None, "wrong_type"),
    ("no price", data(tick_obj(price=None)), None, "missing_field"),
    ("no volume", data(tick_obj(volume=None)), None, "missing_field"),
    ("no timestamp", data(tick_obj(timestamp=None)), None, "missing_field"),
    ("no symbol", data(tick_obj(symbol=None)), None, "missing_field"),
    (
        "literal None price",
        {b"symbol": b"BTC-USDT", b"price": b"None", b"bid": b"1"},
        None,
        "missing_field",
    ),
    ("no side", data(trade_obj(side=None)), None, "missing_field"),
    ("no score", data(sentiment_obj(score=None)), None, "missing_field"),
    ("book without levels", data(book_obj(bids=None, asks=None)), None, "missing_field"),
    ("unknown kind", data(tick_obj(kind="candle")), None, "unknown_kind"),
    ("unrecognisable fields", {"foo": 1, "timestamp": TS}, None, "unknown_kind"),
    ("space in symbol", data(tick_obj(symbol="BTC USDT")), None, "invalid_symbol"),
    ("empty symbol", data(tick_obj(symbol="")), None, "invalid_symbol"),
    ("33-character symbol", data(tick_obj(symbol="A" * 33)), None, "invalid_symbol"),
    ("non-ASCII symbol", data(tick_obj(symbol="BTC\u20ac")), None, "invalid_symbol"),
    ("dotless i", data(sentiment_obj(keyword="b\u0131tcoin")), None, "invalid_symbol"),
    (
        "NaN text",
        b'{"symbol": "BTCUSDT", "price": NaN, "volume": 1, "timestamp": 1.7e9}',
        None,
        "non_finite",
    ),
    ("Infinity text", b'{"price": -Infinity}', None, "non_finite"),
    (
        "1e400 text",
        b'{"symbol": "BTCUSDT", "price": 1e400, "volume": 1, "timestamp": 1.7e9}',
        None,
        "non_finite",
    ),
    ("5000-digit integer text", b'{"price": ' + BIG_INT_TEXT.encode() + b"}", None, "non_finite"),
    ("NaN float", tick_obj(price=math.nan), None, "non_finite"),
    ("inf volume", tick_obj(volume=math.inf), None, "non_finite"),
    ("huge int", tick_obj(price=10**5000), None, "non_finite"),
    ("huge int timestamp", tick_obj(timestamp=-(10**400)), None, "non_finite"),
    (
        "nan text field",
        {
            b"symbol": b"BTCUSDT",
            b"price": b"nan",
            b"amount": b"1",
            b"side": b"buy",
            b"timestamp": b"1699999999.5",
        },
        None,
        "non_finite",
    ),
    (
        "long digit text",
        {
            b"symbol": b"BTCUSDT",
            b"price": BIG_INT_TEXT.encode(),
            b"volume": b"1",
            b"timestamp": b"1699999999.5",
        },
        None,
        "non_finite",
    ),
    ("zero price", data(tick_obj(price=0.0)), None, "non_positive_price"),
    ("negative price", data(trade_obj(price=-1)), None, "non_positive_price"),
    ("negative level price", data(book_obj(bids=[[-1.0, 1.0]])), None, "non_positive_price"),
    ("price above ceiling", data(tick_obj(price=2e12)), None, "price_out_of_range"),
    ("negative volume", data(tick_obj(volume=-0.1)), None, "negative_volume"),
    ("negative size", data(book_obj(asks=[[101.0, -1.0]])), None, "negative_volume"),
    ("volume above ceiling", data(trade_obj(volume=2e15)), None, "volume_out_of_range"),
    ("hold side", data(trade_obj(side="hold")), None, "invalid_side"),
    ("numeric side", data(trade_obj(side=1)), None, "invalid_side"),
    ("score above 1", data(sentiment_obj(score=1.5)), None, "score_out_of_range"),
    ("score below -1", data(sentiment_obj(score=-1.01)), None, "score_out_of_range"),
    ("year 2100", data(tick_obj(timestamp=4102444800)), None, "timestamp_out_of_range"),
    ("zero timestamp", data(tick_obj(timestamp=0)), None, "timestamp_out_of_range"),
    ("1999", data(tick_obj(timestamp="1999-12-31T23:59:59Z")), None, "timestamp_out_of_range"),
    (
        "crossed snapshot",
        data(book_obj(bids=[[101.0, 1.0]], asks=[[100.0, 1.0]])),
        None,
        "crossed_book",
    ),
    (
        "locked snapshot",
        data(book_obj(bids=[[100.0, 1.0]], asks=[[100.0, 1.0]])),
        None,
        "crossed_book",
    ),
    ("crossed quote", data(tick_obj(bid=101.0, ask=100.0)), None, "crossed_book"),
    (
        "1001 bid levels",
        data(book_obj(bids=[[1.0 + i, 1.0] for i in range(1001)], asks=[])),
        None,
        "too_many_levels",
    ),
    ("other symbol", data(tick_obj(symbol="ETHUSDT")), "crypto_price:BTCUSDT", "stream_mismatch"),
    ("other kind", data(trade_obj()), "crypto_price:BTCUSDT", "stream_mismatch"),
    (
        "other asset class",
        data(tick_obj(asset_class="equity")),
        "crypto_price:BTCUSDT",
        "stream_mismatch",
    ),
    ("other keyword", data(sentiment_obj(keyword="eth")), "sentiment:BTC", "stream_mismatch"),
    (
        "asset class with space",
        data(tick_obj(asset_class="crypto currency")),
        None,
        "invalid_asset_class",
    ),
    ("asset class digit first", data(tick_obj(asset_class="1x")), None, "invalid_asset_class"),
]


@pytest.mark.parametrize(
    ("raw", "stream", "reason"),
    [case[1:] for case in REASON_CASES],
    ids=[case[0] for case in REASON_CASES],
)
def test_bad_input_raises_its_reason(
    validator: SchemaValidator, raw: object, stream: str | None, reason: str
) -> None:
    """Each malformed input raises InvalidMessage with the documented reason code."""
    assert reason_of(validator, raw, stream) == reason


def test_every_reason_code_is_produced_by_some_input() -> None:
    """The table above covers every reason code (delivery_limit belongs to the consumer)."""
    produced = {case[3] for case in REASON_CASES}
    assert produced == set(REASONS) - {"delivery_limit"}


def test_10mb_payload_is_rejected_by_size_before_parsing(validator: SchemaValidator) -> None:
    """A 10 MB message (any container) is payload_too_large, whatever its content."""
    blob = b"[" * 10_000_000
    for raw in (blob, bytearray(blob), memoryview(blob), blob.decode(), {b"data": blob}):
        assert reason_of(validator, raw) == "payload_too_large"


def test_size_limit_is_configurable() -> None:
    """max_payload_bytes moves the limit: the same tick passes or fails by one byte."""
    raw = orjson.dumps(tick_obj())
    assert isinstance(
        SchemaValidator(max_payload_bytes=len(raw), clock=fixed_clock).validate(raw), Tick
    )
    small = SchemaValidator(max_payload_bytes=len(raw) - 1, clock=fixed_clock)
    assert reason_of(small, raw) == "payload_too_large"


def test_error_carries_field_and_detail(validator: SchemaValidator) -> None:
    """InvalidMessage names the offending field and says what was wrong with it."""
    with pytest.raises(InvalidMessage) as info:
        validator.validate(data(tick_obj(volume=-2.5)))
    assert info.value.field == "volume"
    assert "-2.5" in info.value.detail


def test_error_detail_never_renders_huge_or_nested_values(validator: SchemaValidator) -> None:
    """Details describe huge integers and deep containers without converting them."""
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidMessage) as info:
        validator.validate(tick_obj(symbol=deep))
    assert info.value.reason == "wrong_type" and "list" in info.value.detail
    with pytest.raises(InvalidMessage) as info:
        validator.validate(trade_obj(trade_id=10**10000))
    assert "bits" in info.value.detail


# -- accepted layouts ------------------------------------------------------------------------


def test_seed_tick_validates(validator: SchemaValidator) -> None:
    """The seed's example tick is a crypto price tick, as given."""
    seed = {"symbol": "BTCUSDT", "price": 50000.0, "volume": 10.0, "timestamp": 1234567890.0}
    expected = Tick(
        symbol="BTCUSDT", price=50000.0, volume=10.0, timestamp=1234567890.0, asset_class="crypto"
    )
    assert validator.validate(seed) == expected
    assert validator.validate(json.dumps(seed)) == expected
    assert validator.validate({b"data": json.dumps(seed).encode()}) == expected


def test_native_tick_with_all_fields(validator: SchemaValidator) -> None:
    """Our tick JSON with quotes and an exchange becomes exactly that Tick."""
    raw = (
        b'{"kind":"price","symbol":"ETHUSDT","price":2000.5,"volume":3,"timestamp":1699999999.5,'
        b'"asset_class":"crypto","bid":2000.0,"ask":2001.0,"exchange":"BINANCE"}'
    )
    assert validator.validate({b"data": raw}) == Tick(
        "ETHUSDT", 2000.5, 3.0, TS, "crypto", bid=2000.0, ask=2001.0, exchange="BINANCE"
    )


def test_native_trade(validator: SchemaValidator) -> None:
    """Our trade JSON becomes a Trade with the side lower-cased and the id kept."""
    raw = orjson.dumps(trade_obj(side="SELL", trade_id="t-1", exchange="KRAKEN"))
    assert validator.validate({b"data": raw}) == Trade(
        "BTCUSDT", 50000.0, 0.5, "sell", TS, "crypto", trade_id="t-1", exchange="KRAKEN"
    )


def test_native_book_snapshot_sorted_best_first(validator: SchemaValidator) -> None:
    """Snapshot levels come back bids descending and asks ascending."""
    raw = orjson.dumps(
        book_obj(bids=[[98.0, 2.0], [99.0, 1.0], [97.5, 0.0]], asks=[[102.0, 2.0], [101.0, 1.0]])
    )
    assert validator.validate({b"data": raw}) == BookSnapshot(
        "BTCUSDT",
        TS,
        bids=((99.0, 1.0), (98.0, 2.0), (97.5, 0.0)),
        asks=((101.0, 1.0), (102.0, 2.0)),
        asset_class="crypto",
    )


def test_native_book_delta_keeps_repeated_prices_in_order(validator: SchemaValidator) -> None:
    """A delta is sorted stably and never checked for crossing; size 0 deletes a level."""
    raw = orjson.dumps(
        book_obj(delta=True, bids=[[100.0, 5.0], [101.0, 1.0], [100.0, 0.0]], asks=[[99.0, 0.0]])
    )
    assert validator.validate({b"data": raw}) == BookDelta(
        "BTCUSDT",
        TS,
        bids=((101.0, 1.0), (100.0, 5.0), (100.0, 0.0)),
        asks=((99.0, 0.0),),
        asset_class="crypto",
    )


def test_native_sentiment(validator: SchemaValidator) -> None:
    """Our sentiment JSON becomes a Sentiment with the keyword upper-cased."""
    raw = orjson.dumps(sentiment_obj(keyword="bitcoin", score=-1, source="twitter"))
    assert validator.validate({b"data": raw}) == Sentiment("BITCOIN", -1.0, TS, "twitter")


def test_numbers_come_back_as_plain_floats(validator: SchemaValidator) -> None:
    """Integers and numeric text become float, never int or str."""
    record = validator.validate({"symbol": "X", "price": "7", "volume": 2, "timestamp": TS})
    assert isinstance(record, Tick)
    assert type(record.price) is float and type(record.volume) is float
    assert type(record.timestamp) is float


RECORDS: list[Record] = [
    Tick("BTCUSDT", 50000.25, 1.5, TS, "crypto"),
    Tick("EURUSD", 1.0842, 0.0, TS, "fx", bid=1.0841, ask=1.0843, exchange="OANDA"),
    Tick("BRK.B", 412.3, 100.0, TS, "equity"),
    Trade("BTCUSDT", 50000.25, 0.001, "buy", TS, "crypto", trade_id="123", exchange="BINANCE"),
    Trade("AAPL", 190.01, 10.0, "sell", TS, "equity"),
    BookSnapshot("BTCUSDT", TS, ((100.0, 1.0), (99.5, 2.0)), ((100.5, 3.0),), "crypto", "BINANCE"),
    BookSnapshot("BTCUSDT", TS, ((100.0, 1.0),), (), "crypto"),
    BookDelta("ETHUSDT", TS, ((2000.0, 0.0),), ((2001.0, 4.5), (2002.0, 1.0)), "crypto"),
    Sentiment("BTC", 0.25, TS, "news"),
    Sentiment("ETH", -0.75, TS),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip_through_the_codec(validator: SchemaValidator, record: Record) -> None:
    """validate(encode_fields(record)) gives the record back, with str or bytes field names."""
    fields = encode_fields(record)
    assert validator.validate(fields) == record
    as_redis_returns = {k.encode(): v for k, v in fields.items()}
    assert validator.validate(as_redis_returns) == record
    assert validator.validate(fields["data"]) == record
    assert validator.validate(record.to_dict()) == record


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip_with_its_stream_key(validator: SchemaValidator, record: Record) -> None:
    """A record read back from its own stream key validates to itself."""
    assert validator.validate(encode_fields(record), stream=record_stream(record)) == record


def test_every_json_container_is_accepted(validator: SchemaValidator) -> None:
    """bytes, bytearray, memoryview, str, dict and other mappings carry the same tick."""
    raw = orjson.dumps(tick_obj())
    expected = validator.validate(raw)
    for variant in (
        bytearray(raw),
        memoryview(raw),
        raw.decode(),
        {b"data": bytearray(raw)},
        {"data": raw.decode()},
        OrderedDict(data(tick_obj())),
        {b"data": raw, b"trace": b"abc"},
    ):
        assert validator.validate(variant) == expected


# -- cryptofeed -------------------------------------------------------------------------------

CF_TRADE = {
    b"exchange": b"BINANCE",
    b"symbol": b"BTC-USDT",
    b"side": b"sell",
    b"amount": b"6.38e-06",
    b"price": b"37000.5",
    b"id": b"1234567",
    b"type": b"None",
    b"timestamp": b"1699999999.5",
    b"receipt_timestamp": b"1699999999.6",
}
CF_TICKER = {
    b"exchange": b"COINBASE",
    b"symbol": b"ETH-USD",
    b"bid": b"1999.5",
    b"ask": b"2000.5",
    b"timestamp": b"1699999999.5",
    b"receipt_timestamp": b"1699999999.6",
}
CF_BOOK = {
    b"exchange": b"KRAKEN",
    b"symbol": b"BTC-USD",
    b"book": (
        b'{"bid": {"36999.5": 1.5, "37000": 0.25}, "ask": {"37001.25": 3.0, "37000.5": 2e-05}}'
    ),
    b"timestamp": b"1699999999.5",
    b"receipt_timestamp": b"1699999999.6",
}
CF_DELTA = {
    b"exchange": b"KRAKEN",
    b"symbol": b"BTC-USD",
    b"delta": b'{"bid": [[37000.0, 0.0], [36990.0, 1.5]], "ask": [[37002.0, 0.75]]}',
    b"timestamp": b"1699999999.5",
    b"receipt_timestamp": b"1699999999.6",
}
CF_CANDLE = {
    b"exchange": b"BINANCE",
    b"symbol": b"BTC-USDT",
    b"start": b"1699999940.0",
    b"stop": b"1699999999.999",
    b"interval": b"1m",
    b"trades": b"42",
    b"open": b"37010.0",
    b"close": b"37000.5",
    b"high": b"37020.0",
    b"low": b"36990.0",
    b"volume": b"12.5",
    b"closed": b"True",
    b"timestamp": b"1700000000.05",
    b"receipt_timestamp": b"1700000000.1",
}
CF_CASES: list[tuple[str, dict[bytes, bytes], str, Record]] = [
    (
        "trade",
        CF_TRADE,
        "trades-BINANCE-BTC-USDT",
        Trade("BTCUSDT", 37000.5, 6.38e-06, "sell", TS, "crypto", "1234567", "BINANCE"),
    ),
    (
        "ticker",
        CF_TICKER,
        "ticker-COINBASE-ETH-USD",
        Tick("ETHUSD", 2000.0, 0.0, TS, "crypto", bid=1999.5, ask=2000.5, exchange="COINBASE"),
    ),
    (
        "book",
        CF_BOOK,
        "book-KRAKEN-BTC-USD",
        BookSnapshot(
            "BTCUSD",
            TS,
            ((37000.0, 0.25), (36999.5, 1.5)),
            ((37000.5, 2e-05), (37001.25, 3.0)),
            "crypto",
            "KRAKEN",
        ),
    ),
    (
        "delta",
        CF_DELTA,
        "book-KRAKEN-BTC-USD",
        BookDelta(
            "BTCUSD", TS, ((37000.0, 0.0), (36990.0, 1.5)), ((37002.0, 0.75),), "crypto", "KRAKEN"
        ),
    ),
    (
        "candle",
        CF_CANDLE,
        "candles-BINANCE-BTC-USDT",
        Tick("BTCUSDT", 37000.5, 12.5, 1699999999.999, "crypto", exchange="BINANCE"),
    ),
]


@pytest.mark.parametrize(
    ("fields", "stream", "expected"), [c[1:] for c in CF_CASES], ids=[c[0] for c in CF_CASES]
)
def test_cryptofeed_entries(
    validator: SchemaValidator, fields: dict[bytes, bytes], stream: str, expected: Record
) -> None:
    """cryptofeed's flat entries (bytes, as redis-py returns them) map to our records."""
    assert validator.validate(fields, stream=stream) == expected
    assert validator.validate(fields) == expected  # the fields alone say what they are
    as_text = {k.decode(): v.decode() for k, v in fields.items()}
    assert validator.validate(as_text, stream=stream) == expected


def test_cryptofeed_entries_through_real_redis(
    validator: SchemaValidator, redis_client: redis.Redis
) -> None:
    """Entries written the way cryptofeed's RedisStreamCallback writes them read back valid."""
    # What TradeStream/BookStream/CandlesStream hand to XADD: to_dict(numeric_type=float,
    # none_to='None') plus receipt_timestamp, with book/delta JSON-encoded and closed as str.
    written = {
        "trades-BINANCE-BTC-USDT": {
            "exchange": "BINANCE",
            "symbol": "BTC-USDT",
            "side": "buy",
            "amount": 6.38e-06,
            "price": 37000.5,
            "id": "None",
            "type": "None",
            "timestamp": TS,
            "receipt_timestamp": TS + 0.1,
        },
        "book-BINANCE-BTC-USDT": {
            "exchange": "BINANCE",
            "symbol": "BTC-USDT",
            "delta": json.dumps({"bid": [[37000.0, 0.0]], "ask": [[37001.0, 1.25]]}),
            "timestamp": TS,
            "receipt_timestamp": TS + 0.1,
        },
        "candles-BINANCE-BTC-USDT": {
            "exchange": "BINANCE",
            "symbol": "BTC-USDT",
            "start": TS - 59.5,
            "stop": TS,
            "interval": "1m",
            "trades": "None",
            "open": 1.0,
            "close": 2.5e-07,
            "high": 3.0,
            "low": 1.0e-07,
            "volume": 1000.0,
            "closed": str(True),
            "timestamp": TS,
            "receipt_timestamp": TS + 0.1,
        },
    }
    for key, fields in written.items():
        redis_client.xadd(key, fields)  # type: ignore[arg-type]
    read: dict[str, Any] = {key: redis_client.xrange(key)[0][1] for key in written}  # type: ignore[index]
    assert read["trades-BINANCE-BTC-USDT"][b"amount"] == b"6.38e-06"
    assert validator.validate(
        read["trades-BINANCE-BTC-USDT"], stream="trades-BINANCE-BTC-USDT"
    ) == Trade("BTCUSDT", 37000.5, 6.38e-06, "buy", TS, "crypto", None, "BINANCE")
    assert validator.validate(
        read["book-BINANCE-BTC-USDT"], stream="book-BINANCE-BTC-USDT"
    ) == BookDelta("BTCUSDT", TS, ((37000.0, 0.0),), ((37001.0, 1.25),), "crypto", "BINANCE")
    assert validator.validate(
        read["candles-BINANCE-BTC-USDT"], stream="candles-BINANCE-BTC-USDT"
    ) == Tick("BTCUSDT", 2.5e-07, 1000.0, TS, "crypto", exchange="BINANCE")


def test_cryptofeed_candle_without_stop_uses_timestamp(validator: SchemaValidator) -> None:
    """A candle whose stop is 'None' is timestamped by its timestamp field."""
    fields = {**CF_CANDLE, b"stop": b"None"}
    record = validator.validate(fields)
    assert isinstance(record, Tick) and record.timestamp == 1700000000.05


def test_cryptofeed_empty_delta_is_missing_levels(validator: SchemaValidator) -> None:
    """A delta cryptofeed wrote as the JSON string "None" carries no levels."""
    fields = {**CF_DELTA, b"delta": b'"None"'}
    assert reason_of(validator, fields, "book-KRAKEN-BTC-USD") == "missing_field"


# -- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        TS,
        "1699999999.5",
        1_699_999_999_500,
        1_699_999_999_500.0,
        "1699999999500",
        1_699_999_999_500_000,
        1_699_999_999_500_000_000,
        "1699999999500000000",
        "2023-11-14T22:13:19.5Z",
        "2023-11-14T22:13:19.500000+00:00",
        "2023-11-14T23:13:19.5+01:00",
        "2023-11-14T17:13:19.5-05:00",
        "2023-11-14T22:13:19.5",
        "2023-11-14 22:13:19.5",
    ],
)
def test_timestamp_units_and_iso(validator: SchemaValidator, value: object) -> None:
    """s, ms, µs, ns (number or text) and ISO-8601 (Z, offset, naive=UTC) all mean TS."""
    record = validator.validate(tick_obj(timestamp=value))
    assert record.timestamp == pytest.approx(TS, abs=1e-6)


def test_nanosecond_integers_keep_their_precision(validator: SchemaValidator) -> None:
    """An integer ns timestamp is divided exactly, not through a lossy float first."""
    record = validator.validate(tick_obj(timestamp=1_699_999_999_123_456_789))
    assert record.timestamp == 1_699_999_999_123_456_789 / 1_000_000_000


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (946684800.0, True),
        (946684799.999, False),
        (NOW + 86400.0, True),
        (NOW + 86400.01, False),
        ((NOW + 86400.01) * 1000, False),
        (-TS, False),
        ("2000-01-01T00:00:00Z", True),
        ("1999-12-31T23:59:59.999Z", False),
    ],
)
def test_timestamp_window(validator: SchemaValidator, value: object, ok: bool) -> None:
    """Timestamps are accepted within [2000-01-01, now + max_future_s] and rejected outside."""
    if ok:
        validator.validate(tick_obj(timestamp=value))
    else:
        assert reason_of(validator, tick_obj(timestamp=value)) == "timestamp_out_of_range"


def test_timestamp_window_follows_configuration() -> None:
    """min_timestamp_s and max_future_s move the window."""
    strict = SchemaValidator(min_timestamp_s=NOW - 60, max_future_s=0.0, clock=fixed_clock)
    strict.validate(tick_obj(timestamp=NOW))
    assert reason_of(strict, tick_obj(timestamp=NOW - 61)) == "timestamp_out_of_range"
    assert reason_of(strict, tick_obj(timestamp=NOW + 0.5)) == "timestamp_out_of_range"


# -- asset classes, stream keys, sides, configuration -----------------------------------------


def test_asset_class_precedence() -> None:
    """Explicit field, then the stream key, then the symbol mapping, then the default."""
    v = SchemaValidator(
        asset_classes={"aapl": "equity", "EUR/USD": "FX"},
        default_asset_class="crypto",
        clock=fixed_clock,
    )
    assert tick_of(v, tick_obj(symbol="AAPL")).asset_class == "equity"
    assert tick_of(v, tick_obj(symbol="EUR-USD")).asset_class == "fx"
    assert tick_of(v, tick_obj(symbol="BTCUSDT")).asset_class == "crypto"
    assert tick_of(v, tick_obj(symbol="AAPL", asset_class="Etf")).asset_class == "etf"
    assert tick_of(v, tick_obj(symbol="AAPL"), "otc_price:AAPL").asset_class == "otc"
    trade = v.validate(CF_TRADE, stream="trades-BINANCE-BTC-USDT")
    assert isinstance(trade, Trade) and trade.asset_class == "crypto"


def test_stream_key_supplies_what_the_payload_omits(validator: SchemaValidator) -> None:
    """Kind, symbol and asset class come from a native stream key when the payload lacks them."""
    raw = {"price": 1.5, "volume": 2.0, "timestamp": TS}
    assert validator.validate(raw, stream="fx_price:eur-usd") == Tick("EURUSD", 1.5, 2.0, TS, "fx")
    bare = {"bids": [[1.0, 1.0]], "timestamp": TS}
    assert validator.validate(bare, stream="equity_book:AAPL") == BookSnapshot(
        "AAPL", TS, ((1.0, 1.0),), (), "equity"
    )
    assert validator.validate(
        {"score": 0.1, "timestamp": TS}, stream="sentiment:doge"
    ) == Sentiment("DOGE", 0.1, TS)


def test_stream_key_kind_overrides_inference(validator: SchemaValidator) -> None:
    """In a trade stream a payload without kind is read as a trade (and needs a side)."""
    raw = tick_obj(kind=None)
    assert reason_of(validator, raw, "crypto_trade:BTCUSDT") == "missing_field"


def test_unknown_stream_keys_give_no_hints(validator: SchemaValidator) -> None:
    """A key the scheme does not know (or an output key) neither helps nor hurts."""
    for stream in ("mystream", "signals:BTCUSDT", "dlq:crypto_price:BTCUSDT", ""):
        assert tick_of(validator, tick_obj(), stream).symbol == "BTCUSDT"


def test_bad_stream_keys(validator: SchemaValidator) -> None:
    """A stream key with a bad symbol or asset class, or that is not text, is rejected."""
    assert reason_of(validator, tick_obj(), "crypto_price:BTC USDT") == "invalid_symbol"
    assert reason_of(validator, tick_obj(), "Crypto Coins_price:BTCUSDT") == "invalid_asset_class"
    assert reason_of(validator, tick_obj(), ["x"]) == "wrong_type"
    assert tick_of(validator, tick_obj(), b"crypto_price:BTCUSDT").symbol == "BTCUSDT"


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        ("buy", "buy"),
        ("BUY", "buy"),
        ("Buy", "buy"),
        ("b", "buy"),
        ("B", "buy"),
        ("sell", "sell"),
        ("SELL", "sell"),
        ("Sell", "sell"),
        ("s", "sell"),
        ("S", "sell"),
    ],
)
def test_trade_sides(validator: SchemaValidator, side: str, expected: str) -> None:
    """The documented side spellings normalize to buy/sell."""
    record = validator.validate(trade_obj(side=side))
    assert isinstance(record, Trade) and record.side == expected


@pytest.mark.parametrize("side", ["bid", "ask", "BUYY", "long", " buy", "bUy", ""])
def test_other_sides_are_rejected(validator: SchemaValidator, side: str) -> None:
    """Anything else is invalid_side (or missing_field when empty)."""
    assert reason_of(validator, trade_obj(side=side)) in {"invalid_side", "missing_field"}


def test_symbols_normalize(validator: SchemaValidator) -> None:
    """Separators go, letters go upper case, dots stay."""
    for raw, expected in (
        ("btc-usdt", "BTCUSDT"),
        ("BTC/USDT", "BTCUSDT"),
        ("brk.b", "BRK.B"),
        ("eth_usd", "ETHUSD"),
        ("A" * 32, "A" * 32),
    ):
        assert tick_of(validator, tick_obj(symbol=raw)).symbol == expected


def test_integer_trade_ids_become_text(validator: SchemaValidator) -> None:
    """A numeric trade id is kept as its decimal text."""
    record = validator.validate(trade_obj(trade_id=987654321))
    assert isinstance(record, Trade) and record.trade_id == "987654321"


def test_book_level_limit_is_per_side() -> None:
    """max_book_levels bounds each side separately."""
    v = SchemaValidator(max_book_levels=2, clock=fixed_clock)
    v.validate(book_obj())  # two levels a side
    assert reason_of(v, book_obj(asks=[[101.0, 1.0]] * 3)) == "too_many_levels"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_payload_bytes": 0}, "max_payload_bytes"),
        ({"max_payload_bytes": True}, "max_payload_bytes"),
        ({"max_book_levels": 1.5}, "max_book_levels"),
        ({"max_price": 0}, "max_price"),
        ({"max_price": math.inf}, "max_price"),
        ({"max_volume": -1.0}, "max_volume"),
        ({"max_volume": "1e15"}, "max_volume"),
        ({"min_timestamp_s": math.nan}, "min_timestamp_s"),
        ({"max_future_s": -1}, "max_future_s"),
        ({"clock": 5}, "clock"),
        ({"default_asset_class": "Crypto Coins"}, "default_asset_class"),
        ({"asset_classes": {"BTC USD": "crypto"}}, "asset_classes"),
        ({"asset_classes": {"BTCUSD": "9"}}, "asset_classes"),
        ({"asset_classes": [("BTCUSD", "crypto")]}, "asset_classes"),
    ],
)
def test_bad_configuration_names_the_parameter(kwargs: dict[str, Any], name: str) -> None:
    """A bad setting raises ValueError whose message names the parameter."""
    with pytest.raises(ValueError, match=re.escape(name)):
        SchemaValidator(**kwargs)


# -- the reason-code document ----------------------------------------------------------------


def _literal(node: ast.expr) -> object:
    """A Python literal, also allowing ``+`` and ``*`` (``b"x" * 70000``) at any depth."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left: Any = _literal(node.left)
        right: Any = _literal(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True) if k}
    if isinstance(node, ast.List):
        return [_literal(element) for element in node.elts]
    return ast.literal_eval(node)


def test_reason_code_document_examples_raise_their_codes(validator: SchemaValidator) -> None:
    """docs/reason_codes.md lists every code, and each example really raises it."""
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|[^|]*\| (.*?) \|$", DOCS.read_text(), re.MULTILINE)
    documented = {code for code, _ in rows}
    assert documented == set(REASONS)
    checked = set()
    for code, example in rows:
        if not example.startswith("`validate("):
            continue
        call = ast.parse(example.strip("`"), mode="eval").body
        assert isinstance(call, ast.Call)
        args = [_literal(arg) for arg in call.args]
        kwargs = {kw.arg: _literal(kw.value) for kw in call.keywords if kw.arg}
        with pytest.raises(InvalidMessage) as info:
            validator.validate(*args, **kwargs)  # type: ignore[arg-type]
        assert info.value.reason == code, example
        checked.add(code)
    assert checked == set(REASONS) - {"delivery_limit"}


def test_unfinished_cryptofeed_candle_is_stamped_at_its_event_time() -> None:
    """A candle still in progress (closed 'False') carries its update time, not its stop."""
    fields = {b"exchange": b"BINANCE", b"symbol": b"BTC-USDT", b"start": b"1700000000.0",
              b"stop": b"1700000059.999", b"interval": b"1m", b"trades": b"12",
              b"open": b"100.0", b"close": b"101.0", b"high": b"102.0", b"low": b"99.0",
              b"volume": b"3.5", b"timestamp": b"1700000030.5",
              b"receipt_timestamp": b"1700000030.6"}  # fmt: skip
    validator = SchemaValidator()
    running = validator.validate({**fields, b"closed": b"False"}, stream="candles-BINANCE-BTC-USDT")
    closed = validator.validate({**fields, b"closed": b"True"}, stream="candles-BINANCE-BTC-USDT")
    assert running.timestamp == 1700000030.5
    assert closed.timestamp == 1700000059.999
