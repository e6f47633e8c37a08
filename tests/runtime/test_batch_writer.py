"""BatchWriter against a real Redis: a batch's outputs and acks land together or not at all,
and a batch whose write failed is kept and written once when Redis takes it."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.runtime.batch_writer import BatchWriter
from data_feeds.runtime.pipeline import BatchResult
from data_feeds.settings import Settings
from tests.cache.test_connection_urls import with_credentials
from tests.runtime.consumer_helpers import STREAM, add_ticks

GROUP = "g"


def a_batch(client: redis.Redis) -> BatchResult:
    """Three entries read (pending) and a batch with one output of each kind for them."""
    ids = add_ticks(client, 3)
    client.xgroup_create(STREAM, GROUP, id="0")
    client.xreadgroup(GROUP, "me", {STREAM: ">"}, count=10)
    result = BatchResult()
    for entry_id in ids:
        result.ack(STREAM, entry_id)
    result.signals = [(keys.signals_key("AAAUSDT"), b'{"n":1}'), (keys.signals_key("B"), b"{}")]
    result.dlq = [(keys.dlq_key(STREAM), {"entry_id": ids[0], "reason": "wrong_type"})]
    result.quarantine = [(keys.quarantine_key("AAAUSDT"), b'{"q":1}')]
    result.events = [b'{"type":"gap"}']
    result.last_ids = {STREAM: ids[-1]}
    return result


def outputs(client: redis.Redis) -> dict[str, int]:
    names = [keys.signals_key("AAAUSDT"), keys.signals_key("B"), keys.dlq_key(STREAM),
             keys.quarantine_key("AAAUSDT"), keys.EVENTS_FEED]  # fmt: skip
    return {k: client.xlen(k) for k in names}


async def test_outputs_and_acks_are_written_together(
    redis_client: redis.Redis, aclient: aredis.Redis
) -> None:
    batch = a_batch(redis_client)
    told: list[BatchResult] = []
    writer = BatchWriter(aclient, group_for=lambda s: GROUP, signals_maxlen=1000,
                         on_written=lambda r, dt, at: told.append(r))  # fmt: skip
    await writer.write(batch)
    assert set(outputs(redis_client).values()) == {1}
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 0
    assert told == [batch] and writer.pending is None
    await writer.flush()  # nothing pending: writes nothing more
    assert set(outputs(redis_client).values()) == {1} and len(told) == 1


async def test_a_refused_write_leaves_nothing_and_is_written_once_later(
    redis_client: redis.Redis, settings: Settings, redis_url: str
) -> None:
    """Redis refuses the transaction (a user not allowed EVALSHA: EXECABORT): no output and no
    ack lands, the batch stays pending; once allowed, ``flush`` writes it exactly once."""
    batch = a_batch(redis_client)
    user, password = "df_writer", "pw-writer"
    redis_client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"],
                             commands=["+@all", "-evalsha"])  # fmt: skip
    client = aredis.Redis.from_url(with_credentials(redis_url, user, password))
    told: list[BatchResult] = []
    writer = BatchWriter(client, group_for=lambda s: GROUP, signals_maxlen=1000,
                         on_written=lambda r, dt, at: told.append(r))  # fmt: skip
    try:
        with pytest.raises(redis.RedisError):
            await writer.write(batch)
        assert writer.pending is batch and not told
        assert set(outputs(redis_client).values()) == {0}
        assert redis_client.xpending(STREAM, GROUP)["pending"] == 3
        redis_client.acl_setuser(user, enabled=True, commands=["+evalsha"])
        writer.forget_scripts()
        await writer.flush()
        await writer.flush()
    finally:
        await client.aclose()
        redis_client.acl_deluser(user)
    assert told == [batch] and writer.pending is None
    assert set(outputs(redis_client).values()) == {1}
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 0
