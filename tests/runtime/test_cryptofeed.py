"""The service consumes what cryptofeed itself writes: a real recorded exchange session replayed
through cryptofeed's exchange parsers into its own Redis Streams backends, then read by ``Service``.

cryptofeed's ``RedisCallback`` builds a TCP URL only (no unix sockets), so these tests run their
own redis-server on a loopback port. Its ``BackendQueue.stop()`` ends the writer without
draining the queue, so the writers are drained (``queue.join()``) before they are stopped.
Playback replays a whole session in a few milliseconds; each update is written before the next
one is parsed, a millisecond apart, so entry ids across streams keep the session's order as
they would live.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis
from cryptofeed.backends.redis import BookStream, CandlesStream, TickerStream, TradeStream
from cryptofeed.connection import HTTPAsyncConn, HTTPSync
from cryptofeed.defines import CANDLES, L2_BOOK, TICKER, TRADES
from cryptofeed.raw_data_collection import _playback

from data_feeds.cache import keys
from data_feeds.cache.embedded import redis_server_binary
from data_feeds.records import BOOK, PRICE, TRADE, BookDelta, BookSnapshot, Tick, Trade
from data_feeds.runtime.app import Service
from data_feeds.settings import Settings
from data_feeds.validation.cleaner import (
    ACCEPT,
    CLEAN_ACTIONS,
    DROP_DUPLICATE,
    QUARANTINE,
    REJECT_LATE,
)
from data_feeds.validation.schema_validator import SchemaValidator
from tests.runtime.test_service import run_until, service_settings, signal_ids
from tests.shared_data import shared_data_path

SESSIONS = ("BINANCE", "BINANCE_FUTURES", "KRAKEN")
PATTERNS = ("trades-*", "ticker-*", "book-*", "candles-*")
# cryptofeed 2.4.1's Redis writers close their connection with redis-py's deprecated close().
CLOSE_WARNING = "ignore:Call to deprecated close:DeprecationWarning:cryptofeed.backends.redis"

Entry = tuple[bytes, dict[bytes, bytes]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 10.0) -> bool:
    """Whether the server started as ``proc`` answers PING on the port before it exits."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1.0)
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                time.sleep(0.02)
        return False
    finally:
        client.close()


@pytest.fixture
def sample_dir() -> Path:
    """The recorded cryptofeed sessions (the test is skipped without ../shared/data)."""
    return shared_data_path("cryptofeed_sample_data")


@pytest.fixture
def tcp_redis(tmp_path: Path) -> Iterator[str]:
    """The bundled redis-server on a free 127.0.0.1 port, nothing persisted; its URL."""
    binary = str(redis_server_binary())
    (tmp_path / "redis").mkdir()
    for _ in range(5):  # another process may take the port between probe and bind
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path / "redis")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            if answers(proc, port):
                yield f"redis://127.0.0.1:{port}"
                return
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    pytest.fail("could not start redis-server on a loopback port")


@dataclass
class Recorder:
    """A cryptofeed callback that keeps what it was given, then hands it to a backend."""

    backend: Any
    calls: list[tuple[str, Any, bool]] = field(default_factory=list)
    """(symbol, the normalized object, whether it was a book delta) per call."""

    async def __call__(self, obj: Any, receipt_timestamp: float) -> None:
        self.calls.append((obj.symbol, obj, getattr(obj, "delta", None) is not None))
        await self.backend(obj, receipt_timestamp)
        # Paced like a live feed (see the module docstring): the consumer merges a batch of
        # several streams by entry id.
        await self.backend.queue.join()
        await asyncio.sleep(0.001)


async def replay_session(folder: Path, exchange: str, port: int) -> dict[str, Recorder]:
    """Play a recorded session into cryptofeed's Redis Streams backends; every write flushed."""
    # Only this exchange's files (BINANCE.* must not pick up BINANCE_FUTURES.*). Relative
    # names: playback tells the file roles apart by "ws"/"http" anywhere in the path.
    names = sorted(f"./{p.name}" for p in folder.iterdir() if p.name.split(".", 1)[0] == exchange)
    backends = {
        TRADES: TradeStream(host="127.0.0.1", port=port),
        TICKER: TickerStream(host="127.0.0.1", port=port),
        L2_BOOK: BookStream(host="127.0.0.1", port=port),
        CANDLES: CandlesStream(host="127.0.0.1", port=port),
    }
    loop = asyncio.get_running_loop()
    for backend in backends.values():
        backend.start(loop)
    recorders = {channel: Recorder(backend) for channel, backend in backends.items()}
    # playback patches cryptofeed's HTTP readers and restores them only on success.
    saved = (HTTPAsyncConn.read, HTTPSync.read)
    try:
        async with asyncio.timeout(30):
            with contextlib.chdir(folder):
                stats = await _playback(exchange, names, dict(recorders), None)
            for backend in backends.values():
                await backend.queue.join()  # written to Redis, not just queued
    finally:
        HTTPAsyncConn.read, HTTPSync.read = saved
        async with asyncio.timeout(10):
            for backend in backends.values():
                await backend.stop()
                await backend.worker
    assert stats["messages_processed"] > 0
    for channel, recorder in recorders.items():
        assert stats["callbacks"].get(channel, 0) == len(recorder.calls)
    return recorders


def expected_streams(exchange: str, recorders: dict[str, Recorder]) -> dict[str, int]:
    """Stream key -> how many entries cryptofeed's backends write for the recorded calls."""
    out: Counter[str] = Counter()
    deltas: Counter[str] = Counter()
    for recorder in recorders.values():
        prefix = recorder.backend.default_key
        for symbol, _, is_delta in recorder.calls:
            key = f"{prefix}-{exchange}-{symbol}"
            out[key] += 1
            deltas[key] += is_delta
    interval = recorders[L2_BOOK].backend.snapshot_interval
    for key, n in deltas.items():
        out[key] += n // interval  # BookStream adds a full snapshot every `interval` deltas
    return dict(out)


def drained(client: redis.Redis, streams: list[str], group_name: str) -> bool:
    """Every entry of every stream delivered to the group and acknowledged."""
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xinfo_stream(stream)
        pipe.xinfo_groups(stream)
    replies = pipe.execute()
    for info, groups in zip(replies[::2], replies[1::2], strict=True):
        group = next((g for g in groups if g["name"] == group_name.encode()), None)
        if group is None or group["pending"] != 0:
            return False
        if group["last-delivered-id"] != info["last-generated-id"]:
            return False
    return True


def read_stream(client: redis.Redis, key: str | bytes) -> list[Entry]:
    """Every entry of a stream (redis-py types replies for any decoding; these are bytes)."""
    return cast(list[Entry], client.xrange(key))


def entry_refs(client: redis.Redis, pattern: str) -> list[dict[str, Any]]:
    """The decoded ``data`` JSON of every entry of the streams matching a pattern."""
    out: list[dict[str, Any]] = []
    for key in client.scan_iter(match=pattern, _type="stream"):
        out.extend(orjson.loads(fields[b"data"]) for _, fields in read_stream(client, key))
    return out


@dataclass
class Outcome:
    """What the service made of a session: per stream entry counts, kinds and cleaner events."""

    streams: dict[str, int]
    kinds: dict[str, str]
    signals: Counter[str]
    """Signals per source stream."""
    events: Counter[tuple[str, str]]
    """(event type, stream) -> count, from events:feed."""
    cleaner: dict[str, int]


async def consume_session(folder: Path, exchange: str, url: str, data_dir: Path) -> Outcome:
    """Replay, check what cryptofeed wrote, run the service over it, account for every entry."""
    client = redis.Redis.from_url(url)
    recorders = await replay_session(folder, exchange, int(url.rsplit(":", 1)[1]))

    # (a) the keys and entry counts cryptofeed wrote are the layout keys.py documents
    expected = expected_streams(exchange, recorders)
    streams = sorted(k.decode() for k in client.scan_iter(_type="stream"))
    assert streams == sorted(expected)
    assert {s: client.xlen(s) for s in streams} == expected
    entries = {s: read_stream(client, s) for s in streams}
    kinds: dict[str, str] = {}
    for stream in streams:
        info = keys.parse_stream_key(stream)
        assert info is not None and info.layout == "cryptofeed" and info.exchange == exchange
        channel, _, symbol = stream.partition(f"-{exchange}-")
        assert info.kind == keys.CRYPTOFEED_CHANNELS[channel]
        assert info.symbol == keys.normalize_symbol(symbol)
        kinds[stream] = info.kind
    assert {TRADE, PRICE, BOOK} <= set(kinds.values())

    # every entry reads back as the record its channel promises (books: snapshot or delta)
    validator = SchemaValidator()
    for stream, items in entries.items():
        for _, fields in items:
            record = validator.validate(fields, stream=stream)
            if kinds[stream] == BOOK:
                want: type = BookDelta if b"delta" in fields else BookSnapshot
            else:
                want = {TRADE: Trade, PRICE: Tick}[kinds[stream]]
            assert type(record) is want

    # (d) trades carry exactly the price, amount, side, time and id cryptofeed had
    originals: dict[str, list[Any]] = defaultdict(list)
    for symbol, obj, _ in recorders[TRADES].calls:
        originals[f"trades-{exchange}-{symbol}"].append(obj)
    assert originals
    for stream, objs in originals.items():
        got = [SchemaValidator().validate(fields, stream=stream) for _, fields in entries[stream]]
        assert len(got) == len(objs)
        for trade, obj in zip(got, objs, strict=True):
            assert isinstance(trade, Trade)
            assert trade.price == float(obj.price)
            assert trade.volume == float(obj.amount)
            assert trade.side == obj.side
            assert trade.timestamp == obj.timestamp
            assert trade.trade_id == (None if obj.id is None else str(obj.id))
            assert trade.exchange == obj.exchange == exchange
            assert trade.symbol == keys.normalize_symbol(obj.symbol)

    # the service, as deployed, until every entry is delivered and acknowledged
    settings = service_settings(
        Settings(redis_url=url, data_dir=data_dir), stream_patterns=PATTERNS
    )
    group = settings.consumer_group
    service = Service(settings)
    await run_until([service], lambda: drained(client, streams, group), timeout_s=25.0)
    assert drained(client, streams, group)
    consumer = service.consumer
    assert consumer is not None
    total = sum(expected.values())
    assert consumer.processed == total
    by_kind = Counter(dict.fromkeys((PRICE, TRADE, BOOK), 0))
    for stream, n in expected.items():
        by_kind[kinds[stream]] += n
    for kind, n in by_kind.items():
        assert (
            service.metrics.snapshot().value("data_feeds_messages_consumed_total", kind=kind) == n
        )

    # (b) every entry is a valid record: nothing rejected, no DLQ stream at all
    assert {k.decode(): client.xlen(k) for k in client.scan_iter(match="dlq:*")} == {}
    assert service.metrics.snapshot().value("data_feeds_dlq_messages_total") == 0

    # (c) signals: one per price entry the cleaner accepted, never one from a trade or a book.
    # Each entry the cleaner did not accept is named by its duplicate/late event or its
    # quarantine entry, and those agree with the cleaner's own counts.
    events = entry_refs(client, keys.EVENTS_FEED)
    quarantined = entry_refs(client, "quarantine:*")
    counts = consumer.pipeline.cleaner.counts
    dropped = {f"{e['stream']}/{e['entry_id']}" for e in events if e["type"] == "duplicate"}
    late = {f"{e['stream']}/{e['entry_id']}" for e in events if e["type"] == "late"}
    kept_aside = {f"{q['stream']}/{q['entry_id']}" for q in quarantined}
    assert (len(dropped), len(late), len(kept_aside)) == (
        counts[DROP_DUPLICATE],
        counts[REJECT_LATE],
        counts[QUARANTINE],
    )
    assert sum(counts[a] for a in (ACCEPT, DROP_DUPLICATE, REJECT_LATE, QUARANTINE)) == total
    not_accepted = dropped | late | kept_aside
    assert len(not_accepted) == len(dropped) + len(late) + len(kept_aside)
    price_entries = {
        f"{s}/{entry_id.decode()}"
        for s in streams
        if kinds[s] == PRICE
        for entry_id, _ in entries[s]
    }
    ids = signal_ids(client)
    assert len(ids) == len(set(ids)) == consumer.signals_written > 0
    assert set(ids) == price_entries - not_accepted
    client.close()
    return Outcome(
        streams=expected,
        kinds=kinds,
        signals=Counter(i.rpartition("/")[0] for i in ids),
        events=Counter((e["type"], e["stream"]) for e in events),
        cleaner=dict(counts),
    )


@pytest.mark.shared_data
@pytest.mark.filterwarnings(CLOSE_WARNING)
@pytest.mark.parametrize("exchange", SESSIONS)
async def test_service_consumes_a_real_session_written_by_cryptofeed(
    exchange: str, sample_dir: Path, tcp_redis: str, tmp_path: Path
) -> None:
    """All cryptofeed wrote is consumed: no DLQ, a signal per accepted price tick, exact trades."""
    outcome = await consume_session(sample_dir, exchange, tcp_redis, tmp_path / "data")
    assert {outcome.kinds[stream] for stream in outcome.signals} == {PRICE}
    assert sum(outcome.streams.values()) == sum(outcome.cleaner[a] for a in CLEAN_ACTIONS)


@pytest.mark.shared_data
@pytest.mark.filterwarnings(CLOSE_WARNING)
async def test_ticks_after_an_unfinished_candle_are_not_late(
    sample_dir: Path, tcp_redis: str, tmp_path: Path
) -> None:
    """Ticker ticks that follow an in-progress candle of their symbol are not rejected as late."""
    outcome = await consume_session(sample_dir, "BINANCE", tcp_redis, tmp_path / "data")
    late_prices = {
        stream: n
        for (kind, stream), n in outcome.events.items()
        if kind == "late" and outcome.kinds[stream] == PRICE
    }
    assert late_prices == {}
