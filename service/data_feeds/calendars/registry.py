"""Calendars by name (built once per process), and which one a feed follows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Final

from data_feeds.calendars.base import AlwaysOpen, TradingCalendar
from data_feeds.calendars.exchange import exchange_names, exchange_sessions
from data_feeds.calendars.fx import fx_week
from data_feeds.records import Record, Sentiment

ALWAYS_OPEN: Final = "24/7"
FX: Final = "fx"
DEFAULTS: Final[Mapping[str, str]] = {"crypto": ALWAYS_OPEN, "fx": FX, "equity": "XNYS"}
"""The calendar of each asset class unless the configured map says otherwise."""


@cache
def calendar(name: str) -> TradingCalendar:
    """The calendar called ``name`` (see the package doc); ``ValueError`` for an unknown one."""
    if name == ALWAYS_OPEN:
        return AlwaysOpen(name)
    if name == FX:
        return fx_week(name)
    if name not in exchange_names():
        raise ValueError(
            f"unknown trading calendar {name!r}: {ALWAYS_OPEN}, {FX} or an exchange_calendars "
            "name such as XNYS, XNAS, XLON"
        )
    return exchange_sessions(name)


def check_name(name: str) -> str:
    """``name`` if it names a calendar (``24/7``, ``fx`` and exchange names, without loading the
    exchange's sessions); ``ValueError`` otherwise."""
    if name in (ALWAYS_OPEN, FX) or name in exchange_names():
        return name
    calendar(name)  # raises with the message
    return name


class CalendarMap:
    """Which calendar each feed follows: ``pairs`` map a symbol or an asset class to a calendar
    name; a symbol's entry wins over its asset class's, which wins over ``DEFAULTS``."""

    __slots__ = ("_chosen", "pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.pairs = tuple(pairs)
        self._chosen = {**DEFAULTS, **dict(self.pairs)}

    def name_for(self, asset_class: str, symbol: str) -> str:
        chosen = self._chosen
        return chosen.get(symbol) or chosen.get(asset_class) or ALWAYS_OPEN

    def for_feed(self, asset_class: str, symbol: str) -> TradingCalendar:
        """The calendar of a feed (loaded on first use)."""
        return calendar(self.name_for(asset_class, symbol))

    def for_record(self, record: Record) -> TradingCalendar:
        """The calendar of a record's feed (sentiment: always open)."""
        if isinstance(record, Sentiment):
            return calendar(ALWAYS_OPEN)
        return self.for_feed(record.asset_class, record.symbol)

    def __reduce__(self) -> tuple[type[CalendarMap], tuple[tuple[tuple[str, str], ...]]]:
        return (CalendarMap, (self.pairs,))
