"""Checkpointer: the worker's state in Redis, and the way back to it after a restart.

The one place that decides how stored state is laid out and versioned. A checkpoint is the
pipeline's state (the signal generator: indicators and model; the cleaner) with, per input
stream, the newest entry applied to it (``last_ids``), pickled and sealed with the HMAC key
(``cache.signed``) under ``keys.checkpoint_key``. ``FORMAT`` changes whenever that layout
does. A checkpoint that does not verify, is of another format, or verifies but cannot be used
(a class renamed by an upgrade, a missing or mistyped part) or is ahead of what Redis
acknowledges (stored after Redis lost writes it had seen, ``runtime.rollback``) is refused the
same way: logged with its reason, counted (``on_refused``), and the worker starts fresh
instead of failing on every start.

``save`` copies the state at the call and serializes the copy in a forked child
(``runtime.snapshot``): the event loop waits for the fork, not for the pickling. ``reset``
puts back the state the worker was built with (a rollback rebuilds from there).

With leases (``runtime.ownership``) the state is stored in parts: each symbol's own
(indicators, the predictions waiting for their outcome, the cleaner's state of its feeds and
the newest entry applied per stream) under ``keys.symbol_checkpoint_key``, whoever serves it,
and the rest (the model, sentiment, counters) under the worker's key. ``snapshot(symbols)``
splits them in the forked child; ``save_symbol`` stores one symbol's part and drops it from
the state (a handover), ``restore_symbol`` takes one in (the next owner).

After ``restore``, ``replay`` re-applies the entries that were acknowledged after the
checkpoint was taken, with outputs discarded, so the state is what it was when the worker
stopped and the model learns each outcome exactly once. They are processed in the one
arrival order (``data_feeds.arrival``), as live reads are; entries still pending (they will
be delivered again) and entries that went to the DLQ (never applied live) are skipped.
"""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import redis.asyncio as aredis
import structlog

from data_feeds.arrival import ArrivalMerge
from data_feeds.cache import keys, signed
from data_feeds.cache.codec import as_text
from data_feeds.errors import CheckpointRejected
from data_feeds.runtime.batch_writer import OUTPUT_MAXLEN
from data_feeds.runtime.pipeline import TickPipeline
from data_feeds.runtime.snapshot import Snapshot
from data_feeds.signals.generator import SignalGenerator
from data_feeds.timestamps import entry_key
from data_feeds.validation.cleaner import DataCleaner

log = structlog.get_logger(__name__)

FORMAT: Final = 7
"""7: a symbol's pending predictions keep features only for those to be learned (a learning
interval, ``OutcomeBuffer.sample``), apart from their rows. 6: a price feed's duplicate
fingerprints age (its state in the cleaner has a mark and a time for that, which a version
before would fail on). 5: a symbol's price and clock histories and
rolling windows are allocated at their full length, with a count of the values held (issue
15). 4: a symbol's windows are arrays of doubles and its trade flow has no deque before its
first trade (issue 15). A version before any of these would misread such a state, and refuses
its format as unknown, so a rollback starts fresh and replays instead; this version reads
formats 3 to 6 as well (``READABLE``). 3: the state follows trading calendars (a state
of format 2 measured every feed in wall time; it is refused, and the history replayed with
the configured calendars). The parts of ``leases`` are new kinds of blob under keys of their
own, so they carry the same number."""
READABLE: Final = frozenset({3, 4, 5, 6, FORMAT})
"""The formats a checkpoint is restored from: 3 to 6 restore as they were written (their
deques, lists of floats and arrays grown value by value become the full-length windows on
unpickling; their price feeds' rings start aging at their next tick; every pending prediction
of theirs keeps its features, and is learned, as then)."""
Behind = Callable[[dict[str, str]], Awaitable[list[str]]]
"""Given entries applied per stream, the streams on which Redis has acknowledged less."""
REPLAY_PAGE: Final = 1000


def _unpack(state: Any) -> tuple[SignalGenerator, DataCleaner, dict[str, str]]:
    """The parts of a verified checkpoint, each checked; ``CheckpointRejected`` if one is not
    what this version stores."""
    if not isinstance(state, dict) or state.get("format") not in READABLE:
        raise CheckpointRejected("checkpoint refused: unknown layout")
    generator, cleaner, last_ids = (state.get(k) for k in ("generator", "cleaner", "last_ids"))
    if not isinstance(generator, SignalGenerator):
        raise CheckpointRejected(f"checkpoint refused: generator is {type(generator).__name__}")
    if not isinstance(cleaner, DataCleaner):
        raise CheckpointRejected(f"checkpoint refused: cleaner is {type(cleaner).__name__}")
    if not isinstance(last_ids, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in last_ids.items()
    ):
        raise CheckpointRejected("checkpoint refused: last_ids is not a map of stream to id")
    return generator, cleaner, dict(last_ids)


def _symbol_part(
    symbol: str, generator: SignalGenerator, cleaner: DataCleaner, last_ids: dict[str, str],
    streams: list[str], *, take: bool,
) -> dict[str, Any]:  # fmt: skip
    """One symbol's state; with ``take`` taken out of ``generator``, ``cleaner`` and
    ``last_ids``, else only referenced."""
    if take:
        state, feeds = generator.take_symbol(symbol), cleaner.take_feeds(symbol)
        applied = {s: last_ids.pop(s) for s in streams if s in last_ids}
    else:
        state, feeds = generator.symbol_state(symbol), cleaner.feeds_of(symbol)
        applied = {s: last_ids[s] for s in streams if s in last_ids}
    return {
        "format": FORMAT,
        "symbol": symbol,
        "state": state,
        "feeds": feeds,
        "last_ids": applied,
        "written_at": time.time(),
    }


def seal_parts(state: dict[str, Any], hmac_key: bytes) -> bytes:
    """``snapshot``'s serializer with leases (it runs in the forked child, on its own copy):
    each held symbol's part taken out, then the rest; a pickled map of key -> sealed part."""
    generator, cleaner, last_ids = state["generator"], state["cleaner"], state["last_ids"]
    parts: dict[str, bytes] = {}
    for symbol, (key, streams) in state.pop("symbols").items():
        part = _symbol_part(symbol, generator, cleaner, last_ids, streams, take=True)
        parts[key] = signed.dumps(part, hmac_key)
    parts[state.pop("key")] = signed.dumps(state, hmac_key)
    return pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)


class Checkpointer:
    """Saves, restores and replays one worker's state.

    ``key``: where the checkpoint lives; ``hmac_key``: seals it; ``pipeline``: whose state
    is saved and restored.
    """

    def __init__(
        self,
        client: aredis.Redis,
        key: str,
        *,
        hmac_key: bytes,
        pipeline: TickPipeline,
        group: str = "",
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        # redis-py types replies as unions over every decode setting; ours are always bytes.
        self.redis: Any = client
        self.key = key
        self.group = group
        """The consumer group, whose symbols' parts (leases) are ``symbol_checkpoint_key``."""
        self._hmac_key = hmac_key
        self.pipeline = pipeline
        self.on_refused = on_refused
        """Told the reason of every checkpoint refused."""
        self.last_ids: dict[str, str] = {}
        """Per stream, the newest entry applied to the in-memory state."""
        self._initial = pickle.dumps(
            (pipeline.generator, pipeline.cleaner), protocol=pickle.HIGHEST_PROTOCOL
        )
        """The state the worker was built with, for ``reset`` (small: nothing applied yet)."""

    def advance(self, last_ids: Mapping[str, bytes | str]) -> None:
        """Note entries applied to the state (claims can bring older ones: never go back)."""
        for stream, entry_id in last_ids.items():
            new = as_text(entry_id)
            old = self.last_ids.get(stream)
            if old is None or entry_key(new) > entry_key(old):
                self.last_ids[stream] = new

    async def restore(self, behind: Behind | None = None) -> bool:
        """Load the checkpoint into the pipeline; ``False`` (fresh start) if none or refused.

        ``behind``: given the checkpoint's ``last_ids``, the streams on which Redis has not
        acknowledged that much (``RollbackWatch.behind``); a checkpoint ahead of Redis is
        refused (it was stored after Redis lost writes it had seen)."""
        blob = await self.redis.get(self.key)
        if blob is None:
            return False
        try:
            state = await asyncio.to_thread(
                signed.loads, blob, self._hmac_key, what=f"checkpoint {self.key}"
            )
            generator, cleaner, last_ids = _unpack(state)
        except CheckpointRejected as exc:
            return self._refuse(str(exc))
        except Exception as exc:  # verified, but unpickling failed: e.g. a class renamed since
            return self._refuse(f"checkpoint refused: unusable ({type(exc).__name__}: {exc})")
        configured = self.pipeline.cleaner.calendars  # the settings' (the state built from them)
        if cleaner.calendars != configured or generator.calendars.pairs != configured:
            return self._refuse(
                f"checkpoint refused: built with the trading calendars {cleaner.calendars!r}, "
                f"the settings say {configured!r} (DATA_FEEDS_CALENDARS)"
            )
        ahead = await behind(last_ids) if behind is not None else []
        if ahead:
            return self._refuse(
                f"checkpoint refused: ahead of Redis on {len(ahead)} stream(s), first {ahead[0]} "
                "(stored after Redis lost writes it had seen)"
            )
        self.pipeline.generator = generator
        self.pipeline.cleaner = cleaner
        self.last_ids = last_ids
        log.info("checkpoint_restored", key=self.key, streams=len(self.last_ids))
        return True

    def _refuse(self, reason: str, key: str | None = None) -> bool:
        log.error("checkpoint_refused", key=key or self.key, error=reason[:500])
        if self.on_refused is not None:
            self.on_refused(reason)
        return False

    def reset(self) -> None:
        """Put back the state the worker was built with (nothing applied)."""
        self.pipeline.generator, self.pipeline.cleaner = pickle.loads(self._initial)
        self.last_ids = {}

    def snapshot(self, symbols: Mapping[str, list[str]] | None = None) -> Snapshot:
        """A copy of the state as it is now, being serialized in the background (``store``
        stores it). The caller makes sure the state is not ahead of what Redis has (no
        batch unwritten). ``symbols``: with leases, the held symbols and their streams, each
        stored as a part of its own."""
        state: dict[str, Any] = {
            "format": FORMAT,
            "generator": self.pipeline.generator,
            "cleaner": self.pipeline.cleaner,
            "last_ids": dict(self.last_ids),
            "written_at": time.time(),
        }
        if symbols is None:
            return Snapshot(state, self._hmac_key)
        state["key"] = self.key
        state["symbols"] = {
            s: (keys.symbol_checkpoint_key(self.group, s), list(streams))
            for s, streams in symbols.items()
        }
        return Snapshot(state, self._hmac_key, seal_parts)

    async def store(self, snapshot: Snapshot) -> int:
        """Store a snapshot once it is serialized; the size of the stored blob in bytes.
        Cancelled before the blob is stored, it stores nothing."""
        blob = await snapshot.sealed()
        if snapshot.serialize is not seal_parts:
            await self.redis.set(self.key, blob)
            log.debug("checkpoint_written", bytes=len(blob))
            return len(blob)
        parts: dict[str, bytes] = pickle.loads(blob)  # our own child's, through a pipe
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, part in parts.items():
                pipe.set(key, part)
            await pipe.execute()
        log.debug("checkpoint_written", bytes=len(blob), parts=len(parts))
        return len(blob)

    async def save(self, symbols: Mapping[str, list[str]] | None = None) -> int:
        """Store the state as it is now (``store(snapshot(symbols))``)."""
        return await self.store(self.snapshot(symbols))

    # -- one symbol's part (leases) ----------------------------------------------------------

    async def save_symbol(self, symbol: str, streams: list[str]) -> int:
        """Store one symbol's part, then take it out of the state (the symbol leaves this
        worker; if the store fails, the state stays whole); its size in bytes. The caller
        makes sure no batch is unwritten."""
        p = self.pipeline
        part = _symbol_part(symbol, p.generator, p.cleaner, self.last_ids, streams, take=False)
        blob = signed.dumps(part, self._hmac_key)
        await self.redis.set(keys.symbol_checkpoint_key(self.group, symbol), blob)
        self.drop_symbol(symbol, streams)
        return len(blob)

    async def restore_symbol(self, symbol: str, behind: Behind | None = None) -> bool:
        """Take in one symbol's stored part; ``False`` (the symbol starts fresh) if there is
        none, or it is refused as a whole checkpoint would be."""
        key = keys.symbol_checkpoint_key(self.group, symbol)
        blob = await self.redis.get(key)
        if blob is None:
            return False
        try:
            part = signed.loads(blob, self._hmac_key, what=f"checkpoint {key}")
            if not isinstance(part, dict) or part.get("format") not in READABLE:
                raise CheckpointRejected("checkpoint refused: unknown layout")
            if part.get("symbol") != symbol:
                raise CheckpointRejected(f"checkpoint refused: holds {part.get('symbol')!r}")
            last_ids = dict(part["last_ids"])
            state, feeds = part["state"], list(part["feeds"])
        except CheckpointRejected as exc:
            return self._refuse(str(exc), key)
        except Exception as exc:
            return self._refuse(f"checkpoint refused: unusable ({type(exc).__name__}: {exc})", key)
        ahead = await behind(last_ids) if behind is not None else []
        if ahead:
            return self._refuse(
                f"checkpoint refused: ahead of Redis on {len(ahead)} stream(s), first {ahead[0]}",
                key,
            )
        if state is not None:
            self.pipeline.generator.put_symbol(symbol, state)
        self.pipeline.cleaner.put_feeds(feeds)
        self.last_ids.update(last_ids)
        return True

    def drop_symbol(self, symbol: str, streams: list[str]) -> None:
        """Forget one symbol's state without storing it (its lease was lost: another worker
        serves it from its stored part)."""
        self.pipeline.generator.take_symbol(symbol)
        self.pipeline.cleaner.take_feeds(symbol)
        for stream in streams:
            self.last_ids.pop(stream, None)

    async def replay(self, streams: Mapping[str, str]) -> int:
        """Re-apply entries acknowledged after the checkpoint, outputs discarded; how many.

        ``streams``: stream -> the group this worker reads it in.
        """
        ranges: dict[str, tuple[str, str]] = {}  # stream -> (exclusive cursor, last delivered)
        skip: set[tuple[str, bytes]] = set()
        for stream, group in streams.items():
            groups = await self.redis.xinfo_groups(stream)
            info = next((g for g in groups if as_text(g["name"]) == group), None)
            if info is None:
                continue
            last_delivered = as_text(info["last-delivered-id"])
            start = self.last_ids.get(stream, "0-0")
            if entry_key(last_delivered) <= entry_key(start):
                continue
            ranges[stream] = ("(" + start, last_delivered)
            skip.update((stream, i) for i in await self._pending_ids(stream, group))
            skip.update((stream, i) for i in await self._dead_lettered(stream, start))
        merge = ArrivalMerge(REPLAY_PAGE)
        total = 0
        while ranges or len(merge):
            for stream in merge.readable(list(ranges)):
                cursor, last = ranges[stream]
                page = await self.redis.xrange(stream, min=cursor, max=last, count=REPLAY_PAGE)
                exhausted = len(page) < REPLAY_PAGE
                merge.add_range(stream, page, exhausted=exhausted)
                if exhausted:
                    del ranges[stream]
                else:
                    ranges[stream] = ("(" + page[-1][0].decode(), last)
            ready = merge.release()
            batch = [e for e in ready if (e[0], e[1]) not in skip]
            if batch:
                self.pipeline.process(batch, emit=False)
                total += len(batch)
            self.advance({e[0]: e[1] for e in ready})
        if total:
            log.info("state_replayed", entries=total)
        return total

    async def _pending_ids(self, stream: str, group: str) -> set[bytes]:
        ids: set[bytes] = set()
        start = "-"
        while True:
            page = await self.redis.xpending_range(stream, group, min=start, max="+", count=1000)
            ids.update(p["message_id"] for p in page)
            if len(page) < 1000:
                return ids
            start = "(" + page[-1]["message_id"].decode()

    async def _dead_lettered(self, stream: str, after: str) -> set[bytes]:
        """Ids of ``stream`` newer than ``after`` that were sent to its DLQ (never applied)."""
        out: set[bytes] = set()
        floor = entry_key(after)
        for _, fields in await self.redis.xrange(keys.dlq_key(stream), count=OUTPUT_MAXLEN):
            entry_id = fields.get(b"entry_id", b"")
            if entry_id and entry_key(entry_id) > floor:
                out.add(entry_id)
        return out
