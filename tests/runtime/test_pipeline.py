"""TickPipeline: what a batch becomes, entry by entry."""

from __future__ import annotations

import orjson

from data_feeds.cache import keys
from data_feeds.runtime.app import build_pipeline
from data_feeds.settings import Settings
from data_feeds.validation.schema_validator import SchemaValidator
from tests.runtime.consumer_helpers import STREAM, T0


def entry(i: int, price: float, ts: float) -> tuple[str, bytes, dict[bytes, bytes]]:
    data = {"symbol": "AAAUSDT", "price": price, "volume": 1.0, "timestamp": ts}
    return (STREAM, f"{i + 1}-0".encode(), {b"data": orjson.dumps(data)})


def test_a_spike_after_a_gap_is_quarantined_as_a_spike(settings: Settings) -> None:
    """A tick that comes after a silence and jumps far off the price is kept in quarantine with
    the reason that put it there (the spike), not the gap noted before it."""
    pipeline = build_pipeline(settings, SchemaValidator())
    ticks = [entry(i, 100.0 + 0.01 * (i % 7), T0 + i) for i in range(200)]
    pipeline.process(ticks)
    result = pipeline.process([entry(200, 250.0, T0 + 5_000)])
    assert [e[0] for e in result.quarantine] == [keys.quarantine_key("AAAUSDT")]
    kept = orjson.loads(result.quarantine[0][1])
    assert kept["reason"] == "spike"
    assert result.feed_events["gap"] == 1
