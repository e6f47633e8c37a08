"""What every reader of a recorded file is made of: the symbol rule, cells read as numbers and
times, the tick rule for trades without a side, and the shapes candles, books and quotes share.

Cells are parsed here and nowhere else: numbers by ``float``, times by ``data_feeds.timestamps``
(s/ms/us/ns by magnitude, ISO-8601 with naive meaning UTC), surrounding blanks ignored. A row
that does not parse raises ``ReplayError`` naming the file and line (``located``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from data_feeds.cache.keys import normalize_symbol
from data_feeds.errors import InvalidMessage, ReplayError, shown
from data_feeds.records import BookDelta, BookSnapshot, Level, Record, Tick
from data_feeds.timestamps import epoch_seconds

_SYMBOL_RE: Final = re.compile(r"[A-Z0-9.]{1,32}")
_INTERVAL_RE: Final = re.compile(r"-(\d+)([smhdw])(?=[-.]|$)")
_UNITS_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
IMPLIED_ASSET_CLASS: Final = ""
"""The asset class of records whose file does not say: the validator then takes the symbol's
in its ``asset_classes`` mapping (``DATA_FEEDS_ASSET_CLASSES``), else its default."""
NO_SYMBOL: Final = "{path}: the file name does not give a symbol; name one (symbol= / --symbol)"


SIDES: Final = {"buy": "buy", "sell": "sell", "b": "buy", "s": "sell"}
BOOK_SIDES: Final = {
    "b": "buy",
    "bid": "buy",
    "bids": "buy",
    "buy": "buy",
    "a": "sell",
    "ask": "sell",
    "asks": "sell",
    "sell": "sell",
}


def timestamp(value: Any) -> float:
    """Epoch seconds of a cell by ``data_feeds.timestamps`` (surrounding blanks ignored)."""
    try:
        return epoch_seconds(value.strip() if isinstance(value, str) else value)
    except InvalidMessage:
        raise ReplayError(f"not a timestamp: {shown(value)}") from None


def num(value: Any) -> float:
    if isinstance(value, bool):
        raise ReplayError(f"not a number: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ReplayError(f"not a number: {value!r}") from None


def is_number(text: str) -> bool:
    """Whether ``float`` reads the text (a CSV cell) as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def symbol_from_name(path: Path) -> str | None:
    """``ETH_BTC-5m.csv`` -> ``ETHBTC``; ``None`` when the name does not look like a symbol."""
    name = path.name
    for suffix in (".gz", ".json", ".csv", ".txt", ".parquet", ".pq", ".feather", ".arrow"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    parts = [p for p in name.split("-", 1)[0].split("_") if p]
    if len(parts) >= 2 and parts[-1].upper() == parts[-2].upper():
        parts.pop()  # freqtrade futures: XRP_USDT_USDT (the settle currency)
    if not 1 <= len(parts) <= 2:
        return None
    symbol = normalize_symbol("".join(parts))
    return symbol if _SYMBOL_RE.fullmatch(symbol) else None


def interval_from_name(path: Path) -> float | None:
    """``UNITTEST_BTC-1m.json`` -> 60.0."""
    match = _INTERVAL_RE.search(path.name)
    if match is None:
        return None
    return float(int(match.group(1)) * _UNITS_S[match.group(2)])


class TickRule:
    """The aggressor side of a trade without one: up-tick buy, down-tick sell, else the last."""

    __slots__ = ("last_price", "last_side")

    def __init__(self) -> None:
        self.last_price: float | None = None
        self.last_side = "buy"

    def side(self, price: float) -> str:
        if self.last_price is not None and price != self.last_price:
            self.last_side = "buy" if price > self.last_price else "sell"
        self.last_price = price
        return self.last_side


def side_of(raw: str) -> str:
    side = BOOK_SIDES.get(raw.strip().lower())
    if side is None:
        raise ReplayError(f"book side {raw!r} is not bid/ask")
    return side


class Context:
    """What every reader needs: the file (``doc``: a JSON file's document, parsed once by the
    layout detection), the symbol rule and the asset class."""

    __slots__ = ("asset_class", "doc", "fallback", "given", "interval_s", "path", "symbols")

    def __init__(self, path: Path, symbol: str | None, asset_class: str, doc: Any = None) -> None:
        self.path = path
        self.doc = doc
        self.asset_class = asset_class
        self.given = None if symbol is None else check_symbol(symbol, "symbol")
        self.fallback = symbol_from_name(path)
        self.interval_s = interval_from_name(path)
        self.symbols: dict[str, str] = {}

    def symbol(self, column: str | None = None) -> str:
        if self.given is not None:
            return self.given
        if column:
            known = self.symbols.get(column)
            if known is None:
                known = self.symbols[column] = check_symbol(column, f"{self.path}: symbol")
            return known
        if self.fallback is None:
            raise ReplayError(NO_SYMBOL.format(path=self.path))
        return self.fallback


def check_symbol(raw: str, what: str) -> str:
    symbol = normalize_symbol(raw.strip())
    if _SYMBOL_RE.fullmatch(symbol) is None:
        raise ReplayError(f"{what} {raw!r}: expected 1-32 characters of A-Z 0-9 .")
    return symbol


def located(
    ctx: Context, rows: Iterator[tuple[int, Any]], parse: Callable[[Any], Any]
) -> Iterator[Any]:
    """Apply ``parse`` to each row, naming the file and line when a row does not parse."""
    for n, row in rows:
        try:
            yield parse(row)
        except (ReplayError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ReplayError(f"{ctx.path}:{n}: {exc}") from None


INTERVAL_ROWS: Final = 50
"""Rows whose smallest positive time step is the candles' interval (when the name says none)."""


def candle_ticks(
    ctx: Context, rows: Iterable[tuple[str | None, float, float, float]]
) -> Iterator[Tick]:
    """(symbol or None for the file's, open time s, close, volume) rows -> ticks at the close
    time. The interval: the file name's, else the smallest positive step among the first
    ``INTERVAL_ROWS`` rows (daily equities skip weekends and holidays), else 0."""
    it = iter(rows)
    first = list(itertools.islice(it, INTERVAL_ROWS))
    steps: list[float] = []  # each symbol's steps (rows of several may interleave)
    last: dict[str | None, float] = {}
    for symbol, open_s, _, _ in first:
        if symbol in last:
            steps.append(open_s - last[symbol])
        last[symbol] = open_s
    if sum(s < 0 for s in steps) > len(steps) // 2:  # a close is known once its candle closes:
        raise ReplayError(  # stamped from a newer row's step, it would come before its time
            f"{ctx.path}: the candles are newest first; sort them oldest first"
        )
    interval = ctx.interval_s
    if interval is None:
        interval = min((s for s in steps if s > 0), default=0.0)
    asset_class = ctx.asset_class
    for symbol, open_s, close, volume in itertools.chain(first, it):
        yield Tick(ctx.symbol(symbol), close, volume, open_s + interval, asset_class)


def book(
    symbol: str,
    ts: float,
    bids: list[Level],
    asks: list[Level],
    *,
    asset_class: str,
    snapshot: bool,
    exchange: str | None = None,
) -> BookSnapshot | BookDelta:
    bids.sort(key=lambda lv: -lv[0])
    asks.sort(key=lambda lv: lv[0])
    cls = BookSnapshot if snapshot else BookDelta
    return cls(symbol, ts, tuple(bids), tuple(asks), asset_class, exchange)


def grouped_books(
    ctx: Context,
    rows: Iterator[tuple[int, dict[str, str]]],
    *,
    key: Callable[[dict[str, str]], tuple[Any, ...]],
    level: Callable[[dict[str, str]], tuple[str, float, float]],
    snapshot: Callable[[dict[str, str]], bool],
    symbol_col: str,
    exchange_col: str | None = None,
) -> Iterator[Record]:
    """Consecutive rows with the same ``key`` form one book message."""
    current: tuple[Any, ...] | None = None
    bids: list[Level] = []
    asks: list[Level] = []
    head: tuple[str, float, bool, str | None] = ("", 0.0, False, None)

    def finished() -> Record:
        """The book whose rows were gathered so far."""
        return book(head[0], head[1], bids, asks, asset_class=ctx.asset_class,
                     snapshot=head[2], exchange=head[3])  # fmt: skip

    for n, row in rows:
        try:
            k = key(row)
            if k != current:
                if current is not None:
                    yield finished()
                current, bids, asks = k, [], []
                exchange = row.get(exchange_col) if exchange_col else None
                head = (
                    ctx.symbol(row.get(symbol_col)),
                    timestamp(row["timestamp"]),
                    snapshot(row),
                    exchange.upper() if exchange else None,
                )
            side, price, size = level(row)
        except (ReplayError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ReplayError(f"{ctx.path}:{n}: {exc}") from None
        (bids if side == "buy" else asks).append((price, size))
    if current is not None:
        yield finished()


def quote_tick(
    ctx: Context, symbol: str | None, ts: Any, *, bid: str, ask: str, exchange: str | None = None
) -> Tick:
    b, a = num(bid), num(ask)
    return Tick(
        ctx.symbol(symbol),
        b * 0.5 + a * 0.5,
        0.0,
        timestamp(ts),
        ctx.asset_class,
        b,
        a,
        exchange.upper() if exchange else None,
    )
