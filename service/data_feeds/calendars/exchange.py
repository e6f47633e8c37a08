"""Exchange sessions from ``exchange_calendars``: holidays, early closes and lunch breaks.

``exchange_calendars`` (the calendars zipline and many backtesters use) knows about a hundred
exchanges by MIC (``XNYS``, ``XNAS``, ``XLON``, ``XTKS``...). It imports pandas, so it is loaded
only when a feed follows an exchange calendar. Sessions are taken from ``START`` (or the
calendar's own earliest date) to the library's default end, a year ahead.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy

from data_feeds.calendars.base import Sessions

START = "1990-01-01"


def _library() -> Any:
    with warnings.catch_warnings():  # see exchange_sessions
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        import exchange_calendars  # noqa: PLC0415 - pandas: only when an exchange is used

    return exchange_calendars


def exchange_names() -> set[str]:
    """Every name ``exchange_calendars`` knows (MICs and aliases)."""
    return set(_library().get_calendar_names(include_aliases=True))


def exchange_sessions(name: str) -> Sessions:
    """The open intervals of exchange ``name``: each session, split at its break if any."""
    xc = _library()
    with warnings.catch_warnings():
        # the library's own use of pandas APIs that newer pandas deprecates: its business
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            cal = xc.get_calendar(name, start=START)
        except ValueError:  # the calendar starts later than START
            cal = xc.get_calendar(name)
        opens, closes = _seconds(cal.opens), _seconds(cal.closes)
        break_starts, break_ends = _seconds(cal.break_starts), _seconds(cal.break_ends)
    starts: list[float] = []
    ends: list[float] = []
    for o, c, bs, be in zip(opens, closes, break_starts, break_ends, strict=True):
        if not (math.isnan(bs) or math.isnan(be)):  # a lunch break
            starts += (o, be)
            ends += (bs, c)
        else:
            starts.append(o)
            ends.append(c)
    return Sessions(name, starts, ends)


def _seconds(column: Any) -> list[float]:
    """A pandas column of UTC datetimes as epoch seconds (NaN where NaT)."""
    values = column.to_numpy(dtype="datetime64[ns]")
    out = values.astype("int64") / 1e9
    out[numpy.isnat(values)] = math.nan
    return [float(x) for x in out]
