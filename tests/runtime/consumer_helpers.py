"""Building one StreamConsumer (and its parts) on the suite's Redis, and ticks to feed it."""

from __future__ import annotations

from dataclasses import replace

import orjson
import redis
import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.runtime.app import build_pipeline
from data_feeds.runtime.consumer import StreamConsumer
from data_feeds.runtime.metrics import ServiceMetrics
from data_feeds.settings import Settings
from data_feeds.validation.schema_validator import SchemaValidator

T0 = 1_700_000_000.0
HMAC_KEY = b"k" * 32
STREAM = keys.stream_key("crypto", "price", "AAAUSDT")


def tick(i: int, symbol: str = "AAAUSDT") -> dict[str, bytes]:
    data = {"kind": "price", "symbol": symbol, "price": 100.0 + (i % 5) * 0.1, "volume": 1.0,
            "timestamp": T0 + i}  # fmt: skip
    return {"data": orjson.dumps(data)}


def add_ticks(client: redis.Redis, n: int, *, first: int = 0, stream: str = STREAM) -> list[bytes]:
    """XADD n ticks; their entry ids."""
    return [client.xadd(stream, tick(i)) for i in range(first, first + n)]  # type: ignore[misc]


def consumer_settings(settings: Settings, **overrides: object) -> Settings:
    base = replace(settings, block_ms=20, discover_interval_s=0.1, metrics_port=-1,
                   horizon_s=5.0, checkpoint_interval_s=3600.0)  # fmt: skip
    return replace(base, **overrides)  # type: ignore[arg-type]


def make_consumer(
    client: aredis.Redis, settings: Settings, metrics: ServiceMetrics | None = None
) -> StreamConsumer:
    return StreamConsumer(
        client, settings, build_pipeline(settings, SchemaValidator()), hmac_key=HMAC_KEY,
        metrics=metrics,
    )  # fmt: skip


def signal_entry_ids(client: redis.Redis, symbol: str = "AAAUSDT") -> list[str]:
    """The input entry ids the signals of one symbol were made from, in signal order."""
    out = []
    for _, fields in client.xrange(keys.signals_key(symbol)):
        out.append(orjson.loads(fields[b"data"])["entry_id"])
    return out
