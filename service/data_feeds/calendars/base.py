"""TradingCalendar: open-market time between two instants, from a market's open intervals."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any


class TradingCalendar:
    """When one market is open. ``open_seconds(start, end)`` (epoch seconds) is the part of
    ``[start, end]`` during which it was open; ``is_open(ts)`` whether it is at ``ts``.

    Instances are shared and immutable, and pickle by name (``registry.calendar``), so a
    checkpoint of the cleaner holds the name, not the calendar's tables."""

    name: str = ""
    always_open: bool = False
    """True only for ``24/7``: open time is wall time (the cleaner then skips the calendar)."""

    def open_seconds(self, start: float, end: float) -> float:
        raise NotImplementedError

    def is_open(self, ts: float) -> bool:
        raise NotImplementedError

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        from data_feeds.calendars.registry import calendar  # noqa: PLC0415 - a cycle

        return (calendar, (self.name,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class AlwaysOpen(TradingCalendar):
    """Open all the time (crypto): ``open_seconds(a, b) = b - a``."""

    always_open = True

    def __init__(self, name: str) -> None:
        self.name = name

    def open_seconds(self, start: float, end: float) -> float:
        return end - start

    def is_open(self, ts: float) -> bool:
        return True


class Sessions(TradingCalendar):
    """Open during each ``[starts[i], ends[i])`` (sorted, disjoint).

    With ``F(t)`` the open seconds before ``t``, ``open_seconds(a, b) = F(b) - F(a)``, two
    binary searches: ``F(t) = before[k] + min(t - starts[k], ends[k] - starts[k])`` for the
    last interval ``k`` starting at or before ``t``, where ``before[k]`` sums the lengths of
    the intervals before ``k``. Outside the calendar's range (before its first session or
    after its last) time counts as open, as if the market never closed there: a calendar with
    no knowledge of a period never hides a gap in it.
    """

    def __init__(self, name: str, starts: Sequence[float], ends: Sequence[float]) -> None:
        if not starts or len(starts) != len(ends):
            raise ValueError(f"calendar {name}: no sessions, or starts and ends of unequal length")
        self.name = name
        self.starts = list(starts)
        self.ends = list(ends)
        self.before: list[float] = []
        total = 0.0
        previous_end = -float("inf")
        for s, e in zip(self.starts, self.ends, strict=True):
            if not previous_end <= s < e:
                raise ValueError(f"calendar {name}: sessions overlap or are out of order at {s}")
            self.before.append(total)
            total += e - s
            previous_end = e

    def _open_until(self, t: float) -> float:
        starts = self.starts
        if t < starts[0]:
            return t - starts[0]  # before the range: open (negative: below the first session)
        k = bisect_right(starts, t) - 1
        length = self.ends[k] - starts[k]
        if k == len(starts) - 1 and t > self.ends[k]:
            return self.before[k] + length + (t - self.ends[k])  # after the range: open
        return self.before[k] + min(t - starts[k], length)

    def open_seconds(self, start: float, end: float) -> float:
        return self._open_until(end) - self._open_until(start)

    def is_open(self, ts: float) -> bool:
        starts = self.starts
        if ts < starts[0] or ts > self.ends[-1]:
            return True
        k = bisect_right(starts, ts) - 1
        return k >= 0 and ts < self.ends[k]
