"""Fixtures of the simulation tests: an asyncio client on the suite's (emptied) Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aredis


@pytest.fixture
async def aclient(redis_url: str, redis_client: redis.Redis) -> AsyncIterator[aredis.Redis]:
    """An asyncio client on the same emptied database as ``redis_client``."""
    client: aredis.Redis = aredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
