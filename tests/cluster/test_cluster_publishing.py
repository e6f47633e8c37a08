"""Writing to a cluster: the simulator's publisher (paced, and at event time with its fault
manifest) and the asyncio connector, their streams spread over every primary."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from data_feeds.cache import keys
from data_feeds.cache.clients import async_client
from data_feeds.cache.db_connector import AsyncDBConnector
from data_feeds.records import Tick
from data_feeds.settings import Settings
from data_feeds.simulation.publisher import StreamPublisher, encode_message

from ..simulation.test_publisher import generated, stream_fields
from .conftest import cluster_client


def test_publisher_on_a_cluster(cluster_url: str) -> None:
    """Each stream holds exactly its generated messages, byte for byte and in order, and each
    fault names the entry that carries it; live (``*`` ids, paced) and at event time (one
    script call per slot)."""
    messages, injector = generated(4000, seed=6)

    async def run(at_event_time: bool) -> Any:
        client = async_client(cluster_url)
        try:
            publisher = StreamPublisher(
                client, batch_size=500, manifest_key=keys.SIM_FAULTS, at_event_time=at_event_time
            )
            rate = 0.0 if at_event_time else 20_000.0
            return await publisher.publish(messages, faults=injector.faults, rate=rate)
        finally:
            await client.aclose()

    expected: dict[str, list[dict[str, bytes]]] = {}
    for m in messages:
        stream, fields = encode_message(m)
        expected.setdefault(stream, []).append(fields)
    for at_event_time in (False, True):
        sync = cluster_client(cluster_url)
        sync.flushall()
        for fault in injector.faults:
            fault.entry_id = None
        result = asyncio.run(run(at_event_time))
        assert result.published == len(messages)
        assert result.streams == {s: len(v) for s, v in expected.items()}
        for stream, fields_list in expected.items():
            assert stream_fields(sync, stream) == fields_list
        assert len(result.faults) > 50
        for fault in result.faults:
            _, sent = encode_message(messages[fault.seq])
            assert stream_fields(sync, fault.stream, fault.entry_id, fault.entry_id) == [sent]
        assert sync.xlen(keys.SIM_FAULTS) == len(result.faults)
        nodes = sync.nodes_manager  # type: ignore[attr-defined]
        assert len({nodes.get_node_from_slot(keys.hash_slot(s)).name for s in expected}) == 3
        sync.close()


def test_async_connector_on_a_cluster(cluster_url: str, tmp_path: Path) -> None:
    async def run() -> None:
        settings = Settings(redis_url=cluster_url, data_dir=tmp_path / "data")
        async with AsyncDBConnector(settings=settings) as db:
            assert db.cluster
            ticks = [Tick(f"A{i % 30:02d}USDT", 10.0 + i, 1.0, 1_700_000_000.0 + i)
                     for i in range(300)]  # fmt: skip
            ids = await db.store_many(ticks)
            stored = {(e.stream, e.entry_id): e.record.price
                      for e in await db.backfill_entries("crypto_price:*")}  # fmt: skip
            assert stored == {
                (keys.record_stream(t), entry_id): t.price
                for t, entry_id in zip(ticks, ids, strict=True)
            }
            back = await db.backfill("crypto_price:*")
            assert [t.price for t in back] == [t.price for t in ticks]

    asyncio.run(run())
