"""StreamPublisher: XADD messages to the streams production uses, fast, optionally paced.

Each message goes to ``keys.record_stream(record)`` with the codec's single ``data`` field
(``orjson.dumps(record.to_dict())``, byte-identical to ``codec.encode_fields``) and
``MAXLEN ~ maxlen``; a ``RawMessage`` (an injected bad message) goes with its own fields.

Speed: the commands of a batch (``batch_size``, default 1000) are written as one RESP buffer on
one ``redis.asyncio`` connection (hiredis parses the replies), and the next batch is generated
while Redis works through the current one. Building the RESP text here rather than through
``Pipeline.xadd`` avoids redis-py's per-command overhead, which alone caps a pipeline at about
100k XADD/s on a 2-core machine. Replies are checked: an error reply (e.g. ``WRONGTYPE``) ends
the run with ``PublishError`` once the batch's replies are all read.

Pacing: ``rate`` messages per second (``0``: as fast as possible) sends batches of about 10 ms
worth on schedule; ``speed`` instead follows the messages' own timestamps (``1.0``: real time,
``10``: ten times faster), as a replay of recorded data wants. A run ends when the messages run
out, after ``limit`` messages, after ``duration_s`` seconds of wall time, or when ``stop`` is
set; the batch in flight is always completed.

History: with ``at_event_time`` each message is appended with the entry id of its event time
(``<ms>-<seq>``, or just after the stream's newest id; a raw message takes the time of the
message before it), as stored history is (``cache.codec.APPEND_AT``): a batch is one script
call. An unpaced simulation or replay writes history, so its arrival order, the one every
processing path replays (``data_feeds.arrival``), is its time order; paced publishing is a live
feed and appends with ``*`` (arrival: when Redis got it).

Redis Cluster (``cache.clients``): the messages of a batch go through redis-py's cluster
pipeline instead (one XADD per message, or one APPEND_AT call per hash slot), which sends each
node its share; slower per message, the same replies.

Faults: pass the injector's manifest as ``faults``; every fault gets its message's Redis entry
id, and with ``manifest_key`` (e.g. ``cache.keys.SIM_FAULTS``) each fault is also XADDed there
as ``data`` = JSON, in the pipeline of the following batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import redis.asyncio as aredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from data_feeds.cache.clients import is_cluster
from data_feeds.cache.codec import APPEND_AT, DATA_FIELD_B, encode_fields, event_ms
from data_feeds.cache.keys import hash_slot, parse_stream_key, record_stream
from data_feeds.errors import PublishError
from data_feeds.simulation.edge_cases import Fault, Message, RawMessage

DEFAULT_BATCH: Final = 1000
PACE_SLICE_S: Final = 0.01
"""A paced batch holds about this much time's worth of messages."""


@dataclass(slots=True)
class PublishProgress:
    """A snapshot handed to the progress callback."""

    published: int
    elapsed_s: float
    faults: int

    @property
    def rate_per_s(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(slots=True)
class PublishResult:
    """What a run published: counts per stream, wall time and the fault manifest."""

    published: int
    streams: dict[str, int]
    elapsed_s: float
    faults: list[Fault] = field(default_factory=list)

    @property
    def rate_per_s(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def by_kind(self) -> dict[str, int]:
        """Messages per kind (``price``, ``trade``, ``book``, ``sentiment``)."""
        out: dict[str, int] = {}
        for stream, n in self.streams.items():
            info = parse_stream_key(stream)
            kind = info.kind if info is not None else "other"
            out[kind] = out.get(kind, 0) + n
        return out

    def faults_by_type(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.faults:
            out[f.fault] = out.get(f.fault, 0) + 1
        return out


def encode_message(message: Message) -> tuple[str, dict[str, bytes]]:
    """The stream and fields the publisher writes for ``message``."""
    if type(message) is RawMessage:
        return message.stream, dict(message.fields)
    assert not isinstance(message, RawMessage)
    return record_stream(message), encode_fields(message)


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value).encode()
    raise TypeError(f"a field value must be bytes, str or a number, not {type(value).__name__}")


class _Batch:
    __slots__ = (
        "commands", "count", "groups", "payload", "replies", "script", "skip", "start", "streams"
    )  # fmt: skip

    def __init__(self, start: int) -> None:
        self.start = start
        self.count = 0
        self.replies = 0  # replies to the messages: one per XADD, or one script call's
        self.script = False  # the messages went as one APPEND_AT call (its reply: the ids)
        self.skip = 0  # replies of manifest writes sent ahead of the messages
        self.payload: list[bytes] = []
        self.streams: list[str] = []
        self.commands: list[Command] = []
        """On a cluster, the commands instead of their RESP text."""
        self.groups: list[list[int]] = []
        """On a cluster, the messages of each APPEND_AT call (one per hash slot), in order."""


Command = tuple[bytes, ...]


class _Link:
    """The way batches reach Redis: RESP text on one connection, or on a cluster redis-py's
    cluster pipeline. ``send`` returns at once; ``replies`` waits for the batch's replies
    (its manifest writes' first), an error reply in place of its reply."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self.cluster = is_cluster(client)
        self._conn: AbstractConnection | None = None
        self._inflight: asyncio.Task[list[Any]] | None = None

    async def open(self) -> None:
        if not self.cluster:
            pool = self.client.connection_pool
            self._conn = await pool.get_connection()  # type: ignore[no-untyped-call]

    async def close(self, failed: bool) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
            with contextlib.suppress(BaseException):
                await self._inflight
        if self._conn is not None:
            if failed:
                await self._conn.disconnect()
            await self.client.connection_pool.release(self._conn)

    async def send(self, batch: _Batch, commands: list[Command]) -> None:
        if self._conn is not None:
            head = [_command(*c) for c in commands]
            await self._conn.send_packed_command(head + batch.payload, check_health=False)
        else:
            self._inflight = asyncio.create_task(self._execute(commands, batch))

    async def _execute(self, commands: list[Command], batch: _Batch) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for c in (*commands, *batch.commands):  # the cluster client wants str names
                pipe.execute_command(c[0].decode(), *c[1:])
            return list(await pipe.execute(raise_on_error=False))

    async def replies(self, batch: _Batch, timeout_s: float) -> list[Any]:
        n = batch.skip + batch.replies
        async with asyncio.timeout(timeout_s):
            if self._inflight is not None:
                task, self._inflight = self._inflight, None
                return await task
            assert self._conn is not None
            out: list[Any] = []
            for _ in range(n):
                try:
                    out.append(await self._conn.read_response(timeout=math.inf))
                except ResponseError as exc:
                    out.append(exc)
            return out


class StreamPublisher:
    """Publish messages to Redis Streams through ``client`` (a ``redis.asyncio.Redis``)."""

    def __init__(
        self,
        client: aredis.Redis,
        *,
        maxlen: int | None = 1_000_000,
        batch_size: int = DEFAULT_BATCH,
        manifest_key: str | None = None,
        manifest_maxlen: int = 1_000_000,
        reply_timeout_s: float = 30.0,
        at_event_time: bool = False,
    ) -> None:
        if maxlen is not None and (isinstance(maxlen, bool) or maxlen < 1):
            raise ValueError(f"maxlen must be >= 1 or None, got {maxlen!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        self.client = client
        self.cluster = is_cluster(client)
        self.maxlen = maxlen
        self.batch_size = batch_size
        self.manifest_key = manifest_key
        self.reply_timeout_s = reply_timeout_s
        self._trim = (b"MAXLEN", b"~", str(maxlen).encode()) if maxlen is not None else ()
        self._manifest_trim = (b"MAXLEN", b"~", str(manifest_maxlen).encode())
        self._heads: dict[str, bytes] = {}
        self.at_event_time = at_event_time
        self._append_sha: bytes | None = None
        self._last_ms = -1

    def _head(self, stream: str) -> bytes:
        """The RESP text of ``XADD stream [MAXLEN ~ n] * data`` up to the value."""
        args = (b"XADD", stream.encode(), *self._trim, b"*", DATA_FIELD_B)
        head = b"*%d\r\n" % (len(args) + 1) + b"".join(_bulk(a) for a in args)
        self._heads[stream] = head
        return head

    def _raw_command(self, message: RawMessage) -> bytes:
        args = [b"XADD", message.stream.encode(), *self._trim, b"*"]
        if not message.fields:
            raise ValueError(f"a raw message for {message.stream} has no fields")
        for name, value in message.fields.items():
            args.append(_as_bytes(name))
            args.append(_as_bytes(value))
        return _command(*args)

    async def publish(
        self,
        messages: Iterable[Message],
        *,
        rate: float = 0.0,
        speed: float = 0.0,
        limit: int | None = None,
        duration_s: float | None = None,
        faults: Sequence[Fault] | None = None,
        stop: asyncio.Event | None = None,
        progress: Callable[[PublishProgress], None] | None = None,
        progress_interval_s: float = 1.0,
    ) -> PublishResult:
        """Publish ``messages`` in order; see the module doc for pacing and stopping.

        ``faults``: the manifest that fills up as ``messages`` is drawn (``FaultInjector.faults``).
        """
        if rate < 0 or speed < 0 or (rate > 0 and speed > 0):
            raise ValueError("rate and speed are >= 0 and at most one of them is set")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit!r}")
        if duration_s is not None and duration_s < 0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
        # time.monotonic, not loop.time(): uvloop's is the time the loop last woke up, and a
        # slow first draw would already be past the deadline it sets
        clock_now = time.monotonic
        it = iter(messages)
        manifest = faults if faults is not None else ()
        counts: dict[str, int] = {}
        if rate > 0:
            per_batch = max(1, min(self.batch_size, round(rate * PACE_SLICE_S)))
        else:
            per_batch = self.batch_size
        if self.at_event_time and self._append_sha is None and not self.cluster:
            sha: Any = await self.client.script_load(APPEND_AT)
            self._append_sha = sha if isinstance(sha, bytes) else str(sha).encode()
        link = _Link(self.client)
        await link.open()
        # The clock starts once connected and the first batch is drawn: --duration is
        # publishing time, not connecting time, nor the time a source takes to produce its
        # first message (sentiment that leads the price by minutes first draws the price
        # paths that far ahead: seconds, with many symbols).
        clock = _SpeedClock(speed, clock_now()) if speed > 0 else None
        first: _Batch | None = None
        if (limit is None or limit > 0) and not (stop is not None and stop.is_set()):
            room = per_batch if limit is None else min(per_batch, limit)
            first = self._build(it, 0, room, counts, clock)
        t0 = clock_now()
        if clock is not None:
            clock.restart(t0)
        deadline = None if duration_s is None else t0 + duration_s
        sent = 0
        resolved = 0  # faults whose entry id is known
        pending_manifest: list[Command] = []
        next_progress = t0 + progress_interval_s
        inflight: _Batch | None = None
        try:
            while True:
                batch: _Batch | None = None
                room = per_batch if limit is None else min(per_batch, limit - sent)
                done = room <= 0 or (stop is not None and stop.is_set())
                if not done and deadline is not None and clock_now() >= deadline:
                    done = True
                if first is not None:
                    batch, first = first, None
                elif not done:
                    batch = self._build(it, sent, room, counts, clock)
                if inflight is not None:
                    resolved = await self._collect(
                        link, inflight, manifest, resolved, pending_manifest
                    )
                    inflight = None
                if batch is None or batch.count == 0:
                    break
                due = t0 + sent / rate if rate > 0 else (clock.first_due if clock else 0.0)
                wait = due - clock_now()
                if wait > 0:
                    if deadline is not None and due >= deadline:
                        self._uncount(batch, counts)
                        break
                    await asyncio.sleep(wait)
                batch.skip = len(pending_manifest)
                await link.send(batch, pending_manifest)
                pending_manifest = []
                inflight = batch
                sent += batch.count
                if progress is not None and clock_now() >= next_progress:
                    next_progress = clock_now() + progress_interval_s
                    progress(PublishProgress(sent, clock_now() - t0, _count_upto(manifest, sent)))
            if pending_manifest:
                flush = _Batch(sent)
                flush.skip = len(pending_manifest)
                await link.send(flush, pending_manifest)
                await self._collect(link, flush, (), 0, [])
        except BaseException:
            await link.close(failed=True)
            raise
        await link.close(failed=False)
        elapsed = clock_now() - t0
        published_faults = [f for f in manifest if f.seq < sent]
        if progress is not None:
            progress(PublishProgress(sent, elapsed, len(published_faults)))
        return PublishResult(sent, counts, elapsed, published_faults)

    def _build(
        self,
        it: Iterator[Message],
        start: int,
        room: int,
        counts: dict[str, int],
        clock: _SpeedClock | None,
    ) -> _Batch:
        """Draw up to ``room`` messages and encode them (the CPU-bound part)."""
        batch = _Batch(start)
        source = itertools.islice(it if clock is None else clock.window(it), room)
        if self.at_event_time:
            return self._encode_at_event_time(source, batch, counts)
        if self.cluster:
            return self._build_commands(source, batch, counts)
        payload = batch.payload
        append = payload.append
        streams = batch.streams
        heads = self._heads
        dumps = orjson.dumps
        for message in source:
            if type(message) is RawMessage:
                stream = message.stream
                append(self._raw_command(message))
            else:
                assert not isinstance(message, RawMessage)
                stream = record_stream(message)
                head = heads.get(stream)
                if head is None:
                    head = self._head(stream)
                data = dumps(message.to_dict())
                append(head)
                append(b"$%d\r\n" % len(data))
                append(data)
                append(b"\r\n")
            streams.append(stream)
            counts[stream] = counts.get(stream, 0) + 1
        batch.count = batch.replies = len(streams)
        return batch

    def _build_commands(
        self, source: Iterable[Message], batch: _Batch, counts: dict[str, int]
    ) -> _Batch:
        """The batch as XADD commands (a cluster pipeline routes each to its node)."""
        for message in source:
            stream, fields = encode_message(message)
            if not fields:
                raise ValueError(f"a raw message for {stream} has no fields")
            flat = [_as_bytes(part) for pair in fields.items() for part in pair]
            batch.commands.append((b"XADD", stream.encode(), *self._trim, b"*", *flat))
            batch.streams.append(stream)
            counts[stream] = counts.get(stream, 0) + 1
        batch.count = batch.replies = len(batch.streams)
        return batch

    def _encode_at_event_time(
        self, source: Iterable[Message], batch: _Batch, counts: dict[str, int]
    ) -> _Batch:
        """The batch as one APPEND_AT call: each message at its event time."""
        streams = batch.streams
        args: list[bytes] = []
        dumps = orjson.dumps
        for message in source:
            if type(message) is RawMessage:
                stream = message.stream
                if not message.fields:
                    raise ValueError(f"a raw message for {message.stream} has no fields")
                args += (b"%d" % self._last_ms, b"%d" % len(message.fields))
                for name, value in message.fields.items():
                    args += (_as_bytes(name), _as_bytes(value))
            else:
                assert not isinstance(message, RawMessage)
                stream = record_stream(message)
                self._last_ms = event_ms(message)
                args += (b"%d" % self._last_ms, b"1", DATA_FIELD_B, dumps(message.to_dict()))
            streams.append(stream)
            counts[stream] = counts.get(stream, 0) + 1
        batch.count = len(streams)
        if not streams:
            return batch
        maxlen = self._trim[2] if self._trim else b"%d" % (2**62)
        batch.script = True
        if self.cluster:  # one call per hash slot, on its node
            return self._group_by_slot(batch, args, maxlen)
        assert self._append_sha is not None
        keys_ = [s.encode() for s in streams]
        batch.payload.append(
            _command(b"EVALSHA", self._append_sha, b"%d" % len(keys_), *keys_, maxlen, *args)
        )
        batch.replies = 1
        return batch

    @staticmethod
    def _group_by_slot(batch: _Batch, args: list[bytes], maxlen: bytes) -> _Batch:
        """Split one APPEND_AT call's messages into one call per hash slot (EVAL: a node new
        after a failover has no script cache)."""
        slots: dict[int, tuple[list[bytes], list[bytes], list[int]]] = {}
        i = 0
        for position, stream in enumerate(batch.streams):
            n = int(args[i + 1])
            keys_, slot_args, positions = slots.setdefault(hash_slot(stream), ([], [], []))
            keys_.append(stream.encode())
            slot_args += args[i : i + 2 + 2 * n]
            positions.append(position)
            i += 2 + 2 * n
        script = APPEND_AT.encode()
        for keys_, slot_args, positions in slots.values():
            batch.commands.append((b"EVAL", script, b"%d" % len(keys_), *keys_, maxlen, *slot_args))
            batch.groups.append(positions)
        batch.replies = len(batch.groups)
        return batch

    @staticmethod
    def _uncount(batch: _Batch, counts: dict[str, int]) -> None:
        for stream in batch.streams:
            counts[stream] -= 1
            if not counts[stream]:
                del counts[stream]

    async def _collect(
        self,
        link: _Link,
        batch: _Batch,
        manifest: Sequence[Fault],
        resolved: int,
        pending_manifest: list[Command],
    ) -> int:
        """Read a batch's replies, give faults their entry ids; the new ``resolved`` index.

        One timeout covers the whole batch: a per-reply timeout (redis-py's default) arms and
        cancels a timer for every reply, which costs more than parsing it.
        """
        replies = await link.replies(batch, self.reply_timeout_s)
        error: tuple[str, BaseException] | None = None
        for reply in replies[: batch.skip]:
            if isinstance(reply, Exception):
                error = error or (self.manifest_key or "?", reply)
        ids: list[Any] = [None] * batch.count if batch.script else []
        for i, answer in enumerate(replies[batch.skip :]):
            reply = answer
            if isinstance(answer, Exception):
                where = batch.groups[i][0] if batch.groups else (0 if batch.script else i)
                error = error or (batch.streams[where], answer)
                reply = [None] * len(batch.groups[i]) if batch.groups else None
            if batch.groups:  # one script call per slot: its messages' ids
                for position, entry_id in zip(batch.groups[i], reply, strict=True):
                    ids[position] = entry_id
            elif batch.script:  # one script call: the list of the batch's ids
                ids[:] = reply if isinstance(reply, list) else ids
            else:
                ids.append(reply)
        if error is not None:
            raise PublishError(f"XADD to {error[0]} failed: {error[1]}")
        end = batch.start + batch.count
        while resolved < len(manifest) and manifest[resolved].seq < end:
            fault = manifest[resolved]
            raw_id = ids[fault.seq - batch.start]
            fault.entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            if self.manifest_key is not None:
                pending_manifest.append(
                    (
                        b"XADD",
                        self.manifest_key.encode(),
                        *self._manifest_trim,
                        b"*",
                        DATA_FIELD_B,
                        orjson.dumps(fault.to_dict()),
                    )
                )
            resolved += 1
        return resolved


class _SpeedClock:
    """Due times from the messages' own timestamps: ``t0 + (ts - first_ts) / speed``."""

    __slots__ = ("_last_ts", "_origin", "_peeked", "_speed", "_t0", "first_due")

    def __init__(self, speed: float, t0: float) -> None:
        self._speed = speed
        self._t0 = t0
        self._origin: float | None = None
        self._last_ts: float | None = None
        self._peeked: Message | None = None
        self.first_due = t0

    def restart(self, t0: float) -> None:
        """Count from ``t0`` instead: the messages drawn so far are due as much later."""
        self.first_due += t0 - self._t0
        self._t0 = t0

    def _due(self, message: Message) -> float:
        ts = message.timestamp
        if ts is None:
            ts = self._last_ts
        if ts is None:
            return self._t0
        if self._origin is None:
            self._origin = ts
        self._last_ts = ts
        return self._t0 + (ts - self._origin) / self._speed

    def window(self, it: Iterator[Message]) -> Iterator[Message]:
        """Messages due within ``PACE_SLICE_S`` of the first one; sets ``first_due``."""
        first = self._peeked
        self._peeked = None
        if first is None:
            first = next(it, None)
            if first is None:
                return
        self.first_due = self._due(first)
        horizon = self.first_due + PACE_SLICE_S
        yield first
        for message in it:
            if self._due(message) > horizon:
                self._peeked = message
                return
            yield message


def _count_upto(manifest: Sequence[Fault], sent: int) -> int:
    n = len(manifest)
    while n and manifest[n - 1].seq >= sent:
        n -= 1
    return n
