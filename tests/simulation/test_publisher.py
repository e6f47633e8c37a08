"""StreamPublisher against the real Redis: exact counts, exact bytes, entry ids, pacing."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aredis

from data_feeds.cache.keys import SIM_FAULTS
from data_feeds.errors import PublishError
from data_feeds.records import Record, Tick
from data_feeds.simulation.edge_cases import FaultConfig, FaultInjector, Message, RawMessage
from data_feeds.simulation.feeds import FeedConfig, MarketSimulator, make_symbols
from data_feeds.simulation.publisher import StreamPublisher, encode_message
from data_feeds.simulation.sentiment import TwitterSentiment
from data_feeds.timestamps import entry_key


def stream_fields(
    client: redis.Redis, stream: str, lo: str = "-", hi: str = "+"
) -> list[dict[str, bytes]]:
    """The entries of a stream as ``{field: value}`` with text field names."""
    entries: Any = client.xrange(stream, lo, hi)
    return [{k.decode(): v for k, v in fields.items()} for _, fields in entries]


def generated(n: int, seed: int = 5) -> tuple[list[Message], FaultInjector]:
    sim = MarketSimulator(make_symbols(6, ("crypto", "equity", "fx")), seed=seed)
    extra = [TwitterSentiment.for_market(sim, interval_s=2.0).records()]
    injector = FaultInjector(
        sim.records(extra=extra), FaultConfig.uniform(0.1, warmup=20), seed=seed
    )
    return list(itertools.islice(injector, n)), injector


async def test_published_counts_and_bytes_match_what_was_generated(
    aclient: aredis.Redis, redis_client: redis.Redis
) -> None:
    """Each stream holds exactly its generated messages, byte for byte and in order."""
    messages, injector = generated(12_000)
    publisher = StreamPublisher(aclient, batch_size=700, manifest_key=SIM_FAULTS)
    result = await publisher.publish(messages, faults=injector.faults)
    expected: dict[str, list[dict[str, bytes]]] = {}
    for m in messages:
        stream, fields = encode_message(m)
        expected.setdefault(stream, []).append(fields)
    assert result.published == len(messages)
    assert result.streams == {s: len(v) for s, v in expected.items()}
    assert set(result.by_kind()) == {"price", "trade", "book", "sentiment"}
    stored_keys = {k.decode() for k in redis_client.scan_iter(count=1000)}
    assert stored_keys == set(expected) | {SIM_FAULTS}
    for stream, fields_list in expected.items():
        assert stream_fields(redis_client, stream) == fields_list


async def test_faults_get_their_entry_ids_and_the_manifest_is_stored(
    aclient: aredis.Redis, redis_client: redis.Redis
) -> None:
    """Every fault names the entry that carries it; sim:faults holds the whole manifest."""
    messages, injector = generated(8000, seed=6)
    result = await StreamPublisher(aclient, manifest_key=SIM_FAULTS).publish(
        messages, faults=injector.faults
    )
    assert len(result.faults) == len(injector.faults) > 100
    assert set(result.faults_by_type()) >= {"nan", "duplicate", "malformed_json", "out_of_order"}
    for fault in result.faults:
        assert fault.entry_id is not None
        stream, sent = encode_message(messages[fault.seq])
        assert stream == fault.stream
        assert stream_fields(redis_client, stream, fault.entry_id, fault.entry_id) == [sent]
    stored = [orjson.loads(f["data"]) for f in stream_fields(redis_client, SIM_FAULTS)]
    assert stored == [f.to_dict() for f in result.faults]


async def test_rate_paces_the_publishing(aclient: aredis.Redis) -> None:
    """rate=1000 takes ~0.4 s for 400 messages; rate=0 is as fast as it goes."""
    messages, _ = generated(400)
    started = time.monotonic()
    result = await StreamPublisher(aclient).publish(messages, rate=1000.0)
    took = time.monotonic() - started
    assert result.published == 400
    assert 0.35 <= took < 1.5, took
    started = time.monotonic()
    await StreamPublisher(aclient).publish(messages)
    assert time.monotonic() - started < 0.3


async def test_speed_follows_the_timestamps(aclient: aredis.Redis) -> None:
    """speed=1 sends messages as their timestamps come due; speed=4 in a quarter of the time."""
    ticks = [Tick("BTCUSDT", 100.0 + i, 1.0, 1_700_000_000.0 + i * 0.01) for i in range(61)]
    for speed, span in ((1.0, 0.6), (4.0, 0.15)):
        started = time.monotonic()
        result = await StreamPublisher(aclient).publish(ticks, speed=speed)
        took = time.monotonic() - started
        assert result.published == 61
        assert span * 0.9 <= took < span + 0.5, (speed, took)


async def test_limit_duration_and_stop(aclient: aredis.Redis) -> None:
    """A run ends after limit messages, after duration_s, or when stop is set."""

    def endless() -> Iterator[Record]:
        return MarketSimulator(make_symbols(3), FeedConfig(), seed=1).records()

    result = await StreamPublisher(aclient).publish(endless(), limit=1234)
    assert result.published == 1234

    started = time.monotonic()
    result = await StreamPublisher(aclient).publish(endless(), rate=2000.0, duration_s=0.3)
    assert 0.25 < time.monotonic() - started < 0.8
    assert 400 < result.published < 800

    stop = asyncio.Event()
    stop.set()
    result = await StreamPublisher(aclient).publish(endless(), stop=stop)
    assert result.published == 0


async def test_progress_is_reported(aclient: aredis.Redis) -> None:
    """The progress callback sees growing counts and a final one with the total."""
    seen: list[int] = []
    messages, _ = generated(3000)
    await StreamPublisher(aclient, batch_size=100).publish(
        messages, progress=lambda p: seen.append(p.published), progress_interval_s=0.0
    )
    assert seen == sorted(seen) and seen[-1] == 3000 and len(seen) > 10


async def test_a_refused_write_names_the_stream(
    aclient: aredis.Redis, redis_client: redis.Redis
) -> None:
    """XADD to a key of another type fails with PublishError; the client stays usable."""
    redis_client.set("crypto_price:BTCUSDT", "not a stream")
    ticks = [Tick("ETHUSDT", 1.0, 1.0, 1.7e9), Tick("BTCUSDT", 1.0, 1.0, 1.7e9)]
    with pytest.raises(PublishError, match=r"crypto_price:BTCUSDT.*WRONGTYPE"):
        await StreamPublisher(aclient).publish(ticks)
    assert await aclient.ping()
    assert redis_client.xlen("crypto_price:ETHUSDT") == 1  # the rest of the batch went in
    result = await StreamPublisher(aclient).publish(ticks[:1])
    assert result.published == 1


async def test_maxlen_trims_approximately(aclient: aredis.Redis, redis_client: redis.Redis) -> None:
    """MAXLEN ~ keeps a stream near its cap instead of growing without bound."""
    ticks = [Tick("BTCUSDT", 1.0, 1.0, 1.7e9 + i) for i in range(5000)]
    await StreamPublisher(aclient, maxlen=1000).publish(ticks)
    assert 1000 <= redis_client.xlen("crypto_price:BTCUSDT") < 2000


async def test_history_is_appended_at_event_time(
    aclient: aredis.Redis, redis_client: redis.Redis
) -> None:
    """``at_event_time`` (an unpaced simulation, a replay as fast as possible): byte for byte
    the same entries, each with the id of its event time (just after the stream's newest id
    when the stream is past it already), faults named by those ids; published again, the
    older history goes after what the streams hold, never refused."""
    messages, injector = generated(6000, seed=7)
    publisher = StreamPublisher(aclient, batch_size=500, manifest_key=SIM_FAULTS,
                                at_event_time=True)  # fmt: skip
    result = await publisher.publish(messages, faults=injector.faults)
    assert result.published == len(messages) and len(result.faults) > 50
    expected: dict[str, list[dict[str, bytes]]] = {}
    times: dict[str, list[int | None]] = {}
    for m in messages:
        stream, fields = encode_message(m)
        expected.setdefault(stream, []).append(fields)
        ms = None if isinstance(m, RawMessage) else math.floor(m.timestamp * 1000.0)
        times.setdefault(stream, []).append(ms)
    at_event_time = 0
    for stream, fields_list in expected.items():
        assert stream_fields(redis_client, stream) == fields_list
        ids = [entry_key(i) for i, _ in redis_client.xrange(stream)]  # type: ignore[union-attr]
        assert ids == sorted(ids)
        at_event_time += sum(1 for (ms, _), t in zip(ids, times[stream], strict=True) if ms == t)
    assert at_event_time >= 0.9 * len(messages)  # 10 % faults: raw, out of order, duplicates
    for fault in result.faults:
        stream, sent = encode_message(messages[fault.seq])
        assert stream_fields(redis_client, stream, fault.entry_id, fault.entry_id) == [sent]
    single = await StreamPublisher(aclient, batch_size=1, at_event_time=True).publish(
        messages[:200], faults=[f for f in injector.faults if f.seq < 200]
    )
    for fault in single.faults:  # a batch of one message: its id, not the script's reply list
        assert fault.entry_id is not None and entry_key(fault.entry_id) > (0, 0)
    tops = {s: entry_key(redis_client.xinfo_stream(s)["last-generated-id"]) for s in expected}
    again = await StreamPublisher(aclient, at_event_time=True).publish(messages[:500])
    assert again.published == 500
    for stream in again.streams:
        (first, _), *_ = redis_client.xrange(stream, f"({tops[stream][0]}-{tops[stream][1]}", "+")
        assert entry_key(first) > tops[stream]
