"""The one processing order: entries of many streams, in arrival order.

Every path that turns stored entries into state processes them in this order: the live
consumer (``runtime.consumer``), the replay after a restart (``runtime.checkpointer``), the
training datasets (``TrainingModule.prepare_dataset``), the research report and the signal
evaluation (all through ``DBConnector.backfill_entries``). So the features a model is trained
on are bitwise the features the service computes live (docs/processing_order.md).

**Arrival order** is the order of ``arrival_key(stream, entry_id)`` =
``(ms, stream, seq)`` for an entry id ``<ms>-<seq>``: by the Redis server's clock when the
entry was appended; within one millisecond, streams by name, each in its own order. Features
use what had arrived when the tick arrived, which is what a live system can know; an entry's
event timestamp never reorders it (a late record is the cleaner's business, in every path
alike).

**The live merge** (``ArrivalMerge``) releases an entry only once no entry with a smaller key
can still come. Redis gives every new entry an id of at least the server's time (auto ids),
so a read whose page was not full has delivered, for its streams, every entry below the
server's time when it ran; a full page (more may follow) bounds its stream by its last entry,
and so does a stream not read because a page of it is held already. Entries up to the
smallest bound are released, the rest held (still pending in Redis) for the next round. The
server's time comes from a ``TIME`` sent before the round's reads: an entry in the newest
millisecond waits until the clock has moved past it (about one millisecond). Replaying a
stored range (``add_range``) needs no clock: an exhausted range is complete.

Entries that arrive below what was already released (a stream discovered late, explicit ids
from an import running beside the service, the server clock stepping back) are processed as
they come and counted in ``late``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from data_feeds.checks import check_int

RawEntry = tuple[str, bytes, Mapping[bytes, bytes] | None]
"""(stream, entry id, fields) as XREADGROUP / XAUTOCLAIM return them (fields None if trimmed)."""

Key = tuple[int, str, int]
"""``(ms, stream, seq)``: an entry's place in arrival order."""

Fetched = Sequence[tuple[bytes, Any]]
"""One stream's page of ``(entry id, fields)``, in id order."""


def arrival_key(stream: str, entry_id: bytes | str) -> Key:
    """An entry's place in arrival order: ``(ms, stream, seq)`` of its id ``<ms>-<seq>``."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = raw.partition("-")
    return int(ms), stream, int(seq or 0)


def _key(item: RawEntry) -> Key:
    return arrival_key(item[0], item[1])


def _first(pair: tuple[Key, RawEntry]) -> Key:
    return pair[0]


def by_arrival(entries: Iterable[RawEntry]) -> list[RawEntry]:
    """Entries gathered stream by stream, in arrival order."""
    return sorted(entries, key=_key)


def _after(key: Key) -> Key:
    """The smallest key after ``key`` in the same stream."""
    return key[0], key[1], key[2] + 1


class ArrivalMerge:
    """Holds entries read ahead of what may be released; a round is ``readable``, then
    ``add_read`` (live) or ``add_range`` (stored ranges) per read, then ``release``.

    ``page``: the most entries one read returns per stream (a full page may mean more).
    Each held entry keeps its key, parsed once when it is held.
    """

    def __init__(self, page: int) -> None:
        self.page = check_int("page", page)
        self._held: list[tuple[Key, RawEntry]] = []
        self._bounds: list[Key] = []
        """This round's exclusive bounds: nothing below the smallest can still come."""
        self._released: Key | None = None
        self.late = 0
        """Entries that arrived below what had been released already."""

    def readable(self, streams: Iterable[str]) -> list[str]:
        """Start a round: the streams to read (those with fewer than ``page`` entries held).

        A stream left out bounds the round by its newest held entry."""
        waiting: Counter[str] = Counter()
        newest: dict[str, Key] = {}
        for key, _ in self._held:
            stream = key[1]
            waiting[stream] += 1
            if stream not in newest or key > newest[stream]:
                newest[stream] = key
        self._bounds = [_after(k) for s, k in newest.items() if waiting[s] >= self.page]
        return [s for s in streams if waiting[s] < self.page]

    def add_read(
        self, streams: Iterable[str], reply: Mapping[str, Fetched], server_ms: int
    ) -> None:
        """What one XREADGROUP over ``streams`` returned (``reply``: stream -> page; streams
        with nothing new may be absent). ``server_ms``: the server's time, in ms, at or
        before the read ran (a TIME sent before it, and before the streams were counted).

        Only that time completes the streams, not the ids the read returned: an id can be
        ahead of the clock (explicit ids), and a stream created after the TIME is not among
        ``streams``."""
        complete_below: Key = (server_ms, "", -1)  # every key with ms >= server_ms is above it
        for stream in streams:
            entries = reply.get(stream, ())
            last = self._hold(stream, entries)
            if len(entries) >= self.page and last is not None:  # more may follow its last
                self._bounds.append(_after(last))
            else:
                self._bounds.append(complete_below)

    def add_range(self, stream: str, entries: Fetched, *, exhausted: bool) -> None:
        """One page of a stored range; ``exhausted``: the range has nothing after it."""
        last = self._hold(stream, entries)
        if not exhausted and last is not None:
            self._bounds.append(_after(last))

    def release(self) -> list[RawEntry]:
        """End the round: the entries no earlier entry can still precede, in arrival order."""
        held = self._held
        held.sort(key=_first)
        n = len(held)
        if self._bounds:
            bound = min(self._bounds)
            n = next((i for i, (key, _) in enumerate(held) if key >= bound), n)
        if n:
            self._released = held[n - 1][0]
        out = [entry for _, entry in held[:n]]
        self._held = held[n:]
        return out

    def hold(self, entries: Iterable[RawEntry]) -> None:
        """Entries delivered again (read before an outage): released in their place by the
        next rounds' bounds."""
        for stream, entry_id, fields in entries:
            self._hold(stream, [(entry_id, fields)])

    def first_held_ms(self) -> int | None:
        """The millisecond of the earliest entry held (``None`` when nothing is)."""
        return min((key[0] for key, _ in self._held), default=None)

    def take_all(self) -> list[RawEntry]:
        """Everything held, in arrival order (at shutdown); the merge is left empty."""
        held, self._held = sorted(self._held, key=_first), []
        return [entry for _, entry in held]

    def clear(self) -> None:
        """Forget what is held (it is still pending in Redis and comes back on a redrain)."""
        self._held = []

    def held_ids(self, stream: str) -> set[bytes]:
        """The ids held for one stream (read by this consumer, only waiting their turn)."""
        return {e[1] for _, e in self._held if e[0] == stream}

    def _hold(self, stream: str, entries: Fetched) -> Key | None:
        """Hold one stream's entries (in id order); the key of the last, if any."""
        if not entries:
            return None
        keyed = [(arrival_key(stream, i), (stream, i, f)) for i, f in entries]
        released = self._released
        if released is not None and keyed[0][0] < released:
            self.late += sum(1 for key, _ in keyed if key < released)
        self._held.extend(keyed)
        return keyed[-1][0]

    def __len__(self) -> int:
        return len(self._held)
