"""StreamConsumer: Redis Streams consumer groups with at-least-once delivery.

- Finds its streams with SCAN (again every ``discover_interval_s``, so new symbols are picked up
  without a restart) and keeps those it owns: ``crc32(symbol) % worker_count == worker_index``.
  Sentiment streams concern every symbol, so every worker reads them, in a group of its own.
- Creates groups idempotently (BUSYGROUP is fine; NOGROUP after a stream was deleted and
  recreated triggers a rediscovery).
- On start: restores the signed checkpoint (indicator, cleaner and model state with the last
  entry applied per stream), replays entries acknowledged after that checkpoint through the
  pipeline with outputs discarded (so each outcome is learned exactly once), then re-reads its
  own pending entries, then reads new ones in batches.
- Takes over entries idle longer than ``claim_idle_ms`` on other consumers (XAUTOCLAIM); an
  entry delivered more than ``max_deliveries`` times goes to ``dlq:<stream>``.
- Acknowledges a batch only in the same MULTI/EXEC as its signals, DLQ, quarantine and event
  entries. A batch whose write fails (Redis down) is kept and written again before anything
  new is read; state is never applied twice.
- An entry trimmed while pending (no fields) is acknowledged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import random
import time
import zlib
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

import redis
import redis.asyncio as aredis
import structlog

from data_feeds.cache import keys, signed
from data_feeds.errors import CheckpointRejected
from data_feeds.records import SENTIMENT
from data_feeds.runtime.pipeline import (
    BatchResult,
    RawEntry,
    TickPipeline,
    arrival_ms,
    dlq_fields,
)
from data_feeds.settings import Settings

if TYPE_CHECKING:
    from data_feeds.runtime.metrics import ServiceMetrics

log = structlog.get_logger(__name__)

CHECKPOINT_FORMAT: Final = 2
OUTPUT_MAXLEN: Final = 100_000
LAG_INTERVAL_S: Final = 5.0
BACKOFF_BASE_S: Final = 0.1
BACKOFF_CAP_S: Final = 5.0
REDIS_DOWN: Final = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)
# Replies that mean "not now" rather than "never": failover, loading, memory, busy script.
# redis-py maps some to their own classes (and strips the code from the message).
TRANSIENT_ERRORS: Final = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ExecAbortError,
    redis.exceptions.NoScriptError,
    redis.exceptions.MasterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
TRANSIENT_REPLIES: Final = ("MASTERDOWN", "TRYAGAIN", "BUSY", "UNBLOCKED", "CLUSTERDOWN",
                            "LOADING", "READONLY", "OOM", "EXECABORT", "NOSCRIPT")  # fmt: skip

# One command for all of a batch's signals: per-command client cost, not Redis, is what limits
# a Python consumer (DESIGN §9: ~22k ticks/s with one XADD per signal, ~39k with one command).
# KEYS: the signal streams; ARGV[1]: MAXLEN; ARGV[i + 1]: the i-th signal's JSON.
XADD_MANY: Final = """
local maxlen = ARGV[1]
for i = 1, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', maxlen, '*', 'data', ARGV[i + 1])
end
return #KEYS
"""

# One command for all of a batch's acknowledgements. KEYS: the input streams; ARGV: for each
# stream in turn its group, the number of ids, then the ids.
XACK_MANY: Final = """
local i, acked = 1, 0
for k = 1, #KEYS do
  local group, count = ARGV[i], tonumber(ARGV[i + 1])
  local first, last = i + 2, i + 1 + count
  while first <= last do  -- slices: unpack() is limited by Lua's stack (~8000 values)
    local upto = math.min(first + 999, last)
    acked = acked + redis.call('XACK', KEYS[k], group, unpack(ARGV, first, upto))
    first = upto + 1
  end
  i = i + 2 + count
end
return acked
"""


def owns(symbol: str, worker_index: int, worker_count: int) -> bool:
    """Whether a worker owns a symbol: a stable hash, the same in every process and run."""
    return worker_count == 1 or zlib.crc32(symbol.encode()) % worker_count == worker_index


def backoff_s(attempt: int) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


def _id_key(entry_id: bytes | str) -> tuple[int, int]:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


class StreamConsumer:
    """Reads its share of the input streams and writes what the pipeline makes of them."""

    def __init__(
        self,
        client: aredis.Redis,
        settings: Settings,
        pipeline: TickPipeline,
        *,
        hmac_key: bytes,
        metrics: ServiceMetrics | None = None,
        consumer_name: str | None = None,
    ) -> None:
        # redis-py types replies as unions over every decode setting; ours are always bytes.
        self.redis: Any = client
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self._key = hmac_key
        self.group = settings.consumer_group
        self.sentiment_group = f"{settings.consumer_group}.w{settings.worker_index}"
        self.consumer = consumer_name or f"worker-{settings.worker_index}"
        self.checkpoint_key = keys.checkpoint_key(
            self.group, f"{settings.worker_index}of{settings.worker_count}"
        )
        self.streams: dict[str, str] = {}
        """Stream -> the group this worker reads it in."""
        self.last_ids: dict[str, str] = {}
        """Per stream, the newest entry applied to the in-memory state."""
        self.running = False
        self.started = False
        """True once state was restored and replayed: only then may a checkpoint be written."""
        self.redis_ok = False
        self.processed = 0
        self.signals_written = 0
        self._unwritten: BatchResult | None = None
        self._redrain = False
        self._held: list[RawEntry] = []
        """Entries read but beyond the merge watermark (see ``read``); pending in Redis."""
        self._shas: dict[str, str] = {}
        """SHA1 of XADD_MANY / XACK_MANY once loaded; cleared on any outage (a restarted Redis
        has no scripts)."""
        self._next_discover = 0.0
        self._next_claim = 0.0
        self._next_lag = 0.0
        self._next_checkpoint = 0.0

    # -- discovery and groups ------------------------------------------------------------------

    def group_for(self, stream: str) -> str:
        return self.streams.get(stream) or self._group_of(stream)

    def _group_of(self, stream: str) -> str:
        info = keys.parse_stream_key(stream)
        return self.sentiment_group if info and info.kind == SENTIMENT else self.group

    async def discover(self) -> list[str]:
        """Find owned input streams and make sure our groups exist on each; the new ones."""
        s = self.settings
        found: set[str] = set()
        for pattern in s.stream_patterns:
            async for raw in self.redis.scan_iter(match=pattern, count=1000, _type="stream"):
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                info = keys.parse_stream_key(name)
                if info is None:
                    continue
                if info.kind == SENTIMENT or owns(info.symbol, s.worker_index, s.worker_count):
                    found.add(name)
        new = sorted(found - self.streams.keys())
        if new:  # new symbols tend to arrive together: look again soon
            self._next_discover = min(self._next_discover, time.monotonic() + 0.05)
        for stream in new:
            group = self._group_of(stream)
            try:
                await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self.streams[stream] = group
        if new:
            log.info("streams_discovered", new=len(new), total=len(self.streams))
        return new

    # -- checkpoint, replay, pending -----------------------------------------------------------

    async def restore(self) -> bool:
        """Load the signed checkpoint into the pipeline; ``False`` (fresh start) if none/refused."""
        blob = await self.redis.get(self.checkpoint_key)
        if blob is None:
            return False
        try:
            state = await asyncio.to_thread(
                signed.loads, blob, self._key, what=f"checkpoint {self.checkpoint_key}"
            )
            if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
                raise CheckpointRejected("checkpoint refused: unknown layout")
        except CheckpointRejected as exc:
            log.error("checkpoint_refused", key=self.checkpoint_key, error=str(exc))
            return False
        self.pipeline.generator = state["generator"]
        self.pipeline.cleaner = state["cleaner"]
        self.last_ids = dict(state["last_ids"])
        log.info("checkpoint_restored", key=self.checkpoint_key, streams=len(self.last_ids))
        return True

    async def checkpoint(self) -> None:
        """Store the state as of the last written batch (never ahead of what Redis has)."""
        if not self.started:
            return
        if self._unwritten is not None:
            log.warning("checkpoint_skipped", reason="a batch is not written yet")
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "generator": self.pipeline.generator,
            "cleaner": self.pipeline.cleaner,
            "last_ids": dict(self.last_ids),
            "written_at": time.time(),
        }
        # pickled here, where the state cannot change underneath; compressed, signed (and the
        # restore unpickled) in a thread: a large state would otherwise stall the loop
        pickled = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        blob = await asyncio.to_thread(signed.seal, pickled, self._key)
        await self.redis.set(self.checkpoint_key, blob)
        log.debug("checkpoint_written", bytes=len(blob), streams=len(self.last_ids))

    async def _pending_ids(self, stream: str, group: str) -> set[bytes]:
        ids: set[bytes] = set()
        start = "-"
        while True:
            page = await self.redis.xpending_range(stream, group, min=start, max="+", count=1000)
            ids.update(p["message_id"] for p in page)
            if len(page) < 1000:
                return ids
            start = "(" + page[-1]["message_id"].decode()

    async def replay(self) -> int:
        """Re-apply entries acknowledged after the checkpoint, outputs discarded; how many.

        The streams are merged by arrival (entry id time), as live reads are, a page at a
        time: entries are applied up to the oldest last-fetched entry among the streams that
        still have more. Entries still pending (they will be redelivered) and entries that
        went to the DLQ (never applied live) are skipped.
        """
        ranges: dict[str, tuple[str, str]] = {}  # stream -> (exclusive cursor, last delivered)
        skip: set[tuple[str, bytes]] = set()
        for stream, group in self.streams.items():
            groups = await self.redis.xinfo_groups(stream)
            info = next((g for g in groups if _text(g["name"]) == group), None)
            if info is None:
                continue
            last_delivered = _text(info["last-delivered-id"])
            start = self.last_ids.get(stream, "0-0")
            if _id_key(last_delivered) <= _id_key(start):
                continue
            ranges[stream] = ("(" + start, last_delivered)
            skip.update((stream, i) for i in await self._pending_ids(stream, group))
            skip.update((stream, i) for i in await self._dead_lettered(stream, start))
        buffers: dict[str, list[RawEntry]] = {k: [] for k in ranges}
        total = 0
        while ranges or any(buffers.values()):
            limits = []
            for stream in list(ranges):
                if buffers[stream]:
                    continue
                cursor, last = ranges[stream]
                page = await self.redis.xrange(stream, min=cursor, max=last, count=1000)
                buffers[stream] = [(stream, i, f) for i, f in page]
                if len(page) < 1000:
                    del ranges[stream]  # exhausted
                else:
                    ranges[stream] = ("(" + page[-1][0].decode(), last)
            limits = [arrival_ms(b[-1]) for k, b in buffers.items() if k in ranges and b]
            merged = sorted((e for b in buffers.values() for e in b), key=arrival_ms)
            watermark = min(limits) if limits else None
            n = len(merged)
            if watermark is not None:
                n = next((i for i, e in enumerate(merged) if arrival_ms(e) > watermark), n)
            ready, later = merged[:n], merged[n:]
            buffers = {k: [] for k in buffers}
            for entry in later:
                buffers[entry[0]].append(entry)
            batch = [e for e in ready if (e[0], e[1]) not in skip]
            if batch:
                self.pipeline.process(batch, emit=False)
                total += len(batch)
            for entry in ready:
                old = self.last_ids.get(entry[0])
                if old is None or _id_key(entry[1]) > _id_key(old):
                    self.last_ids[entry[0]] = entry[1].decode()
        if total:
            log.info("state_replayed", entries=total)
        return total

    async def _dead_lettered(self, stream: str, after: str) -> set[bytes]:
        """Ids of ``stream`` newer than ``after`` that were sent to its DLQ (never applied)."""
        out: set[bytes] = set()
        floor = _id_key(after)
        for _, fields in await self.redis.xrange(keys.dlq_key(stream), count=OUTPUT_MAXLEN):
            entry_id = fields.get(b"entry_id", b"")
            if entry_id and _id_key(entry_id) > floor:
                out.add(entry_id)
        return out

    async def _delivery_counts(self, stream: str, group: str, ids: list[bytes]) -> dict[bytes, int]:
        if not ids:
            return {}
        lo, hi = min(ids, key=_id_key), max(ids, key=_id_key)
        page = await self.redis.xpending_range(
            stream, group, min=lo, max=hi, count=len(ids) * 2, consumername=self.consumer
        )
        return {p["message_id"]: int(p["times_delivered"]) for p in page}

    async def _sort_poison(
        self, stream: str, group: str, entries: list[tuple[bytes, Any]]
    ) -> tuple[list[RawEntry], BatchResult]:
        """Split re-delivered entries into ones to process and ones past the delivery limit."""
        counts = await self._delivery_counts(stream, group, [e[0] for e in entries])
        keep: list[RawEntry] = []
        poison = BatchResult()
        for entry_id, fields in entries:
            n = counts.get(entry_id, 1)
            if n > self.settings.max_deliveries and fields:
                poison.ack(stream, entry_id)
                poison.rejected["delivery_limit"] += 1
                poison.dlq.append(
                    (
                        keys.dlq_key(stream),
                        dlq_fields(
                            stream,
                            entry_id,
                            fields,
                            "delivery_limit",
                            f"delivered {n} times (limit {self.settings.max_deliveries})",
                            deliveries=n,
                        ),
                    )
                )
            else:
                keep.append((stream, entry_id, fields))
        return keep, poison

    async def drain_own_pending(self) -> int:
        """Process the entries this consumer was given before a restart but never acked.

        All streams' pending entries are gathered first (they are bounded: what was read and
        not yet acknowledged), then processed together in arrival order, as live reads are.
        """
        keep: list[RawEntry] = []
        total = 0
        for stream, group in list(self.streams.items()):
            cursor = "0"
            while True:
                reply = await self.redis.xreadgroup(
                    group, self.consumer, {stream: cursor}, count=self.settings.batch_size
                )
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                keep += await self._dead_letter_poison(stream, group, entries)
                total += len(entries)
                cursor = entries[-1][0].decode()
        if keep:
            keep.sort(key=arrival_ms)  # gathered stream by stream
            await self._handle(keep)
        self._count_redelivered("pending_redelivered", total)
        return total

    async def _dead_letter_poison(
        self, stream: str, group: str, entries: list[tuple[bytes, Any]]
    ) -> list[RawEntry]:
        """Dead-letter the entries past the delivery limit; the others, to be processed."""
        keep, poison = await self._sort_poison(stream, group, entries)
        if poison.acks:
            await self._write(poison)
        return keep

    async def _redeliver(self, stream: str, group: str, entries: list[tuple[bytes, Any]]) -> None:
        """Process entries delivered before (dead-lettering those past the delivery limit)."""
        keep = await self._dead_letter_poison(stream, group, entries)
        if keep:
            await self._handle(keep)

    def _count_redelivered(self, event: str, total: int) -> None:
        if total:
            log.info(event, entries=total)
            if self.metrics:
                self.metrics.redeliveries_total.inc(total)

    async def claim_abandoned(self) -> int:
        """Take over entries idle too long on other consumers (XAUTOCLAIM)."""
        total = 0
        for stream, group in list(self.streams.items()):
            start = "0-0"
            while True:
                reply = await self.redis.xautoclaim(
                    stream,
                    group,
                    self.consumer,
                    self.settings.claim_idle_ms,
                    start_id=start,
                    count=self.settings.batch_size,
                )
                start = _text(reply[0])
                if any(not e or e[0] is None or not e[1] for e in reply[1]):
                    self._redrain = True  # trimmed while pending: acked by the next drain
                held = {e[1] for e in self._held if e[0] == stream}  # ours, only waiting
                entries = [(e[0], e[1]) for e in reply[1]
                           if e and e[0] is not None and e[0] not in held]  # fmt: skip
                if entries:
                    await self._redeliver(stream, group, entries)
                    total += len(entries)
                if start in ("0-0", "0"):
                    break
        self._count_redelivered("entries_claimed", total)
        return total

    # -- the main loop -------------------------------------------------------------------------

    async def start(self) -> None:
        """Everything before the first new read: groups, state, replay, own pending entries."""
        # a retry after an outage during start-up: what was computed against the state about
        # to be restored is dropped; its entries are still pending and come back below
        self._unwritten = None
        self._held = []
        await self.discover()
        await self.restore()
        await self.replay()
        self.started = True
        await self.drain_own_pending()
        now = time.monotonic()
        self._next_discover = now + self.settings.discover_interval_s
        self._next_claim = now
        self._next_checkpoint = now + self.settings.checkpoint_interval_s

    async def run(self, stop: asyncio.Event) -> None:
        """Read, process and write until ``stop`` is set; survives Redis outages."""
        attempt = 0
        started = False
        while not stop.is_set():
            try:
                if not started:
                    await self.start()
                    started = True
                self.running = True
                await self.step(stop)
                self._set_redis(True)
                attempt = 0
            except (*REDIS_DOWN, redis.ResponseError) as exc:
                if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                    log.warning("group_missing", error=str(exc))
                    self.streams.clear()  # rediscovered (groups recreated) on the next step
                    self._redrain = True
                    continue
                if (
                    isinstance(exc, redis.ResponseError)
                    and not isinstance(exc, TRANSIENT_ERRORS)
                    and not str(exc).startswith(TRANSIENT_REPLIES)
                ):
                    raise
                self._set_redis(False)
                self._redrain = True
                self._shas.clear()
                delay = backoff_s(attempt)
                attempt += 1
                log.warning("redis_unavailable", error=str(exc), retry_in_s=round(delay, 3))
                if self.metrics:
                    self.metrics.reconnects_total.inc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        if started:
            try:
                if self._unwritten is not None:
                    await self._write(self._unwritten)
                await self.release_held()
            except REDIS_DOWN as exc:  # they stay pending and come back after a restart
                log.warning("held_entries_left_pending", error=str(exc))
        self.running = False

    async def step(self, stop: asyncio.Event) -> None:
        """One iteration: housekeeping when due, then one read and its batch."""
        if self._unwritten is not None:
            await self._write(self._unwritten)
        if self._redrain:  # entries read before an outage but never processed
            self._held.clear()  # pending too: the drain delivers them again
            await self.drain_own_pending()
            self._redrain = False
        now = time.monotonic()
        if now >= self._next_discover or not self.streams:  # nothing yet: look every read
            self._next_discover = now + self.settings.discover_interval_s
            await self.discover()
        if now >= self._next_claim:
            self._next_claim = now + self.settings.claim_idle_ms / 2000.0
            await self.claim_abandoned()
        if now >= self._next_lag:
            self._next_lag = now + LAG_INTERVAL_S
            await self.export_lag()
        if now >= self._next_checkpoint:
            self._next_checkpoint = now + self.settings.checkpoint_interval_s
            await self.checkpoint()
        entries = await self.read(stop)
        if entries:
            await self._handle(entries)

    async def read(self, stop: asyncio.Event) -> list[RawEntry]:
        """The next entries to process, across all streams in arrival order.

        One XREADGROUP returns up to ``batch_size`` entries *per stream*, and streams run at
        different rates: on a backlog, 500 book entries may reach further in time than 500
        ticks. Processing them together would apply the future of one stream before the past
        of another (the training module replays history strictly in time order). So a read
        is merged like a k-way merge: entries are released up to the watermark, the oldest
        "last entry" among the streams that returned a full batch (they may hold more);
        later ones are held, pending, for the next round. A stream whose held entries reach
        ``batch_size`` is not read until they are released. Caught up (no stream returned a
        full batch, or nothing new arrived), everything held is released.
        """
        s = self.settings
        held = self._held
        waiting = Counter(e[0] for e in held)
        # a stream not read this round (enough of it held) is known up to its last held entry
        newest_held = {e[0]: arrival_ms(e) for e in held}  # held is in arrival order
        limits = [ms for k, ms in newest_held.items() if waiting[k] >= s.batch_size]
        out: list[RawEntry] = []
        blocked = False
        for group in (self.sentiment_group, self.group):
            wanted = {k: ">" for k, g in self.streams.items()
                      if g == group and waiting[k] < s.batch_size}  # fmt: skip
            if not wanted:
                continue
            block = s.block_ms if group == self.group and not held and not out else None
            blocked = blocked or block is not None
            reply = await self.redis.xreadgroup(
                group, self.consumer, wanted, count=s.batch_size, block=block
            )
            for raw_stream, entries in reply or ():
                stream = _text(raw_stream)
                out.extend((stream, entry_id, fields) for entry_id, fields in entries)
                if len(entries) >= s.batch_size:  # this stream may hold more
                    limits.append(arrival_ms((stream, entries[-1][0], None)))
        if not out and not held:
            if not blocked:  # no market stream to wait on: wait here
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), s.block_ms / 1000.0)
            return out
        held.extend(out)
        held.sort(key=arrival_ms)
        if not out or not limits:  # caught up, or time moved on: release everything
            self._held = []
            return held
        watermark = min(limits)
        n = next((i for i, e in enumerate(held) if arrival_ms(e) > watermark), len(held))
        self._held = held[n:]
        return held[:n]

    async def release_held(self) -> None:
        """Process the entries still held back (at shutdown: leave nothing pending)."""
        if self._held:
            held, self._held = self._held, []
            await self._handle(held)

    async def _handle(self, entries: list[RawEntry]) -> None:
        """Process entries given in arrival order, in chunks of ``batch_size`` each written (and
        acknowledged) before the next is processed: a read over many streams can hold
        ``batch_size`` entries per stream, and the event loop must keep turning meanwhile."""
        size = self.settings.batch_size
        for start in range(0, len(entries), size):
            result = self.pipeline.process(entries[start : start + size])
            self._unwritten = result
            await self._write(result)

    async def _write(self, result: BatchResult) -> None:
        """Signals, DLQ, quarantine, events and acks in one MULTI/EXEC."""
        t0 = time.perf_counter()
        s = self.settings
        if not self._shas:
            for name, script in (("xadd", XADD_MANY), ("xack", XACK_MANY)):
                self._shas[name] = _text(await self.redis.script_load(script))
        async with self.redis.pipeline(transaction=True) as pipe:
            if result.signals:
                keys_, args = zip(*result.signals, strict=True)
                pipe.evalsha(self._shas["xadd"], len(keys_), *keys_, s.signals_maxlen, *args)
            for key, fields in result.dlq:
                pipe.xadd(key, fields, maxlen=OUTPUT_MAXLEN, approximate=True)
            for key, data in result.quarantine:
                pipe.xadd(key, {"data": data}, maxlen=OUTPUT_MAXLEN, approximate=True)
            for data in result.events:
                pipe.xadd(keys.EVENTS_FEED, {"data": data}, maxlen=OUTPUT_MAXLEN, approximate=True)
            ack_args: list[str | bytes | int] = []
            for stream, ids in result.acks.items():
                ack_args += (self.group_for(stream), len(ids), *ids)
            if result.acks:
                pipe.evalsha(self._shas["xack"], len(result.acks), *result.acks, *ack_args)
            await pipe.execute()
        written = time.time()
        self._unwritten = None
        for stream, entry_id in result.last_ids.items():
            new = entry_id.decode()
            old = self.last_ids.get(stream)
            if old is None or _id_key(new) > _id_key(old):  # claims can be older entries
                self.last_ids[stream] = new
        self.processed += sum(len(ids) for ids in result.acks.values())
        self.signals_written += len(result.signals)
        if self.metrics:
            self._export(result, time.perf_counter() - t0, written)

    # -- metrics -------------------------------------------------------------------------------

    def _set_redis(self, ok: bool) -> None:
        if ok != self.redis_ok:
            self.redis_ok = ok
            if self.metrics:
                self.metrics.redis_up.set(1 if ok else 0)

    def _export(self, r: BatchResult, write_s: float, written: float) -> None:
        m = self.metrics
        assert m is not None
        m.batches_total.inc()
        for kind, n in r.consumed.items():
            child = m.consumed.get(kind)
            if child is not None:
                child.inc(n)
        for reason, n in r.rejected.items():
            m.rejected[reason].inc(n)
        for action, n in r.signal_actions.items():
            m.signals[action].inc(n)
        for event_type, n in r.feed_events.items():
            m.feed_events[event_type].inc(n)
        if r.dlq:
            m.dlq_total.inc(len(r.dlq))
        if r.quarantine:
            m.quarantine_total.inc(len(r.quarantine))
        if r.trimmed:
            m.trimmed_total.inc(r.trimmed)
        for stage, seconds in r.stage_s.items():
            m.stage_seconds[stage].observe(seconds)
        m.stage_seconds["write"].observe(write_s)
        if r.signal_event_ts:
            m.observe_latencies(r.signal_event_ts, r.signal_entry_ms, written)
        card = self.pipeline.generator.scorecard
        if card.accuracy is not None:
            m.live_accuracy.set(card.accuracy)
        if card.log_loss is not None:
            m.live_log_loss.set(card.log_loss)
        if card.buy_hit_rate is not None:
            m.buy_hit_rate_ratio.set(card.buy_hit_rate)
        if card.sell_hit_rate is not None:
            m.sell_hit_rate_ratio.set(card.sell_hit_rate)

    async def export_lag(self) -> None:
        """Per kind: pending entries, the entries not yet delivered (where Redis 7+ reports the
        group's lag) and the age of the newest entry not yet delivered."""
        if not self.streams:
            return
        items = list(self.streams.items())
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, _ in items:
                pipe.xinfo_groups(stream)
                pipe.xinfo_stream(stream)
            replies = await pipe.execute(raise_on_error=False)
        pending: dict[str, int] = {}
        lag_entries: dict[str, int] = {}
        lag_s: dict[str, float] = {}
        for i, (stream, group) in enumerate(items):
            groups, info = replies[2 * i], replies[2 * i + 1]
            if isinstance(groups, Exception) or isinstance(info, Exception):
                continue
            kind = self.pipeline.kind_of(stream)
            g = next((g for g in groups if _text(g["name"]) == group), None)
            if g is None:
                continue
            pending[kind] = pending.get(kind, 0) + int(g["pending"])
            if g.get("lag") is not None:  # absent before Redis 7, nil when Redis cannot tell
                lag_entries[kind] = lag_entries.get(kind, 0) + int(g["lag"])
            newest = _id_key(_text(info["last-generated-id"]))
            delivered = _id_key(_text(g["last-delivered-id"]))
            behind = (newest[0] - delivered[0]) / 1000.0 if newest > delivered else 0.0
            lag_s[kind] = max(lag_s.get(kind, 0.0), behind)
        if self.metrics:
            for kind, n in pending.items():
                if kind in self.metrics.pending_entries:
                    self.metrics.pending_entries[kind].set(n)
            for kind, n in lag_entries.items():
                if kind in self.metrics.lag_entries:
                    self.metrics.lag_entries[kind].set(n)
            for kind, seconds in lag_s.items():
                if kind in self.metrics.consumer_lag_seconds:
                    self.metrics.consumer_lag_seconds[kind].set(seconds)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
