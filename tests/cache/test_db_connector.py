"""DBConnector and AsyncDBConnector: validated writes to the right streams, history read back
in event-time order with bounds, bad entries skipped and counted."""

from __future__ import annotations

import pytest
import redis

from data_feeds.cache.db_connector import AsyncDBConnector, DBConnector
from data_feeds.errors import InvalidMessage
from data_feeds.records import Sentiment, Tick, Trade
from data_feeds.settings import Settings

T0 = 1_700_000_000.0


def history() -> list[Tick | Trade | Sentiment]:
    return [
        Tick("BTCUSDT", 100.0, 1.0, T0 + 2),
        Tick("ETHUSDT", 10.0, 1.0, T0 + 1),
        Trade("BTCUSDT", 100.5, 0.2, "buy", T0 + 3, trade_id="t1"),
        Sentiment("BTC", 0.4, T0 + 0, "news"),
        Tick("AAPL", 190.0, 5.0, T0 + 4, asset_class="equity"),
    ]


def test_store_writes_each_record_to_its_stream(db: DBConnector, redis_client: redis.Redis) -> None:
    """Records land in {asset_class}_{kind}:{SYMBOL} or sentiment:{KEYWORD}."""
    db.store_many(history())
    keys = sorted(k.decode() for k in redis_client.scan_iter(_type="stream"))
    assert keys == ["crypto_price:BTCUSDT", "crypto_price:ETHUSDT", "crypto_trade:BTCUSDT",
                    "equity_price:AAPL", "sentiment:BTC"]  # fmt: skip


def test_store_many_writes_nothing_when_one_record_is_invalid(
    db: DBConnector, redis_client: redis.Redis
) -> None:
    """One bad record in a batch raises InvalidMessage before anything is written."""
    bad = {"symbol": "BTCUSDT", "price": -1.0, "volume": 1.0, "timestamp": T0}
    with pytest.raises(InvalidMessage) as info:
        db.store_many([*history(), bad])
    assert info.value.reason == "non_positive_price"
    assert list(redis_client.scan_iter(_type="stream")) == []


def test_backfill_is_in_event_time_order_with_bounds_and_limit(db: DBConnector) -> None:
    """Across streams, records come back by event time; start/end bound it, limit cuts it."""
    db.store_many(history())
    assert [r.timestamp - T0 for r in db.backfill()] == [0, 1, 2, 3, 4]
    assert [r.timestamp - T0 for r in db.backfill("crypto_*")] == [1, 2, 3]
    assert [r.timestamp - T0 for r in db.backfill(start=T0 + 1, end=T0 + 3)] == [1, 2, 3]
    assert [r.timestamp - T0 for r in db.backfill(limit=2)] == [0, 1]
    iso = db.backfill(start="2023-11-14T22:13:22Z")  # T0 + 2
    assert [r.timestamp - T0 for r in iso] == [2, 3, 4]


def test_backfill_bounds_read_times_as_the_validator_does(db: DBConnector) -> None:
    """A bound in ms, in ns, as numeric text or as a naive ISO time (UTC) means what the same
    value means in a message (data_feeds.timestamps)."""
    db.store_many(history())
    wanted = [1, 2, 3]
    for start, end in [
        (int((T0 + 1) * 1000), int((T0 + 3) * 1000)),
        (int(T0 + 1) * 10**9, int(T0 + 3) * 10**9),
        (str(T0 + 1), str(T0 + 3)),
        ("2023-11-14T22:13:21", "2023-11-14 22:13:23"),
    ]:
        assert [r.timestamp - T0 for r in db.backfill(start=start, end=end)] == wanted
    with pytest.raises(ValueError, match="start"):
        db.backfill(start="soon")
    with pytest.raises(TypeError, match="end"):
        db.backfill(end=True)


def test_backfill_skips_bad_entries_and_output_streams(
    db: DBConnector, redis_client: redis.Redis
) -> None:
    """Entries that do not validate are counted by reason; signals and DLQ are not history."""
    db.store(history()[0])
    redis_client.xadd("crypto_price:BTCUSDT", {"data": b"{broken"})
    redis_client.xadd("signals:BTCUSDT", {"data": b"{}"})
    redis_client.xadd("dlq:crypto_price:BTCUSDT", {"reason": b"x"})
    assert [r.price for r in db.backfill()] == [100.0]
    assert db.last_backfill_rejects == {"malformed_json": 1}


def test_backfill_pages_through_long_streams(db: DBConnector) -> None:
    """More entries than one XRANGE page (1000) all come back."""
    db.store_many(Tick("BTCUSDT", 100.0 + i * 0.01, 1.0, T0 + i) for i in range(2_500))
    assert len(db.backfill("crypto_price:*")) == 2_500


async def test_async_twin_reads_what_the_sync_one_wrote(
    settings: Settings, db: DBConnector
) -> None:
    """AsyncDBConnector shares keys and codec: it stores and backfills the same records."""
    async with AsyncDBConnector(settings=settings) as adb:
        await adb.store_many(history()[:2])
        await adb.store(history()[3])
        assert await adb.ping()
        from_async = await adb.backfill()
    assert from_async == db.backfill()
    assert [r.timestamp - T0 for r in from_async] == [0, 1, 2]


def test_history_is_stored_at_its_event_time_never_ahead_of_the_clock(
    db: DBConnector, redis_client: redis.Redis
) -> None:
    """Entry ids are the records' event times; past the stream's newest id they go just after
    it, and a record stamped in the future is stored at the server's clock."""
    t = 1_700_000_000.0
    ids = db.store_many([Tick("IDSUSDT", 100.0, 1.0, t + 0.5), Tick("IDSUSDT", 100.0, 1.0, t),
                         Tick("IDSUSDT", 100.0, 1.0, t + 1.0)])  # fmt: skip
    assert ids == ["1700000000500-0", "1700000000500-1", "1700000001000-0"]
    seconds, micros = redis_client.time()
    now_ms = seconds * 1000 + micros // 1000
    ahead = db.store(Tick("IDSUSDT", 100.0, 1.0, now_ms / 1000.0 + 3600.0))
    ms = int(ahead.split("-")[0])
    assert now_ms <= ms <= now_ms + 5_000
