"""StreamConsumer: Redis Streams consumer groups with at-least-once delivery.

The consumer keeps discovery, groups and the read loop; four parts do the rest:

- ``ArrivalMerge`` (``data_feeds.arrival``) puts what the reads return from many streams
  in the one arrival order every processing path uses, holding back what an entry not yet
  read may still precede;
- ``BatchWriter`` (``runtime.batch_writer``) writes a batch's signals, DLQ, quarantine and
  event entries and its acknowledgements in one MULTI/EXEC, and keeps a batch whose write
  failed until it is written;
- ``Checkpointer`` (``runtime.checkpointer``) saves and restores the state and replays the
  entries acknowledged after the checkpoint;
- ``Redelivery`` (``runtime.redelivery``) re-reads own pending entries, takes over entries
  idle on dead consumers (XAUTOCLAIM) and dead-letters those past the delivery limit;
- ``RollbackWatch`` (``runtime.rollback``) tells when Redis holds less than the state applied
  (a lost AOF tail, a failover to a lagging replica).

Discovery: streams are found with SCAN (again every ``discover_interval_s``, so new symbols
are picked up without a restart); a worker keeps those it owns: with static ownership
``crc32(symbol) % worker_count == worker_index``; with leases (``runtime.ownership``) those
whose lease it holds, reconsidered every ``Ownership.tick_s`` (``rebalance``): a symbol that
should now be another worker's is handed over (what was read is processed and written, its
state stored, then its lease released), one that should be ours is taken over (its stored
state restored, the entries acknowledged after it replayed, the entries left pending by its
last owner claimed). Sentiment streams concern every symbol, so every worker reads them, in a
group of its own. Groups are created idempotently (BUSYGROUP is
fine; NOGROUP after a stream was deleted and recreated triggers a rediscovery).

Start: restore, replay, own pending entries, then new reads in batches. A Redis outage at any
point is retried with capped exponential backoff; state is never applied twice.

Rollback: a new read whose first entry is at or below what the state applied means Redis went
back; and before anything else that may deliver an entry again is processed (after a failure,
before claims, every second) the server's ``run_id`` is compared: when it changed (a restart,
a failover), Redis is asked whether it still acknowledges everything the state applied. If
not, the state is rebuilt as at a start: the checkpoint (itself refused if it is ahead of
Redis), the replay of what Redis acknowledged after it, then own pending entries, so every
entry that survived in Redis gets its signal and the model learns each outcome once.

Redis Cluster (``cache.clients``): a read may only name streams of one hash slot, and a
blocking read waits on one node, so the reads of a round go one per slot in one cluster pipeline
without blocking, and an empty round waits ``CLUSTER_POLL_S`` before the next (so a tick waits
at most that long to be read). The server's clock is one node's TIME, and new keys are counted
over every primary (DBSIZE on each): the merge assumes the nodes' clocks agree to within what
it holds entries back for (NTP; a later entry is still processed, counted as late). The batch
writer writes outputs before acknowledgements there (``runtime.batch_writer``).

Checkpoints are taken in the background (``runtime.snapshot``: a forked child serializes the
state), every ``checkpoint_interval_s`` and first right after start; the loop waits only for
the fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import zlib
from typing import TYPE_CHECKING, Any, Final

import redis
import redis.asyncio as aredis
import structlog

from data_feeds.arrival import ArrivalMerge, RawEntry
from data_feeds.cache import keys
from data_feeds.cache.clients import is_cluster, primaries_option
from data_feeds.cache.codec import as_text
from data_feeds.calendars import CalendarMap
from data_feeds.errors import REDIS_DOWN, Failure, classify
from data_feeds.records import SENTIMENT
from data_feeds.runtime.batch_writer import BatchWriter
from data_feeds.runtime.checkpointer import Checkpointer
from data_feeds.runtime.ownership import LEASES, Ownership
from data_feeds.runtime.pipeline import BatchResult, TickPipeline
from data_feeds.runtime.redelivery import Redelivered, Redelivery
from data_feeds.runtime.rollback import RollbackWatch
from data_feeds.runtime.snapshot import Snapshot, SnapshotFailed
from data_feeds.settings import Settings
from data_feeds.timestamps import entry_key

if TYPE_CHECKING:
    from data_feeds.runtime.metrics import ServiceMetrics

log = structlog.get_logger(__name__)

LAG_INTERVAL_S: Final = 5.0
STUCK_CHECKPOINT_INTERVALS: Final = 5
"""A background checkpoint still running after this many intervals is abandoned."""
VERIFY_INTERVAL_S: Final = 1.0
"""How often the server's ``run_id`` is compared (a restart redis-py hid by reconnecting)."""
BACKOFF_BASE_S: Final = 0.1
BACKOFF_CAP_S: Final = 5.0
CLUSTER_POLL_S: Final = 0.005
"""On a cluster, the wait after a round of reads that found nothing (reads cannot block there)."""


def owns(symbol: str, worker_index: int, worker_count: int) -> bool:
    """Whether a worker owns a symbol: a stable hash, the same in every process and run."""
    return worker_count == 1 or zlib.crc32(symbol.encode()) % worker_count == worker_index


def backoff_s(attempt: int) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


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
        self.cluster = is_cluster(client)
        self._primaries = primaries_option(client)
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.group = settings.consumer_group
        self.sentiment_group = f"{settings.consumer_group}.w{settings.worker_index}"
        self.consumer = consumer_name or f"worker-{settings.worker_index}"
        self.streams: dict[str, str] = {}
        """Stream -> the group this worker reads it in."""
        self.ownership: Ownership | None = None
        """With leases: this worker's membership and symbol leases."""
        if settings.ownership == LEASES:
            self.ownership = Ownership(
                client,
                self.group,
                self.consumer,
                lease_s=settings.lease_s,
                tick_s=min(1.0, settings.lease_s / 3.0),
            )
        self.symbol_streams: dict[str, set[str]] = {}
        """With leases: every input stream found, by symbol (sentiment aside), held or not."""
        self._taking: set[str] = set()
        """With leases: symbols leased whose take-over has not finished (retried each tick)."""
        self._serving: set[str] = set()
        """With leases: the symbols held before a restart of ``start`` (a rollback, a retry)."""
        self._renewed_at = 0.0
        self.merge = ArrivalMerge(settings.batch_size)
        self.writer = BatchWriter(
            client,
            group_for=self.group_for,
            signals_maxlen=settings.signals_maxlen,
            on_written=self._written,
        )
        worker = (
            self.consumer
            if self.ownership is not None
            else f"{settings.worker_index}of{settings.worker_count}"
        )
        self.checkpointer = Checkpointer(
            client,
            keys.checkpoint_key(self.group, worker),
            hmac_key=hmac_key,
            pipeline=pipeline,
            group=self.group,
            on_refused=self._checkpoint_refused,
        )
        self.redelivery = Redelivery(
            client,
            self.consumer,
            max_deliveries=settings.max_deliveries,
            claim_idle_ms=settings.claim_idle_ms,
            page=settings.batch_size,
        )
        self.rollback = RollbackWatch(client, self.consumer)
        self.rollbacks = 0
        """Times Redis was found behind the state and the state was rebuilt."""
        self.running = False
        self.started = False
        """True once state was restored and replayed: only then may a checkpoint be written."""
        self.redis_ok = False
        self.redis_refusing = False
        """The last failure was a Redis reply refusing the work (not Redis unreachable)."""
        self.processed = 0
        self.signals_written = 0
        self._redrain = False
        self._keys_seen = -1
        self._late_counted = 0
        """The number of keys when discovery last began (``clock``)."""
        self._next_discover = 0.0
        self._next_claim = 0.0
        self._next_lag = 0.0
        self._next_checkpoint = 0.0
        self._next_verify = 0.0
        self._next_rebalance = 0.0
        self._verify_due = False
        """A failure was seen: ask Redis whether it lost writes before going on."""
        self._snapshot: asyncio.Task[None] | None = None
        """The checkpoint being taken in the background, if one is."""
        self._snapshot_taken: Snapshot | None = None
        self._snapshot_t0 = 0.0

    # -- discovery and groups ------------------------------------------------------------------

    def group_for(self, stream: str) -> str:
        return self.streams.get(stream) or self._group_of(stream)

    def _group_of(self, stream: str) -> str:
        info = keys.parse_stream_key(stream)
        return self.sentiment_group if info and info.kind == SENTIMENT else self.group

    async def discover(self) -> list[str]:
        """Find owned input streams and make sure our groups exist on each; the new ones."""
        s = self.settings
        # read first: later keys count as new
        self._keys_seen = int(await self.redis.dbsize(**self._primaries))
        found: set[str] = set()
        for pattern in s.stream_patterns:
            async for raw in self.redis.scan_iter(match=pattern, count=1000, _type="stream"):
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                info = keys.parse_stream_key(name)
                if info is None:
                    continue
                if info.kind == SENTIMENT:
                    found.add(name)
                elif self.ownership is not None:
                    self.symbol_streams.setdefault(info.symbol, set()).add(name)
                    if info.symbol in self.ownership.held:
                        found.add(name)
                elif owns(info.symbol, s.worker_index, s.worker_count):
                    found.add(name)
        new = sorted(found - self.streams.keys())
        if new:  # new symbols tend to arrive together: look again soon
            self._next_discover = min(self._next_discover, time.monotonic() + 0.05)
        if new:  # an exchange calendar loads pandas (a second or so): not on the loop
            await asyncio.to_thread(self._load_calendars, new)
        await self._create_groups(new)
        self.streams.update((stream, self._group_of(stream)) for stream in new)
        if new:
            log.info("streams_discovered", new=len(new), total=len(self.streams))
        return new

    async def _create_groups(self, streams: list[str]) -> None:
        """Make sure our groups exist on ``streams`` (BUSYGROUP: they do)."""
        for stream in streams:
            try:
                await self.redis.xgroup_create(
                    stream, self._group_of(stream), id="0", mkstream=True
                )
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _load_calendars(self, streams: list[str]) -> None:
        """Load the trading calendars of new streams' feeds before their first record."""
        calendars = CalendarMap(self.settings.cleaner.calendars)
        for stream in streams:
            info = keys.parse_stream_key(stream)
            if info is not None and info.kind != SENTIMENT:
                asset_class = self.pipeline.validator.implied_asset_class(info, info.symbol)
                calendars.for_feed(asset_class, info.symbol)

    # -- state ---------------------------------------------------------------------------------

    @property
    def last_ids(self) -> dict[str, str]:
        """Per stream, the newest entry applied to the in-memory state."""
        return self.checkpointer.last_ids

    def _checkpoint_refused(self, reason: str) -> None:
        if self.metrics:
            self.metrics.checkpoints_refused_total.inc()

    async def checkpoint(self) -> None:
        """Store the state as of the last written batch (never ahead of what Redis has), and
        wait until it is stored; a background checkpoint under way is abandoned for it (at
        shutdown: cancel this to keep the last stored one)."""
        await self._cancel_snapshot()
        if not self.started:
            return
        if self.writer.pending is not None:
            log.warning("checkpoint_skipped", reason="a batch is not written yet")
            return
        if self.ownership is None:
            await self.checkpointer.save()
            return
        await self.checkpointer.save(self._held_streams())
        await self.ownership.leave()  # at shutdown: the others take the symbols over now

    async def _checkpoint_in_background(self) -> None:
        """Start a checkpoint of the state as it is now, unless one is under way (one under way
        for ``STUCK_CHECKPOINT_INTERVALS`` intervals is abandoned: its child hangs)."""
        if not self.started:
            return
        if self._snapshot is not None and not self._snapshot.done():
            stuck_s = STUCK_CHECKPOINT_INTERVALS * self.settings.checkpoint_interval_s
            if time.monotonic() - self._snapshot_t0 < stuck_s:
                return
            log.error("checkpoint_failed", error=f"abandoned after {stuck_s:g} s")
            await self._cancel_snapshot()
        if self.writer.pending is not None:
            return  # the next interval's
        t0 = time.monotonic()
        held = self._held_streams() if self.ownership is not None else None
        try:
            snapshot = self.checkpointer.snapshot(held)  # the state now: forked before it changes
        except SnapshotFailed as exc:
            log.error("checkpoint_failed", error=str(exc))
            return
        self._snapshot = asyncio.create_task(self._store(snapshot, t0), name="checkpoint")
        self._snapshot_taken = snapshot
        self._snapshot_t0 = t0

    async def _store(self, snapshot: Snapshot, t0: float) -> None:
        try:
            size = await self.checkpointer.store(snapshot)
        except SnapshotFailed as exc:
            log.error("checkpoint_failed", error=str(exc))
            return
        except Exception as exc:
            if classify(exc) is not Failure.TRANSIENT:
                log.error("checkpoint_failed", error=f"{type(exc).__name__}: {exc}")
                return
            log.warning("checkpoint_failed", error=str(exc) or type(exc).__name__)
            return
        if self.metrics:
            self.metrics.record_checkpoint(size, time.monotonic() - t0)

    async def close(self) -> None:
        """Stop the background work of a consumer driven step by step (``run`` does this
        itself when it ends): a checkpoint under way is abandoned."""
        await self._cancel_snapshot()

    async def background_checkpoint(self) -> None:
        """Wait for the background checkpoint under way, if there is one."""
        if self._snapshot is not None:
            await asyncio.shield(self._snapshot)

    async def _cancel_snapshot(self) -> None:
        task, self._snapshot = self._snapshot, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        snapshot, self._snapshot_taken = self._snapshot_taken, None
        if snapshot is not None:  # its task may have been cancelled before it began
            await snapshot.abandon()

    # -- ownership (leases) --------------------------------------------------------------------

    def _held_streams(self) -> dict[str, list[str]]:
        """Each held symbol's streams (leases)."""
        assert self.ownership is not None
        return {s: sorted(self.symbol_streams.get(s, ())) for s in self.ownership.held}

    async def rebalance(self) -> None:
        """Renew membership and leases; hand over the symbols that should now be another
        worker's, take over those that should be ours (``runtime.ownership``), and finish
        a take-over that an error cut short."""
        own = self.ownership
        if own is None:
            return
        await self._renew()
        desired = own.desired(self.symbol_streams)
        leaving = own.held - desired
        if leaving:
            await self._hand_over(sorted(leaving))
        unfinished = self._taking & own.held
        got = await own.acquire(desired - own.held) if desired - own.held else []
        if unfinished or got:
            await self._take_over(sorted(unfinished | set(got)))

    async def _renew(self) -> None:
        """Renew membership and leases; forget at once, unsaved, the symbols whose lease was
        lost (another worker serves them now, from their stored part)."""
        assert self.ownership is not None
        await self.ownership.heartbeat()
        lost = await self.ownership.renew()
        self._renewed_at = time.monotonic()
        if not lost:
            return
        await self._cancel_snapshot()  # it would store their state as it was
        self.merge.clear()  # what it held comes back as own pending (``_redrain``)
        self._redrain = True
        for symbol in lost:
            streams = sorted(self.symbol_streams.get(symbol, ()))
            self.checkpointer.drop_symbol(symbol, streams)
            self._leave_streams(streams)
            self._taking.discard(symbol)
            log.warning("symbol_lost", symbol=symbol, worker=self.consumer)

    def _leave_streams(self, streams: list[str]) -> None:
        for stream in streams:
            self.streams.pop(stream, None)

    async def _hand_over(self, symbols: list[str]) -> None:
        """Process and write what was read, store each symbol's state, release its lease."""
        assert self.ownership is not None
        await self._cancel_snapshot()  # it would store these symbols' state as it was
        await self.writer.flush()
        await self.release_held()
        for symbol in symbols:
            streams = sorted(self.symbol_streams.get(symbol, ()))
            size = await self.checkpointer.save_symbol(symbol, streams)
            await self.ownership.release([symbol])
            self._leave_streams(streams)
            log.info("symbol_released", symbol=symbol, worker=self.consumer, bytes=size)

    async def _take_over(self, symbols: list[str]) -> None:
        """Serve newly leased symbols: their stored state, the entries acknowledged after it,
        then every entry still pending on their streams (left by the last owner); only then
        are their streams read. A take-over an error cuts short is done again from the start
        at the next tick (``_taking``)."""
        assert self.ownership is not None
        self._taking.update(symbols)
        for symbol in symbols:
            if time.monotonic() - self._renewed_at > self.ownership.tick_s:
                await self._renew()  # a long take-over must not let the leases lapse
            if symbol not in self.ownership.held:
                continue
            streams = sorted(self.symbol_streams.get(symbol, ()))
            self.checkpointer.drop_symbol(symbol, streams)  # a retry starts clean
            subset = {st: self._group_of(st) for st in streams}
            await self._create_groups(streams)
            restored = await self.checkpointer.restore_symbol(symbol, self._behind_in(subset))
            replayed = await self.checkpointer.replay(subset)
            claimed = 0
            async for found in self.redelivery.claim(subset, {}, idle_ms=0):
                await self._redelivered(found)
                claimed += found.count
            self.streams.update(subset)
            self._taking.discard(symbol)
            log.info(
                "symbol_acquired",
                symbol=symbol,
                worker=self.consumer,
                state="restored" if restored else "fresh",
                replayed=replayed,
                claimed=claimed,
            )

    def _behind_in(self, groups: dict[str, str]) -> Any:
        """``RollbackWatch.behind`` over ``groups`` (stream -> group), as a checkpoint's check."""

        async def behind(applied: dict[str, str]) -> list[str]:
            return await self.rollback.behind(applied, groups)

        return behind

    # -- rollback ------------------------------------------------------------------------------

    async def verify(self) -> bool:
        """When the server is not the one the state was written to (a restart or a failover:
        its ``run_id`` changed), ask it whether it still acknowledges all the state applied;
        rebuild the state if not. True if it was rebuilt.

        Only a changed server can have lost acknowledged writes; a failed call to the same
        server cannot, and entries pending at or below what the state applied are then normal
        (being processed again after the failure), so nothing is asked. The new ``run_id`` is
        kept only once the answer is in: a check cut short by an error is made again."""
        self._verify_due = False
        run_id = await self.rollback.current_run_id()
        if run_id == self.rollback.run_id:
            return False
        behind = await self.rollback.behind(self.last_ids, self.streams)
        self.rollback.run_id = run_id
        if behind:
            await self.recover(behind)
            return True
        log.info("redis_server_changed", run_id=run_id, lost="nothing")
        return False

    async def recover(self, behind: list[str]) -> None:
        """Redis lost writes the state had seen: rebuild the state as at a start (the
        checkpoint, the replay of what Redis acknowledged after it, own pending entries)."""
        self.rollbacks += 1
        log.error(
            "redis_rolled_back",
            streams=len(behind),
            stream=behind[0],
            applied=self.last_ids.get(behind[0]),
            action="state rebuilt from the checkpoint",
        )
        if self.metrics:
            self.metrics.rollbacks_total.inc()
        self.started = False
        await self._cancel_snapshot()  # taken before the rollback: ahead of Redis
        self.checkpointer.reset()
        await self.start()

    # -- redelivery ----------------------------------------------------------------------------

    async def drain_own_pending(self) -> int:
        """Process the entries this consumer was given before a restart but never acked."""
        found = await self.redelivery.own_pending(self.streams)
        await self._redelivered(found)
        self._count_redelivered("pending_redelivered", found.count)
        return found.count

    async def claim_abandoned(self) -> int:
        """Take over entries idle too long on other consumers (XAUTOCLAIM)."""
        total = 0
        held = {stream: self.merge.held_ids(stream) for stream in self.streams}
        async for found in self.redelivery.claim(self.streams, held):
            if found.trimmed:
                self._redrain = True  # trimmed while pending: acked by the next drain
            await self._redelivered(found)
            total += found.count
        self._count_redelivered("entries_claimed", total)
        return total

    async def _redelivered(self, found: Redelivered) -> None:
        """Dead-letter the poison, then process the rest."""
        if found.poison.acks:
            await self.writer.write(found.poison)
        if found.keep:
            await self._handle(found.keep)

    def _count_redelivered(self, event: str, total: int) -> None:
        if total:
            log.info(event, entries=total)
            if self.metrics:
                self.metrics.redeliveries_total.inc(total)

    # -- the main loop -------------------------------------------------------------------------

    async def start(self) -> None:
        """Everything before the first new read: groups, state, replay, own pending entries."""
        # a retry after an outage during start-up: what was computed against the state about
        # to be restored is dropped; its entries are still pending and come back below
        self.writer.drop_pending()
        self.merge.clear()
        if self.ownership is not None:  # rebuilt below, symbol by symbol, from their parts
            self._serving |= self.ownership.held | self._taking
            self.ownership.held = set()
            self._taking = set()
            self.streams = {k: g for k, g in self.streams.items() if g == self.sentiment_group}
        await self.discover()
        self.rollback.run_id = await self.rollback.current_run_id()  # the server of this state
        self._verify_due = False
        if await self.checkpointer.restore(self._behind_in(self.streams)):
            # the mode and the learning interval are the settings', whatever the checkpointed
            # generator had (waiting predictions keep what they were parked with)
            self.pipeline.generator.serving = self.settings.serving
            self.pipeline.generator.set_learn_interval(self.settings.learn_interval_s)
        if self.ownership is not None:  # symbols come from their own parts, as leased
            for symbol in self.pipeline.generator.symbols:
                self.checkpointer.drop_symbol(symbol, sorted(self.symbol_streams.get(symbol, ())))
        await self.checkpointer.replay(self.streams)
        self.started = True
        await self.drain_own_pending()
        if self.ownership is not None:
            await self.ownership.heartbeat()
            self._renewed_at = time.monotonic()
            wanted = self._serving | self.ownership.desired(self.symbol_streams)
            got = await self.ownership.acquire(wanted)
            self._serving = set()
            await self._take_over(got)
        now = time.monotonic()
        self._next_discover = now + self.settings.discover_interval_s
        self._next_claim = now
        self._next_verify = now + VERIFY_INTERVAL_S
        if self.ownership is not None:
            self._next_rebalance = now + self.ownership.tick_s
        # the first checkpoint right away: a worker restarted again and again would otherwise
        # replay a longer history each time
        self._next_checkpoint = now

    async def run(self, stop: asyncio.Event) -> None:
        """Read, process and write until ``stop`` is set; survives Redis outages."""
        attempt = 0
        while not stop.is_set():
            try:
                if not self.started:
                    await self.start()
                self.running = True
                await self.step(stop)
                self._set_redis(True)
                attempt = 0
            except Exception as exc:  # one place sorts every failure (errors.classify)
                failure = classify(exc)
                if failure is Failure.MISSING_GROUP:
                    log.warning("group_missing", error=str(exc))
                    self.streams.clear()  # rediscovered (groups recreated) on the next step
                    self._redrain = True
                    continue
                if failure is not Failure.TRANSIENT:
                    raise
                self._set_redis(False)
                self._verify_due = True  # it may come back with less than it had
                self._next_rebalance = 0.0  # leases may have lapsed meanwhile: renew first
                # a reply (READONLY during a failover, LOADING, BUSY) comes from a Redis that
                # answers PING: only the consumer sees it, until a step succeeds again
                self.redis_refusing = isinstance(exc, redis.exceptions.ResponseError)
                self._redrain = True
                self.writer.forget_scripts()
                delay = backoff_s(attempt)
                attempt += 1
                log.warning("redis_unavailable", error=str(exc), retry_in_s=round(delay, 3))
                if self.metrics:
                    self.metrics.redis_reconnects_total.inc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        if self.started:
            try:
                await self.writer.flush()
                await self.release_held()
            except REDIS_DOWN as exc:  # they stay pending and come back after a restart
                log.warning("held_entries_left_pending", error=str(exc))
        await self._cancel_snapshot()  # the final checkpoint (``checkpoint``) replaces it
        self.running = False

    async def step(self, stop: asyncio.Event) -> None:
        """One iteration: housekeeping when due, then one read and its batch."""
        now = time.monotonic()
        if self._verify_due or now >= self._next_verify or now >= self._next_claim:
            self._next_verify = now + VERIFY_INTERVAL_S
            if await self.verify():
                return
        if self.ownership is not None and now >= self._next_rebalance:
            self._next_rebalance = now + self.ownership.tick_s
            await self.rebalance()  # the leases renewed (or found lost) before anything is written
        await self.writer.flush()
        if now >= self._next_discover or not self.streams:  # nothing yet: look every read
            self._next_discover = now + self.settings.discover_interval_s
            await self.discover()
        if self._redrain and self.streams:  # entries read before an outage, never processed
            self.merge.clear()  # pending too: delivered again, they wait in the merge
            found = await self.redelivery.own_pending(self.streams)
            if found.poison.acks:
                await self.writer.write(found.poison)
            self.merge.hold(found.keep)
            self._count_redelivered("pending_redelivered", found.count)
            self._redrain = False
        if now >= self._next_claim:
            self._next_claim = now + self.settings.claim_idle_ms / 2000.0
            await self.claim_abandoned()
        if now >= self._next_lag:
            self._next_lag = now + LAG_INTERVAL_S
            await self.export_lag()
        if now >= self._next_checkpoint:
            self._next_checkpoint = now + self.settings.checkpoint_interval_s
            await self._checkpoint_in_background()
        entries = await self.read(stop, await self.clock())
        if entries:
            await self._handle(entries)

    async def read(self, stop: asyncio.Event, server_ms: int) -> list[RawEntry]:
        """The next entries to process, across all streams in arrival order (``ArrivalMerge``:
        entries that an earlier one may still precede stay held, pending, for the next round).

        ``server_ms``: the server's clock before these reads (``step`` takes it, and looks for
        new streams, first): every stream known then has delivered all its entries below it
        unless its page came back full. With entries held and nothing new, it waits a
        millisecond for the clock to move on (Redis times out blocking reads only every
        100 ms, too coarse to wait on)."""
        s = self.settings
        merge = self.merge
        readable = set(merge.readable(self.streams))
        got = 0
        waited = False
        for group in (self.sentiment_group, self.group):
            wanted = {k: ">" for k, g in self.streams.items() if g == group and k in readable}
            if not wanted:
                continue
            if self.cluster:
                pages = await self._read_by_slot(group, wanted)
            else:
                block = s.block_ms if group == self.group and not merge and not got else None
                waited = waited or block is not None
                reply = await self.redis.xreadgroup(
                    group, self.consumer, wanted, count=s.batch_size, block=block
                )
                pages = {as_text(k): entries for k, entries in reply or ()}
            applied = self._applied_already(pages)
            if applied:  # Redis delivers again what the state applied: it lost writes
                await self.recover(applied)
                return []
            merge.add_read(wanted, pages, server_ms)
            got += sum(len(e) for e in pages.values())
        if not got and not waited:  # nothing to block on, or only held entries: wait here
            delay = CLUSTER_POLL_S if self.cluster else s.block_ms / 1000.0
            first = merge.first_held_ms()
            if first is not None:  # until the clock passes the earliest held entry
                ahead_ms = first + 1 - server_ms
                if ahead_ms > 1000:
                    log.warning("entries_ahead_of_the_clock", ahead_s=ahead_ms / 1000.0)
                delay = min(delay, max(ahead_ms, 1) / 1000.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        if merge.late > self._late_counted:
            log.warning("late_entries", entries=merge.late - self._late_counted)
            if self.metrics:
                self.metrics.late_entries_total.inc(merge.late - self._late_counted)
            self._late_counted = merge.late
        return merge.release()

    async def _read_by_slot(self, group: str, wanted: dict[str, str]) -> dict[str, Any]:
        """A cluster: one non-blocking XREADGROUP per hash slot, in one cluster pipeline."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for streams in keys.by_slot(wanted):
                pipe.xreadgroup(group, self.consumer, streams, count=self.settings.batch_size)
            replies = await pipe.execute()
        return {as_text(k): entries for reply in replies for k, entries in reply or ()}

    def _applied_already(self, pages: dict[str, Any]) -> list[str]:
        """Streams whose new entries start at or below the newest entry the state applied
        (a new read never does, unless Redis rolled back or the group was rewound)."""
        last_ids = self.checkpointer.last_ids
        out = []
        for stream, entries in pages.items():
            last = last_ids.get(stream)
            if entries and last is not None and entry_key(entries[0][0]) <= entry_key(last):
                out.append(stream)
        return out

    async def clock(self) -> int:
        """The server's time in ms; new keys since the last discovery trigger another one
        first (a stream created since has entries at or after this time, and the merge must
        know every stream before it releases entries below it)."""
        if self.cluster:  # a cluster pipeline takes keyed commands only
            seconds, micros = await self.redis.time()
            size = await self.redis.dbsize(**self._primaries)
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.time()
                pipe.dbsize()
                (seconds, micros), size = await pipe.execute()
        if size != self._keys_seen:
            await self.discover()
        return int(seconds) * 1000 + int(micros) // 1000

    async def release_held(self) -> None:
        """Process the entries still held back (at shutdown: leave nothing pending)."""
        held = self.merge.take_all()
        if held:
            await self._handle(held)

    async def _handle(self, entries: list[RawEntry]) -> None:
        """Process entries given in arrival order, in chunks of ``batch_size`` each written (and
        acknowledged) before the next is processed: a read over many streams can hold
        ``batch_size`` entries per stream, and the event loop must keep turning meanwhile."""
        size = self.settings.batch_size
        for start in range(0, len(entries), size):
            await self.writer.write(self.pipeline.process(entries[start : start + size]))

    def _written(self, result: BatchResult, write_s: float, written_s: float) -> None:
        """A batch is in Redis: its entries count as applied (``BatchWriter.on_written``)."""
        self.checkpointer.advance(result.last_ids)
        self.processed += sum(len(ids) for ids in result.acks.values())
        self.signals_written += len(result.signals)
        if self.metrics:
            self.metrics.record_batch(result, write_s, written_s)
            self.metrics.record_scorecard(self.pipeline.generator.scorecard)

    # -- metrics -------------------------------------------------------------------------------

    def _set_redis(self, ok: bool) -> None:
        if ok:
            self.redis_refusing = False
        if ok != self.redis_ok:
            self.redis_ok = ok
            if self.metrics:
                self.metrics.redis_up.set(1 if ok else 0)

    async def export_lag(self) -> None:
        """Per kind: pending entries, the entries not yet delivered (where Redis 7+ reports the
        group's lag) and the age of the newest entry not yet delivered."""
        if not self.streams or not self.metrics:
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
            g = next((g for g in groups if as_text(g["name"]) == group), None)
            if g is None:
                continue
            pending[kind] = pending.get(kind, 0) + int(g["pending"])
            if g.get("lag") is not None:  # absent before Redis 7, nil when Redis cannot tell
                lag_entries[kind] = lag_entries.get(kind, 0) + int(g["lag"])
            newest = entry_key(as_text(info["last-generated-id"]))
            delivered = entry_key(as_text(g["last-delivered-id"]))
            behind = (newest[0] - delivered[0]) / 1000.0 if newest > delivered else 0.0
            lag_s[kind] = max(lag_s.get(kind, 0.0), behind)
        self.metrics.record_lag(pending, lag_entries, lag_s)
