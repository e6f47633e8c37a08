"""Trading calendars: when a market is open, so that silence while it is closed is not a gap.

A feed's calendar turns wall time into open-market time: ``open_seconds(start, end)`` is how
many seconds of ``[start, end]`` the market was open. The cleaner measures a feed's silences
and learns its cadence in open seconds (``validation.cleaner``), and research classifies and
reports feeds the same way (``learning_layer.research``), so a weekend, a holiday or a night is
not a broken feed, and an outage inside open hours still is.

=============  ==============================================================================
name           when open
=============  ==============================================================================
``24/7``       always (crypto): the cleaner's fast path, no calendar at all
``fx``         Sunday 17:00 to Friday 17:00 New York time (DST followed), every week
an exchange    its sessions from ``exchange_calendars``: ``XNYS``, ``XNAS``, ``XLON``, ``XTKS``
               ... (``exchange_calendars.get_calendar_names()``), with holidays, early closes
               and lunch breaks; loaded on first use (it brings pandas, about a second)
=============  ==============================================================================

Which calendar a feed follows (``CalendarMap``): its symbol's entry in the configured map, else
its asset class's, else the default of its asset class (``DEFAULTS``: crypto ``24/7``, fx
``fx``, equity ``XNYS``), else ``24/7``. The map is ``CleanerConfig.calendars``, from
``DATA_FEEDS_CALENDARS`` (``equity=XNYS,AAPL=XNAS,fx=fx``), so the service, training, the
backtest and research all judge a feed by the same calendar.

Modules: ``base`` (``TradingCalendar``, ``Sessions``: open time from sorted open intervals),
``fx``, ``exchange``, ``registry`` (names to calendars, cached; ``CalendarMap``).
"""

from data_feeds.calendars.base import TradingCalendar
from data_feeds.calendars.registry import ALWAYS_OPEN, DEFAULTS, CalendarMap, calendar

__all__ = ["ALWAYS_OPEN", "DEFAULTS", "CalendarMap", "TradingCalendar", "calendar"]
