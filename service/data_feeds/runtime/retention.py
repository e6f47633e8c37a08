"""Retention: how long the service keeps what it writes, and (when asked) what it reads.

Every ``retention_interval_s`` each worker trims, by age, the streams of the symbols it owns:

    signals:{SYMBOL}     entries older than ``signals_retention_s`` (default 7 days)
    dlq:{stream}         older than ``dlq_retention_s`` (default 30 days)
    events:feed          older than ``events_retention_s`` (default 7 days; shared: any worker)
    input streams        older than ``input_retention_s``, only when it is set (default 0:
                         kept: the input history is what training and the backtest replay)

Age is read off the entry id against the server's clock (``TIME``): ``XTRIM MINID`` at
``now - retention``. Output streams get their ids from the server as they are written, so
their age is their age. An input stream's ids are the entries' arrival, or their event time for
history appended at event time (``import``, an unpaced ``simulate``): an imported year-old
history is a year old. An input entry is trimmed only once this worker's group has delivered it
and it is no longer pending: below both the group's ``last-delivered-id`` and its oldest
pending id, whatever its age, so retention never takes an entry before it has its signal.

Lengths are capped on write as before (``signals_maxlen``, 100,000 for the DLQ and the feed
events; publishers cap the inputs with ``stream_maxlen``). Trimmed entries are counted per kind
(``data_feeds_trimmed_entries_total``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aredis
import structlog

from data_feeds.cache import keys
from data_feeds.cache.codec import as_text
from data_feeds.records import SENTIMENT
from data_feeds.runtime.metrics import RETENTION_KINDS
from data_feeds.settings import Settings

log = structlog.get_logger(__name__)

KINDS: Final = RETENTION_KINDS
"""The ``kind`` label of ``data_feeds_trimmed_entries_total``."""
DAY_S: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Ages in seconds; 0 keeps that kind forever."""

    signals_s: float = 7 * DAY_S
    dlq_s: float = 30 * DAY_S
    events_s: float = 7 * DAY_S
    input_s: float = 0.0

    @classmethod
    def of(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            settings.signals_retention_s,
            settings.dlq_retention_s,
            settings.events_retention_s,
            settings.input_retention_s,
        )


def _older_than(now_ms: int, age_s: float) -> int:
    return max(0, now_ms - int(age_s * 1000))


def _id_ms(entry_id: Any) -> int:
    return int(as_text(entry_id).split("-", 1)[0])


class Retention:
    """Trims a worker's streams by age (see the module doc)."""

    def __init__(self, client: aredis.Redis, policy: RetentionPolicy) -> None:
        for name, value in (
            ("signals", policy.signals_s),
            ("dlq", policy.dlq_s),
            ("events", policy.events_s),
            ("input", policy.input_s),
        ):
            if not value >= 0.0:
                raise ValueError(f"{name} retention must be >= 0 s, got {value!r}")
        self.redis = client
        self.policy = policy

    async def trim(self, inputs: Mapping[str, str]) -> dict[str, int]:
        """Trim the outputs of the symbols behind ``inputs`` (input stream -> this worker's
        group) and, with ``input_s``, the inputs themselves; entries removed per kind."""
        seconds, micros = await self.redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        p = self.policy
        plan: list[tuple[str, str, int]] = []  # (kind, key, min id in ms)
        if p.signals_s:
            cut = _older_than(now_ms, p.signals_s)
            plan += [("signals", keys.signals_key(sym), cut) for sym in _symbols(inputs)]
        if p.dlq_s:
            cut = _older_than(now_ms, p.dlq_s)
            plan += [("dlq", keys.dlq_key(stream), cut) for stream in inputs]
        if p.events_s:
            plan.append(("events", keys.EVENTS_FEED, _older_than(now_ms, p.events_s)))
        if p.input_s:
            cut = _older_than(now_ms, p.input_s)
            for stream, group in inputs.items():
                safe = await self._consumed_below(stream, group)
                if safe is not None:
                    plan.append(("input", stream, min(cut, safe)))
        trimmed = dict.fromkeys(KINDS, 0)
        if not plan:
            return trimmed
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, key, min_ms in plan:
                pipe.xtrim(key, minid=f"{min_ms}-0", approximate=False)
            replies = await pipe.execute(raise_on_error=False)
        for (kind, key, _), reply in zip(plan, replies, strict=True):
            if isinstance(reply, Exception):  # no such key is 0, not an error: a wrong type
                log.warning("retention_failed", stream=key, error=str(reply))
                continue
            trimmed[kind] += int(reply)
        if any(trimmed.values()):
            log.info("retention_trimmed", **{k: v for k, v in trimmed.items() if v})
        return trimmed

    async def _consumed_below(self, stream: str, group: str) -> int | None:
        """The ms below which every entry of ``stream`` was delivered to ``group`` and is no
        longer pending (``None``: the group is not there)."""
        groups: Any = await self.redis.xinfo_groups(stream)
        last = next((g for g in groups if as_text(g.get("name")) == group), None)
        if last is None:
            return None
        bound = _id_ms(last.get("last-delivered-id", "0-0"))
        pending: Any = await self.redis.xpending(stream, group)
        if pending and int(pending.get("pending", 0)):
            bound = min(bound, _id_ms(pending["min"]))
        # entries in the bound's own millisecond may be undelivered or pending: keep them
        return bound


def _symbols(inputs: Iterable[str]) -> list[str]:
    out = set()
    for stream in inputs:
        info = keys.parse_stream_key(stream)
        if info is not None and info.kind != SENTIMENT and info.symbol:
            out.add(info.symbol)
    return sorted(out)
