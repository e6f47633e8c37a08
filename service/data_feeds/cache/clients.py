"""Clients for a URL: one Redis, or a Redis Cluster behind the same URL form.

A ``redis://`` or ``rediss://`` URL may name any node of a Redis Cluster: the server says so
(``INFO cluster``: ``cluster_enabled:1``), and the factories here then return redis-py's
cluster client (``redis.cluster.RedisCluster`` / ``redis.asyncio.cluster.RedisCluster``),
which finds the other nodes, routes each command by its key's hash slot and follows MOVED and
ASK replies and failovers. A ``unix://`` URL is never a cluster. The answer is asked once per
URL and process.

The cluster clients run the same commands as ``redis.Redis`` for single keys; what they refuse
(a command or a transaction over keys of several hash slots) the callers avoid by grouping
their work by slot (``keys.hash_slot``) or by keeping related keys in one slot with a hash tag
(``keys``' module doc). ``is_cluster`` tells a caller which client it holds.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
import structlog
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from data_feeds.errors import REDIS_DOWN

log = structlog.get_logger(__name__)

CLUSTER_CLIENTS = (RedisCluster, AsyncRedisCluster)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else f"***@{netloc}"))


_KNOWN: dict[str, bool] = {}


def is_cluster_url(url: str) -> bool:
    """Whether the server at ``url`` is a node of a Redis Cluster (asked once per URL and
    process). A server that cannot be reached is taken for one Redis, and asked again next
    time: the caller's first command reports it unreachable as before (and retries, in the
    service); if it turns out to be a cluster node, its first reply is a MOVED error and the
    process is restarted onto the cluster client."""
    if url.startswith("unix://"):
        return False
    known = _KNOWN.get(url)
    if known is not None:
        return known
    client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        info = client.info("cluster")
    except REDIS_DOWN:
        log.warning("redis_unreachable_at_start", url=redacted(url))
        return False
    finally:
        client.close()
    _KNOWN[url] = answer = bool(info.get("cluster_enabled"))
    return answer


def is_cluster(client: object) -> bool:
    """Whether ``client`` is a cluster client."""
    return isinstance(client, CLUSTER_CLIENTS)


def _cluster_options(options: dict[str, Any]) -> dict[str, Any]:
    # a failover takes a couple of node timeouts: keep asking for the slots' new owners meanwhile
    # (about 6 s in all), unless the caller wants no retries
    retry = Retry(ExponentialWithJitterBackoff(base=0.1, cap=1.5), retries=6)
    return {"retry": retry, **options}


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A client for ``url``: ``redis.Redis``, or ``RedisCluster`` (typed as the former: it has
    the same commands) when the server is a cluster node."""
    if is_cluster_url(url):
        return cast(redis.Redis, RedisCluster.from_url(url, **_cluster_options(options)))
    return redis.Redis.from_url(url, **options)


def async_client(url: str, **options: Any) -> aredis.Redis:
    """The asyncio twin of ``sync_client``."""
    if is_cluster_url(url):
        retry = AsyncRetry(ExponentialWithJitterBackoff(base=0.1, cap=1.5), retries=6)
        return cast(aredis.Redis, AsyncRedisCluster.from_url(url, **{"retry": retry, **options}))
    return aredis.Redis.from_url(url, **options)


def primaries_option(client: object) -> dict[str, Any]:
    """Keyword arguments that send a keyless command to every primary of a cluster (DBSIZE,
    INFO), nothing for one Redis."""
    return {"target_nodes": RedisCluster.PRIMARIES} if is_cluster(client) else {}
