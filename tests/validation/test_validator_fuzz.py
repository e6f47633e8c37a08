"""Fuzzing SchemaValidator: only InvalidMessage ever escapes, and what passes is well-formed.

Hypothesis draws a seed and a handful of arbitrary JSON-like values per example; a seeded
generator turns them into a batch of ``BATCH`` hostile inputs (mutated valid messages of every
layout, byte-level corruption, NaN/Inf/1e400/5000-digit numbers, 10k-deep nesting, invalid
UTF-8, wrong types, empty and oversized payloads, timestamps in every unit, field mappings with
bytes keys, bad stream keys). ``EXAMPLES * BATCH`` inputs run in total, deterministically.
"""

from __future__ import annotations

import array
import json
import math
import random
import re
import time
import types
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_feeds.errors import REASONS, InvalidMessage
from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.validation.schema_validator import SchemaValidator

NOW = 1_700_000_000.0
TS = 1_699_999_999.5
MAX_FUTURE_S = 86400.0
MIN_TS = 946684800.0
BATCH = 1000
EXAMPLES = 200
assert BATCH * EXAMPLES >= 100_000

SYMBOL = re.compile(r"[A-Z0-9.]{1,32}")
ASSET_CLASS = re.compile(r"[a-z][a-z0-9_]{0,31}")
VALIDATOR = SchemaValidator(asset_classes={"AAPL": "equity"}, clock=lambda: NOW)


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _deep_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


DEEP_LIST = _deep_list(10_000)
DEEP_DICT = _deep_dict(10_000)
DEEP_TEXT = b"[" * 10_000 + b"]" * 10_000
BIG_INT = 10**5000 + 7
BIG_DIGITS = "9" * 5000

TIMESTAMPS: list[object] = [
    TS,
    int(TS),
    TS * 1e3,
    int(TS * 1e3),
    int(TS * 1e6),
    int(TS * 1e9),
    str(TS),
    str(int(TS * 1e3)),
    str(int(TS * 1e9)),
    "2023-11-14T22:13:19.5Z",
    "2023-11-14T23:13:19+01:00",
    "2023-11-14 22:13:19",
    "2023-11-14",
    "2023-02-30T00:00:00Z",
    "2023-11-14T22:13:19+25:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    NOW + MAX_FUTURE_S,
    NOW + MAX_FUTURE_S + 1,
    4102444800,
    1e10,
    9.99e10,
    1e11,
    1e14,
    1e17,
    1e20,
    1e300,
    2**63,
    -(2**63),
    0,
    -1,
    MIN_TS,
    MIN_TS - 1,
    math.nan,
    math.inf,
    "1e400",
    BIG_INT,
    BIG_DIGITS,
]

NASTY: list[object] = [
    None,
    True,
    False,
    0,
    -0.0,
    1,
    -1,
    0.5,
    -0.5,
    1.5,
    2**63,
    2**64 + 1,
    BIG_INT,
    -(10**400),
    math.nan,
    -math.nan,
    math.inf,
    -math.inf,
    1e308,
    5e-324,
    1e12,
    1e12 + 1e-3,
    1e15,
    2e15,
    "1e400",
    "-1e400",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "",
    "None",
    "none",
    "null",
    " ",
    " 1.5 ",
    "1_000",
    "0x10",
    "\uff11\uff12",
    "\u0661\u0662",
    "1e5",
    BIG_DIGITS,
    "0." + "0" * 5000 + "1",
    "BTC-USDT",
    "btc",
    "b\u0131tcoin",
    "buy",
    "SELL",
    "b",
    "hold",
    "x" * 10_000,
    "\ud800",
    "A" * 33,
    "crypto",
    "Equity",
    "fx_spot",
    "9lives",
    b"\xff\xfe",
    b"",
    b"1.5",
    bytearray(b"2.5"),
    [],
    {},
    [1, 2],
    [[1.0, 1.0]],
    [[1.0, 1.0, 1.0]],
    [["1", "2"], ["3", "x"]],
    {"bid": {"1": 1}},
    {"1.0": "2.0"},
    {"bid": [[1, 1]], "ask": [[0.5, 1]]},
    (1.0, 2.0),
    {1, 2},
    frozenset(),
    DEEP_LIST,
    DEEP_DICT,
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("1e400"),
    Decimal("1.5"),
    complex(1, 2),
    object(),
    float,
    *TIMESTAMPS,
]

FIELD_NAMES = [
    "kind",
    "symbol",
    "keyword",
    "asset_class",
    "exchange",
    "price",
    "volume",
    "amount",
    "bid",
    "ask",
    "close",
    "stop",
    "side",
    "trade_id",
    "id",
    "bids",
    "asks",
    "delta",
    "book",
    "score",
    "source",
    "timestamp",
    "data",
]

STREAMS: list[object] = [
    "crypto_price:BTCUSDT",
    "crypto_trade:BTCUSDT",
    "crypto_book:BTCUSDT",
    "equity_price:AAPL",
    "sentiment:BTC",
    "trades-BINANCE-BTC-USDT",
    "ticker-BINANCE-BTC-USDT",
    "book-KRAKEN-BTC-USD",
    "candles-BINANCE-BTC-USDT",
    "crypto_price:ETHUSDT",
    "Crypto_price:BTCUSDT",
    "9x_price:BTCUSDT",
    "crypto_price:BTC USDT",
    "crypto_price:" + "A" * 100,
    "sentiment:b\u0131tcoin",
    "signals:BTCUSDT",
    "",
    ":",
    "crypto_price:",
    "x" * 1000,
    b"crypto_price:BTCUSDT",
    b"\xff",
    5,
    ["crypto_price:BTCUSDT"],
]


def _levels(rng: random.Random, n: int, start: float, step: float) -> list[list[float]]:
    return [[start + i * step, round(rng.uniform(0, 5), 3)] for i in range(n)]


def template(rng: random.Random) -> dict[str, Any]:
    """A valid message object of a random kind and layout."""
    pick = rng.randrange(11)
    ts = rng.choice(TIMESTAMPS[:12])
    if pick == 0:
        return {"symbol": "BTCUSDT", "price": 50000.0, "volume": 10.0, "timestamp": 1234567890.0}
    if pick == 1:
        return {
            "kind": "price",
            "symbol": rng.choice(["BTCUSDT", "AAPL", "brk.b", "EUR/USD"]),
            "price": rng.uniform(0.001, 1e5),
            "volume": rng.uniform(0, 100),
            "timestamp": ts,
            "asset_class": rng.choice(["crypto", "equity", "fx"]),
            "bid": 1.0,
            "ask": 2.0,
            "exchange": "BINANCE",
        }
    if pick == 2:
        return {
            "kind": "trade",
            "symbol": "BTCUSDT",
            "price": rng.uniform(0.001, 1e5),
            "volume": rng.uniform(0, 10),
            "side": rng.choice(["buy", "sell", "B", "s"]),
            "timestamp": ts,
            "trade_id": rng.choice(["abc", 123, None]),
        }
    if pick in (3, 4):
        depth = rng.choice([1000, 1001]) if rng.random() < 0.01 else rng.randrange(6)
        return {
            "kind": "book",
            "symbol": "BTCUSDT",
            "timestamp": ts,
            "bids": _levels(rng, depth, 99.0, -0.01),
            "asks": _levels(rng, depth, 101.0, 0.01),
            "delta": pick == 4,
        }
    if pick == 5:
        return {"kind": "sentiment", "keyword": "btc", "score": rng.uniform(-1, 1), "timestamp": ts}
    if pick == 6:
        return {
            "exchange": "BINANCE",
            "symbol": "BTC-USDT",
            "side": "sell",
            "amount": "6.38e-06",
            "price": "37000.5",
            "id": "None",
            "type": "None",
            "timestamp": str(TS),
            "receipt_timestamp": str(TS),
        }
    if pick == 7:
        return {
            "exchange": "COINBASE",
            "symbol": "ETH-USD",
            "bid": "1999.5",
            "ask": "2000.5",
            "timestamp": str(TS),
        }
    if pick == 8:
        book = {"bid": {"36999.5": 1.5, "37000": 0.25}, "ask": {"37000.5": 2e-05}}
        return {
            "exchange": "KRAKEN",
            "symbol": "BTC-USD",
            "book": json.dumps(book),
            "timestamp": str(TS),
        }
    if pick == 9:
        delta = {"bid": [[37000.0, 0.0]], "ask": [[37002.0, 0.75]]}
        return {
            "exchange": "KRAKEN",
            "symbol": "BTC-USD",
            "delta": json.dumps(delta),
            "timestamp": str(TS),
        }
    return {
        "exchange": "BINANCE",
        "symbol": "BTC-USDT",
        "start": str(TS - 60),
        "stop": str(TS),
        "interval": "1m",
        "trades": "None",
        "open": "1.0",
        "close": "2.5e-07",
        "high": "3.0",
        "low": "1e-07",
        "volume": "12.5",
        "closed": "True",
        "timestamp": str(TS),
    }


def nasty(rng: random.Random, wild: list[Any]) -> object:
    """A hostile value: from the fixed pool, Hypothesis' values, or random numbers and text."""
    r = rng.random()
    if r < 0.6:
        return rng.choice(NASTY)
    if r < 0.75 and wild:
        return rng.choice(wild)
    if r < 0.85:
        return math.ldexp(rng.random() * rng.choice([1, -1]), rng.randint(-1074, 1023))
    if r < 0.92:
        return rng.getrandbits(rng.choice([8, 64, 65, 1100, 20_000])) * rng.choice([1, -1])
    alphabet = '0123456789.eE+-_ :TZaAzZ\u00e9\u0131\x00\n"\\[]{}'
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))


def mutate(rng: random.Random, obj: dict[str, Any], wild: list[Any]) -> dict[str, Any]:
    """Replace, drop or add fields, change the kind, the timestamp or the book levels."""
    obj = dict(obj)
    for _ in range(rng.randrange(4)):
        op = rng.random()
        if op < 0.35 and obj:
            obj[rng.choice(list(obj))] = nasty(rng, wild)
        elif op < 0.5 and obj:
            del obj[rng.choice(list(obj))]
        elif op < 0.65:
            obj[rng.choice(FIELD_NAMES)] = nasty(rng, wild)
        elif op < 0.75:
            obj["kind"] = rng.choice(["price", "trade", "book", "sentiment", "candle", "", None, 1])
        elif op < 0.9:
            obj["timestamp"] = rng.choice(TIMESTAMPS)
        else:
            levels: list[object] = [*_levels(rng, rng.randrange(4), 100.0, rng.choice([-1.0, 1.0]))]
            for _ in range(rng.randrange(3)):
                levels.append([nasty(rng, wild), nasty(rng, wild)])
            rng.shuffle(levels)
            obj[rng.choice(["bids", "asks"])] = levels
    return obj


def to_json(rng: random.Random, obj: object) -> bytes | None:
    """JSON text of obj: orjson, or the stdlib (which writes NaN/Infinity); None if neither can."""
    try:
        if rng.random() < 0.5:
            return json.dumps(obj).encode("utf-8", "surrogatepass")
        return orjson.dumps(obj)
    except (TypeError, ValueError, RecursionError):
        return None


def field_bytes(rng: random.Random, value: object) -> object:
    """A field value as redis-py would store it (mostly), or left as it is."""
    if isinstance(value, bytes) or rng.random() < 0.1:
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, bool):
        return str(value).encode()
    if isinstance(value, int):
        return str(value).encode() if value.bit_length() < 10_000 else BIG_DIGITS.encode()
    if isinstance(value, float):
        return repr(value).encode()
    return to_json(rng, value) or b"\xff"


def corrupt(rng: random.Random, raw: bytes) -> bytes:
    """Byte-level damage: flips, insertions, deletions, truncation."""
    buf = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        at = rng.randrange(len(buf) + 1)
        if op < 0.3 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif op < 0.6:
            snippet = rng.choice(
                [
                    b"NaN",
                    b"Infinity",
                    b"1e400",
                    b"-",
                    b"\xff",
                    b"\xc3",
                    b"\x00",
                    b"[",
                    b"{",
                    b'"',
                    b",",
                    b"9" * 400,
                    b"null",
                    b"true",
                ]
            )
            buf[at:at] = snippet
        elif op < 0.8:
            del buf[at : at + rng.randrange(1, 8)]
        else:
            del buf[at:]
    return bytes(buf)


def released_view() -> memoryview:
    view = memoryview(b'{"price": 1}')
    view.release()
    return view


def specials() -> list[object]:
    """Fixed hostile raw inputs."""
    return [
        b"",
        "",
        {},
        [],
        (),
        None,
        0,
        1.5,
        True,
        object(),
        b" " * 65_537,
        "x" * 65_537,
        {b"data": b" " * 65_537},
        DEEP_TEXT,
        DEEP_TEXT.decode(),
        b"{" * 10_000,
        b'{"a":' * 5_000,
        b"NaN",
        b"1e400",
        b"1" * 5_000,
        b'{"price": ' + BIG_DIGITS.encode() + b"}",
        b"\xff\xfe",
        "\ud800",
        {b"data": None},
        {b"data": 5},
        {b"data": b"[]"},
        {b"data": DEEP_TEXT},
        {b"data": b"x", "data": b"y"},
        {1: 2},
        {(1,): 2},
        {None: b"x"},
        {b"\xff": b"1"},
        {"bids": DEEP_LIST, "timestamp": TS, "symbol": "X"},
        {"book": DEEP_DICT, "timestamp": TS, "symbol": "X"},
        {"book": DEEP_TEXT, "timestamp": TS, "symbol": "X"},
        {"symbol": DEEP_LIST, "price": 1, "volume": 1, "timestamp": TS},
        released_view(),
        memoryview(b'{"price": 1, "volume": 1, "symbol": "X", "timestamp": 1.7e9}')[::2],
        memoryview(array.array("i", [1, 2, 3])),
        bytearray(b'{"symbol": "X", "price": 1, "volume": 1, "timestamp": 1699999999}'),
        types.MappingProxyType({"symbol": "X", "price": 1, "volume": 1, "timestamp": TS}),
        OrderedDict([(b"data", b'{"symbol": "X"}')]),
        {"book": {"bid": {(1, 2): 3}}, "timestamp": TS, "symbol": "X"},
        {"book": {"bid": {frozenset(): 1}}, "timestamp": TS, "symbol": "X"},
        {"delta": {"bid": {"1": 1}, "ask": "x"}, "timestamp": TS, "symbol": "X"},
    ]


SPECIALS = specials()


def make_input(rng: random.Random, wild: list[Any]) -> tuple[object, object]:
    """One hostile (raw, stream) pair."""
    stream = None if rng.random() < 0.6 else rng.choice(STREAMS)
    r = rng.random()
    if r < 0.05:
        return rng.choice(SPECIALS), stream
    if r < 0.1 and wild:
        return rng.choice(wild), stream
    obj = template(rng)
    if r < 0.8:
        obj = mutate(rng, obj, wild)
    how = rng.random()
    if how < 0.25:
        return obj, stream
    if how < 0.45:  # a flat entry, bytes keys and values as redis-py returns them
        flat = {
            (k.encode("utf-8", "surrogatepass") if rng.random() < 0.9 else k): field_bytes(rng, v)
            for k, v in obj.items()
        }
        return flat, stream
    text = to_json(rng, obj)
    if text is None:
        return obj, stream
    if r >= 0.8 or rng.random() < 0.15:
        text = corrupt(rng, text)
    container = rng.randrange(6)
    if container == 0:
        return {b"data": text}, stream
    if container == 1:
        return {"data": text.decode("utf-8", "replace")}, stream
    if container == 2:
        return text, stream
    if container == 3:
        return text.decode("utf-8", "surrogateescape"), stream
    if container == 4:
        return bytearray(text), stream
    return memoryview(text), stream


def describe(raw: object) -> str:
    """A bounded description of an input (never repr a huge int or a deep container)."""
    if isinstance(raw, bytes | bytearray | str):
        return f"{type(raw).__name__} {raw[:300]!r}"
    return type(raw).__name__


def check_record(record: Record) -> None:
    """Everything validate returns is a well-formed, finite, in-range record."""
    assert type(record) in (Tick, Trade, BookSnapshot, BookDelta, Sentiment)
    assert type(record.timestamp) is float
    assert MIN_TS <= record.timestamp <= NOW + MAX_FUTURE_S
    if isinstance(record, Sentiment):
        assert SYMBOL.fullmatch(record.keyword)
        assert type(record.score) is float and -1.0 <= record.score <= 1.0
        assert record.source is None or type(record.source) is str
        return
    assert SYMBOL.fullmatch(record.symbol)
    assert ASSET_CLASS.fullmatch(record.asset_class)
    assert record.exchange is None or type(record.exchange) is str
    if isinstance(record, Tick | Trade):
        assert type(record.price) is float and 0.0 < record.price <= 1e12
        assert type(record.volume) is float and 0.0 <= record.volume <= 1e15
    if isinstance(record, Tick):
        for quote in (record.bid, record.ask):
            assert quote is None or (type(quote) is float and 0.0 < quote <= 1e12)
        if record.bid is not None and record.ask is not None:
            assert record.bid <= record.ask
    elif isinstance(record, Trade):
        assert record.side in ("buy", "sell")
        assert record.trade_id is None or type(record.trade_id) is str
    elif isinstance(record, BookSnapshot | BookDelta):
        for side in (record.bids, record.asks):
            assert type(side) is tuple and len(side) <= 1000
            for level in side:
                assert type(level) is tuple and len(level) == 2
                price, size = level
                assert type(price) is float and 0.0 < price <= 1e12
                assert type(size) is float and 0.0 <= size <= 1e15
        bid_prices = [p for p, _ in record.bids]
        ask_prices = [p for p, _ in record.asks]
        assert bid_prices == sorted(bid_prices, reverse=True)
        assert ask_prices == sorted(ask_prices)
        if isinstance(record, BookSnapshot) and bid_prices and ask_prices:
            assert bid_prices[0] < ask_prices[0]


def run_one(raw: object, stream: object) -> str:
    """Validate one input: ``"ok"`` or its reason; anything else escaping fails the test."""
    try:
        record = VALIDATOR.validate(raw, stream=stream)  # type: ignore[arg-type]
    except InvalidMessage as exc:
        assert exc.reason in REASONS, exc.reason
        assert len(str(exc)) < 2000
        return exc.reason
    except Exception as exc:  # report which input of the batch broke it, then fail
        raise AssertionError(f"{type(exc).__name__} escaped for {describe(raw)}") from exc
    check_record(record)
    return "ok"


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=12)
)
json_like = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.binary(max_size=8), children, max_size=5)
    ),
    max_leaves=16,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    seed=st.integers(0, 2**32 - 1), wild=st.lists(json_like | st.binary(max_size=200), max_size=6)
)
def test_fuzz_only_invalid_message_escapes(seed: int, wild: list[Any]) -> None:
    """Across EXAMPLES x BATCH hostile inputs, validate returns a sound record or InvalidMessage."""
    rng = random.Random(seed)
    for _ in range(BATCH):
        raw, stream = make_input(rng, wild)
        run_one(raw, stream)


def test_fuzz_inputs_reach_both_outcomes() -> None:
    """The generator yields accepted records and a wide spread of rejection reasons."""
    rng = random.Random(0)
    outcomes: dict[str, int] = {}
    for _ in range(5 * BATCH):
        outcome = run_one(*make_input(rng, [b"\xff", {b"price": b"1"}, [1, [2]]]))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("ok", 0) > 250
    assert len(outcomes) >= 18, outcomes


def test_every_special_input_is_handled() -> None:
    """Each fixed hostile input, with and without each stream key, ends in a verdict."""
    for raw in SPECIALS:
        for stream in [None, *STREAMS]:
            run_one(raw, stream)


@pytest.mark.parametrize(
    "make",
    [
        bytes,
        bytearray,
        memoryview,
        lambda b: b.decode(),
        lambda b: {b"data": b},
        lambda b: {b"symbol": b, b"price": b"1"},
    ],
    ids=["bytes", "bytearray", "memoryview", "str", "data-field", "flat-field"],
)
def test_10mb_payload_is_rejected_quickly(make: Any) -> None:
    """A 10 MB payload is payload_too_large in well under a second, before any parsing."""
    raw = make(b"1" * 10_000_000)
    started = time.perf_counter()
    with pytest.raises(InvalidMessage) as info:
        VALIDATOR.validate(raw)
    elapsed = time.perf_counter() - started
    assert info.value.reason == "payload_too_large"
    assert elapsed < 0.25


def test_10k_deep_nesting() -> None:
    """10k-deep nesting is malformed_json as text and wrong_type as a Python value."""
    assert run_one(DEEP_TEXT, None) == "malformed_json"
    assert run_one({b"data": DEEP_TEXT}, None) == "malformed_json"
    assert run_one(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, None) == "malformed_json"
    assert run_one({"book": DEEP_TEXT, "timestamp": TS, "symbol": "X"}, None) == "malformed_json"
    assert run_one({"bids": DEEP_LIST, "timestamp": TS, "symbol": "X"}, None) == "wrong_type"
    assert run_one({"symbol": "X", "price": DEEP_DICT, "volume": 1, "timestamp": TS}, None) == (
        "wrong_type"
    )
