"""RollbackWatch: tells when Redis holds less than this worker has applied.

Redis can come back with less than it had: an AOF whose last second was never fsynced
(``appendfsync everysec`` and an OS crash), a failover to a replica that lagged. The worker's
in-memory state then includes entries whose signals and acknowledgements Redis lost; they are
delivered again, the cleaner takes them for duplicates, and they would be acknowledged with no
signal while the model learns them twice. So the consumer asks, before it processes anything
that could have been delivered before:

- ``current_run_id``: is the server still the one the state was written to? A restart or a
  failover changes its ``run_id`` (redis-py reconnects on its own, so the consumer may see
  no error at all); only then can acknowledged writes have been lost.
- ``behind``: for which streams has the group not acknowledged everything the state applied?
  Either its ``last-delivered-id`` is below the newest entry applied, or this consumer still
  has an entry at or below it pending (the delivery survived, the batch's write did not).

A checkpoint is checked the same way before it is used: one stored by a snapshot that was
taken before a rollback and written after it would otherwise claim entries Redis has lost.

Both come from Redis itself; nothing is inferred from the service's own counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aredis

from data_feeds.cache.clients import is_cluster, primaries_option
from data_feeds.cache.codec import as_text
from data_feeds.errors import MISSING_GROUP_REPLY
from data_feeds.timestamps import entry_key


class RollbackWatch:
    """Compares what Redis has acknowledged with what a worker applied.

    ``consumer``: the worker's consumer name in its groups.
    """

    def __init__(self, client: aredis.Redis, consumer: str) -> None:
        # redis-py types replies as unions over every decode setting; ours are always bytes.
        self.redis: Any = client
        self.consumer = consumer
        self.run_id: str | None = None
        """The server's ``run_id`` at the last look."""

    async def current_run_id(self) -> str:
        """The server's ``run_id`` now (a restart or a failover changes it); on a cluster, the
        ``run_id`` of every primary (a failover changes one)."""
        if not is_cluster(self.redis):
            info = await self.redis.info("server")
            return as_text(info.get("run_id", ""))
        per_node = await self.redis.info("server", **primaries_option(self.redis))
        return ",".join(sorted(as_text(i.get("run_id", "")) for i in per_node.values()))

    async def behind(self, applied: Mapping[str, str], groups: Mapping[str, str]) -> list[str]:
        """The streams whose group has not acknowledged every entry up to ``applied[stream]``.

        ``applied``: stream -> the newest entry applied to the state; ``groups``: stream -> the
        group it is read in. A stream or group that no longer exists is not judged here (the
        consumer finds and recreates it)."""
        items = [(s, groups[s], applied[s]) for s in sorted(applied) if s in groups]
        if not items:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, group, last in items:
                pipe.xinfo_groups(stream)
                pipe.xpending_range(
                    stream, group, min="-", max=last, count=1, consumername=self.consumer
                )
            replies = await pipe.execute(raise_on_error=False)
        out = []
        for i, (stream, group, last) in enumerate(items):
            groups_info, pending = replies[2 * i], replies[2 * i + 1]
            if _gone(groups_info) or _gone(pending):
                continue
            for reply in (groups_info, pending):
                if isinstance(reply, Exception):  # MASTERDOWN, LOADING...: ask again later
                    raise reply
            info = next((g for g in groups_info if as_text(g["name"]) == group), None)
            if info is None:
                continue
            delivered = entry_key(as_text(info["last-delivered-id"]))
            if delivered < entry_key(last) or pending:
                out.append(stream)
        return out


def _gone(reply: Any) -> bool:
    """A reply saying the stream or the group no longer exists."""
    if not isinstance(reply, redis.ResponseError):
        return False
    text = str(reply)
    return "no such key" in text or MISSING_GROUP_REPLY in text
