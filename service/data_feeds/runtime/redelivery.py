"""Redelivery: entries delivered before, and the ones that keep coming back.

Three ways an entry is delivered again (DESIGN §5):

- **own pending**: entries this consumer was given before a restart and never acknowledged
  (XREADGROUP from id 0), gathered over all streams and handed back in arrival order;
- **takeover**: entries idle longer than ``claim_idle_ms`` on another consumer, presumed dead
  (XAUTOCLAIM), page by page;
- **poison**: either way, an entry delivered more than ``max_deliveries`` times (it keeps
  killing or stalling whoever reads it) is not processed again but dead-lettered with reason
  ``delivery_limit``, its delivery count and its payload.

An entry trimmed from its stream while pending comes back with no fields: it is handed on
like any other (the pipeline acknowledges and counts it); XAUTOCLAIM replies with such an
entry set ``trimmed`` so the consumer re-reads its own pending entries, which acks them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aredis

from data_feeds.arrival import Fetched, RawEntry, by_arrival
from data_feeds.cache import keys
from data_feeds.cache.codec import as_text
from data_feeds.checks import check_int
from data_feeds.runtime.pipeline import BatchResult, dlq_fields
from data_feeds.timestamps import entry_key


@dataclass(slots=True)
class Redelivered:
    """Entries delivered again: those to process (arrival order) and the poison to write."""

    keep: list[RawEntry] = field(default_factory=list)
    poison: BatchResult = field(default_factory=BatchResult)
    count: int = 0
    """Entries delivered again, poison included."""
    trimmed: bool = False
    """XAUTOCLAIM met an entry trimmed while pending (own pending entries ack it)."""


class Redelivery:
    """Finds entries to deliver again and sorts out the poison among them.

    ``consumer``: this consumer's name in its groups; ``max_deliveries``: deliveries allowed
    before an entry is dead-lettered; ``claim_idle_ms``: idle time after which another
    consumer's entry is taken over; ``page``: entries per XREADGROUP / XAUTOCLAIM call.
    """

    def __init__(
        self,
        client: aredis.Redis,
        consumer: str,
        *,
        max_deliveries: int,
        claim_idle_ms: int,
        page: int,
    ) -> None:
        # redis-py types replies as unions over every decode setting; ours are always bytes.
        self.redis: Any = client
        self.consumer = consumer
        self.max_deliveries = check_int("max_deliveries", max_deliveries)
        self.claim_idle_ms = check_int("claim_idle_ms", claim_idle_ms)
        self.page = check_int("page", page)

    async def own_pending(self, streams: Mapping[str, str]) -> Redelivered:
        """This consumer's pending entries over all ``streams`` (stream -> group).

        They are bounded (what was read and not yet acknowledged), so all are gathered first
        and handed back together in arrival order, as live reads are.
        """
        out = Redelivered()
        for stream, group in list(streams.items()):
            cursor = "0"
            while True:
                reply = await self.redis.xreadgroup(
                    group, self.consumer, {stream: cursor}, count=self.page
                )
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                await self._sort(stream, group, entries, out)
                cursor = entries[-1][0].decode()
        out.keep = by_arrival(out.keep)
        return out

    async def claim(
        self,
        streams: Mapping[str, str],
        held: Mapping[str, Iterable[bytes]],
        *,
        idle_ms: int | None = None,
    ) -> AsyncIterator[Redelivered]:
        """Take over entries idle on other consumers, a page at a time.

        ``held``: per stream, ids this consumer read and holds for its next round (they are
        only waiting, not abandoned: XAUTOCLAIM sees them idle too, and they are left out).
        ``idle_ms``: instead of ``claim_idle_ms`` (0: every pending entry, when the streams'
        symbol was just taken over from a worker that is gone or let it go).
        """
        for stream, group in list(streams.items()):
            start = "0-0"
            mine = set(held.get(stream, ()))
            while True:
                reply = await self.redis.xautoclaim(
                    stream,
                    group,
                    self.consumer,
                    self.claim_idle_ms if idle_ms is None else idle_ms,
                    start_id=start,
                    count=self.page,
                )
                start = as_text(reply[0])
                out = Redelivered()
                out.trimmed = any(not e or e[0] is None or not e[1] for e in reply[1])
                entries = [(e[0], e[1]) for e in reply[1]
                           if e and e[0] is not None and e[0] not in mine]  # fmt: skip
                if entries:
                    await self._sort(stream, group, entries, out)
                if out.count or out.trimmed:
                    yield out
                if start in ("0-0", "0"):
                    break

    async def _sort(self, stream: str, group: str, entries: Fetched, out: Redelivered) -> None:
        """Split entries delivered again into ones to process and ones past the limit."""
        counts = await self._delivery_counts(stream, group, [e[0] for e in entries])
        limit = self.max_deliveries
        out.count += len(entries)
        for entry_id, fields in entries:
            n = counts.get(entry_id, 1)
            if n > limit and fields:
                out.poison.ack(stream, entry_id)
                out.poison.rejected["delivery_limit"] += 1
                detail = f"delivered {n} times (limit {limit})"
                fields_ = dlq_fields(
                    stream, entry_id, fields, "delivery_limit", detail, deliveries=n
                )
                out.poison.dlq.append((keys.dlq_key(stream), fields_))
            else:
                out.keep.append((stream, entry_id, fields))

    async def _delivery_counts(self, stream: str, group: str, ids: list[bytes]) -> dict[bytes, int]:
        if not ids:
            return {}
        lo, hi = min(ids, key=entry_key), max(ids, key=entry_key)
        page = await self.redis.xpending_range(
            stream, group, min=lo, max=hi, count=len(ids) * 2, consumername=self.consumer
        )
        return {p["message_id"]: int(p["times_delivered"]) for p in page}
