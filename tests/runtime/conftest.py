"""Fixtures of the runtime tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aredis

from data_feeds.settings import Settings


@pytest.fixture
async def aclient(settings: Settings, redis_client: redis.Redis) -> AsyncIterator[aredis.Redis]:
    """An asyncio client on the suite's (emptied) Redis."""
    client = aredis.Redis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()
