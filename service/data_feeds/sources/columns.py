"""The one rule that maps a table's column names to candles or trades (CSV with a header,
yfinance's multi-row header, Parquet, Feather).

Names are normalized first: blanks around them dropped, lower-cased, runs of spaces,
underscores and dashes folded into one ``_`` (``Adj Close`` -> ``adj_close``,
``__index_level_0__`` -> ``index_level_0``). Then, the first name found of each list wins:

- time: ``timestamp``, ``datetime``, ``date``, ``time``, ``open_time``, ``transact_time``,
  ``index``, ``index_level_0`` (pandas' unnamed index in Parquet), else pandas' index column
  (an empty first name in ``to_csv``; the one the pandas metadata names in Parquet/Feather);
- candles: ``close``, else ``adj_close``; ``volume``/``vol`` (absent: 0);
- trades: ``price`` and a size (``amount``, ``qty``, ``quantity``, ``size``, ``volume``);
  optional: ``side``, a maker flag (``is_buyer_maker``/``buyer_maker``: true means the
  seller was the aggressor), an id (``id``, ``trade_id``, ``tid``, ``agg_trade_id``);
- either: a ``symbol``/``ticker`` column (absent: the file's symbol).

A table with a close is candles, else one with a price and a size is trades, else it is not
mapped and ``unmapped`` says which columns it has and what each kind needs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

TIME: Final = (
    "timestamp",
    "datetime",
    "date",
    "time",
    "open_time",
    "transact_time",
    "index",
    "index_level_0",
)
CLOSE: Final = ("close", "adj_close")
VOLUME: Final = ("volume", "vol")
PRICE: Final = ("price",)
SIZE: Final = ("amount", "qty", "quantity", "size", "volume")
SIDE: Final = ("side",)
MAKER: Final = ("is_buyer_maker", "buyer_maker")
TRADE_ID: Final = ("id", "trade_id", "tid", "agg_trade_id")
SYMBOL: Final = ("symbol", "ticker")

_FOLD: Final = re.compile(r"[\s_\-]+")

CANDLES: Final = "candles"
TRADES: Final = "trades"


def normalize(name: str) -> str:
    """``' Adj Close '`` -> ``adj_close``; ``__index_level_0__`` -> ``index_level_0``."""
    return _FOLD.sub("_", name.strip().lower()).strip("_")


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Where each field is in a row (``None``: absent). ``kind`` is ``candles`` or ``trades``;
    for candles ``value`` is the close and ``size`` the volume, for trades the price and size."""

    kind: str
    time: int
    value: int
    size: int | None
    symbol: int | None = None
    side: int | None = None
    maker: int | None = None
    trade_id: int | None = None


def _find(names: Sequence[str], wanted: Sequence[str]) -> int | None:
    for want in wanted:
        if want in names:
            return names.index(want)
    return None


def map_columns(header: Sequence[str], index: int | None = None) -> ColumnMap | None:
    """The map of a header (names as in the file), or ``None`` when it is neither kind.

    ``index``: the position of pandas' index column, the time when no name says one (an
    empty first name is taken as that index).
    """
    names = [normalize(h) for h in header]
    if index is None and names and names[0] == "":
        index = 0  # pandas' unnamed index in to_csv
    if "date" in names and "time" in names and _find(names, ("timestamp", "datetime")) is None:
        return None  # the day in one column, the time of day in another: see unmapped
    time = _find(names, TIME)
    if time is None:
        time = index
    if time is None:
        return None
    symbol = _find(names, SYMBOL)
    close = _find(names, CLOSE)
    if close is not None:
        return ColumnMap(CANDLES, time, close, _find(names, VOLUME), symbol)
    price, size = _find(names, PRICE), _find(names, SIZE)
    if price is not None and size is not None:
        side, maker, tid = _find(names, SIDE), _find(names, MAKER), _find(names, TRADE_ID)
        return ColumnMap(TRADES, time, price, size, symbol, side, maker, tid)
    return None


def unmapped(header: Sequence[str]) -> str:
    """Why a header maps to neither kind: the columns it has and what each kind needs."""
    found = ", ".join(repr(h.strip()) for h in header) or "none"
    names = [normalize(h) for h in header]
    if "date" in names and "time" in names:
        return (
            f"columns {found}: the date and the time of day are in separate columns (as "
            "MetaTrader writes them); join them into one datetime column first"
        )
    times = "/".join(TIME)
    return (
        f"columns {found}; a candle file needs a time column ({times}, or pandas' unnamed "
        f"index) and close (or adj close), volume optional; a trade file needs a time column, "
        f"price and a size ({'/'.join(SIZE)})"
    )
