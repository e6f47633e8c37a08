"""ResearchEngine: import external market data, and study how the stored feeds behave.

Importing (``collect_training_data``)
-------------------------------------
A source is a recorded file (any layout ``sources.read_records`` knows: candles,
trades, depth, quotes), a directory of them, an iterable of records, or another Redis
(``redis://``, ``rediss://`` or ``unix://`` URL plus a stream ``pattern``) whose streams are in
our layout or cryptofeed's flat-field one. Every record goes through the ``SchemaValidator``
(stream entries with their key as the ``stream=`` hint) and is stored in our layout, in our
stream for its kind and symbol.

Re-importing adds nothing. Each record has a fingerprint: a 16-byte BLAKE2b of its stored
payload and of how many identical payloads came before it in the same source (so two genuinely
identical trades in one file stay two, while the same file or the same trades in another layout
are recognised). Fingerprints live in one Redis set per stream, ``research:imported:{stream}``,
and a Lua script adds a batch atomically: ``SADD``, and ``XADD`` only when the fingerprint was
new. So an import is idempotent across processes, even concurrent ones, and costs ~16 bytes of
payload per record (100k records: a few MB). Records that reached a stream any other way (the
live feed) are not in the set and are not compared against.

Analysing (``analyze_feed_behavior``)
-------------------------------------
Per input stream (one kind of one symbol), entries are read in stream order (arrival order,
as the live consumer sees them), validated (failures counted by reason and by missing field),
and run through a ``DataCleaner``, the live stage, so that duplicates, out-of-order and late
records, gaps, spikes and level shifts mean here what they mean live.

The gap rule needs one adjustment for research. Live, a gap is a silence longer than
``gap_factor`` (10) times the 90th percentile of recent intervals: right for bursty trades, but
blind to holes in a regular feed (an 8-minute hole in 1-minute candles is 8 x the cadence). So
by default each feed is classified first: **regular** when at least 95 % of its positive
intervals are whole multiples (within 1 %) of its median interval (candles, periodic ticks);
then a gap is any interval longer than 1.5 x the cadence (its 10th percentile over the last 64
intervals, robust to a window full of holes), judged from the 6th interval on: every missing
candle is reported. Other feeds keep the live rule (10 x the 90th percentile, from the 21st
interval on; the gap rule of ``cleaner_config``, the live one by default). Passing
``gap_factor`` / ``cadence_quantile`` / ``cadence_min_count`` applies them to every feed.
By default research runs the live cleaner config (``settings.cleaner``) with
``refresh_every=1`` (window statistics exact at every record).

Reports are stored as JSON: ``research:feed_report:latest`` and the list
``research:feed_reports`` (newest first); import summaries in ``research:imports``.
"""

from __future__ import annotations

import hashlib
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import orjson
import structlog

from data_feeds.cache import keys
from data_feeds.cache.clients import sync_client
from data_feeds.cache.codec import DATA_FIELD, IMPORT_AT, encode_fields, event_ms
from data_feeds.cache.db_connector import (
    DBConnector,
    client_options,
)
from data_feeds.cache.keys import (
    RESEARCH_FEED_REPORT_LATEST,
    RESEARCH_FEED_REPORTS,
    RESEARCH_IMPORTS,
    imported_key,
)
from data_feeds.calendars import ALWAYS_OPEN, CalendarMap
from data_feeds.errors import InvalidMessage, ReplayError
from data_feeds.learning_layer._common import (
    counts,
    dumps,
    iso,
    push_capped,
    read_list,
    render_table,
    stream_entries,
)
from data_feeds.records import DEFAULT_ASSET_CLASS, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.sources import open_records
from data_feeds.timestamps import TimeBound, time_bound
from data_feeds.validation.cleaner import (
    ACCEPT,
    DUPLICATE,
    GAP,
    LATE,
    LEVEL_SHIFT,
    OUT_OF_ORDER,
    QUARANTINE,
    SPIKE,
    DataCleaner,
)
from data_feeds.validation.cleaner_config import CleanerConfig

log = structlog.get_logger(__name__)

REDIS_SOURCE_SCHEMES: Final = ("redis://", "rediss://", "unix://")
YEAR_S: Final = 365.25 * 86_400.0
DAY_S: Final = 86_400.0

REGULAR_FRACTION: Final = 0.95
"""Share of intervals on the cadence lattice that makes a feed regular."""
LATTICE_TOLERANCE: Final = 0.01
REGULAR_GAP_FACTOR: Final = 1.5
REGULAR_CADENCE_QUANTILE: Final = 0.1
REGULAR_MIN_COUNT: Final = 5
"""Intervals a regular feed's cadence is learned from before gaps are reported."""
REGULAR_MIN_INTERVALS: Final = 20
"""Fewest intervals a feed must have to be classified regular."""
REGULAR_GAP_RULE: Final[dict[str, Any]] = {
    "gap_factor": REGULAR_GAP_FACTOR,
    "cadence_quantile": REGULAR_CADENCE_QUANTILE,
    "cadence_min_count": REGULAR_MIN_COUNT,
}
"""The gap rule of a regular feed, for the parameters not given explicitly."""
AUTO_GAP_RULE: Final = frozenset(REGULAR_GAP_RULE)
REPORTED_PARAMS: Final = (
    "min_gap_s",
    "cadence_window",
    "spike_z",
    "spike_window",
    "spike_min_count",
    "min_mad",
    "reorder_tolerance_s",
    "dedupe_window",
    "dedupe_horizon_s",
    "level_shift_ticks",
    "refresh_every",
)
"""The cleaner parameters a report records beside the gap rule."""

# SADD each fingerprint; XADD its payload only when it was new. KEYS: stream, fingerprint set.
# ARGV: maxlen, then fingerprint/payload pairs. Returns how many were added.


# -- import summary ------------------------------------------------------------------------------


@dataclass(slots=True)
class SourceImport:
    """One source of an import: a file or a foreign stream."""

    source: str
    layout: str | None = None
    records: int = 0
    imported: int = 0
    skipped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(slots=True)
class StreamCounts:
    imported: int = 0
    skipped: int = 0


@dataclass(slots=True)
class ImportSummary:
    """What ``collect_training_data`` did: per target stream and per source."""

    source: str
    streams: dict[str, StreamCounts] = field(default_factory=dict)
    sources: list[SourceImport] = field(default_factory=list)
    started_at: float = 0.0
    duration_s: float = 0.0

    @property
    def imported(self) -> int:
        return sum(s.imported for s in self.streams.values())

    @property
    def skipped(self) -> int:
        """Records already imported before (or earlier in this import)."""
        return sum(s.skipped for s in self.streams.values())

    @property
    def rejected(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for s in self.sources:
            total.update(s.rejected)
        return dict(total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "imported": self.imported,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "streams": {
                k: {"imported": v.imported, "skipped": v.skipped} for k, v in self.streams.items()
            },
            "sources": [
                {
                    "source": s.source,
                    "layout": s.layout,
                    "records": s.records,
                    "imported": s.imported,
                    "skipped": s.skipped,
                    "rejected": s.rejected,
                    "error": s.error,
                }
                for s in self.sources
            ],
        }

    def to_json(self) -> str:
        return dumps(self.to_dict(), indent=True).decode()

    def to_table(self) -> str:
        streams = render_table(
            ("stream", "imported", "skipped"),
            [(k, v.imported, v.skipped) for k, v in sorted(self.streams.items())],
        )
        sources = render_table(
            ("source", "layout", "records", "imported", "skipped", "rejected", "error"),
            [
                (s.source, s.layout, s.records, s.imported, s.skipped, counts(s.rejected), s.error)
                for s in self.sources
            ],
        )
        return f"{streams}\n\n{sources}"


class _Importer:
    """Batches validated records per target stream into the dedupe-and-append script."""

    def __init__(self, db: DBConnector, summary: ImportSummary, batch_size: int) -> None:
        self.redis = db.redis
        self.script = db.redis.register_script(IMPORT_AT)
        self.maxlen = db.settings.stream_maxlen
        self.summary = summary
        self.batch_size = batch_size
        self.pending: dict[str, list[tuple[bytes, int, bytes, SourceImport]]] = {}
        self.occurrences: dict[bytes, int] = {}

    def start_source(self) -> None:
        """Identical payloads are told apart by their rank within one source only."""
        self.flush()
        self.occurrences = {}

    def add(self, record: Record, source: SourceImport) -> None:
        payload = encode_fields(record)[DATA_FIELD]
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        rank = self.occurrences.get(digest, 0)
        self.occurrences[digest] = rank + 1
        if rank:
            digest = hashlib.blake2b(digest + rank.to_bytes(8, "big"), digest_size=16).digest()
        stream = keys.record_stream(record)
        batch = self.pending.setdefault(stream, [])
        batch.append((digest, event_ms(record), payload, source))
        if len(batch) >= self.batch_size:
            self._flush_stream(stream)

    def flush(self) -> None:
        for stream in list(self.pending):
            self._flush_stream(stream)

    def _flush_stream(self, stream: str) -> None:
        batch = self.pending.pop(stream, None)
        if not batch:
            return
        # A batch holds records of one source only: start_source() flushes between sources.
        args: list[bytes | int] = [self.maxlen]
        for digest, ms, payload, _ in batch:
            args += (digest, ms, payload)
        added = int(self.script(keys=[stream, imported_key(stream)], args=args))
        counts_ = self.summary.streams.setdefault(stream, StreamCounts())
        counts_.imported += added
        counts_.skipped += len(batch) - added
        source = batch[0][3]
        source.imported += added
        source.skipped += len(batch) - added


# -- feed analysis -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    start: float
    end: float
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "duration_s": self.duration_s,
            "start_iso": iso(self.start),
            "end_iso": iso(self.end),
        }


@dataclass(frozen=True, slots=True)
class Spike:
    timestamp: float
    price: float
    reference_price: float
    z: float

    @property
    def log_return(self) -> float:
        return math.log(self.price / self.reference_price)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "at": iso(self.timestamp),
            "price": self.price,
            "reference_price": self.reference_price,
            "z": self.z,
            "log_return": self.log_return,
        }


@dataclass(slots=True)
class FeedStats:
    """How one feed (stream: one kind of one symbol) behaved."""

    stream: str
    kind: str
    symbol: str
    asset_class: str | None
    entries: int = 0
    """Entries read (valid or not) inside the time bounds (invalid ones: all)."""
    messages: int = 0
    """Valid records inside the time bounds."""
    rejected: dict[str, int] = field(default_factory=dict)
    missing_fields: dict[str, int] = field(default_factory=dict)
    first_ts: float | None = None
    last_ts: float | None = None
    cadence_s: float | None = None
    """Median positive interval between in-order records."""
    cadence_p90_s: float | None = None
    calendar: str = ALWAYS_OPEN
    """The trading calendar intervals, cadence and gaps are measured in (open-market seconds)."""
    regular: bool = False
    gap_rule: str = ""
    gap_count: int = 0
    gap_total_s: float = 0.0
    longest_gap_s: float | None = None
    gaps: list[Gap] = field(default_factory=list)
    """The first ``max_gaps`` gaps in time order (``gap_count`` counts all)."""
    return_std: float | None = None
    """Standard deviation of log returns between consecutive clean prices."""
    realized_vol_annualized: float | None = None
    """sqrt(sum of squared log returns / span, per year)."""
    spike_count: int = 0
    largest_spike: Spike | None = None
    level_shifts: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    late: int = 0
    accepted: int = 0
    quarantined: int = 0

    @property
    def span_s(self) -> float | None:
        if self.first_ts is None or self.last_ts is None:
            return None
        return self.last_ts - self.first_ts

    @property
    def spikes_per_day(self) -> float | None:
        span = self.span_s
        return self.spike_count / span * DAY_S if span else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "kind": self.kind,
            "symbol": self.symbol,
            "asset_class": self.asset_class,
            "entries": self.entries,
            "messages": self.messages,
            "rejected": self.rejected,
            "missing_fields": self.missing_fields,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "first": iso(self.first_ts),
            "last": iso(self.last_ts),
            "span_s": self.span_s,
            "cadence_s": self.cadence_s,
            "cadence_p90_s": self.cadence_p90_s,
            "calendar": self.calendar,
            "regular": self.regular,
            "gap_rule": self.gap_rule,
            "gap_count": self.gap_count,
            "gap_total_s": self.gap_total_s,
            "longest_gap_s": self.longest_gap_s,
            "gaps": [g.to_dict() for g in self.gaps],
            "return_std": self.return_std,
            "realized_vol_annualized": self.realized_vol_annualized,
            "spike_count": self.spike_count,
            "spikes_per_day": self.spikes_per_day,
            "largest_spike": None if self.largest_spike is None else self.largest_spike.to_dict(),
            "level_shifts": self.level_shifts,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "late": self.late,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
        }


@dataclass(slots=True)
class PriceSeries:
    """One feed's prices as the analysis saw them, for plotting (``analyze_feed_behavior``'s
    ``series``): the accepted in-order prices (those its returns are computed from; a book's
    is its mid) and the spikes the cleaner quarantined, as ``(timestamp, price)``."""

    times: list[float] = field(default_factory=list)
    prices: list[float] = field(default_factory=list)
    spikes: list[tuple[float, float]] = field(default_factory=list)


SUMMARY_HEADERS: Final = (
    "symbol", "kind", "stream", "calendar", "msgs", "span_h", "cadence_s", "gaps", "longest_s",
    "vol_ann", "spikes", "max_spike_%", "spike_at", "dups", "ooo", "late", "rejected",
)  # fmt: skip
"""The columns of ``FeedReport.summary_rows``."""


@dataclass(slots=True)
class FeedReport:
    """``analyze_feed_behavior``'s answer: one ``FeedStats`` per stream."""

    pattern: str
    generated_at: float
    params: dict[str, Any]
    feeds: list[FeedStats] = field(default_factory=list)
    start: float | None = None
    end: float | None = None

    def feed(self, stream: str) -> FeedStats:
        for f in self.feeds:
            if f.stream == stream:
                return f
        raise KeyError(stream)

    def by_symbol(self) -> dict[str, dict[str, FeedStats]]:
        """``{symbol: {kind: stats}}`` (a symbol's streams of several asset classes: last wins)."""
        out: dict[str, dict[str, FeedStats]] = {}
        for f in self.feeds:
            out.setdefault(f.symbol, {})[f.kind] = f
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "generated_at": self.generated_at,
            "start": self.start,
            "end": self.end,
            "params": self.params,
            "feeds": [f.to_dict() for f in self.feeds],
        }

    def to_json(self) -> str:
        return dumps(self.to_dict(), indent=True).decode()

    def summary_rows(self) -> list[tuple[Any, ...]]:
        """One row per feed (columns ``SUMMARY_HEADERS``), by symbol, kind and stream."""
        rows = []
        for f in sorted(self.feeds, key=lambda f: (f.symbol, f.kind, f.stream)):
            spike = f.largest_spike
            span = f.span_s
            rows.append(
                (
                    f.symbol,
                    f.kind,
                    f.stream,
                    f.calendar,
                    f.messages,
                    None if span is None else span / 3600.0,
                    f.cadence_s,
                    f.gap_count,
                    f.longest_gap_s,
                    f.realized_vol_annualized,
                    f.spike_count,
                    None if spike is None else 100.0 * spike.log_return,
                    None if spike is None else iso(spike.timestamp),
                    f.duplicates,
                    f.out_of_order,
                    f.late,
                    counts(f.rejected),
                )
            )
        return rows

    def to_table(self, *, gaps: int = 0) -> str:
        """One line per feed; ``gaps``: also list each feed's N longest gaps."""
        text = render_table(SUMMARY_HEADERS, self.summary_rows())
        if gaps:
            for f in self.feeds:
                longest = sorted(f.gaps, key=lambda g: -g.duration_s)[:gaps]
                if longest:
                    text += f"\n\nlongest gaps of {f.stream} ({f.gap_rule}):\n"
                    text += render_table(
                        ("start", "end", "duration_s"),
                        [(iso(g.start), iso(g.end), g.duration_s) for g in longest],
                    )
        return text


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest rank, as the cleaner computes it."""
    return sorted_values[round(q * (len(sorted_values) - 1))]


def _on_lattice(intervals: list[float], cadence: float) -> float:
    """Share of intervals that are whole multiples (>= 1) of ``cadence`` within tolerance."""
    hits = 0
    for x in intervals:
        k = round(x / cadence)
        if k >= 1 and abs(x / cadence - k) <= LATTICE_TOLERANCE:
            hits += 1
    return hits / len(intervals)


def _price_of(record: Record) -> float:
    if isinstance(record, Tick | Trade):
        return record.price
    if isinstance(record, BookSnapshot) and record.bids and record.asks:
        return 0.5 * (record.bids[0][0] + record.asks[0][0])
    return 0.0


class ResearchEngine:
    """Import external data into the store; analyse the stored feeds. Synchronous."""

    def __init__(self, db: DBConnector, *, keep_reports: int = 100, keep_imports: int = 1000):
        if keep_reports < 1 or keep_imports < 1:
            raise ValueError("keep_reports and keep_imports must be >= 1")
        self.db = db
        self.keep_reports = keep_reports
        self.keep_imports = keep_imports

    # -- import ------------------------------------------------------------------------------

    def collect_training_data(
        self,
        source: str | os.PathLike[str] | Iterable[Record],
        *,
        pattern: str = "*",
        symbol: str | None = None,
        asset_class: str = DEFAULT_ASSET_CLASS,
        batch_size: int = 500,
    ) -> ImportSummary:
        """Import ``source`` into the store (see the module doc); a summary of what was done.

        ``pattern``: streams to read from a Redis source. ``symbol`` / ``asset_class``: for
        files whose name or content does not say (``read_records``). A single file of an
        unknown layout raises ``ReplayError``; in a directory, such files are listed in the
        summary with their error and skipped.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        t0 = time.perf_counter()
        label = self._describe(source)
        summary = ImportSummary(source=label, started_at=time.time())
        importer = _Importer(self.db, summary, batch_size)
        if isinstance(source, str) and source.startswith(REDIS_SOURCE_SCHEMES):
            self._import_redis(source, pattern, importer, summary)
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            if path.is_dir():
                for file in sorted(p for p in path.rglob("*") if p.is_file()):
                    self._import_file(file, symbol, asset_class, importer, summary, strict=False)
            else:
                self._import_file(path, symbol, asset_class, importer, summary, strict=True)
        else:
            item = SourceImport(source="records")
            summary.sources.append(item)
            importer.start_source()
            self._import_records(source, item, importer)
        importer.flush()
        summary.duration_s = time.perf_counter() - t0
        push_capped(self.db.redis, RESEARCH_IMPORTS, dumps(summary.to_dict()), self.keep_imports)
        log.info(
            "training_data_collected",
            source=label,
            imported=summary.imported,
            skipped=summary.skipped,
            rejected=sum(summary.rejected.values()),
            duration_s=round(summary.duration_s, 3),
        )
        return summary

    @staticmethod
    def _describe(source: object) -> str:
        if isinstance(source, str) and source.startswith(REDIS_SOURCE_SCHEMES):
            scheme, _, rest = source.partition("://")
            return f"{scheme}://{rest.rpartition('@')[2]}"  # no credentials in records
        if isinstance(source, str | os.PathLike):
            return str(source)
        return "records"

    def _import_records(
        self, records: Iterable[Record], item: SourceImport, importer: _Importer
    ) -> None:
        validate = self.db.validator.validate
        rejected: Counter[str] = Counter()
        for record in records:
            item.records += 1
            try:
                clean = validate(record.to_dict())
            except InvalidMessage as exc:
                rejected[exc.reason] += 1
                continue
            importer.add(clean, item)
        importer.flush()
        item.rejected = dict(rejected)

    def _import_file(
        self,
        path: Path,
        symbol: str | None,
        asset_class: str,
        importer: _Importer,
        summary: ImportSummary,
        *,
        strict: bool,
    ) -> None:
        item = SourceImport(source=str(path))
        summary.sources.append(item)
        importer.start_source()
        try:
            item.layout, records = open_records(path, symbol, asset_class)
            self._import_records(records, item, importer)
        except (ReplayError, OSError) as exc:
            importer.flush()
            item.error = str(exc)
            if strict:
                raise
            log.warning("import_file_skipped", path=str(path), error=str(exc))

    def _import_redis(
        self, url: str, pattern: str, importer: _Importer, summary: ImportSummary
    ) -> None:
        source = sync_client(url, **client_options())
        validate = self.db.validator.validate
        try:
            names = sorted(
                k.decode() if isinstance(k, bytes) else str(k)
                for k in source.scan_iter(match=pattern, count=1000, _type="stream")
            )
            for name in names:
                item = SourceImport(source=name)
                summary.sources.append(item)
                info = keys.parse_stream_key(name)
                if info is None:
                    item.error = "not an input stream (our layout or cryptofeed's)"
                    continue
                item.layout = info.layout
                importer.start_source()
                rejected: Counter[str] = Counter()
                for fields in stream_entries(source, name):
                    item.records += 1
                    try:
                        record = validate(fields, stream=name)
                    except InvalidMessage as exc:
                        rejected[exc.reason] += 1
                        continue
                    importer.add(record, item)
                importer.flush()
                item.rejected = dict(rejected)
        finally:
            source.close()

    def imports(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded import summaries, newest first."""
        return read_list(self.db.redis, RESEARCH_IMPORTS, limit)

    # -- analysis ----------------------------------------------------------------------------

    def analyze_feed_behavior(
        self,
        pattern: str = "*",
        *,
        start: TimeBound = None,
        end: TimeBound = None,
        cleaner_config: CleanerConfig | None = None,
        gap_factor: float | None = None,
        cadence_quantile: float | None = None,
        cadence_min_count: int | None = None,
        max_gaps: int = 1000,
        store: bool = True,
        series: dict[str, PriceSeries] | None = None,
    ) -> FeedReport:
        """A per-stream report of the input streams matching ``pattern`` (see the module doc).

        ``cleaner_config``: the cleaner's rules (default: the live ones, ``settings.cleaner``,
        with ``refresh_every=1``). ``gap_factor`` / ``cadence_quantile`` / ``cadence_min_count``
        ``None`` choose per feed (regular feeds: 1.5 x the 10th-percentile cadence after 5
        intervals; others: the config's, live 10 x the 90th percentile after 20); a value
        applies to every feed. ``start``/``end`` bound event time. ``store``: record the report
        under ``research:``. ``series``: a dict to fill with each analysed stream's
        ``PriceSeries`` (two floats per price kept; nothing is collected without it).
        """
        lo, hi = _bounds(start, end)
        base = cleaner_config or replace(self.db.settings.cleaner, refresh_every=1)
        explicit: dict[str, Any] = {
            name: value
            for name, value in (
                ("gap_factor", gap_factor),
                ("cadence_quantile", cadence_quantile),
                ("cadence_min_count", cadence_min_count),
            )
            if value is not None
        }
        config = replace(base, **explicit)  # checks every parameter before reading anything
        if max_gaps < 0:
            raise ValueError(f"max_gaps must be >= 0, got {max_gaps!r}")
        t0 = time.perf_counter()
        report = FeedReport(
            pattern=pattern,
            generated_at=time.time(),
            params={
                **dict.fromkeys(REGULAR_GAP_RULE, "auto"),
                **{name: getattr(config, name) for name in REPORTED_PARAMS},
                **explicit,
                "max_gaps": max_gaps,
            },
            start=lo,
            end=hi,
        )
        for stream in self.db.streams(pattern):
            report.feeds.append(
                self._analyze_stream(
                    stream,
                    lo=lo,
                    hi=hi,
                    config=config,
                    auto=AUTO_GAP_RULE.difference(explicit),
                    max_gaps=max_gaps,
                    series=None if series is None else series.setdefault(stream, PriceSeries()),
                )
            )
        if store:
            payload = dumps(report.to_dict())
            self.db.redis.set(RESEARCH_FEED_REPORT_LATEST, payload)
            push_capped(self.db.redis, RESEARCH_FEED_REPORTS, payload, self.keep_reports)
        log.info(
            "feed_behavior_analyzed",
            pattern=pattern,
            feeds=len(report.feeds),
            gaps=sum(f.gap_count for f in report.feeds),
            spikes=sum(f.spike_count for f in report.feeds),
            duration_s=round(time.perf_counter() - t0, 3),
        )
        return report

    def latest_report(self) -> dict[str, Any] | None:
        """The last stored report (as JSON data), ``None`` if none was stored."""
        raw = self.db.redis.get(RESEARCH_FEED_REPORT_LATEST)
        return None if raw is None else orjson.loads(raw)

    def reports(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored reports, newest first."""
        return read_list(self.db.redis, RESEARCH_FEED_REPORTS, limit)

    def _analyze_stream(
        self,
        stream: str,
        *,
        lo: float | None,
        hi: float | None,
        config: CleanerConfig,
        auto: frozenset[str],
        max_gaps: int,
        series: PriceSeries | None = None,
    ) -> FeedStats:
        """``auto``: the gap-rule parameters chosen for this feed (by its regularity) rather
        than taken from ``config``. ``series``: filled with the feed's prices and spikes."""
        info = keys.parse_stream_key(stream)
        assert info is not None  # db.streams() lists input streams only
        stats = FeedStats(stream, info.kind, info.symbol, info.asset_class)
        validate = self.db.validator.validate
        rejected: Counter[str] = Counter()
        missing: Counter[str] = Counter()
        records: list[Record] = []
        for fields in stream_entries(self.db.redis, stream):
            try:
                record = validate(fields, stream=stream)
            except InvalidMessage as exc:
                stats.entries += 1
                rejected[exc.reason] += 1
                if exc.reason == "missing_field":
                    missing[exc.field or "?"] += 1
                continue
            ts = record.timestamp
            if (lo is None or ts >= lo) and (hi is None or ts <= hi):
                stats.entries += 1
                records.append(record)
        stats.rejected = dict(rejected)
        stats.missing_fields = dict(missing)
        stats.messages = len(records)
        if not records:
            return stats
        stats.first_ts = min(r.timestamp for r in records)
        stats.last_ts = max(r.timestamp for r in records)

        # Cadence and regularity, from in-order arrivals, in the feed's open-market time.
        calendar = CalendarMap(config.calendars).for_record(records[0])
        stats.calendar = calendar.name
        open_seconds = calendar.open_seconds
        intervals: list[float] = []
        newest = -math.inf
        for r in records:
            ts = r.timestamp
            if ts > newest:
                if newest > -math.inf and (interval := open_seconds(newest, ts)) > 0.0:
                    intervals.append(interval)  # positive: arrivals while closed are one
                newest = ts
        regular = False
        if intervals:
            ordered = sorted(intervals)
            stats.cadence_s = statistics.median(ordered)
            stats.cadence_p90_s = _quantile(ordered, 0.9)
            regular = (
                not isinstance(records[0], Sentiment)
                and len(intervals) >= REGULAR_MIN_INTERVALS
                and _on_lattice(intervals, stats.cadence_s) >= REGULAR_FRACTION
            )
        stats.regular = regular
        if regular:
            config = replace(config, **{name: REGULAR_GAP_RULE[name] for name in auto})
        stats.gap_rule = (
            f"interval > max({config.min_gap_s:g} s, {config.gap_factor:g} x p"
            f"{100 * config.cadence_quantile:g} of the last {config.cadence_window} intervals), "
            f"after {config.cadence_min_count} intervals"
        )
        if isinstance(records[0], Sentiment):
            stats.gap_rule = "none (sentiment)"

        cleaner = DataCleaner(config)
        clean = cleaner.clean
        returns: list[float] = []
        last_log: float | None = None
        longest = 0.0
        largest: tuple[float, Spike] | None = None
        for record in records:
            result = clean(record)
            in_order = True
            for event in result.events:
                kind = event.type
                if kind == GAP:
                    assert event.previous_timestamp is not None and event.gap_s is not None
                    stats.gap_count += 1
                    stats.gap_total_s += event.gap_s
                    longest = max(longest, event.gap_s)
                    if len(stats.gaps) < max_gaps:
                        stats.gaps.append(
                            Gap(event.previous_timestamp, event.timestamp, event.gap_s)
                        )
                elif kind == SPIKE:
                    stats.spike_count += 1
                    assert event.price is not None and event.reference_price is not None
                    spike = Spike(
                        event.timestamp, event.price, event.reference_price, event.z or 0.0
                    )
                    size = abs(spike.log_return)
                    if largest is None or size > largest[0]:
                        largest = (size, spike)
                    if series is not None:
                        series.spikes.append((spike.timestamp, spike.price))
                elif kind == LEVEL_SHIFT:
                    stats.level_shifts += 1
                elif kind == DUPLICATE:
                    stats.duplicates += 1
                elif kind == OUT_OF_ORDER:
                    stats.out_of_order += 1
                    in_order = False
                elif kind == LATE:
                    stats.late += 1
            if result.action == ACCEPT:
                stats.accepted += 1
                price = _price_of(record)
                if in_order and price > 0.0:
                    if series is not None:
                        series.times.append(record.timestamp)
                        series.prices.append(price)
                    log_price = math.log(price)
                    if last_log is not None:
                        returns.append(log_price - last_log)
                    last_log = log_price
            elif result.action == QUARANTINE:
                stats.quarantined += 1
        stats.longest_gap_s = longest if stats.gap_count else None
        stats.largest_spike = None if largest is None else largest[1]
        if len(returns) > 1:
            stats.return_std = statistics.stdev(returns)
            span = stats.span_s
            if span:
                stats.realized_vol_annualized = math.sqrt(
                    sum(r * r for r in returns) / span * YEAR_S
                )
        return stats


def _bounds(start: TimeBound, end: TimeBound) -> tuple[float | None, float | None]:
    return time_bound(start, "start"), time_bound(end, "end")
