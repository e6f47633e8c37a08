"""data-feeds: live market feeds in, validated ticks, incremental indicators and online signals out."""

__version__ = "0.1.0"
