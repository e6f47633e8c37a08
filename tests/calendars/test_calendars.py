"""Trading calendars: open-market time across nights, weekends, holidays, early closes and
lunch breaks; which calendar a feed follows; calendars kept by name in checkpoints."""

from __future__ import annotations

import pickle
from datetime import date, datetime
from itertools import pairwise

import pytest

from data_feeds.calendars import CalendarMap, calendar
from data_feeds.calendars.base import Sessions
from data_feeds.errors import ConfigError
from data_feeds.records import Sentiment, Tick
from data_feeds.settings import Settings
from tests.calendars.market_hours import fx_hour_closes, nyse_close, nyse_days

H = 3600.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_nyse_open_time_skips_nights_weekends_holidays_and_counts_early_closes() -> None:
    xnys = calendar("XNYS")
    # Friday 20 Dec to Friday 27 Dec 2024 (UTC midnights): Fri, Mon, Tue (early close), Thu
    assert xnys.open_seconds(at("2024-12-20T00:00+00:00"), at("2024-12-27T00:00+00:00")) == (
        3 * 6.5 * H + 3.5 * H
    )
    assert not xnys.is_open(at("2024-12-25T15:00+00:00"))  # Christmas
    assert xnys.is_open(at("2024-12-24T15:00+00:00"))
    assert not xnys.is_open(at("2024-12-24T19:00+00:00"))  # after the early close
    # one close to the next trading day's close is one session, whatever lies between
    days = nyse_days(date(2024, 11, 1), date(2025, 1, 31))
    lengths = {xnys.open_seconds(nyse_close(a), nyse_close(b)) for a, b in pairwise(days)}
    assert lengths == {6.5 * H, 3.5 * H}


def test_a_lunch_break_is_closed_time() -> None:
    xhkg = calendar("XHKG")  # 09:30-12:00 and 13:00-16:00 Hong Kong
    assert xhkg.open_seconds(at("2024-03-04T00:00+00:00"), at("2024-03-05T00:00+00:00")) == (
        5.5 * H
    )
    assert not xhkg.is_open(at("2024-03-04T12:30+08:00"))


def test_the_fx_week_closes_from_friday_to_sunday_5_pm_new_york() -> None:
    fx = calendar("fx")
    # Friday 16:00 to Sunday 18:00 New York, in winter and in summer (DST)
    assert fx.open_seconds(at("2024-01-05T16:00-05:00"), at("2024-01-07T18:00-05:00")) == 2 * H
    assert fx.open_seconds(at("2024-07-05T16:00-04:00"), at("2024-07-07T18:00-04:00")) == 2 * H
    assert not fx.is_open(at("2024-01-06T12:00+00:00"))
    closes = fx_hour_closes(date(2024, 10, 1), date(2024, 12, 1))
    assert {fx.open_seconds(a, b) for a, b in pairwise(closes)} == {H}


def test_time_outside_a_calendars_range_counts_as_open() -> None:
    cal = Sessions("two", [100.0, 300.0], [200.0, 400.0])
    assert cal.open_seconds(0.0, 500.0) == 100 + 100 + 100 + 100  # before, in, in, after
    assert cal.open_seconds(150.0, 350.0) == 50 + 50
    assert cal.is_open(50.0) and not cal.is_open(250.0)


def test_which_calendar_a_feed_follows() -> None:
    """A symbol's entry wins over its asset class's, which wins over the defaults."""
    m = CalendarMap((("equity", "XNAS"), ("SPY", "XNYS")))
    assert m.name_for("equity", "SPY") == "XNYS"
    assert m.name_for("equity", "AAPL") == "XNAS"
    assert m.name_for("fx", "EURUSD") == "fx"
    assert m.name_for("crypto", "BTCUSDT") == "24/7"
    assert m.name_for("commodity", "GOLD") == "24/7"
    assert m.for_record(Sentiment("SPY", 0.5, 1.0)).name == "24/7"
    assert m.for_record(Tick("SPY", 1.0, 1.0, 1.0, "equity")).name == "XNYS"


def test_calendars_pickle_by_name() -> None:
    xnys = calendar("XNYS")
    blob = pickle.dumps(xnys)
    assert len(blob) < 200 and pickle.loads(blob) is xnys


def test_a_bad_calendar_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"DATA_FEEDS_CALENDARS.*unknown trading calendar 'XXXX'"):
        Settings.from_env({"DATA_FEEDS_CALENDARS": "equity=XXXX"})
    settings = Settings.from_env({"DATA_FEEDS_CALENDARS": "equity=XNAS,spy=XNYS,BRK-B=XNYS"})
    # lower case: an asset class; otherwise a symbol, spelled as stream keys spell it
    assert settings.cleaner.calendars == (("equity", "XNAS"), ("spy", "XNYS"), ("BRKB", "XNYS"))
