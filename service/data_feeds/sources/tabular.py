"""Tables of named columns, read by the column mapping of ``columns``: CSV with a header
(pandas ``to_csv`` OHLCV in any case, with a named or unnamed index; yfinance's
``Date,...,Adj Close,Volume``; generic trade CSVs), yfinance's multi-row header
(``Price,...`` / ``Ticker,...`` / ``Date,,,``) and Parquet/Feather (through ``arrow``).

Each reader maps the header and checks the symbol before returning, so a file that cannot be
mapped or named fails at once; rows are parsed when reached.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Final

from data_feeds.errors import ReplayError
from data_feeds.records import Record, Trade
from data_feeds.sources import arrow
from data_feeds.sources.base import (
    NO_SYMBOL,
    SIDES,
    Context,
    TickRule,
    candle_ticks,
    check_symbol,
    located,
    num,
    timestamp,
)
from data_feeds.sources.columns import CANDLES, ColumnMap, map_columns, normalize, unmapped
from data_feeds.sources.files import first_rows, rows

Rows = Iterator[tuple[int, Sequence[Any]]]

_TRUE: Final = frozenset(("true", "t", "1", "yes", "y"))
_FALSE: Final = frozenset(("false", "f", "0", "no", "n"))


def mapped(
    ctx: Context, header: Sequence[str], index: int | None = None, *, named: bool = False
) -> ColumnMap:
    """The column map of a header; ``ReplayError`` naming the columns when there is none, or
    when nothing names the symbol (``named``: the file names it elsewhere)."""
    cmap = map_columns(header, index)
    if cmap is None:
        raise ReplayError(f"{ctx.path}: not a layout this reader knows: {unmapped(header)}")
    if not named and cmap.symbol is None and ctx.given is None and ctx.fallback is None:
        raise ReplayError(NO_SYMBOL.format(path=ctx.path))
    return cmap


def records(ctx: Context, cmap: ColumnMap, rows: Rows) -> Iterator[Record]:
    """The candles (ticks at the close time) or trades of mapped rows."""
    if cmap.kind == CANDLES:
        return candles(ctx, cmap, rows)
    return trades(ctx, cmap, rows)


def _text(row: Sequence[Any], at: int | None) -> str | None:
    if at is None:
        return None
    cell = row[at]
    if cell is None:
        return None
    text = str(cell).strip()
    return text or None


def candles(
    ctx: Context, cmap: ColumnMap, rows: Rows, symbol: str | None = None
) -> Iterator[Record]:
    """``symbol``: of every row (yfinance's ticker), else the symbol column's, else the file's."""
    time, close, volume, sym = cmap.time, cmap.value, cmap.size, cmap.symbol

    def parse(row: Sequence[Any]) -> tuple[str | None, float, float, float]:
        vol = 0.0 if volume is None else num(row[volume])
        return (symbol or _text(row, sym), timestamp(row[time]), num(row[close]), vol)

    return candle_ticks(ctx, located(ctx, rows, parse))


def flag(cell: Any) -> bool:
    """A boolean cell: a bool, 0/1, or true/false (t/f, yes/no) in any case."""
    if isinstance(cell, bool):
        return cell
    text = str(cell).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ReplayError(f"{cell!r} is not a boolean")


def trades(ctx: Context, cmap: ColumnMap, rows: Rows) -> Iterator[Record]:
    """Sides: the side column's, else the maker flag's (true: a sell), else the tick rule."""
    time, price, size, sym = cmap.time, cmap.value, cmap.size, cmap.symbol
    side_at, maker, tid = cmap.side, cmap.maker, cmap.trade_id
    asset_class = ctx.asset_class
    rule = TickRule()

    def parse(row: Sequence[Any]) -> Trade:
        p = num(row[price])
        raw = _text(row, side_at)
        side = None if raw is None else SIDES.get(raw.lower())
        if side is None and maker is not None:
            side = "sell" if flag(row[maker]) else "buy"
        if side is None:
            side = rule.side(p)
        rule.last_price = p
        amount = num(row[size]) if size is not None else 0.0
        ts = timestamp(row[time])
        return Trade(ctx.symbol(_text(row, sym)), p, amount, side, ts, asset_class, _text(row, tid))

    return located(ctx, rows, parse)


def read_table_csv(ctx: Context) -> Iterator[Record]:
    """A CSV whose first row names its columns (``candles_csv``, ``trades_columns_csv``)."""
    header = first_rows(ctx.path, 1)[0]
    cmap = mapped(ctx, header)
    return records(ctx, cmap, itertools.islice(rows(ctx.path), 1, None))


def is_yfinance(head_rows: Sequence[Sequence[str]]) -> bool:
    """yfinance's multi-row header: a ``Price`` row and a ``Ticker`` row, in either order."""
    firsts = {normalize(r[0]) for r in head_rows[:2] if r}
    return len(head_rows) >= 2 and firsts == {"price", "ticker"}


def read_yfinance_csv(ctx: Context) -> Iterator[Record]:
    """yfinance's ``download(...).to_csv()``: one series per ticker, in row order.

    With ``symbol`` given, a file of several tickers reads the one it names."""
    head_rows = first_rows(ctx.path, 3)
    names, tickers = head_rows[0], head_rows[1]
    if normalize(names[0]) == "ticker":
        names, tickers = tickers, names
    skip = 2
    index_name = ""
    if len(head_rows) > 2 and not any(c.strip() for c in head_rows[2][1:]):
        index_name = head_rows[2][0]  # pandas' row naming the index (Date, Datetime)
        skip = 3
    series: dict[str, list[int]] = {}
    for i in range(1, min(len(names), len(tickers))):
        if tickers[i].strip():
            series.setdefault(tickers[i].strip(), []).append(i)
    chosen = _chosen(ctx, list(series))
    maps: list[tuple[str, ColumnMap]] = []
    for ticker in chosen:
        at = [0, *series[ticker]]
        sub = mapped(ctx, [index_name, *(names[i] for i in at[1:])], index=0, named=True)
        if sub.kind != CANDLES:
            raise ReplayError(f"{ctx.path}: no Close column for ticker {ticker!r}")
        shifted = ColumnMap(CANDLES, 0, at[sub.value], _at(at, sub.size))
        maps.append((ctx.given or check_symbol(ticker, f"{ctx.path}: ticker"), shifted))
    data = itertools.islice(rows(ctx.path), skip, None)
    return _yfinance_candles(ctx, maps, data)


def _at(at: Sequence[int], i: int | None) -> int | None:
    return None if i is None else at[i]


def _chosen(ctx: Context, tickers: list[str]) -> list[str]:
    if ctx.given is None or len(tickers) <= 1:
        return tickers
    named = [t for t in tickers if check_symbol(t, f"{ctx.path}: ticker") == ctx.given]
    if not named:
        raise ReplayError(
            f"{ctx.path}: holds tickers {', '.join(tickers)}; symbol {ctx.given!r} is none of them"
        )
    return named


def _yfinance_candles(
    ctx: Context, maps: list[tuple[str, ColumnMap]], data: Rows
) -> Iterator[Record]:
    def parse(row: Sequence[Any]) -> list[tuple[str | None, float, float, float]]:
        t = timestamp(row[0])
        out: list[tuple[str | None, float, float, float]] = []
        for symbol, cmap in maps:
            if not str(row[cmap.value]).strip():
                continue  # a ticker without a candle on that day
            vol = 0.0 if cmap.size is None else num(row[cmap.size] or 0)
            out.append((symbol, t, num(row[cmap.value]), vol))
        return out

    per_row = located(ctx, data, parse)
    return candle_ticks(ctx, itertools.chain.from_iterable(per_row))


def read_arrow(ctx: Context, fmt: str) -> Iterator[Record]:
    """A Parquet or Feather table (``candles_parquet``, ``trades_feather``...)."""
    names, index = arrow.columns(ctx.path, fmt)
    cmap = mapped(ctx, names, index)
    return records(ctx, cmap, arrow.table_rows(ctx.path, fmt))


def read_parquet(ctx: Context) -> Iterator[Record]:
    return read_arrow(ctx, "parquet")


def read_feather(ctx: Context) -> Iterator[Record]:
    return read_arrow(ctx, "feather")
