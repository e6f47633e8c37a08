"""The one way a command reaches Redis: ``Target`` resolves the URL and the settings once and
opens the connector, pinged, so an unreachable server is one ``RunError`` (exit 1) naming the
URL without its password."""

from __future__ import annotations

import redis
import redis.asyncio as aredis

from data_feeds.cache.clients import redacted
from data_feeds.cache.db_connector import AsyncDBConnector, DBConnector, resolve_redis_url
from data_feeds.errors import RunError
from data_feeds.settings import Settings


class Target:
    """The Redis of a command: ``--redis-url`` (already checked by its type), else the
    configured one, else the bundled server (started now, released at exit)."""

    def __init__(self, url: str | None, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.url = resolve_redis_url(url, self.settings)

    def db(self) -> DBConnector:
        """A ``DBConnector``, pinged."""
        db = DBConnector(self.url, settings=self.settings)
        try:
            db.redis.ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            db.close()
            raise self._unreachable(exc) from None
        except redis.RedisError:
            db.close()
            raise
        return db

    async def client(self) -> aredis.Redis:
        """An asyncio client with the package's connection options, pinged."""
        client = AsyncDBConnector(self.url, settings=self.settings).redis
        try:
            await client.ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            await client.aclose()
            raise self._unreachable(exc) from None
        except redis.RedisError:
            await client.aclose()
            raise
        return client

    def _unreachable(self, exc: BaseException) -> RunError:
        return RunError(f"cannot reach Redis at {redacted(self.url)}: {exc}")
