"""data-feeds: live market feeds in; validated ticks, incremental indicators, online signals out."""

__version__ = "0.1.0"
