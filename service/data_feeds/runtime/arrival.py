"""ArrivalMerge: entries read from several streams, released in arrival order.

Pure and synchronous (no Redis): the live read (``StreamConsumer.read``) and the replay after
a restore (``Checkpointer.replay``) both feed it pages and process what it releases, so the
two put entries in one order by one rule.

Why a merge: one read returns up to ``page`` entries *per stream*, and streams run at
different rates; on a backlog 500 book entries may reach further in time than 500 ticks.
Processing them together would apply the future of one stream before the past of another. So
each round works like a k-way merge over the streams' pages:

- a stream whose page came back full may hold more; it is *open* up to its last entry's
  arrival, and so is a stream not read this round because ``page`` of its entries are held;
- the watermark is the earliest of those arrivals; entries up to it are released, later ones
  are held (still pending in Redis) for the next round;
- a round with no open stream (every stream caught up, or time moved on) releases
  everything held. A round that added nothing but has a stream left out still releases only
  up to that stream's newest entry, which makes it readable again: the merge never lets one
  stream's future pass another's unread past, and always makes progress.

Arrival is the entry id's millisecond (the server's clock when the entry was added); a stable
sort keeps each stream's own order within a millisecond.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from data_feeds.checks import check_int
from data_feeds.runtime.pipeline import RawEntry
from data_feeds.timestamps import entry_ms


def arrival_ms(item: RawEntry) -> int:
    """Sort key putting entries from several streams in arrival order (entry id time)."""
    return entry_ms(item[1])


def by_arrival(entries: Iterable[RawEntry]) -> list[RawEntry]:
    """Entries gathered stream by stream, in arrival order (a stable sort)."""
    return sorted(entries, key=arrival_ms)


class ArrivalMerge:
    """Holds entries read past the watermark; one round is ``readable`` -> ``add`` -> ``release``.

    ``page``: the most entries one read returns per stream (a full page may mean more).
    """

    def __init__(self, page: int) -> None:
        self.page = check_int("page", page)
        self._held: list[RawEntry] = []
        self._limits: list[int] = []

    def readable(self, streams: Iterable[str]) -> list[str]:
        """Start a round: the streams to read (those with fewer than ``page`` entries held).

        A stream left out is known up to its newest held entry: it counts as open."""
        waiting = Counter(e[0] for e in self._held)
        newest = {e[0]: arrival_ms(e) for e in self._held}  # held is in arrival order
        self._limits = [ms for k, ms in newest.items() if waiting[k] >= self.page]
        return [k for k in streams if waiting[k] < self.page]

    def add(self, stream: str, entries: Sequence[tuple[bytes, object]]) -> None:
        """One stream's page of ``(entry id, fields)``, in id order."""
        if not entries:
            return
        self._held.extend((stream, i, f) for i, f in entries)  # type: ignore[misc]
        if len(entries) >= self.page:  # this stream may hold more
            self._limits.append(entry_ms(entries[-1][0]))

    def release(self) -> list[RawEntry]:
        """End the round: the entries up to the watermark, in arrival order."""
        held = self._held
        held.sort(key=arrival_ms)
        if not self._limits:  # caught up, or time moved on
            self._held = []
            return held
        watermark = min(self._limits)
        n = next((i for i, e in enumerate(held) if arrival_ms(e) > watermark), len(held))
        self._held = held[n:]
        return held[:n]

    def take_all(self) -> list[RawEntry]:
        """Everything held, in arrival order (at shutdown); the merge is left empty."""
        held, self._held = by_arrival(self._held), []
        return held

    def clear(self) -> None:
        """Forget what is held (it is still pending in Redis and comes back on a redrain)."""
        self._held = []

    def held_ids(self, stream: str) -> set[bytes]:
        """The ids held for one stream (read by this consumer, only waiting their turn)."""
        return {e[1] for e in self._held if e[0] == stream}

    def __len__(self) -> int:
        return len(self._held)
