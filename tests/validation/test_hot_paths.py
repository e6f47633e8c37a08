"""The per-tick fast paths of SchemaValidator and DataCleaner decide exactly as the general code."""

from __future__ import annotations

import json
import math
import pickle
import random
import struct
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Any

import orjson
import pytest

from data_feeds.errors import InvalidMessage
from data_feeds.records import Record, Tick, Trade
from data_feeds.validation.cleaner import (
    ACCEPT,
    DROP_DUPLICATE,
    REJECT_LATE,
    DataCleaner,
    _mad,
    _median,
)
from data_feeds.validation.cleaner_config import CleanerConfig
from data_feeds.validation.layouts import native
from data_feeds.validation.schema_validator import SchemaValidator

NOW = 1_700_000_000.0
TS = 1_699_999_999.5
STREAM = "crypto_price:BTCUSDT"
PLAIN: dict[str, Any] = {
    "kind": "price",
    "symbol": "BTCUSDT",
    "price": 50000.5,
    "volume": 1.25,
    "timestamp": TS,
    "asset_class": "crypto",
}
# Values the fast path must tell apart from the plain ones; None removes the field.
VARIANTS: dict[str, list[Any]] = {
    "kind": ["trade", "book", "Price", "None", "", 5, None],
    "symbol": ["btcusdt", "BTC-USDT", "ETHUSDT", "None", "", 5, "BTC USDT", None],
    "asset_class": ["Crypto", "CRYPTO", "equity", "None", "", 3, "1x", None],
    "price": [0.0, -1.0, 1e12, 1e13, 50000, True, "50000.5", "None", "", "abc", 1e-300, None],
    "volume": [0.0, -0.0, -1.0, 1e15, 1e16, 2, False, "1.5", "None", "", None],
    "timestamp": [NOW + 86400.0, NOW + 86401.0, 946684800.0, 946684799.0, 1.7e12, 1.7e15,
                  1.7e18, int(TS), "2023-11-14T22:13:19Z", "x", True, None],
}  # fmt: skip
EXTRAS: dict[str, list[Any]] = {
    "bid": [50000.0, 50001.0, "None"],
    "ask": [50001.0, 49999.0, None],
    "exchange": ["BINANCE", "", 5],
    "amount": [2.0],
    "close": [1.0],
    "stop": [NOW],
    "side": ["buy"],
    "other": [1],
}
STREAMS = [STREAM, "crypto_price:ETHUSDT", "equity_price:BTCUSDT", "crypto_trade:BTCUSDT",
           "ticker-BINANCE-BTC-USDT", None]  # fmt: skip


def outcome(validator: SchemaValidator, raw: object, stream: Any) -> tuple[Any, ...]:
    try:
        record = validator.validate(raw, stream=stream)
    except InvalidMessage as exc:
        return ("rejected", exc.reason, str(exc), exc.field)
    return ("accepted", type(record), repr(record))


def payloads(rng: random.Random) -> list[bytes]:
    """The plain tick, each single change of it, and random combinations, as JSON text."""
    objects: list[dict[str, Any]] = [dict(PLAIN)]
    for table in (VARIANTS, EXTRAS):
        for name, values in table.items():
            for value in values:
                objects.append({**PLAIN, name: value})
    for _ in range(400):
        obj = dict(PLAIN, price=rng.uniform(1, 1e5), volume=rng.uniform(0, 10))
        for _ in range(rng.randrange(1, 4)):
            table = VARIANTS if rng.random() < 0.7 else EXTRAS
            name = rng.choice(list(table))
            obj[name] = rng.choice(table[name])
        if rng.random() < 0.3:
            items = list(obj.items())
            rng.shuffle(items)
            obj = dict(items)
        objects.append(obj)
    texts = [json.dumps({k: v for k, v in obj.items() if v is not None}) for obj in objects]
    texts += [
        json.dumps(PLAIN)[:-1] + ', "symbol": "ETHUSDT"}',  # a repeated field: the last one counts
        json.dumps(PLAIN)[:-1] + ', "kind": "price"}',
        "",
        "{",
        "null",
        "[1, 2, 3, 4, 5, 6]",
        '"abcdef"',
        "123456",
        "{}",
        '{"kind": "price", "price": NaN}',
        json.dumps(PLAIN).replace("50000.5", "1e400"),
        json.dumps({**PLAIN, "symbol": "BTC\u00e9\u00e9"}, ensure_ascii=False),
        json.dumps({**PLAIN, "asset_class": "\u00e9" * 9}, ensure_ascii=False),
        json.dumps({**PLAIN, "bid": None, "ask": 50001.0}),  # null: absent
        json.dumps({**PLAIN, "bid": 50000.0, "ask": None}),
        json.dumps({k: v for k, v in PLAIN.items() if k != "kind"}),
        json.dumps(PLAIN).replace('"volume": 1.25', '"volume": 12345678901234567890123'),
        json.dumps(PLAIN).replace('"volume": 1.25', '"volume": -0'),
        json.dumps(PLAIN).replace('"volume": 1.25', '"volume": 1.25e0'),
        json.dumps(PLAIN).replace('"symbol": "BTCUSDT"', '"symbol": "BTC\\u0055SDT"'),
        json.dumps(PLAIN).replace('"symbol": "BTCUSDT"', '"symbol": "\\ud800"'),
        json.dumps(PLAIN).encode().replace(b"BTCUSDT", b"BTC\xffSDT").decode("latin-1"),
        json.dumps(PLAIN) + " ",
        json.dumps(PLAIN) + " x",
    ]
    return [text.encode() for text in texts] + [orjson.dumps(PLAIN)]


def test_fast_path_decides_as_the_general_path() -> None:
    """A native data entry in its stream (fast path) yields what the same JSON as text does."""
    rng = random.Random(3)
    for max_bytes in (65536, 130, 136):
        for stream in STREAMS:
            fast = SchemaValidator(clock=lambda: NOW, max_payload_bytes=max_bytes)
            general = SchemaValidator(clock=lambda: NOW, max_payload_bytes=max_bytes)
            for text in payloads(rng):
                for value in (text, bytearray(text), text.decode("utf-8", "replace")):
                    via_fast = outcome(fast, {b"data": value}, stream)
                    # The same stream key as bytes is read by the general code.
                    key = None if stream is None else stream.encode()
                    via_general = outcome(general, {b"data": value}, key)
                    assert via_fast == via_general, (stream, max_bytes, value)


def number_texts(value: float) -> list[str]:
    """``value`` written as JSON numbers of many shapes (all of them valid JSON)."""
    texts = [repr(value), f"{value:.17g}", f"{value:.25e}", f"{value:.3E}", f"{value:.20f}"]
    digits = f"{value:.40f}".rstrip("0").rstrip(".")
    texts.append(digits + "0000000000000000000001")  # beyond any float's precision
    if value == int(value):
        texts.append(str(int(value)))
    mantissa, exponent = f"{value:.16e}".split("e")
    texts.append(f"{mantissa.replace('.', '')}e{int(exponent) - 16}")  # an integer mantissa
    return [t for t in texts if "inf" not in t and "nan" not in t]


def test_fast_path_reads_every_number_as_the_general_path() -> None:
    """msgspec (fast path) and orjson (general path) read the same number text to the same
    float, for price, volume, timestamp, bid and ask, near the limits too."""
    rng = random.Random(17)
    values = {
        "price": [rng.uniform(1e-8, 1e6) for _ in range(60)] + [1e12, 1e-300, 50000.0, 0.1],
        "volume": [rng.lognormvariate(0, 3) for _ in range(60)] + [1e15, 0.0, 3.0],
        "timestamp": [rng.uniform(946684800.0, NOW + 86400.0) for _ in range(60)]
        + [946684800.0, NOW + 86400.0, float(int(TS))],
        "bid": [rng.uniform(49000.0, 50000.5) for _ in range(20)],
        "ask": [rng.uniform(50000.5, 51000.0) for _ in range(20)],
    }
    fast = SchemaValidator(clock=lambda: NOW)
    general = SchemaValidator(clock=lambda: NOW)
    text = json.dumps(PLAIN)
    checked = 0
    for name, numbers in values.items():
        for value in numbers:
            for literal in number_texts(value):
                base = {**PLAIN, name: 0.0}
                body = json.dumps(base).replace(f'"{name}": 0.0', f'"{name}": {literal}')
                assert body != text or literal == repr(PLAIN[name])
                raw = {b"data": body.encode()}
                via_fast = outcome(fast, raw, STREAM)
                via_general = outcome(general, raw, STREAM.encode())
                assert via_fast == via_general, (name, literal)
                checked += via_fast[0] == "accepted"
    assert checked > 800


def test_fast_path_takes_our_layouts_without_the_general_code() -> None:
    """Our tick layout, with or without a quote (as the simulator writes it) or the symbol and
    asset class (the stream key's), is decided by the fast path alone; anything else reaches
    the general code."""

    class FastOnly(SchemaValidator):
        def _tick(self, obj: Any, hint: Any) -> Tick:
            raise AssertionError("general path")

        def _build(self, obj: Any, hint: Any, field: Any) -> Any:
            raise AssertionError("general path")

    validator = FastOnly(clock=lambda: NOW)
    # What the general code learns on its first call: the stream key, and the clock.
    validator._new_hint(STREAM)
    validator._timestamp(TS, "timestamp")
    quoted = {**PLAIN, "bid": 50000.0, "ask": 50001.0}
    bare = {k: v for k, v in PLAIN.items() if k not in ("symbol", "asset_class")}
    for obj in (PLAIN, quoted, bare, {**PLAIN, "bid": 50000.0}, {**PLAIN, "price": 50000}):
        record = validator.validate({b"data": orjson.dumps(obj)}, stream=STREAM)
        assert type(record) is Tick
        assert (record.price, record.bid, record.ask) == (
            float(obj["price"]), obj.get("bid"), obj.get("ask"))  # fmt: skip
    for obj in ({**PLAIN, "exchange": "BINANCE"}, {**PLAIN, "bid": 50002.0, "ask": 50001.0}):
        with pytest.raises(AssertionError, match="general path"):
            validator.validate({b"data": orjson.dumps(obj)}, stream=STREAM)


def test_fast_path_tick_is_the_one_the_constructor_makes() -> None:
    """The Tick whose fields the fast path fills in is equal (and alike) to Tick(...)."""
    assert native.TICK_BY_HAND
    validator = SchemaValidator(clock=lambda: NOW)
    record = validator.validate({b"data": orjson.dumps(PLAIN)}, stream=STREAM)
    expected = Tick("BTCUSDT", 50000.5, 1.25, TS, "crypto", None, None, None)
    assert type(record) is Tick
    assert record == expected
    assert repr(record) == repr(expected)
    assert pickle.loads(pickle.dumps(record)) == expected


def test_last_feed_cache_keeps_the_lru_order() -> None:
    """Repeated records of one feed keep it most recently used, so another feed is evicted."""
    cleaner = DataCleaner(CleanerConfig(max_keys=2))
    a, b, c = (Tick(s, 100.0, 1.0, NOW) for s in ("AAA", "BBB", "CCC"))
    for record in (a, b, Tick("AAA", 100.0, 1.0, NOW + 1), Tick("AAA", 100.0, 1.0, NOW + 2), c):
        assert cleaner.clean(record).action == ACCEPT
    assert list(cleaner._feeds) == ["AAA", "CCC"]
    assert cleaner.evicted_feeds == 1


def ticks(n: int, seed: int) -> list[Tick]:
    rng = random.Random(seed)
    price, out = 100.0, []
    for i in range(n):
        price *= math.exp(rng.gauss(0.0, 1e-3) + (0.2 if i % 97 == 50 else 0.0))
        out.append(Tick(rng.choice(["AAA", "BBB"]), price, 1.0, NOW + i * rng.choice([0.5, 1.0])))
    return out


def test_pickles_leave_out_the_last_feed_cache_and_old_ones_load() -> None:
    """The cache is not pickled; a pickle's state from before the cache restores and continues."""
    records = ticks(600, seed=5)
    original = DataCleaner()
    for record in records[:300]:
        original.clean(record)
    state = original.__getstate__()
    assert not {"_last_kind", "_last_name", "_last_state"} & set(state)
    restored = pickle.loads(pickle.dumps(original))
    assert restored._last_name is None
    older = DataCleaner.__new__(DataCleaner)
    older.__setstate__((None, pickle.loads(pickle.dumps(state))))  # the form of older pickles
    tail = [(r.action, r.events) for r in map(original.clean, records[300:])]
    assert [(r.action, r.events) for r in map(restored.clean, records[300:])] == tail
    assert [(r.action, r.events) for r in map(older.clean, records[300:])] == tail
    assert restored.counts == older.counts == original.counts


def test_pickles_of_the_previous_layout_load_and_continue() -> None:
    """A pickle from before the accept count was split off, the duplicate set became optional,
    the return bounds existed and price feeds were keyed by symbol alone (a ``counts`` dict;
    feed states with a set and without ``newer_run``, ``return_low``, ``return_high``; every
    feed keyed ``(kind, name)``) continues exactly as the original."""
    records = ticks(600, seed=6)
    records[350] = Tick(records[349].symbol, records[349].price, 1.0, records[349].timestamp)
    original = DataCleaner()
    for record in records[:300]:
        original.clean(record)
    state = pickle.loads(pickle.dumps(original.__getstate__()))
    counts = original.counts
    del state["_counts"], state["_accepted"]
    state["counts"] = counts
    new_slots = ("newer_run", "return_low", "return_high")
    legacy_feeds = {}
    for key, feed in state["_feeds"].items():
        names = [name for name in type(feed).__slots__ if name not in new_slots]
        slots = {name: getattr(feed, name) for name in names}
        window = original.dedupe_window  # the ring was a deque of ints before it was an array
        slots["fingerprint_ring"] = deque(feed.fingerprint_ring[-window:], maxlen=window)
        slots["fingerprints"] = set(slots["fingerprint_ring"])
        legacy = type(feed).__new__(type(feed))
        legacy.__setstate__((None, slots))
        legacy_feeds[("price", key) if isinstance(key, str) else key] = legacy  # old keys
    state["_feeds"] = OrderedDict(legacy_feeds)
    older = DataCleaner.__new__(DataCleaner)
    older.__setstate__(state)
    assert older.counts == counts
    tail = [(r.action, r.events) for r in map(original.clean, records[300:])]
    assert any(action != ACCEPT for action, _ in tail)
    assert [(r.action, r.events) for r in map(older.clean, records[300:])] == tail
    assert older.counts == original.counts


def plain_fingerprint(record: Record) -> Hashable:
    if isinstance(record, Trade) and record.trade_id is not None:
        return record.trade_id if record.exchange is None else (record.exchange, record.trade_id)
    if isinstance(record, Trade):
        return (record.timestamp, record.price, record.volume, record.side, record.exchange)
    assert isinstance(record, Tick)
    return (record.timestamp, record.price, record.volume, record.bid, record.ask, record.exchange)


def plain_dedupe(
    records: list[Record], window: int, tolerance: float, horizon: float = math.inf
) -> list[str]:
    """Steps 1 and 2 of the cleaner written plainly: a record is a duplicate when its
    fingerprint is among the last ``window`` remembered ones (searched one by one), late when
    it is further than ``tolerance`` behind the newest; everything else is remembered. With a
    ``horizon``, remembered fingerprints also age in steps: a kept record that is not behind
    and is more than ``max(horizon, tolerance)`` newer than the marked one forgets everything
    remembered up to the mark, and becomes the mark."""
    ring: deque[tuple[int, Hashable]] = deque(maxlen=window)  # (sequence number, fingerprint)
    newest = -math.inf
    mark: int | None = None
    until = -math.inf
    out = []
    for seq, record in enumerate(records):
        fingerprint = plain_fingerprint(record)
        ts = record.timestamp
        if any(f == fingerprint for _, f in ring):
            out.append("duplicate")
        elif ts < newest and newest - ts > tolerance:
            out.append("late")
        else:
            ring.append((seq, fingerprint))
            if not ts < newest:
                newest = ts
                if ts > until:
                    if mark is not None:
                        ring = deque(((s, f) for s, f in ring if s > mark), maxlen=window)
                    mark, until = seq, ts + max(horizon, tolerance)
            out.append("kept")
    return out


def test_duplicates_and_late_records_are_those_of_the_plain_definition() -> None:
    """The cleaner's duplicate set, built only when a record could be a duplicate and dropped
    after a ring of strictly newer records, decides as a plain search of the ring would: on
    sequences that rise, repeat, step back, redeliver, reuse trade ids at new times and carry
    NaN and infinite timestamps, with rings from 1 record up and every horizon (a trade feed's
    ring does not age). Aging only ever turns a duplicate into a late record: a price feed
    keeps exactly the records it keeps without it."""
    rng = random.Random(23)
    special = [math.nan, math.inf, -math.inf]
    aged = 0
    for trial in range(600):
        window = rng.choice([1, 2, 3, 5, 8, 64])
        tolerance = rng.choice([0.0, 1.0, 2.5])
        horizon = rng.choice([0.0, 3.0, 7.0, math.inf])
        records: list[Record] = []
        ts = NOW
        for _ in range(rng.choice([20, 150])):
            r = rng.random()
            if r < 0.5:
                ts += 1.0
            elif r < 0.6:
                ts -= rng.choice([0.5, 2.0, 4.0])
            elif r < 0.62 and trial % 3 == 0:
                records.append(Tick("AAA", 1.0, 1.0, rng.choice(special)))
                continue
            if records and rng.random() < 0.15:  # a redelivery
                records.append(rng.choice(records[-rng.choice([10, 40]) :]))
                continue
            price, volume = rng.choice([1.0, 1.5]), rng.choice([1.0, 2.0])
            if rng.random() < 0.3:
                trade_id = rng.choice([None, str(rng.randrange(40))])
                records.append(Trade("AAA", price, volume, "buy", ts, trade_id=trade_id))
            else:
                records.append(Tick("AAA", price, volume, ts))
        cleaner = DataCleaner(
            CleanerConfig(
                dedupe_window=window, reorder_tolerance_s=tolerance, dedupe_horizon_s=horizon
            )
        )
        named = {DROP_DUPLICATE: "duplicate", REJECT_LATE: "late"}
        got: dict[str, list[str]] = {"price": [], "trade": []}  # one feed per kind
        expected = {}
        for kind, cls in (("price", Tick), ("trade", Trade)):
            mine = [r for r in records if type(r) is cls]
            expected[kind] = plain_dedupe(
                mine, window, tolerance, horizon if cls is Tick else math.inf
            )
        for record in records:
            action = cleaner.clean(record).action
            got["price" if type(record) is Tick else "trade"].append(named.get(action, "kept"))
        assert got == expected, (trial, window, tolerance, horizon)
        if trial % 3:  # finite timestamps (a NaN one is never late, so a copy of a forgotten
            # one is kept; the validator passes no such record)
            ticks = [r for r in records if type(r) is Tick]
            by_count = plain_dedupe(ticks, window, tolerance)
            assert [x == "kept" for x in got["price"]] == [x == "kept" for x in by_count]
            aged += got["price"] != by_count
    assert aged > 20  # the sequences do redeliver records older than a horizon


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_mad_is_the_median_of_the_sorted_deviations() -> None:
    """_mad equals sorting |v - median| (values equal to the median left out), bit for bit."""
    rng = random.Random(11)
    specials = [0.0, -0.0, 1e-3, -1e-3, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324]
    for trial in range(20_000):
        n = rng.randint(1, 70)
        pick = trial % 4
        if pick == 0:  # a discrete grid: many ties with the median
            values = [rng.choice([0.0, 1e-3, -1e-3, 2e-3]) for _ in range(n)]
        elif pick == 1:
            values = [rng.gauss(0.0, 1e-3) for _ in range(n)]
        elif pick == 2:
            values = [rng.randint(-5, 5) * 1e-4 for _ in range(n)]
        else:
            values = [rng.choice(specials) if rng.random() < 0.2 else rng.gauss(0, 1)
                      for _ in range(n)]  # fmt: skip
        values.sort()
        median = _median(values)
        deviations = sorted([abs(v - median) for v in values if v != median])
        expected = _median(deviations) if deviations else 0.0
        got = _mad(values, median)
        assert bits(got) == bits(expected) or (math.isnan(got) and math.isnan(expected)), values
