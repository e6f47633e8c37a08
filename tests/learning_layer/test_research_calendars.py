"""Feeds of markets that close: daily NYSE closes and hourly FX bars over weeks with weekends
and holidays report no gap for the closed periods and do report an outage while open; the
report names the calendar each feed was judged by."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime

from data_feeds.cache.db_connector import DBConnector
from data_feeds.learning_layer import ResearchEngine
from data_feeds.records import Tick
from tests.calendars.market_hours import UTC, fx_hour_closes, nyse_days

OUTAGE_DAYS = {date(2025, 1, 13), date(2025, 1, 14), date(2025, 1, 15)}
"""Trading days with no close in the equity series (a broken feed, not a closed market)."""
FX_OUTAGE = (date(2024, 11, 20), 6)
"""A Wednesday from 10:00 UTC, for six hours: no FX bars."""


def daily_stamp(day: date) -> float:
    """Where a date-only daily candle lands: its close time, the next midnight UTC (the
    readers' convention: open time + one day)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + 86_400.0


def store_series(db: DBConnector) -> tuple[list[float], list[float]]:
    """SPY's daily candles (Nov 2024 - Jan 2025, the outage left out) and EURUSD's hourly
    bars (Oct - Dec 2024, six hours left out); both lists of timestamps stored."""
    days = [d for d in nyse_days(date(2024, 11, 1), date(2025, 1, 31)) if d not in OUTAGE_DAYS]
    spy = [daily_stamp(d) for d in days]
    db.store_many(
        Tick("SPY", 500.0 * math.exp(0.001 * math.sin(i)), 1e6, t, "equity")
        for i, t in enumerate(spy)
    )
    cut = FX_OUTAGE[0]
    start = datetime(cut.year, cut.month, cut.day, 10, tzinfo=UTC).timestamp()
    fx = [
        t
        for t in fx_hour_closes(date(2024, 10, 1), date(2024, 12, 31))
        if not start < t <= start + FX_OUTAGE[1] * 3600
    ]
    db.store_many(
        Tick("EURUSD", 1.08 * math.exp(0.0002 * math.sin(i)), 0.0, t, "fx")
        for i, t in enumerate(fx)
    )
    return spy, fx


def test_closed_markets_are_not_gaps_and_an_outage_while_open_is(db: DBConnector) -> None:
    spy, fx = store_series(db)
    assert len(fx) > 1000
    report = ResearchEngine(db).analyze_feed_behavior()
    equity = report.feed("equity_price:SPY")
    assert equity.calendar == "XNYS" and equity.regular
    assert equity.messages == len(spy)
    assert [(g.start, g.end) for g in equity.gaps] == [
        (daily_stamp(date(2025, 1, 10)), daily_stamp(date(2025, 1, 16)))
    ]
    assert equity.gaps[0].duration_s == 4 * 6.5 * 3600  # open time, not six calendar days
    hourly = report.feed("fx_price:EURUSD")
    assert hourly.calendar == "fx" and hourly.regular
    assert hourly.gap_count == 1
    assert hourly.gaps[0].duration_s == 7 * 3600
    table = report.to_table()
    assert "XNYS" in table and "fx" in table


def test_judged_in_wall_time_every_weekend_would_be_a_gap(db: DBConnector) -> None:
    """The same series with both markets taken as always open: the weekends and holidays are
    reported, which is what the calendars spare."""
    store_series(db)
    always = replace(db.settings.cleaner, calendars=(("equity", "24/7"), ("fx", "24/7")))
    report = ResearchEngine(db).analyze_feed_behavior(cleaner_config=always)
    assert report.feed("equity_price:SPY").calendar == "24/7"
    assert report.feed("equity_price:SPY").gap_count >= 12  # every weekend of 13 weeks
    assert report.feed("fx_price:EURUSD").gap_count >= 12
