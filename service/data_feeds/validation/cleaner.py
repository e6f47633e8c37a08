"""DataCleaner: the per-record stage after the SchemaValidator that drops, flags or quarantines.

The validator has already guaranteed finite positive prices, non-negative volumes and sane
timestamps; the cleaner judges a record against what came before it on the same feed. A feed is
one ``(kind, symbol-or-keyword)`` pair, and its state is bounded: at most ``max_keys`` feeds are
tracked (the least recently seen one is forgotten first) and each feed keeps fixed-size windows.
The parameters named below are ``CleanerConfig``'s (``validation.cleaner_config``), which holds
their defaults and checks them; ``DataCleaner(config)`` runs with one.

``clean(record)`` returns a ``CleanResult`` whose ``action`` is one of

- ``"accept"``: pass the record on (it may still carry ``gap``, ``out_of_order`` or
  ``level_shift`` events for ``events:feed``);
- ``"drop_duplicate"``: the same record was seen recently (for a trade with a ``trade_id``, the
  same id on the same exchange; otherwise the same content), with a ``duplicate`` event;
- ``"reject_late"``: older than the newest record of its feed by more than
  ``reorder_tolerance_s``, with a ``late`` event;
- ``"quarantine"``: a price spike, with a ``spike`` event; keep it in ``quarantine:{SYMBOL}``,
  do not feed it to the indicators.

Checks, in order:

1. Duplicates: a ring of the last ``dedupe_window`` fingerprints per feed. Every record that is
   not a duplicate or late is remembered, quarantined ones included, so a redelivered spike is
   dropped rather than quarantined twice. A trade without a ``trade_id`` is known by its
   content only, so two genuine identical fills in one millisecond look like a redelivery: the
   real BTC/USDT trades stripped of their ids lose 12 of 2001 that way (none with their ids).
   The set of the ring's fingerprints is only kept while it is needed: while a feed's records
   come with strictly increasing timestamps, each is newer than everything remembered, so one
   whose fingerprint holds its timestamp (all but a trade with an id) cannot be a duplicate and
   is only appended to the ring. The first record that could be one (an equal or older or NaN
   timestamp, a trade id) builds the set, and it is kept up until a whole ring of strictly
   newer records has gone by. A price feed's ring is an ``array('q')`` of 64-bit hashes (8
   bytes a fingerprint, where a deque of ints takes 40) that is appended to and cut back to the
   last ``dedupe_window`` once it holds a quarter more (a cut a quarter at a time, not a value
   at a time); the last ``dedupe_window`` are the ring.
   A price feed also forgets a fingerprint once its tick is more than ``dedupe_horizon_s``
   (default 60 s, never less than ``reorder_tolerance_s``) behind the feed's newest. A copy of
   that tick carries the same timestamp and would be rejected as late anyway, so only the
   reason changes (``late``, not ``duplicate``; both are dropped and neither goes to the DLQ),
   and a feed of one tick every few seconds remembers a minute of fingerprints rather than its
   last 1,024 (8 kB a symbol, 80 MB over 10,000 symbols; issue 15). The ring ages in steps: a
   mark after its newest fingerprint, and once a tick more than the horizon newer than the
   marked one arrives, everything up to the mark is forgotten and the mark moves to the end,
   so a ring holds one to two horizons of fingerprints (and ``dedupe_window`` at most). The
   other feeds' rings (deques of fingerprints, which for a trade may be its id, not its time)
   are bounded by count only. Timestamps that are not finite, which the validator never
   passes, void this: after a NaN one the next record is accepted whatever its time, a copy of
   a forgotten tick included. A feed handed to a cleaner with a longer horizon (``put_feeds``)
   ages by the taker's horizon from then on, but what the giver had already forgotten stays
   forgotten: workers that hand feeds over should share their cleaner settings.
2. Ordering: a record older than the feed's newest timestamp but by at most
   ``reorder_tolerance_s`` is accepted with an ``out_of_order`` event; it is still checked for a
   spike against the reference price, but it updates neither the timing nor the price state
   (it is old news). Equal timestamps are in order.
3. Gaps (ticks, trades, books; not sentiment): the feed's cadence is the ``cadence_quantile``
   (default 0.9) of its last ``cadence_window`` positive inter-arrival times. Once
   ``cadence_min_count`` of them have been seen, a silence longer than
   ``max(min_gap_s, gap_factor * cadence)`` yields a ``gap`` event running from
   ``previous_timestamp`` to ``timestamp`` (``gap_s`` long); the record itself is judged as
   usual. Records sharing a timestamp (the fills of one sweep: a third of the real Binance
   BTC/USDT trades share their millisecond with the one before) are one arrival, so zero
   intervals are left out; otherwise one sweep fills the window with zeros and the next
   ordinary pause is a "gap". The 90th percentile rather than the median because trades
   arrive in bursts even so: the median interval is the spacing inside a burst, and ten times
   it is an ordinary pause (on the real XRP/ETH trades the median flags one interval in nine,
   the 90th percentile ten silences of 30 s to 8 min in 2.5 days). For a regular feed (candles,
   periodic ticks) every quantile is the same. Intervals are measured in the feed's
   open-market time (``data_feeds.calendars``: its trading calendar, by symbol or asset class,
   ``CleanerConfig.calendars``): a weekend, a holiday or a night adds nothing, so daily equity
   candles or the FX week show no gap for them, and ``gap_s`` is the open time the feed was
   silent. Timing state follows every in-order record,
   quarantined ones included: a bad price does not mean silence.
4. Spikes (ticks, trades and full book snapshots through their mid; not deltas, not sentiment):
   ``z = (r - median) / (1.4826 * max(MAD, min_mad))`` where ``r`` is the log return from the
   reference price (the last accepted in-order price) and the median and MAD are those of the last
   ``spike_window`` in-order returns, judged once ``spike_min_count`` returns were seen.
   Beyond ``spike_z`` the record is quarantined and the reference stays where it was.

   - The window holds every in-order return, spikes included: leaving spikes out shrinks the
     MAD after each one, until ordinary moves look like spikes (on real 1-minute candles an early
     version that did so quarantined more than half the series).
   - Returns exactly equal to the median are left out of the MAD: on a discrete price grid
     most trade-to-trade returns are often exactly 0, which would make the MAD 0.
   - ``min_mad`` (default 5e-4) floors the scale, so at the defaults no move smaller than
     ``8 * 1.4826 * 5e-4`` = 0.59 % is ever a spike: the cleaner is for bad prints, not for
     the bid-ask bounce of a thin market (on the real XRP/ETH trades, whose spread is ~0.3 %,
     a floor of 1e-4 quarantines 4 % of the trades).

   Level shifts: when ``level_shift_ticks`` consecutive price-carrying in-order records are all
   spikes against the old reference but each is within ``spike_z`` robust units of the one
   before it, the level is real. The last of them is accepted with a ``level_shift`` event and
   becomes the reference; the earlier ones STAY QUARANTINED (they were already reported as
   quarantined and the caller has acted on that; releasing them would mean emitting records
   out of order). Any non-spike in-order record in between resets the run.

Window statistics (the cadence threshold, the median and MAD of returns) are cached and
recomputed every ``refresh_every`` new observations, since sorting a window costs more than
everything else a tick does. Before anything is reported as a gap or a spike against stale
statistics, they are recomputed (without the record being judged) and the record judged again,
so staleness can only ever let a borderline record through, never flag one.

No I/O, no logging, plain floats. ``counts`` counts every action and event type (a fixed key
set). The cleaner pickles, and a restored copy continues exactly where the original was (the
cache of the feed used last is left out of the pickle; pickles made before it existed load).
"""

from __future__ import annotations

import contextlib
import math
import random
import zlib
from array import array
from bisect import bisect_left as _bisect_left
from bisect import bisect_right as _bisect_right
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, fields
from typing import Any, Final, TypeAlias

from data_feeds.calendars import CalendarMap, TradingCalendar
from data_feeds.records import (
    PRICE,
    SENTIMENT,
    TRADE,
    BookDelta,
    BookSnapshot,
    Record,
    Sentiment,
    Tick,
    Trade,
)
from data_feeds.validation.cleaner_config import CleanerConfig

ACCEPT: Final = "accept"
DROP_DUPLICATE: Final = "drop_duplicate"
REJECT_LATE: Final = "reject_late"
QUARANTINE: Final = "quarantine"
CLEAN_ACTIONS: Final = (ACCEPT, DROP_DUPLICATE, REJECT_LATE, QUARANTINE)

GAP: Final = "gap"
DUPLICATE: Final = "duplicate"
OUT_OF_ORDER: Final = "out_of_order"
LATE: Final = "late"
SPIKE: Final = "spike"
LEVEL_SHIFT: Final = "level_shift"
FEED_EVENT_TYPES: Final = (GAP, DUPLICATE, OUT_OF_ORDER, LATE, SPIKE, LEVEL_SHIFT)

MAD_TO_SIGMA: Final = 1.4826
"""Scales a median absolute deviation to a standard deviation for normal data."""

_NO_EVENTS: Final[tuple[FeedEvent, ...]] = ()
_NEVER: Final = -math.inf  # the newest timestamp of a feed that has seen no record yet
_NO_QUOTE: Final = -1.0  # a tick's missing bid or ask in its fingerprint (quotes are > 0)
_HALF_RANGE: Final = 2**63  # a random fingerprint in [-2**63, 2**63): an array('q') holds it
_EXCHANGE_CODES: dict[str, int] = {}
_log: Final = math.log
_new: Final = object.__new__
_isfinite: Final = math.isfinite


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """Something the cleaner noticed about a feed, for ``events:feed`` or ``quarantine:*``.

    ``symbol`` is the record's symbol (a sentiment record's keyword) and ``timestamp`` the
    record's own timestamp. Detail fields, ``None`` where they do not apply:

    - ``previous_timestamp``: the feed's newest timestamp before this record (``gap``: the start
      of the silence, which ends at ``timestamp``; ``out_of_order`` / ``late``: what it lags);
    - ``gap_s``: the length of the silence (``gap``);
    - ``lag_s``: how far behind the newest record it arrived (``out_of_order``, ``late``);
    - ``z``: the robust z-score of its log return (``spike``, ``level_shift``);
    - ``price``: the price judged (a book's mid) and ``reference_price`` the one it was judged
      against (``spike``, ``level_shift``);
    - ``count``: how many consecutive records formed the new level (``level_shift``).
    """

    type: str
    symbol: str
    kind: str
    timestamp: float
    previous_timestamp: float | None = None
    gap_s: float | None = None
    lag_s: float | None = None
    z: float | None = None
    price: float | None = None
    reference_price: float | None = None
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as flat fields (``None`` left out), ready to XADD."""
        d: dict[str, Any] = {
            "type": self.type,
            "symbol": self.symbol,
            "kind": self.kind,
            "timestamp": self.timestamp,
        }
        for name in ("previous_timestamp", "gap_s", "lag_s", "z", "price", "reference_price"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        if self.count is not None:
            d["count"] = self.count
        return d


@dataclass(slots=True)
class CleanResult:
    """The cleaner's decision on one record: ``action``, the record, and what was noticed."""

    # clean() fills in these three fields of an accepted tick's result itself, without the
    # call of __init__: keep it in step with them.
    action: str
    record: Record
    events: tuple[FeedEvent, ...]

    @property
    def accepted(self) -> bool:
        """True when the record goes on to the indicators."""
        return self.action == ACCEPT


class _FeedState:
    """Everything the cleaner remembers about one feed; every container is bounded."""

    __slots__ = (
        "cadence_threshold_s",
        "calendar",
        "fingerprint_ring",
        "fingerprints",
        "intervals",
        "intervals_countdown",
        "newer_run",
        "newest_ts",
        "pending_count",
        "pending_log",
        "ref_log",
        "ref_price",
        "return_high",
        "return_low",
        "return_median",
        "return_scale",
        "returns",
        "returns_countdown",
        "ring_mark",
        "ring_since",
        "ring_until",
    )

    def __init__(
        self, cleaner: DataCleaner, calendar: TradingCalendar | None = None, *, hashed: bool = False
    ) -> None:
        self.newest_ts = _NEVER
        # The trading calendar intervals are measured in (open seconds); None: always open.
        self.calendar = calendar
        # Duplicates: the fingerprints of the last dedupe_window remembered records, and the
        # same as a set while it is needed (None: not built, see clean). newer_run counts the
        # records since the last one that needed it. Price ticks' fingerprints are 64-bit ints
        # (hashed): their ring is an array, remembered as its last dedupe_window (see clean).
        self.fingerprint_ring: Ring = array("q") if hashed else deque(maxlen=cleaner.dedupe_window)
        self.fingerprints: set[Hashable] | None = None
        self.newer_run = 0
        # Aging (see DataCleaner._age_ring): the ring's first ring_mark fingerprints, appended
        # while the feed's newest was at most ring_since, are forgotten once a record is newer
        # than ring_until (ring_since plus the horizon). Only a price feed's ring ages.
        self.ring_mark = 0
        self.ring_since = _NEVER
        self.ring_until = _NEVER if hashed else math.inf
        # Timing: inter-arrival times of in-order records. A countdown to the next
        # recomputation of the threshold: first after cadence_min_count intervals, then
        # every refresh_every.
        # The windows are arrays of doubles (8 bytes a value, where a deque of floats holds
        # 32), appended to per record and cut back to their last cadence_window (spike_window)
        # when the statistics are refreshed, which is the only time they are read: they hold
        # at most refresh_every values more. Appending costs what a deque's append does; the
        # refresh makes a float of each value it sorts (validate + clean +0.1-0.15 us a tick).
        self.intervals = array("d")
        self.intervals_countdown = cleaner.cadence_min_count
        self.cadence_threshold_s = math.inf  # no gap is reported until the cadence is known
        # Price: log returns of in-order records against the reference, likewise.
        self.ref_price = 0.0  # 0.0: no reference yet
        self.ref_log = 0.0
        self.returns = array("d")
        self.returns_countdown = cleaner.spike_min_count
        self.return_median = 0.0
        self.return_scale = 0.0  # 0.0: too few returns to judge spikes yet
        # Returns within [return_low, return_high] are certainly not spikes (see _bounds).
        self.return_low = -math.inf
        self.return_high = math.inf
        # A run of consistent spikes that may turn out to be a level shift.
        self.pending_count = 0
        self.pending_log = 0.0

    def __setstate__(self, state: object) -> None:
        # The (None, slots) state of the default pickling; pickles of older versions lack the
        # newer slots, which start as __init__ leaves them (DataCleaner.__setstate__ then
        # derives the return bounds from the statistics).
        if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict)):
            raise TypeError(f"not a pickled feed state: {type(state).__name__}")
        self.newer_run = 0
        self.calendar = None
        self.ring_mark = 0  # pickles from before rings aged: marked on the next record
        self.ring_since = _NEVER  # (DataCleaner._adopt derives ring_until)
        self.return_low = -math.inf
        self.return_high = math.inf
        for name, value in state[1].items():
            setattr(self, name, value)
        if type(self.intervals) is not array:  # pickled when they were deques of floats
            self.intervals = array("d", self.intervals)
            self.returns = array("d", self.returns)
        # Its ring and set are fitted by the cleaner that takes it (DataCleaner._adopt).


FeedKey = str | tuple[str, str]
Ring: TypeAlias = "deque[Hashable] | array[int]"
"""A feed's fingerprints: a deque of ``dedupe_window`` at most, or a price feed's array of
hashes whose last ``dedupe_window`` are remembered (see ``DataCleaner.clean``)."""


def _feed_key(kind: str, name: str) -> FeedKey:
    """A feed's key in DataCleaner._feeds: the symbol alone for price ticks (the commonest,
    whose symbol's hash is already cached), ``(kind, name)`` for the other kinds."""
    return name if kind == PRICE else (kind, name)


_NO_FEED: Final = _FeedState.__new__(_FeedState)  # DataCleaner._last_state before any feed


def _fingerprint_set(ring: Ring, window: int) -> set[Hashable]:
    """The set of the ring's (last ``window``) fingerprints. An unhashable one (only from a
    hand-made record with a list for a field) can equal no other fingerprint and is left
    out."""
    if type(ring) is array:
        return set(ring[-window:])
    try:
        return set(ring)
    except TypeError:
        seen: set[Hashable] = set()
        for fingerprint in ring:
            with contextlib.suppress(TypeError):
                seen.add(fingerprint)
        return seen


def _median(sorted_values: list[float]) -> float:
    n = len(sorted_values)
    return 0.5 * (sorted_values[(n - 1) // 2] + sorted_values[n // 2])


def _exchange_code(exchange: str) -> int:
    """A number for an exchange name that is the same in every process (``hash`` of a str is
    not: it is salted per process), remembered for the first 1,000 names."""
    code = zlib.crc32(str(exchange).encode())
    if len(_EXCHANGE_CODES) < 1_000:
        _EXCHANGE_CODES[exchange] = code
    return code


def _tick_fingerprint(
    content: tuple[float, float, float, float | None, float | None, str | None],
) -> int:
    """A tick's fingerprint: the 64-bit hash of ``(timestamp, price, volume, bid, ask,
    exchange)``, the same in every process, so a restored ring still knows what it saw.

    An int (32 bytes, where the tuple and its floats took about 160), for the ring holds
    ``dedupe_window`` of them per feed. Floats and ints hash by value; a missing quote or
    exchange enters as a number, not as ``None``, whose hash is its address in Python 3.11.
    Two different ticks of one feed share a fingerprint with odds of about 2**-64 per pair
    within a window (the later one would be dropped as a duplicate). ``clean`` builds it
    inline; this is the reference (and converts rings pickled with the tuples)."""
    ts, price, volume, bid, ask, exchange = content
    return hash((
        ts, price, volume, _NO_QUOTE if bid is None else bid, _NO_QUOTE if ask is None else ask,
        0 if exchange is None else _EXCHANGE_CODES.get(exchange) or _exchange_code(exchange),
    ))  # fmt: skip


def _ring_cut(window: int) -> int:
    """The length at which a price feed's ring is cut back to its last ``window``."""
    return window + max(1, window // 4)


def _hashed_ring(ring: deque[Hashable]) -> Ring:
    """A price feed's ring pickled as a deque (before it was an array) as an array of its
    hashes, ticks pickled as tuples (before the hash) hashed as ``_tick_fingerprint`` does; a
    deque still if a tuple could not be hashed (it equals nothing)."""
    fingerprints = deque(map(_unpickled_fingerprint, ring), maxlen=ring.maxlen)
    try:
        return array("q", fingerprints)  # type: ignore[arg-type]  # a TypeError if not ints
    except (TypeError, OverflowError):
        return fingerprints


def _unpickled_fingerprint(fingerprint: Hashable) -> Hashable:
    """A fingerprint from a pickled ring: a tick's tuple (rings pickled before the hash) as
    ``_tick_fingerprint``, anything else as it is."""
    if type(fingerprint) is tuple and len(fingerprint) == 6:
        with contextlib.suppress(TypeError):  # unhashable: equal to nothing, as it was
            return _tick_fingerprint(fingerprint)
    return fingerprint


def _fingerprint(record: Record) -> Hashable:
    """What makes two records the same record, for those clean does not fingerprint itself:
    ticks are known by ``_tick_fingerprint`` and trades with a ``trade_id`` by it (with their
    exchange, if any), both built inline there."""
    if type(record) is Trade:
        return (record.timestamp, record.price, record.volume, record.side, record.exchange)
    if type(record) is Sentiment:
        return (record.timestamp, record.score, record.source)
    assert isinstance(record, BookSnapshot | BookDelta)
    return (record.timestamp, record.is_delta, record.bids, record.asks, record.exchange)


class DataCleaner:
    """Drops duplicates and late records, flags gaps and reordering, quarantines price spikes.

    One instance serves every feed of a worker. ``clean(record)`` is the only per-record call.
    """

    __slots__ = (
        "_accepted",
        "_calendar_map",
        "_counts",
        "_feeds",
        "_last_kind",
        "_last_name",
        "_last_state",
        "_ring_cut",
        "cadence_min_count",
        "cadence_quantile",
        "cadence_window",
        "calendars",
        "dedupe_horizon_s",
        "dedupe_window",
        "evicted_feeds",
        "gap_factor",
        "level_shift_ticks",
        "max_keys",
        "min_gap_s",
        "min_mad",
        "refresh_every",
        "reorder_tolerance_s",
        "spike_min_count",
        "spike_window",
        "spike_z",
    )

    def __init__(self, config: CleanerConfig | None = None) -> None:
        """Keep the configuration (checked by ``CleanerConfig``; the defaults when ``None``)."""
        cfg = CleanerConfig() if config is None else config
        self.max_keys = cfg.max_keys
        self.dedupe_window = cfg.dedupe_window
        self._ring_cut = _ring_cut(cfg.dedupe_window)
        self.dedupe_horizon_s = cfg.dedupe_horizon_s
        self.reorder_tolerance_s = cfg.reorder_tolerance_s
        self.gap_factor = cfg.gap_factor
        self.min_gap_s = cfg.min_gap_s
        self.cadence_window = cfg.cadence_window
        self.cadence_min_count = cfg.cadence_min_count
        self.cadence_quantile = cfg.cadence_quantile
        self.spike_z = cfg.spike_z
        self.spike_window = cfg.spike_window
        self.spike_min_count = cfg.spike_min_count
        self.min_mad = cfg.min_mad
        self.level_shift_ticks = cfg.level_shift_ticks
        self.refresh_every = cfg.refresh_every
        self.calendars = cfg.calendars
        self._calendar_map = CalendarMap(cfg.calendars)
        # Every action and event type but ACCEPT; the commonest of all is a plain int.
        self._counts: dict[str, int] = dict.fromkeys(CLEAN_ACTIONS + FEED_EVENT_TYPES, 0)
        self._accepted = 0
        self.evicted_feeds = 0
        # Feed key -> state, least recently used first (see _feed_key).
        self._feeds: OrderedDict[FeedKey, _FeedState] = OrderedDict()
        self._forget_last()

    def _forget_last(self) -> None:
        # The feed clean() used last (so the most recently used one): a run of records of one
        # feed skips the LRU bookkeeping. A cache, left out of pickles. No name is None, so
        # the placeholder state is never used.
        self._last_kind: str | None = None
        self._last_name: str | None = None
        self._last_state: _FeedState = _NO_FEED

    def __getstate__(self) -> dict[str, Any]:
        """Every setting and all feed state; not the cache of the last feed."""
        return {name: getattr(self, name) for name in _PICKLED_SLOTS}

    def __setstate__(self, state: object) -> None:
        # Also reads the (None, slots) state that pickles made before __getstate__ existed.
        if isinstance(state, tuple):
            state = state[1]
        assert isinstance(state, dict)
        if "counts" in state:  # pickles from before the accept count was split off
            state = dict(state)
            counts = dict(state.pop("counts"))
            state["_accepted"] = counts[ACCEPT]
            counts[ACCEPT] = 0
            state["_counts"] = counts
        self.calendars = ()  # pickles from before calendars
        self.dedupe_horizon_s = CleanerConfig().dedupe_horizon_s  # from before rings aged
        for name, value in state.items():
            if name in _PICKLED_SLOTS:
                setattr(self, name, value)
        self._calendar_map = CalendarMap(self.calendars)
        self._ring_cut = _ring_cut(self.dedupe_window)
        # Keys of older pickles were (kind, name) for every kind.
        self._feeds = OrderedDict(
            (_feed_key(*key) if isinstance(key, tuple) else key, feed)
            for key, feed in self._feeds.items()
        )
        for key, feed in self._feeds.items():
            self._adopt(key, feed)
        self._forget_last()

    def feeds_of(self, symbol: str) -> list[tuple[FeedKey, _FeedState]]:
        """The state of ``symbol``'s feeds (any kind but sentiment), as ``take_feeds`` hands
        it over, left in place. Its arrays are cut to what this cleaner remembers first (a
        price feed's ring to its last ``dedupe_window``, the cadence and return windows to
        their last ``cadence_window`` and ``spike_window``): a cleaner with longer windows must
        not take the older values an array still holds for remembered ones. The taker then
        runs the feed with its own windows."""
        feeds = [(k, f) for k, f in self._feeds.items()
                 if (k[1] if isinstance(k, tuple) else k) == symbol
                 and not (isinstance(k, tuple) and k[0] == SENTIMENT)]  # fmt: skip
        for _, feed in feeds:
            self._cut(feed, self.dedupe_window)
            del feed.intervals[: -self.cadence_window]
            del feed.returns[: -self.spike_window]
        return feeds

    def take_feeds(self, symbol: str) -> list[tuple[FeedKey, _FeedState]]:
        """Remove the state of ``symbol``'s feeds and hand it over (``runtime.ownership``:
        the symbol moves to another worker)."""
        feeds = self.feeds_of(symbol)
        self._forget_last()
        for key, _ in feeds:
            del self._feeds[key]
        return feeds

    def put_feeds(self, feeds: list[tuple[FeedKey, _FeedState]]) -> None:
        """Take over feeds from ``take_feeds`` (of this or another cleaner)."""
        self._forget_last()
        for key, feed in feeds:
            if key not in self._feeds and len(self._feeds) >= self.max_keys:
                self._feeds.popitem(last=False)
                self.evicted_feeds += 1
            self._adopt(key, feed)
            self._feeds[key] = feed

    def _adopt(self, key: FeedKey, feed: _FeedState) -> None:
        """Fit a feed's state restored from a pickle or handed over by another cleaner to this
        one: its return bounds, and its ring as ``clean`` keeps it (a price feed's as an array
        of hashes, also when pickled as a deque of hashes or of tick tuples before; any ring
        cut to this cleaner's ``dedupe_window``, its mark moved along, the time it ages at
        from this cleaner's horizon, and the set rebuilt from it). A ring that stays a deque
        never ages."""
        feed.return_low, feed.return_high = _bounds(
            feed.return_median, feed.return_scale, self.spike_z
        )
        window = self.dedupe_window
        ring = feed.fingerprint_ring
        if type(key) is str and type(ring) is deque:
            ring = _hashed_ring(ring)
        feed.fingerprint_ring = ring
        if isinstance(ring, array):
            self._cut(feed, window)
            feed.ring_until = feed.ring_since + self._ring_horizon()
        else:
            feed.ring_until = math.inf
            if ring.maxlen != window:
                feed.fingerprint_ring = ring = deque(ring, maxlen=window)
        if feed.fingerprints is not None:
            feed.fingerprints = _fingerprint_set(ring, window)

    @property
    def counts(self) -> dict[str, int]:
        """How many records took each action and how many events of each type were noticed
        (a fixed key set: ``CLEAN_ACTIONS`` then ``FEED_EVENT_TYPES``); a fresh dict."""
        counts = dict(self._counts)
        counts[ACCEPT] = self._accepted
        return counts

    @property
    def config(self) -> CleanerConfig:
        """The configuration this cleaner runs with."""
        return CleanerConfig(**{name: getattr(self, name) for name in _CONFIG_FIELDS})

    @property
    def tracked_feeds(self) -> int:
        """How many feeds have state right now (at most ``max_keys``)."""
        return len(self._feeds)

    def clean(self, record: Record) -> CleanResult:
        """Judge one validated record against its feed's recent history."""
        fingerprint: Hashable
        # Fingerprints are built inline for the two hot record types (see _fingerprint).
        timed = True  # whether the fingerprint holds the timestamp
        if type(record) is Tick:
            kind = PRICE
            name = record.symbol
            price = record.price
            ts = record.timestamp
            bid = record.bid  # _tick_fingerprint, inlined
            ask = record.ask
            exchange = record.exchange
            try:
                fingerprint = hash((
                    ts, price, record.volume, _NO_QUOTE if bid is None else bid,
                    _NO_QUOTE if ask is None else ask,
                    0 if exchange is None
                    else _EXCHANGE_CODES.get(exchange) or _exchange_code(exchange),
                ))  # fmt: skip
            except TypeError:  # a hand-made tick with a list for a field: equal to nothing
                fingerprint = random.getrandbits(64) - _HALF_RANGE
        elif type(record) is Trade:
            kind = TRADE
            name = record.symbol
            price = record.price
            ts = record.timestamp
            trade_id = record.trade_id
            if trade_id is None:
                fingerprint = _fingerprint(record)  # the trade's content
            else:
                fingerprint = trade_id if record.exchange is None else (record.exchange, trade_id)
                timed = False
        else:
            kind = record.kind
            if type(record) is BookSnapshot:
                name = record.symbol
                price = (
                    0.5 * (record.bids[0][0] + record.asks[0][0])
                    if record.bids and record.asks
                    else 0.0
                )
            elif type(record) is Sentiment:
                name = record.keyword
                price = 0.0
            else:
                assert isinstance(record, BookDelta)
                name = record.symbol
                price = 0.0  # a delta carries changed levels only, not the touch
            fingerprint = _fingerprint(record)
            ts = record.timestamp

        # The feed of the previous record is the most recently used one, already at the end of
        # the LRU order, so a repeat needs neither the key tuple nor the move.
        if name == self._last_name and kind == self._last_kind:
            state = self._last_state
        else:
            key = name if kind == PRICE else (kind, name)  # _feed_key, inlined
            found = self._feeds.get(key)
            if found is None:
                state = self._new_feed(key, record)
            else:
                state = found
                self._feeds.move_to_end(key)
            self._last_kind = kind
            self._last_name = name
            self._last_state = state

        # 1. Duplicates, and 2. ordering. The set of the ring's fingerprints (one hash for test
        # and insertion: a set that does not grow held the fingerprint) exists only while it is
        # needed. Without it, the ring holds fingerprints of in-order records of strictly
        # increasing timestamps up to the feed's newest (a fresh feed, or the set dropped after
        # a whole ring of such records), so a record strictly newer than that whose fingerprint
        # holds its timestamp duplicates none of them: the commonest case of all appends to
        # the ring and is done. Anything else builds the set and is checked against it; while
        # the set exists, every record is, and the set holds what the ring holds (the ring's
        # fingerprints are distinct).
        newest = state.newest_ts
        ring = state.fingerprint_ring
        seen = state.fingerprints
        if seen is None and timed and ts > newest:
            ring.append(fingerprint)  # type: ignore[arg-type]  # a price feed's is an int
            if len(ring) >= self._ring_cut:  # an array (a deque holds dedupe_window at most)
                self._cut(state, self.dedupe_window)
        else:
            if seen is None:
                seen = state.fingerprints = _fingerprint_set(ring, self.dedupe_window)
            size = len(seen)
            seen.add(fingerprint)
            if len(seen) == size:
                state.newer_run = 0
                return self._duplicate(record, name=name, kind=kind, price=price)
            if ts < newest:
                state.newer_run = 0
                return self._behind(
                    state, seen, record, fingerprint, name=name, kind=kind, price=price
                )
            self._remember(state, seen, fingerprint)
            if timed and ts > newest:
                state.newer_run += 1
                if state.newer_run >= min(self.dedupe_window, len(ring)):
                    state.fingerprints = None
            else:
                state.newer_run = 0
        events = _NO_EVENTS

        # 3. Gaps, in the feed's open-market time (a closed market is not a silent feed).
        if newest != _NEVER and kind != SENTIMENT:
            calendar = state.calendar
            interval = ts - newest if calendar is None else calendar.open_seconds(newest, ts)
            if interval > state.cadence_threshold_s and self._still_a_gap(state, interval):
                self._counts[GAP] += 1
                events = (
                    FeedEvent(GAP, name, kind, ts, previous_timestamp=newest, gap_s=interval),
                )
            if interval > 0.0:  # records sharing a timestamp are one arrival
                state.intervals.append(interval)  # cut back to the window on refresh
                state.intervals_countdown -= 1
                if not state.intervals_countdown:
                    self._refresh_cadence(state)
        state.newest_ts = ts
        if ts > state.ring_until:
            self._age_ring(state, ts)

        # 4. Spikes. Here only what an ordinary return needs; a return beyond spike_z robust
        # units of the median (or not a number) goes to _judge_return, which does it all.
        if price > 0.0:
            log_price = _log(price)
            if state.ref_price > 0.0:
                ret = log_price - state.ref_log
                if not state.return_low <= ret <= state.return_high:
                    return self._judge_return(
                        state,
                        record,
                        name=name,
                        kind=kind,
                        price=price,
                        log_price=log_price,
                        ret=ret,
                        events=events,
                    )
                state.returns.append(ret)  # cut back to the window on refresh
                state.returns_countdown -= 1
                if not state.returns_countdown:
                    self._refresh_returns(state)
                state.pending_count = 0
            state.ref_price = price
            state.ref_log = log_price

        self._accepted += 1
        result = _new(CleanResult)  # CleanResult(ACCEPT, record, events), without a call
        result.action = ACCEPT
        result.record = record
        result.events = events
        return result

    # -- rare paths --------------------------------------------------------------------------

    def _new_feed(self, key: FeedKey, record: Record) -> _FeedState:
        """A new feed's state, stored last in the LRU order (the least recent one forgotten
        first when ``max_keys`` are tracked), with the feed's trading calendar."""
        feeds = self._feeds
        if len(feeds) >= self.max_keys:
            feeds.popitem(last=False)
            self.evicted_feeds += 1
        calendar = self._calendar_map.for_record(record)
        state = feeds[key] = _FeedState(
            self, None if calendar.always_open else calendar, hashed=type(record) is Tick
        )
        return state

    def _age_ring(self, state: _FeedState, newest: float) -> None:
        """Forget a price feed's fingerprints up to its ring's mark (each remembered while the
        feed's newest was at most the marked one's timestamp, which is now more than the
        horizon behind ``newest``), and mark the newest one."""
        ring = state.fingerprint_ring
        assert isinstance(ring, array)  # only a price feed's ring ages (see _adopt)
        end = state.ring_mark
        if end:
            seen = state.fingerprints
            if seen is not None:  # it holds the ring's last dedupe_window, all distinct
                for fingerprint in ring[max(0, len(ring) - self.dedupe_window) : end]:
                    seen.discard(fingerprint)
            del ring[:end]
        state.ring_mark = len(ring)
        state.ring_since = newest
        state.ring_until = newest + self._ring_horizon()

    def _ring_horizon(self) -> float:
        """How far behind the newest a price feed's remembered tick may fall: never less than
        ``reorder_tolerance_s``, so a tick that can still be accepted is always checked."""
        return max(self.dedupe_horizon_s, self.reorder_tolerance_s)

    def _cut(self, state: _FeedState, keep: int) -> None:
        """Forget all but the last ``keep`` fingerprints of a price feed's ring (an array)."""
        ring = state.fingerprint_ring
        if len(ring) > keep:
            forgotten = len(ring) - keep
            del ring[:forgotten]  # type: ignore[arg-type]  # an array (a deque is not cut)
            state.ring_mark = max(0, state.ring_mark - forgotten)

    def _remember(self, state: _FeedState, seen: set[Hashable], fingerprint: Hashable) -> None:
        """Append ``fingerprint`` (already in ``seen``) to a feed's ring, forgetting the oldest
        remembered one (in the ring and the set) once ``dedupe_window`` are remembered."""
        ring = state.fingerprint_ring
        window = self.dedupe_window
        if len(ring) >= window:
            seen.discard(ring[-window])
        ring.append(fingerprint)  # type: ignore[arg-type]  # a price feed's is an int
        if len(ring) >= self._ring_cut:  # only an array grows that long
            self._cut(state, window)

    def _duplicate(self, record: Record, *, name: str, kind: str, price: float) -> CleanResult:
        counts = self._counts
        counts[DROP_DUPLICATE] += 1
        counts[DUPLICATE] += 1
        event = FeedEvent(DUPLICATE, name, kind, record.timestamp, price=price or None)
        return CleanResult(DROP_DUPLICATE, record, (event,))

    def _behind(
        self,
        state: _FeedState,
        seen: set[Hashable],
        record: Record,
        fingerprint: Hashable,
        *,
        name: str,
        kind: str,
        price: float,
    ) -> CleanResult:
        """A record older than the newest of its feed (its fingerprint just added to ``seen``,
        the feed's set)."""
        ts = record.timestamp
        newest = state.newest_ts
        lag_s = newest - ts
        if lag_s > self.reorder_tolerance_s:
            seen.discard(fingerprint)  # late records are not remembered
            counts = self._counts
            counts[REJECT_LATE] += 1
            counts[LATE] += 1
            event = FeedEvent(LATE, name, kind, ts, previous_timestamp=newest, lag_s=lag_s)
            return CleanResult(REJECT_LATE, record, (event,))
        self._remember(state, seen, fingerprint)
        return self._out_of_order(
            state, record, name=name, kind=kind, price=price, newest=newest, lag_s=lag_s
        )

    def _judge_return(
        self,
        state: _FeedState,
        record: Record,
        *,
        name: str,
        kind: str,
        price: float,
        log_price: float,
        ret: float,
        events: tuple[FeedEvent, ...],
    ) -> CleanResult:
        """Step 4 of clean in full, for an in-order return that may be a spike."""
        scale = state.return_scale
        z = (ret - state.return_median) / scale if scale > 0.0 else 0.0
        spike_z = self.spike_z
        if (z > spike_z or z < -spike_z) and state.returns_countdown < self.refresh_every:
            # The statistics are stale: bring them up to date before condemning it.
            self._refresh_returns(state)
            z = (ret - state.return_median) / state.return_scale
        # Every in-order return joins the window, spikes included: leaving them out would
        # shrink the MAD after each spike until ordinary moves look like spikes.
        state.returns.append(ret)
        state.returns_countdown -= 1
        if not state.returns_countdown:
            self._refresh_returns(state)
        if z > spike_z or z < -spike_z:
            return self._spike(
                state,
                record,
                name=name,
                kind=kind,
                price=price,
                log_price=log_price,
                z=z,
                events=events,
            )
        state.pending_count = 0
        state.ref_price = price
        state.ref_log = log_price
        self._accepted += 1
        return CleanResult(ACCEPT, record, events)

    def _out_of_order(
        self,
        state: _FeedState,
        record: Record,
        *,
        name: str,
        kind: str,
        price: float,
        newest: float,
        lag_s: float,
    ) -> CleanResult:
        counts = self._counts
        counts[OUT_OF_ORDER] += 1
        late = FeedEvent(
            OUT_OF_ORDER, name, kind, record.timestamp, previous_timestamp=newest, lag_s=lag_s
        )
        scale = state.return_scale
        if price > 0.0 and state.ref_price > 0.0 and scale > 0.0:
            z = (math.log(price) - state.ref_log - state.return_median) / scale
            if z > self.spike_z or z < -self.spike_z:
                counts[QUARANTINE] += 1
                counts[SPIKE] += 1
                spike = FeedEvent(
                    SPIKE,
                    name,
                    kind,
                    record.timestamp,
                    z=z,
                    price=price,
                    reference_price=state.ref_price,
                )
                return CleanResult(QUARANTINE, record, (late, spike))
        self._accepted += 1
        return CleanResult(ACCEPT, record, (late,))

    def _spike(
        self,
        state: _FeedState,
        record: Record,
        *,
        name: str,
        kind: str,
        price: float,
        log_price: float,
        z: float,
        events: tuple[FeedEvent, ...],
    ) -> CleanResult:
        counts = self._counts
        if (
            state.pending_count
            and abs(log_price - state.pending_log) <= self.spike_z * state.return_scale
        ):
            state.pending_count += 1
        else:
            state.pending_count = 1
        state.pending_log = log_price
        reference_price = state.ref_price
        if state.pending_count >= self.level_shift_ticks:
            self._accepted += 1
            counts[LEVEL_SHIFT] += 1
            shift = FeedEvent(
                LEVEL_SHIFT,
                name,
                kind,
                record.timestamp,
                z=z,
                price=price,
                reference_price=reference_price,
                count=state.pending_count,
            )
            state.ref_price = price
            state.ref_log = log_price
            state.pending_count = 0
            return CleanResult(ACCEPT, record, (*events, shift))
        counts[QUARANTINE] += 1
        counts[SPIKE] += 1
        spike = FeedEvent(
            SPIKE,
            name,
            kind,
            record.timestamp,
            z=z,
            price=price,
            reference_price=reference_price,
        )
        return CleanResult(QUARANTINE, record, (*events, spike))

    def _still_a_gap(self, state: _FeedState, interval: float) -> bool:
        """Whether ``interval`` is a gap against up-to-date cadence statistics."""
        if state.intervals_countdown < self.refresh_every:
            self._refresh_cadence(state)
        return interval > state.cadence_threshold_s

    def _refresh_cadence(self, state: _FeedState) -> None:
        state.intervals_countdown = self.refresh_every
        intervals = state.intervals
        del intervals[: -self.cadence_window]
        values = sorted(intervals)
        cadence = values[round(self.cadence_quantile * (len(values) - 1))]
        state.cadence_threshold_s = max(self.min_gap_s, self.gap_factor * cadence)

    def _refresh_returns(self, state: _FeedState) -> None:
        state.returns_countdown = self.refresh_every
        returns = state.returns
        del returns[: -self.spike_window]
        values = sorted(returns)
        median = _median(values)
        scale = MAD_TO_SIGMA * max(_mad(values, median), self.min_mad)
        state.return_median = median
        state.return_scale = scale
        state.return_low, state.return_high = _bounds(median, scale, self.spike_z)


def _bounds(median: float, scale: float, spike_z: float) -> tuple[float, float]:
    """Returns ``r`` with ``low <= r <= high`` have ``abs((r - median) / scale) <= spike_z``.

    What clean's common case tests instead of the z-score (two comparisons). The interval is
    narrowed by a margin far above the rounding of either computation, so a return inside it
    is certainly no spike; one outside it (or NaN) is judged by the z-score itself
    (``_judge_return``), which decides exactly as before. Without statistics (``scale`` 0) or
    with spike detection off (``spike_z`` infinite) nothing is a spike: no bounds. With a
    median or width that is not finite (only from hand-made records with infinite prices) the
    interval is empty, so the z-score judges every return.
    """
    if not scale > 0.0 or spike_z == math.inf:
        return -math.inf, math.inf
    width = spike_z * scale
    if not (_isfinite(width) and _isfinite(median)):
        return math.inf, -math.inf
    margin = 1e-9 * (width + abs(median))
    return median - width + margin, median + width - margin


def _mad(values: list[float], median: float) -> float:
    """The median absolute deviation of sorted ``values`` from their ``median``, leaving out the
    values equal to it (0.0 if that leaves none).

    Returns exactly equal to the median are left out: on a discrete price grid most returns are
    often exactly 0, which would make the MAD 0 and every tick a spike.

    The deviations of the values below the median, read downwards, and of those above it, read
    upwards, are two ascending runs, so the middle of their union is found by bisection instead
    of building and sorting the list of deviations. The result is the same bit for bit:
    ``median - v`` is ``abs(v - median)`` exactly (rounding is symmetric) and both runs are
    monotone. A NaN or an infinity (only from a hand-made record with an infinite price) breaks
    the order, so then the deviations are sorted after all.
    """
    n = len(values)
    if not _isfinite(sum(values)):
        deviations = sorted([abs(v - median) for v in values if v != median])
        return _median(deviations) if deviations else 0.0
    below = _bisect_left(values, median)  # values[:below] < median: deviations median - v
    above = _bisect_right(values, median)  # values[above:] > median: deviations v - median
    count = below + n - above
    if not count:
        return 0.0
    # The rank+1 smallest deviations are the `taken` nearest values below the median and the
    # rank+1-taken nearest above it, for the taken found by bisection.
    rank = (count - 1) // 2
    low = max(0, rank + 1 - (n - above))
    high = min(rank + 1, below)
    while low < high:
        taken = (low + high) // 2
        if median - values[below - 1 - taken] < values[above + rank - taken] - median:
            low = taken + 1
        else:
            high = taken
    taken = low
    rest = rank + 1 - taken
    middle = -math.inf  # the rank-th smallest deviation: the larger of the last ones taken
    if taken:
        middle = median - values[below - taken]
    if rest and values[above + rest - 1] - median > middle:
        middle = values[above + rest - 1] - median
    if count % 2:
        return 0.5 * (middle + middle)
    following = math.inf  # the next one: the smaller of the first ones not taken
    if taken < below:
        following = median - values[below - 1 - taken]
    if above + rest < n and values[above + rest] - median < following:
        following = values[above + rest] - median
    return 0.5 * (middle + following)


_PICKLED_SLOTS: Final = tuple(
    name
    for name in DataCleaner.__slots__
    if name not in ("_calendar_map", "_last_kind", "_last_name", "_last_state", "_ring_cut")
)
_CONFIG_FIELDS: Final = tuple(f.name for f in fields(CleanerConfig))
