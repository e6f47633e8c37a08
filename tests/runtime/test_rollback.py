"""Redis coming back with less than it had: every input that survived gets its signal, and the
model learns each outcome once (``runtime.rollback``, DESIGN §5)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
import redis
import redis.asyncio as aredis

from data_feeds.cache import keys, signed
from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.runtime.consumer import StreamConsumer
from data_feeds.runtime.metrics import ServiceMetrics
from data_feeds.settings import Settings
from data_feeds.validation.cleaner_config import CleanerConfig
from tests.runtime.consumer_helpers import (
    HMAC_KEY,
    STREAM,
    add_ticks,
    consumer_settings,
    make_consumer,
    signal_entry_ids,
)


@pytest.fixture
def server(short_tmp: Path, request: pytest.FixtureRequest) -> Iterator[EmbeddedRedis]:
    """A redis-server of the test's own (AOF on), which the test may kill and restart."""
    srv = EmbeddedRedis(short_tmp / f"rb-{request.node.name[-20:]}")
    srv.ensure_running()
    yield srv
    srv.stop()


@dataclass
class Own:
    """Clients of the test's own server, and settings pointing at it."""

    sync: redis.Redis
    client: aredis.Redis
    settings: Settings


@pytest.fixture
async def own(server: EmbeddedRedis, settings: Settings) -> AsyncIterator[Own]:
    url = server.ensure_running()
    sync = redis.Redis.from_url(url)
    client = aredis.Redis.from_url(url)
    yield Own(sync, client, consumer_settings(replace(settings, redis_url=url), batch_size=50))
    await client.aclose()
    sync.close()


def aof_file(srv: EmbeddedRedis) -> Path:
    """The file the server appends to now (Redis 7: the newest incr file; 6: appendonly.aof)."""
    incr = sorted((srv.data_dir / "appendonlydir").glob("*.incr.aof"))
    return incr[-1] if incr else srv.data_dir / "appendonly.aof"


def kill_and_truncate(srv: EmbeddedRedis, size: int) -> None:
    """kill -9 the server, cut its AOF back to ``size`` bytes (the tail an OS crash would lose
    with ``appendfsync everysec``), start it again on the same files."""
    pid = srv.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while srv.pid() == pid:
        time.sleep(0.01)
    path = aof_file(srv)
    assert path.stat().st_size > size
    os.truncate(path, size)
    srv.ensure_running()


async def drain(consumer: StreamConsumer, done: object, timeout_s: float = 30.0) -> None:
    stop = asyncio.Event()
    deadline = time.monotonic() + timeout_s
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await consumer.step(stop)


def pending(client: redis.Redis, group: str = "data-feeds") -> int:
    return sum(int(g["pending"]) for g in client.xinfo_groups(STREAM))  # type: ignore[union-attr]


async def learned_by_a_fresh_worker(client: aredis.Redis, settings: Settings, n: int) -> int:
    """Outcomes a worker that never stopped learns from the ``n`` stored ticks (its own group)."""
    straight = make_consumer(client, replace(settings, consumer_group="straight"))
    await straight.start()
    await drain(straight, lambda: straight.processed >= n)
    await straight.close()
    g = straight.pipeline.generator
    return g.learned + g.unlabelled


async def test_a_lost_aof_tail_leaves_no_surviving_input_without_its_signal(
    server: EmbeddedRedis, own: Own
) -> None:
    """kill -9 of Redis, its AOF cut back to a point after the checkpoint (the deliveries,
    signals and acknowledgements of 200 ticks lost, and 50 inputs with them); the worker, still
    running, sees it, rebuilds its state from the checkpoint and gives every surviving input a
    signal; its model has learned exactly what a worker that never stopped learns."""
    sync, client, s = own.sync, own.client, own.settings
    metrics = ServiceMetrics(process=False)
    consumer = make_consumer(client, s, metrics)
    ids = add_ticks(sync, 400)
    await consumer.start()
    await drain(consumer, lambda: consumer.processed >= 150)
    await consumer.checkpoint()
    await drain(consumer, lambda: consumer.processed >= 200)
    cut = aof_file(server).stat().st_size  # what survives: up to here
    await drain(consumer, lambda: consumer.processed >= 400)
    add_ticks(sync, 50, first=400)  # inputs that will be lost with the tail
    await drain(consumer, lambda: consumer.processed >= 450)
    assert len(signal_entry_ids(sync)) == 450

    await asyncio.to_thread(kill_and_truncate, server, cut)
    survived = [e[0] for e in sync.xrange(STREAM)]
    assert survived == ids  # the 50 late inputs are gone, the 400 are all there
    assert len(signal_entry_ids(sync)) < 400  # signals of the tail are gone too

    await drain(consumer, lambda: set(signal_entry_ids(sync)) >= {i.decode() for i in ids})
    await drain(consumer, lambda: pending(sync) == 0)
    await consumer.close()
    signalled = signal_entry_ids(sync)
    assert set(signalled) == {i.decode() for i in ids}
    assert max(Counter(signalled).values()) <= 2  # a duplicate keeps its input's id
    assert consumer.rollbacks >= 1
    assert metrics.snapshot().value("data_feeds_rollbacks_total") == consumer.rollbacks
    g = consumer.pipeline.generator
    assert g.learned + g.unlabelled == await learned_by_a_fresh_worker(client, s, 400)


async def test_acknowledgements_lost_with_deliveries_kept_are_found_after_a_restart(
    server: EmbeddedRedis, own: Own
) -> None:
    """The deliveries survived, the batch's write did not: 100 entries the state applied are
    pending again with no signal. After Redis restarts (its run_id changes, redis-py reconnects
    without a word) the worker finds them below what it applied, rebuilds its state and signals
    each one."""
    sync, client, s = own.sync, own.client, own.settings
    consumer = make_consumer(client, s)
    ids = add_ticks(sync, 300)
    await consumer.start()
    await drain(consumer, lambda: consumer.processed >= 150)
    await consumer.checkpoint()
    await drain(consumer, lambda: consumer.processed >= 300)
    lost = ids[200:]  # as Redis would have them had the last two batches' writes been lost
    signals = keys.signals_key("AAAUSDT")
    lost_text = {i.decode() for i in lost}
    doomed = [e for e, fields in sync.xrange(signals)
              if orjson.loads(fields[b"data"])["entry_id"] in lost_text]  # fmt: skip
    sync.xdel(signals, *doomed)
    sync.xclaim(STREAM, "data-feeds", consumer.consumer, 0, lost, force=True)
    assert pending(sync) == 100
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.ensure_running)

    await drain(consumer, lambda: pending(sync) == 0 and consumer.processed >= 400)
    await consumer.close()
    assert set(signal_entry_ids(sync)) == {i.decode() for i in ids}
    assert consumer.rollbacks == 1
    g = consumer.pipeline.generator
    assert g.learned + g.unlabelled == await learned_by_a_fresh_worker(client, s, 300)


async def test_a_restart_that_lost_nothing_rebuilds_nothing(
    server: EmbeddedRedis, own: Own
) -> None:
    """Redis restarted with all it had (SHUTDOWN writes the AOF): the worker notices the new
    run_id, finds nothing behind, and goes on: no rebuild, no duplicate."""
    sync = own.sync
    consumer = make_consumer(own.client, own.settings)
    add_ticks(sync, 100)
    await consumer.start()
    await drain(consumer, lambda: consumer.processed >= 100)
    before = consumer.rollback.run_id
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.ensure_running)
    add_ticks(sync, 100, first=100)
    assert await consumer.verify() is False
    assert consumer.rollback.run_id != before
    await drain(consumer, lambda: consumer.processed >= 200)
    await consumer.close()
    signalled = signal_entry_ids(sync)
    assert len(signalled) == len(set(signalled)) == 200
    assert consumer.rollbacks == 0


async def test_a_checkpoint_ahead_of_redis_is_refused_and_the_history_replayed(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """A checkpoint that claims entries the group never acknowledged (stored by a snapshot taken
    before a rollback) is refused at start, counted, and the state is rebuilt from the history
    Redis has: the model learns what a fresh worker learns, not more."""
    s = consumer_settings(settings)
    add_ticks(redis_client, 200)
    first = make_consumer(aclient, s)
    await first.start()
    await drain(first, lambda: first.processed >= 200)
    await first.checkpoint()
    await first.close()
    # Redis loses the group's progress past entry 120 (as after a failover to a lagging replica)
    ids = [e[0] for e in redis_client.xrange(STREAM)]
    redis_client.xgroup_setid(STREAM, "data-feeds", ids[119])
    state = signed.loads(redis_client.get(first.checkpointer.key), HMAC_KEY)  # type: ignore[arg-type]
    assert state["last_ids"][STREAM] == ids[-1].decode()  # ahead of the group now
    metrics = ServiceMetrics(process=False)
    second = make_consumer(aclient, s, metrics)
    await second.start()
    assert metrics.snapshot().value("data_feeds_checkpoints_refused_total") == 1
    assert second.last_ids[STREAM] == ids[119].decode()  # replayed up to what Redis acknowledged
    await drain(second, lambda: second.processed >= 80)
    await second.close()
    g = second.pipeline.generator
    assert g.learned + g.unlabelled == await learned_by_a_fresh_worker(aclient, s, 200)


async def test_a_failure_on_the_same_server_rebuilds_nothing(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """Entries pending at or below what the state applied, after a failure while the server
    stayed the same (entries taken back to be processed again, a write Redis refused): no
    rebuild, however often it happens, since only a changed server can have lost writes."""
    s = consumer_settings(settings)
    ids = add_ticks(redis_client, 100)
    consumer = make_consumer(aclient, s)
    await consumer.start()
    await drain(consumer, lambda: consumer.processed >= 100)
    redis_client.xclaim(STREAM, "data-feeds", consumer.consumer, 0, ids[80:], force=True)
    for _ in range(3):
        consumer._verify_due = True  # as run() sets it after a failure
        assert await consumer.verify() is False
    await consumer.close()
    assert consumer.rollbacks == 0


async def test_a_checkpoint_built_with_other_calendars_is_refused(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """A state built with other trading calendars than the settings' (DATA_FEEDS_CALENDARS
    changed between two runs) is refused, and the history replayed with the settings': what
    the service computes stays what training computes from the same settings."""
    add_ticks(redis_client, 50)
    first = make_consumer(aclient, consumer_settings(settings))
    await first.start()
    await drain(first, lambda: first.processed >= 50)
    await first.checkpoint()
    await first.close()
    other = replace(settings, cleaner=CleanerConfig(calendars=(("crypto", "fx"),)))
    metrics = ServiceMetrics(process=False)
    second = make_consumer(aclient, consumer_settings(other), metrics)
    await second.start()
    await second.close()
    assert metrics.snapshot().value("data_feeds_checkpoints_refused_total") == 1
    assert second.pipeline.cleaner.calendars == (("crypto", "fx"),)
    assert second.pipeline.generator.calendars.pairs == (("crypto", "fx"),)
    assert second.last_ids[STREAM] == first.last_ids[STREAM]  # replayed with its own
