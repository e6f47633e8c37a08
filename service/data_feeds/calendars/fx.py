"""The FX week: open from Sunday 17:00 to Friday 17:00, New York time.

The interbank market trades around the clock from the Sydney open to the New York close; its
week is conventionally Sunday 17:00 to Friday 17:00 America/New_York (daylight saving time
followed, so 22:00 or 21:00 UTC). No holidays are modelled: liquidity thins on them, but major
pairs still quote.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from data_feeds.calendars.base import Sessions

NEW_YORK = ZoneInfo("America/New_York")
FIRST_YEAR = 1970
LAST_YEAR = 2100


def fx_week(name: str = "fx") -> Sessions:
    """One session per week, Sunday 17:00 to Friday 17:00 New York, 1970 to 2100."""
    sunday = datetime(FIRST_YEAR, 1, 4, 17, tzinfo=NEW_YORK)  # 1970-01-04 was a Sunday
    starts, ends = [], []
    while sunday.year <= LAST_YEAR:
        friday = sunday + timedelta(days=5)  # wall-clock arithmetic: DST is applied on each
        starts.append(sunday.timestamp())
        ends.append(friday.timestamp())
        sunday += timedelta(days=7)
    return Sessions(name, starts, ends)
