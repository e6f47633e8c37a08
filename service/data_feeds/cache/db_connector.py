"""DBConnector: store records in their streams and read history back.

``DBConnector`` is synchronous (scripts, notebooks, the learning layer); ``AsyncDBConnector`` is
the asyncio twin the service uses. Both share the key scheme (``cache.keys``), the codec
(``cache.codec``) and the validation of everything going in and coming out.

With no URL (argument, ``DATA_FEEDS_REDIS_URL`` or ``REDIS_URL``), both start or join the bundled
Redis under the data directory (``cache.embedded``). ``redis://user:password@host:port/db``
(ACL) and ``rediss://`` (TLS) URLs are passed to redis-py as they are; a URL naming a node of a
Redis Cluster gives redis-py's cluster client (``cache.clients``), and ``store_many`` then
appends slot by slot (one script call per hash slot, each atomic on its own).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import redis
import redis.asyncio as aredis
import structlog

from data_feeds.arrival import arrival_key
from data_feeds.cache import keys
from data_feeds.cache.clients import async_client, is_cluster, sync_client
from data_feeds.cache.codec import (
    APPEND_AT,
    DATA_FIELD,
    DATA_FIELD_B,
    as_text,
    encode_fields,
    event_ms,
)
from data_feeds.cache.embedded import EmbeddedRedis, client_name
from data_feeds.cache.migrate import rename_legacy_keys
from data_feeds.errors import REDIS_DOWN, ConfigError, InvalidMessage
from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.settings import Settings
from data_feeds.timestamps import TimeBound, time_bound
from data_feeds.validation.schema_validator import SchemaValidator

log = structlog.get_logger(__name__)

RECORD_TYPES: Final = (Tick, Trade, BookSnapshot, BookDelta, Sentiment)
PAGE_SIZE: Final = 1000
SOCKET_TIMEOUT_S: Final = 30.0
CONNECT_TIMEOUT_S: Final = 5.0

Storable = Record | Mapping[str, Any] | bytes | str
Patterns = str | Sequence[str]
"""A glob pattern of stream keys, or several (their union: each stream read once)."""


def _patterns(pattern: Patterns) -> Sequence[str]:
    return (pattern,) if isinstance(pattern, str) else pattern


class Entry(NamedTuple):
    """One stored record with where it lives."""

    stream: str
    entry_id: str
    record: Record

    @property
    def signal_id(self) -> str:
        """The ``signal_id`` a signal made from this entry carries (``records.Signal``)."""
        return f"{self.stream}/{self.entry_id}"


def resolve_redis_url(url: str | None, settings: Settings) -> str:
    """The URL to connect to, starting (or joining) the bundled server when none is configured;
    this process then releases it at exit (``EmbeddedRedis.release``)."""
    if url or settings.redis_url:
        return url or str(settings.redis_url)
    try:
        return EmbeddedRedis(settings.data_dir / "redis").ensure_running()
    except (PermissionError, FileNotFoundError, NotADirectoryError, FileExistsError) as exc:
        raise ConfigError(_data_dir_error(settings, exc)) from None


def _data_dir_error(settings: Settings, exc: OSError) -> str:
    return (
        f"DATA_FEEDS_DATA_DIR={settings.data_dir}: cannot keep the bundled Redis there "
        f"({exc.strerror or exc}: {exc.filename or settings.data_dir})"
    )


def client_options() -> dict[str, Any]:
    """Connection options every client of the package uses."""
    return {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": 30,
        "client_name": client_name(),
    }


class _Codec:
    """What both connectors share: validation in, stream and fields out, decoding back."""

    def __init__(self, settings: Settings, validator: SchemaValidator | None) -> None:
        self.settings = settings
        self.validator = validator or SchemaValidator(
            asset_classes=settings.asset_classes,
            default_asset_class=settings.default_asset_class,
        )
        self.maxlen = settings.stream_maxlen
        self.rejected: collections.Counter[str] = collections.Counter()
        """Entries skipped by the last backfill to finish, by reason."""

    def prepare(self, item: Storable) -> tuple[str, int, bytes]:
        """Validate anything storable; its stream key, event ms and data field."""
        raw = item.to_dict() if isinstance(item, RECORD_TYPES) else item
        record = self.validator.validate(raw)
        return keys.record_stream(record), event_ms(record), encode_fields(record)[DATA_FIELD]

    def append_calls(self, records: Iterable[Storable], *, by_slot: bool) -> list[AppendCall]:
        """Validate every record (raising on the first invalid one); the APPEND_AT calls that
        store them: one, or with ``by_slot`` one per hash slot (a cluster runs a script on
        the keys of one slot only)."""
        calls: dict[int, AppendCall] = {}
        for position, item in enumerate(records):
            stream, ms, data = self.prepare(item)
            call = calls.get(slot := keys.hash_slot(stream) if by_slot else 0)
            if call is None:
                call = calls[slot] = AppendCall([], [self.maxlen], [])
            call.keys.append(stream)
            call.args.extend((ms, 1, DATA_FIELD_B, data))
            call.positions.append(position)
        return list(calls.values())

    def decode_page(
        self,
        stream: str,
        page: Any,
        lo: float | None,
        hi: float | None,
        *,
        out: list[Entry],
        rejected: collections.Counter[str],
    ) -> str | None:
        """Decode one XRANGE page into ``out`` (skipped entries counted in ``rejected``); the
        cursor of the next page, or ``None``."""
        for raw_id, fields in page:
            try:
                record = self.validator.validate(fields, stream=stream)
            except InvalidMessage as exc:
                rejected[exc.reason] += 1
                continue
            ts = record.timestamp
            if (lo is None or ts >= lo) and (hi is None or ts <= hi):
                out.append(Entry(stream, raw_id.decode(), record))
        if len(page) < PAGE_SIZE:
            return None
        last_id: bytes = page[-1][0]
        return "(" + last_id.decode()

    @staticmethod
    def is_input_stream(key: bytes | str) -> str | None:
        name = key.decode() if isinstance(key, bytes) else key
        return name if keys.parse_stream_key(name) is not None else None

    def finish(
        self,
        entries: list[Entry],
        rejected: collections.Counter[str],
        pattern: Patterns,
        limit: int | None,
    ) -> list[Entry]:
        entries.sort(key=_arrival)
        self.rejected = rejected  # one backfill's own counts, whatever ran beside it
        if rejected:
            log.warning("backfill_entries_rejected", pattern=pattern, reasons=dict(rejected))
        return entries if limit is None else entries[:limit]


class AppendCall(NamedTuple):
    """One APPEND_AT call: its keys and arguments, and where its records stood in the input."""

    keys: list[str]
    args: list[bytes | int]
    positions: list[int]


def _entry_ids(calls: list[AppendCall], replies: Sequence[Any]) -> list[str]:
    """The entry ids of ``calls``' records, in the order the records were given."""
    out = [""] * sum(len(c.positions) for c in calls)
    for call, ids in zip(calls, replies, strict=True):
        for position, entry_id in zip(call.positions, ids, strict=True):
            out[position] = as_text(entry_id)
    return out


def _rename_legacy(client: redis.Redis) -> None:
    # an unreachable server: the connector's first real command reports it
    with contextlib.suppress(*REDIS_DOWN):
        rename_legacy_keys(client)


def _arrival(entry: Entry) -> tuple[int, str, int]:
    """``backfill_entries`` order: the one processing order (``data_feeds.arrival``)."""
    return arrival_key(entry.stream, entry.entry_id)


def by_event_time(entries: list[Entry], limit: int | None) -> list[Record]:
    """``backfill`` order, for reading history: event time, ties in arrival order."""
    ordered = sorted(entries, key=lambda e: e.record.timestamp)  # stable: arrival within
    return [e.record for e in (ordered if limit is None else ordered[:limit])]


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")


class DBConnector:
    """Synchronous store and history reader.

    >>> db = DBConnector()                       # bundled Redis, or DATA_FEEDS_REDIS_URL
    >>> db.store({"symbol": "BTCUSDT", "price": 50000.0, "volume": 10.0,
    ...           "timestamp": 1234567890.0})   # -> entry id in crypto_price:BTCUSDT
    >>> db.backfill("crypto_price:*")             # -> [Tick(symbol='BTCUSDT', ...)]
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        validator: SchemaValidator | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.url = resolve_redis_url(url, self.settings)
        self.redis: redis.Redis = sync_client(self.url, **client_options())
        self.cluster = is_cluster(self.redis)
        self._codec = _Codec(self.settings, validator)
        self._append = self.redis.register_script(APPEND_AT)
        _rename_legacy(self.redis)

    @property
    def validator(self) -> SchemaValidator:
        return self._codec.validator

    def store(self, record: Storable) -> str:
        """Validate and append one record to its stream at its event time; the new entry id
        (``<event ms>-<seq>``, or just after the stream's newest id: ``cache.codec``).

        Raises ``InvalidMessage`` (with ``.reason``) for anything that is not a valid record.
        """
        return self.store_many([record])[0]

    def store_many(self, records: Iterable[Storable]) -> list[str]:
        """Validate every record first (nothing is written if one is invalid), then append
        them all in one script call (on a cluster, one per hash slot), each at its event time;
        their entry ids."""
        calls = self._codec.append_calls(records, by_slot=self.cluster)
        if len(calls) <= 1:
            return [as_text(i) for c in calls for i in self._append(keys=c.keys, args=c.args)]
        with self.redis.pipeline(transaction=False) as pipe:
            for c in calls:  # EVAL: a node new after a failover has no script cache yet
                pipe.execute_command("EVAL", APPEND_AT, len(c.keys), *c.keys, *c.args)  # type: ignore[no-untyped-call]
            return _entry_ids(calls, pipe.execute())

    def streams(self, pattern: Patterns = "*") -> list[str]:
        """Input streams whose key matches the glob ``pattern`` (or any of several; SCAN, never
        KEYS), sorted."""
        found = {
            name
            for one in _patterns(pattern)
            for key in self.redis.scan_iter(match=one, count=1000, _type="stream")
            if (name := self._codec.is_input_stream(key)) is not None
        }
        return sorted(found)

    def backfill_entries(
        self,
        pattern: Patterns = "*",
        start: TimeBound = None,
        end: TimeBound = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """The records of the input streams matching ``pattern`` with their stream and entry
        id, in the one processing order (``data_feeds.arrival``: what training, research and
        evaluation replay, as the live service reads them); bounds as in ``backfill``;
        ``limit`` keeps the first N."""
        _check_limit(limit)
        lo, hi = time_bound(start, "start"), time_bound(end, "end")
        rejected: collections.Counter[str] = collections.Counter()
        out: list[Entry] = []
        for stream in self.streams(pattern):
            cursor: str | None = "-"
            while cursor is not None:
                page = self.redis.xrange(stream, min=cursor, max="+", count=PAGE_SIZE)
                cursor = self._codec.decode_page(stream, page, lo, hi, out=out, rejected=rejected)
        return self._codec.finish(out, rejected, pattern, limit)

    def backfill(
        self,
        pattern: Patterns = "*",
        start: TimeBound = None,
        end: TimeBound = None,
        limit: int | None = None,
    ) -> list[Record]:
        """Every record in the input streams matching ``pattern``, in event-time order.

        ``start``/``end`` bound the event time (epoch s/ms/us/ns, a datetime or ISO-8601 text;
        naive means UTC: ``timestamps.time_bound``), inclusive; ``limit`` keeps the earliest N.
        Entries that do not validate are skipped and counted by reason in
        ``last_backfill_rejects``.
        """
        _check_limit(limit)
        return by_event_time(self.backfill_entries(pattern, start, end), limit)

    @property
    def last_backfill_rejects(self) -> dict[str, int]:
        return dict(self._codec.rejected)

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> DBConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncDBConnector:
    """The asyncio twin of ``DBConnector`` for the service (same keys, codec and checks)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        validator: SchemaValidator | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        # Starting the bundled server is a short blocking step, done once at start-up.
        self.url = resolve_redis_url(url, self.settings)
        self.redis: aredis.Redis = async_client(self.url, **client_options())
        self.cluster = is_cluster(self.redis)
        self._codec = _Codec(self.settings, validator)
        self._append = self.redis.register_script(APPEND_AT)

    @property
    def validator(self) -> SchemaValidator:
        return self._codec.validator

    async def store(self, record: Storable) -> str:
        """Validate and append one record to its stream at its event time; the new entry id."""
        return (await self.store_many([record]))[0]

    async def store_many(self, records: Iterable[Storable]) -> list[str]:
        """Validate every record first (nothing is written if one is invalid), then append
        them all in one script call (on a cluster, one per hash slot), each at its event time;
        their entry ids."""
        calls = self._codec.append_calls(records, by_slot=self.cluster)
        if len(calls) <= 1:
            return [as_text(i) for c in calls for i in await self._append(keys=c.keys, args=c.args)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in calls:  # EVAL: a node new after a failover has no script cache yet
                pipe.eval(APPEND_AT, len(c.keys), *c.keys, *c.args)
            return _entry_ids(calls, await pipe.execute())

    async def streams(self, pattern: Patterns = "*") -> list[str]:
        """Input streams whose key matches the glob ``pattern`` (or any of several; SCAN, never
        KEYS), sorted."""
        found: set[str] = set()
        for one in _patterns(pattern):
            async for key in self.redis.scan_iter(match=one, count=1000, _type="stream"):
                if (name := self._codec.is_input_stream(key)) is not None:
                    found.add(name)
        return sorted(found)

    async def backfill_entries(
        self,
        pattern: Patterns = "*",
        start: TimeBound = None,
        end: TimeBound = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """The records of the input streams matching ``pattern`` with their stream and entry
        id, in the one processing order (``data_feeds.arrival``: what training, research and
        evaluation replay, as the live service reads them); bounds as in ``backfill``;
        ``limit`` keeps the first N."""
        _check_limit(limit)
        lo, hi = time_bound(start, "start"), time_bound(end, "end")
        rejected: collections.Counter[str] = collections.Counter()
        out: list[Entry] = []
        for stream in await self.streams(pattern):
            cursor: str | None = "-"
            while cursor is not None:
                page = await self.redis.xrange(stream, min=cursor, max="+", count=PAGE_SIZE)
                cursor = self._codec.decode_page(stream, page, lo, hi, out=out, rejected=rejected)
        return self._codec.finish(out, rejected, pattern, limit)

    async def backfill(
        self,
        pattern: Patterns = "*",
        start: TimeBound = None,
        end: TimeBound = None,
        limit: int | None = None,
    ) -> list[Record]:
        """Every record in the input streams matching ``pattern``, in event-time order."""
        _check_limit(limit)
        return by_event_time(await self.backfill_entries(pattern, start, end), limit)

    @property
    def last_backfill_rejects(self) -> dict[str, int]:
        return dict(self._codec.rejected)

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def __aenter__(self) -> AsyncDBConnector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
