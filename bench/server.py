"""The Redis a bench runs against: ``--redis-url``, else the bundled server in a directory of
the bench's own, stopped when the bench ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from data_feeds.cache.embedded import EmbeddedRedis


@contextlib.contextmanager
def bench_redis(url: str | None, tmp: Path) -> Iterator[str]:
    """The URL to use: ``url``, or a bundled redis-server started under ``tmp``."""
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp / "redis")
    try:
        yield server.ensure_running()
    finally:
        server.stop()
