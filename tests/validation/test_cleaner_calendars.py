"""The live cleaner measures silences in a feed's open-market time: a night or a weekend is not
a gap, an outage while the market is open is, and a checkpointed cleaner keeps its calendars."""

from __future__ import annotations

import pickle
from datetime import date, datetime, timedelta

from data_feeds.records import Tick
from data_feeds.validation.cleaner import GAP, DataCleaner
from data_feeds.validation.cleaner_config import CleanerConfig
from tests.calendars.market_hours import NEW_YORK, nyse_days


def minute_bars(days: list[date], skip: tuple[datetime, datetime] | None = None) -> list[Tick]:
    """One tick a minute from 09:31 to 16:00 New York on each day, ``skip`` left out."""
    out = []
    for day in days:
        t = datetime(day.year, day.month, day.day, 9, 31, tzinfo=NEW_YORK)
        close = t.replace(hour=16, minute=0)
        while t <= close:
            if skip is None or not skip[0] <= t < skip[1]:
                out.append(
                    Tick("SPY", 500.0 + (t.minute % 3) * 0.01, 100.0, t.timestamp(), "equity")
                )
            t += timedelta(minutes=1)
    return out


def gaps(cleaner: DataCleaner, ticks: list[Tick]) -> list[tuple[float, float]]:
    out = []
    for tick in ticks:
        for event in cleaner.clean(tick).events:
            if event.type == GAP:
                assert event.gap_s is not None
                out.append((event.timestamp, event.gap_s))
    return out


def test_nights_and_a_weekend_are_not_gaps_and_an_outage_while_open_is() -> None:
    days = nyse_days(date(2024, 12, 5), date(2024, 12, 11))  # Thu, Fri, Mon, Tue, Wed
    outage = (datetime(2024, 12, 10, 11, 0, tzinfo=NEW_YORK),
              datetime(2024, 12, 10, 11, 30, tzinfo=NEW_YORK))  # fmt: skip
    found = gaps(DataCleaner(), minute_bars(days, outage))
    assert found == [(outage[1].timestamp(), 31 * 60.0)]


def test_as_a_24_7_market_every_night_is_a_gap() -> None:
    always = DataCleaner(CleanerConfig(calendars=(("equity", "24/7"),)))
    days = nyse_days(date(2024, 12, 5), date(2024, 12, 11))
    assert len(gaps(always, minute_bars(days))) == len(days) - 1


def test_a_checkpointed_cleaner_keeps_its_feeds_calendars() -> None:
    days = nyse_days(date(2024, 12, 5), date(2024, 12, 9))
    ticks = minute_bars(days)
    cleaner = DataCleaner()
    gaps(cleaner, ticks[:400])
    restored = pickle.loads(pickle.dumps(cleaner))
    assert restored.config == cleaner.config
    # the night after the first day, across the restore: still no gap
    assert gaps(restored, ticks[400:]) == []
