"""Series with market hours, built from rules stated here (not from the calendars under test):
daily NYSE closes and hourly FX bars over weeks with weekends and holidays."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")

NYSE_HOLIDAYS = {
    date(2024, 11, 28),  # Thanksgiving
    date(2024, 12, 25),  # Christmas
    date(2025, 1, 1),  # New Year's Day
    date(2025, 1, 9),  # National Day of Mourning (President Carter)
    date(2025, 1, 20),  # Martin Luther King Jr. Day
}
NYSE_HALF_DAYS = {date(2024, 11, 29), date(2024, 12, 24)}


def nyse_days(first: date, last: date) -> list[date]:
    """NYSE trading days from ``first`` to ``last``: weekdays but the holidays above."""
    out = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in NYSE_HOLIDAYS:
            out.append(day)
        day += timedelta(days=1)
    return out


def nyse_close(day: date) -> float:
    """Epoch seconds of the day's close, 16:00 New York (13:00 on a half day)."""
    hour = 13 if day in NYSE_HALF_DAYS else 16
    return datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK).timestamp()


def fx_hour_closes(first: date, last: date) -> list[float]:
    """The close times of hourly FX bars: each whole hour whose preceding hour is inside the
    FX week (Sunday 17:00 to Friday 17:00 New York)."""
    out = []
    t = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC)
    while t <= end:
        start = (t - timedelta(hours=1)).astimezone(NEW_YORK)
        weekday, hour = start.weekday(), start.hour  # Monday 0 ... Sunday 6
        closed = (weekday == 4 and hour >= 17) or weekday == 5 or (weekday == 6 and hour < 17)
        if not closed:
            out.append(t.timestamp())
        t += timedelta(hours=1)
    return out
