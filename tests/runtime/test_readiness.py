"""``/readyz`` of a running service reports Redis as Redis is: down at start, down as soon as
it dies, up as soon as it answers again (``RedisProbe``), not the consumer's lagging view."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.runtime.app import Service
from data_feeds.runtime.redis_probe import RedisProbe
from data_feeds.settings import Settings
from tests.runtime.test_health import get
from tests.runtime.test_service import service_settings


async def readyz(service: Service) -> tuple[int, str]:
    assert service.health is not None
    status, _, body = await asyncio.to_thread(get, service.health, "/readyz")
    return status, body.decode().strip()


async def wait_for(service: Service, task: asyncio.Task[int], status: int) -> str:
    """Poll /readyz until it answers ``status``; its text."""
    async with asyncio.timeout(60):
        while True:
            if task.done():
                task.result()
            if service.health is None:  # not serving yet
                await asyncio.sleep(0.05)
                continue
            got, text = await readyz(service)
            if got == status:
                return text
            await asyncio.sleep(0.05)


async def test_readyz_follows_redis_down_at_start_down_and_up_again(
    settings: Settings, short_tmp: Path
) -> None:
    server = EmbeddedRedis(short_tmp / "readyz-redis")
    url = server.url  # a unix socket: nothing listens there yet
    s = replace(service_settings(settings), redis_url=url, metrics_port=0,
                metrics_host="127.0.0.1")  # fmt: skip
    service = Service(s)
    task = asyncio.create_task(service.run())
    try:
        text = await wait_for(service, task, 503)
        assert text.startswith("redis unreachable: "), text  # not "consumer not running"
        await asyncio.to_thread(server.ensure_running)
        assert await wait_for(service, task, 200) == "ready"
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(RedisProbe(url).max_age_s + 0.1)  # past the probe's cached answer
        status, text = await readyz(service)
        assert status == 503 and text.startswith("redis unreachable: "), text
        await asyncio.to_thread(server.ensure_running)
        assert await wait_for(service, task, 200) == "ready"
    finally:
        service.request_stop()
        await task
        await asyncio.to_thread(server.stop)


def test_the_probe_keeps_a_success_briefly_and_a_failure_never(redis_url: str) -> None:
    """A burst of probes costs one PING while Redis answers; while it does not, every probe
    asks again, so the recovery shows at once."""
    up = RedisProbe(redis_url, max_age_s=60.0)
    first = up.state()
    assert first == (True, "redis ok")
    assert up.state() is first  # kept
    up.close()
    down = RedisProbe("redis://127.0.0.1:1/0", max_age_s=60.0)
    failed = down.state()
    assert failed[0] is False and "redis unreachable" in failed[1]
    assert down.state() is not failed  # asked again
    down.close()
