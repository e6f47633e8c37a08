"""The simulator against the service: injected faults are handled exactly as labelled."""

from __future__ import annotations

from collections import Counter

import redis
import redis.asyncio as aredis

from data_feeds.runtime.app import Service
from data_feeds.settings import Settings
from data_feeds.simulation.publisher import StreamPublisher
from data_feeds.simulation.scenario import build_scenario
from tests.runtime.test_service import pending_total, run_until, service_settings


async def test_injected_faults_are_rejected_quarantined_and_flagged_exactly(
    redis_url: str, redis_client: redis.Redis, settings: Settings
) -> None:
    """Every labelled fault gets exactly its expected treatment: rejects by reason (and the
    DLQ), quarantined spikes, dropped duplicates, out-of-order and gap events; nothing else."""
    scenario = build_scenario(symbols=6, rate=0, seed=42, sentiment=True, faults=0.02)
    assert scenario.injector is not None
    client = aredis.Redis.from_url(redis_url)
    try:
        result = await StreamPublisher(client).publish(
            scenario.messages, limit=40_000, faults=scenario.injector.faults
        )
    finally:
        await client.aclose()
    faults = result.faults
    by_type = Counter(f.fault for f in faults)
    assert {"missing_field", "wrong_type", "extreme_price", "nan", "malformed_json", "spike",
            "duplicate", "out_of_order"} <= set(by_type)  # fmt: skip
    service = Service(service_settings(settings))
    await run_until([service], lambda: service.consumer is not None
                    and service.consumer.processed >= result.published)  # fmt: skip
    m = service.metrics.snapshot()
    expected_rejects = Counter(f.reason for f in faults if f.outcome == "reject")
    rejected = {
        reason: int(m.value("data_feeds_messages_rejected_total", reason=reason))
        for reason in set(expected_rejects) | {"delivery_limit"}
    }
    assert {k: v for k, v in rejected.items() if v} == dict(expected_rejects)
    assert m.value("data_feeds_dlq_messages_total") == sum(expected_rejects.values())
    dlq = sum(int(redis_client.xlen(k)) for k in redis_client.scan_iter(match="dlq:*"))
    assert dlq == sum(expected_rejects.values())
    assert m.value("data_feeds_quarantined_messages_total") == by_type["spike"]
    events = {t: int(m.value("data_feeds_feed_events_total", type=t))
              for t in ("duplicate", "out_of_order", "gap", "late", "spike")}  # fmt: skip
    assert events["duplicate"] == by_type["duplicate"]
    assert events["out_of_order"] == by_type["out_of_order"]
    assert events["gap"] == by_type["gap"]
    assert events["late"] == 0
    assert events["spike"] == by_type["spike"]
    assert pending_total(redis_client) == 0
