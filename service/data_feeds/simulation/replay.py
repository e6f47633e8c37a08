"""Read recorded market-data files as records, to replay them into streams or build datasets.

``read_records(path, symbol=None, asset_class="crypto")`` detects the layout from the file's
content (its first line or its JSON shape; gzip is recognised by its magic bytes) and yields
records in file order. It checks the file and detects the layout before returning, so an
unreadable or unknown file fails at once (``OSError`` / ``ReplayError``); a malformed row fails
when reached, naming the file and line.

=============================  ==============================================================
layout                         content -> records
=============================  ==============================================================
candles_json                   freqtrade ``[[ts_ms, open, high, low, close, volume], ...]``
candles_columns_json           pandas ``to_json(orient="columns")`` candles (``date``, ``close``..)
candles_csv                    ``date,open,high,low,close,volume`` (ISO dates or epoch numbers)
binance_klines_csv             Binance kline CSV, 12 columns, no header
trades_json                    freqtrade ``[[ts_ms, id, type, side, price, amount, cost], ...]``
ccxt_trades_json               ccxt trade dicts (``timestamp``, ``side``, ``price``, ``amount``...)
trades_csv                     freqtrade ``[index,]timestamp,id,type,side,price,amount,cost[,date]``
nautilus_trades_csv            ``timestamp,trade_id,price,quantity,buyer_maker``
kraken_trades_csv              Kraken, no header: ``ts_s,price,volume``
binance_depth_csv              ``symbol,timestamp,first_update_id,last_update_id,side,update_type,
                               price,qty,pu``: ``snap`` rows -> BookSnapshot, ``set`` -> BookDelta
quotes_csv                     ``timestamp,symbol,ask_size,ask,bid_size,bid`` -> Tick at the mid
tardis_trades_csv              tardis.dev ``trades``
tardis_quotes_csv              tardis.dev ``quotes`` -> Tick at the mid
tardis_book_snapshot_csv       tardis.dev ``book_snapshot_N`` -> BookSnapshot
tardis_incremental_book_csv    tardis.dev ``incremental_book_L2`` -> BookSnapshot / BookDelta
=============================  ==============================================================

Conventions:

- **Candles become price ticks at their close price, timestamped at the candle's close time**
  (open time + interval; Binance klines: ``close_time + 1 ms``), with the candle's volume.
  The close is only known when the candle closes, so a consumer never sees a price before it
  existed. The interval comes from the file name (``-5m``, ``-1h``...), else from the first
  two rows; a single candle with no interval keeps its open time.
- Quotes become ticks at the mid with their bid/ask and volume 0.
- Trade sides: ``buyer_maker`` true means the seller was the aggressor (``sell``); a file
  without sides (Kraken) or with ``unknown`` gets the tick rule (up-tick ``buy``, down-tick
  ``sell``, unchanged: the previous side).
- Timestamps in seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude)
  or ISO-8601 text (naive means UTC) all become float epoch seconds, by the rules of
  ``data_feeds.timestamps`` (the same as the validator's).
- The symbol: ``symbol`` if given, else the file's symbol column, else the file name before
  its first ``-`` with ``_`` removed (``ETH_BTC-5m.csv`` -> ``ETHBTC``; a repeated settle
  currency is dropped: ``XRP_USDT_USDT-5m-futures.csv`` -> ``XRPUSDT``).
- Funding-rate series (``*funding_rate*``) are not prices and are refused.

No validation beyond parsing: the records go through the pipeline's ``SchemaValidator`` like
any other message.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Final

import orjson

from data_feeds.cache.keys import normalize_symbol
from data_feeds.errors import DataFeedsError, InvalidMessage, shown
from data_feeds.records import (
    DEFAULT_ASSET_CLASS,
    BookDelta,
    BookSnapshot,
    Level,
    Record,
    Tick,
    Trade,
)
from data_feeds.timestamps import epoch_seconds

GZIP_MAGIC: Final = b"\x1f\x8b"
_SYMBOL_RE: Final = re.compile(r"[A-Z0-9.]{1,32}")
_INTERVAL_RE: Final = re.compile(r"-(\d+)([smhdw])(?=[-.]|$)")
_UNITS_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_HEAD_BYTES: Final = 4096
_NO_SYMBOL: Final = "{path}: the file name does not give a symbol; name one (symbol= / --symbol)"

LAYOUTS: Final[dict[str, str]] = {
    "candles_json": "freqtrade candles JSON [[ts_ms, open, high, low, close, volume], ...]",
    "candles_columns_json": "pandas orient=columns candles JSON",
    "candles_csv": "CSV date,open,high,low,close,volume",
    "binance_klines_csv": "Binance kline CSV, 12 columns, no header",
    "trades_json": "freqtrade trades JSON [[ts_ms, id, type, side, price, amount, cost], ...]",
    "ccxt_trades_json": "ccxt trade dicts JSON",
    "trades_csv": "freqtrade trades CSV [index,]timestamp,id,type,side,price,amount,cost",
    "nautilus_trades_csv": "CSV timestamp,trade_id,price,quantity,buyer_maker",
    "kraken_trades_csv": "Kraken trades CSV ts_s,price,volume, no header",
    "binance_depth_csv": "Binance depth CSV symbol,timestamp,...,side,update_type,price,qty,pu",
    "quotes_csv": "CSV timestamp,symbol,ask_size,ask,bid_size,bid",
    "tardis_trades_csv": "tardis.dev trades CSV",
    "tardis_quotes_csv": "tardis.dev quotes CSV",
    "tardis_book_snapshot_csv": "tardis.dev book_snapshot_N CSV",
    "tardis_incremental_book_csv": "tardis.dev incremental_book_L2 CSV",
}


class ReplayError(DataFeedsError, ValueError):
    """A file that is not one of the known layouts, or a row that does not parse."""


# -- small parsers ---------------------------------------------------------------------------


def _timestamp(value: Any) -> float:
    """Epoch seconds of a cell by ``data_feeds.timestamps`` (surrounding blanks ignored)."""
    try:
        return epoch_seconds(value.strip() if isinstance(value, str) else value)
    except InvalidMessage:
        raise ReplayError(f"not a timestamp: {shown(value)}") from None


def _num(value: Any) -> float:
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
    for suffix in (".gz", ".json", ".csv", ".txt"):
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


class _TickRule:
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


_SIDES: Final = {"buy": "buy", "sell": "sell", "b": "buy", "s": "sell"}
_BOOK_SIDES: Final = {
    "b": "buy",
    "bid": "buy",
    "bids": "buy",
    "buy": "buy",
    "a": "sell",
    "ask": "sell",
    "asks": "sell",
    "sell": "sell",
}


# -- detection -------------------------------------------------------------------------------


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _head(path: Path) -> str:
    with _open_text(path) as f:
        try:
            return f.read(_HEAD_BYTES)
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise ReplayError(f"{path}: not a text, CSV or JSON file ({exc})") from None


def _load_json(path: Path) -> Any:
    with path.open("rb") as f:
        data = f.read()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ReplayError(f"{path}: broken gzip data ({exc})") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReplayError(f"{path}: not valid JSON ({exc})") from None


def _json_layout(doc: Any) -> str | None:
    if isinstance(doc, list) and doc:
        first = doc[0]
        if isinstance(first, list) and len(first) == 6:
            return "candles_json"
        if isinstance(first, list) and len(first) == 7 and isinstance(first[3], str):
            return "trades_json"
        if isinstance(first, dict) and {"timestamp", "price", "amount", "side"} <= first.keys():
            return "ccxt_trades_json"
    if isinstance(doc, dict) and isinstance(doc.get("close"), dict) and "date" in doc:
        return "candles_columns_json"
    return None


def _csv_layout(first_row: list[str]) -> str | None:
    cols = [c.strip().lower() for c in first_row]
    names = set(cols)
    if cols and all(is_number(c) for c in cols if c):
        return {12: "binance_klines_csv", 3: "kraken_trades_csv"}.get(len(cols))
    if "exchange" in names and "local_timestamp" in names:
        if "is_snapshot" in names:
            return "tardis_incremental_book_csv"
        if "asks[0].price" in names or "bids[0].price" in names:
            return "tardis_book_snapshot_csv"
        if {"id", "side", "price", "amount"} <= names:
            return "tardis_trades_csv"
        if {"ask_price", "bid_price"} <= names:
            return "tardis_quotes_csv"
        return None
    if {"date", "open", "high", "low", "close", "volume"} <= names:
        return "candles_csv"
    if {"timestamp", "trade_id", "price", "quantity", "buyer_maker"} <= names:
        return "nautilus_trades_csv"
    if {"symbol", "timestamp", "side", "update_type", "price", "qty"} <= names:
        return "binance_depth_csv"
    if {"timestamp", "ask", "bid", "ask_size", "bid_size"} <= names:
        return "quotes_csv"
    if {"timestamp", "id", "side", "price", "amount"} <= names:
        return "trades_csv"
    return None


def detect_layout(path: str | Path) -> str:
    """The layout name (a key of ``LAYOUTS``) of a file. ``OSError`` / ``ReplayError``."""
    return _detect(Path(path))[0]


def _detect(path: Path) -> tuple[str, Any]:
    """The layout of a file and, for a JSON one, the document parsed to tell it (else None)."""
    if "funding_rate" in path.name:
        raise ReplayError(f"{path}: a funding-rate series, not prices")
    head = _head(path)
    stripped = head.lstrip()
    if not stripped:
        raise ReplayError(f"{path}: the file is empty")
    layout: str | None
    doc: Any = None
    if stripped[0] in "[{":
        doc = _load_json(path)
        layout = _json_layout(doc)
    else:
        line = stripped.splitlines()[0]
        layout = _csv_layout(next(csv.reader([line])))
    if layout is None:
        raise ReplayError(
            f"{path}: not a layout this reader knows ({', '.join(LAYOUTS)}; "
            "see data_feeds.simulation.replay)"
        )
    return layout, doc


# -- readers ---------------------------------------------------------------------------------


class _Context:
    """What every reader needs: the file (``doc``: a JSON file's document, parsed once by the
    layout detection), the symbol rule and the asset class."""

    __slots__ = ("asset_class", "doc", "fallback", "given", "interval_s", "path", "symbols")

    def __init__(self, path: Path, symbol: str | None, asset_class: str, doc: Any = None) -> None:
        self.path = path
        self.doc = doc
        self.asset_class = asset_class
        self.given = None if symbol is None else _check_symbol(symbol, "symbol")
        self.fallback = symbol_from_name(path)
        self.interval_s = interval_from_name(path)
        self.symbols: dict[str, str] = {}

    def symbol(self, column: str | None = None) -> str:
        if self.given is not None:
            return self.given
        if column:
            known = self.symbols.get(column)
            if known is None:
                known = self.symbols[column] = _check_symbol(column, f"{self.path}: symbol")
            return known
        if self.fallback is None:
            raise ReplayError(_NO_SYMBOL.format(path=self.path))
        return self.fallback


def _check_symbol(raw: str, what: str) -> str:
    symbol = normalize_symbol(raw.strip())
    if _SYMBOL_RE.fullmatch(symbol) is None:
        raise ReplayError(f"{what} {raw!r}: expected 1-32 characters of A-Z 0-9 .")
    return symbol


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with their line numbers, blank lines skipped."""
    with _open_text(path) as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if row and any(cell.strip() for cell in row):
                yield n, row


def _dict_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        return
    header = [c.strip().lower() for c in first[1]]
    for n, row in rows:
        yield n, dict(zip(header, row, strict=False))


def _candle_ticks(ctx: _Context, rows: Iterable[tuple[int, float, float, float]]) -> Iterator[Tick]:
    """(line, open time s, close, volume) rows -> ticks at the close time."""
    symbol = ctx.symbol()
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return
    second = next(it, None)
    interval = ctx.interval_s
    if interval is None:
        interval = second[1] - first[1] if second is not None and second[1] > first[1] else 0.0
    pending = [first] if second is None else [first, second]
    for _, open_s, close, volume in itertools.chain(pending, it):
        yield Tick(symbol, close, volume, open_s + interval, ctx.asset_class)


def _located(
    ctx: _Context, rows: Iterator[tuple[int, Any]], parse: Callable[[Any], Any]
) -> Iterator[Any]:
    """Apply ``parse`` to each row, naming the file and line when a row does not parse."""
    for n, row in rows:
        try:
            yield parse(row)
        except (ReplayError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ReplayError(f"{ctx.path}:{n}: {exc}") from None


def _read_candles_json(ctx: _Context) -> Iterator[Record]:
    doc = ctx.doc

    def parse(row: Any) -> tuple[int, float, float, float]:
        return (0, _timestamp(row[0]), _num(row[4]), _num(row[5]))

    yield from _candle_ticks(ctx, _located(ctx, enumerate(doc, start=1), parse))


def _read_candles_columns_json(ctx: _Context) -> Iterator[Record]:
    doc = ctx.doc
    dates, closes, volumes = doc["date"], doc["close"], doc.get("volume", {})
    keys = sorted(dates, key=lambda k: int(k) if str(k).isdigit() else str(k))

    def parse(key: Any) -> tuple[int, float, float, float]:
        return (0, _timestamp(dates[key]), _num(closes[key]), _num(volumes.get(key, 0.0)))

    yield from _candle_ticks(ctx, _located(ctx, enumerate(keys, start=1), parse))


def _read_candles_csv(ctx: _Context) -> Iterator[Record]:
    def parse(row: dict[str, str]) -> tuple[int, float, float, float]:
        return (0, _timestamp(row["date"]), _num(row["close"]), _num(row["volume"]))

    yield from _candle_ticks(ctx, _located(ctx, _dict_rows(ctx.path), parse))


def _read_binance_klines(ctx: _Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class

    def parse(row: list[str]) -> Tick:
        close_s = (_num(row[6]) + 1.0) / 1000.0  # close_time is the interval's last ms
        return Tick(symbol, _num(row[4]), _num(row[5]), close_s, asset_class)

    yield from _located(ctx, _rows(ctx.path), parse)


def _read_trades_json(ctx: _Context) -> Iterator[Record]:
    doc = ctx.doc
    symbol, asset_class = ctx.symbol(), ctx.asset_class
    rule = _TickRule()

    def parse(row: list[Any]) -> Trade:
        ts_ms, trade_id, _type, side, price, amount = row[:6]
        p = _num(price)
        s = _SIDES.get(str(side).lower()) or rule.side(p)
        rule.last_price = p
        tid = None if trade_id is None else str(trade_id)
        return Trade(symbol, p, _num(amount), s, _timestamp(ts_ms), asset_class, tid)

    yield from _located(ctx, enumerate(doc, start=1), parse)


def _read_ccxt_trades(ctx: _Context) -> Iterator[Record]:
    doc = ctx.doc
    asset_class = ctx.asset_class
    rule = _TickRule()

    def parse(row: dict[str, Any]) -> Trade:
        p = _num(row["price"])
        s = _SIDES.get(str(row.get("side")).lower()) or rule.side(p)
        rule.last_price = p
        tid = row.get("id")
        return Trade(
            ctx.symbol(row.get("symbol")),
            p,
            _num(row["amount"]),
            s,
            _timestamp(row["timestamp"]),
            asset_class,
            None if tid is None else str(tid),
        )

    yield from _located(ctx, enumerate(doc, start=1), parse)


def _read_trades_csv(ctx: _Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class
    rule = _TickRule()

    def parse(row: dict[str, str]) -> Trade:
        p = _num(row["price"])
        s = _SIDES.get(row["side"].strip().lower()) or rule.side(p)
        rule.last_price = p
        tid = row.get("id") or None
        ts = _timestamp(row["timestamp"])
        return Trade(symbol, p, _num(row["amount"]), s, ts, asset_class, tid)

    yield from _located(ctx, _dict_rows(ctx.path), parse)


def _read_nautilus_trades(ctx: _Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class

    def parse(row: dict[str, str]) -> Trade:
        maker = row["buyer_maker"].strip().lower()
        if maker not in ("true", "false", "1", "0"):
            raise ReplayError(f"buyer_maker {row['buyer_maker']!r} is not a boolean")
        side = "sell" if maker in ("true", "1") else "buy"
        ts = _timestamp(row["timestamp"])
        tid = row["trade_id"] or None
        return Trade(symbol, _num(row["price"]), _num(row["quantity"]), side, ts, asset_class, tid)

    yield from _located(ctx, _dict_rows(ctx.path), parse)


def _read_kraken_trades(ctx: _Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class
    rule = _TickRule()

    def parse(row: list[str]) -> Trade:
        p = _num(row[1])
        return Trade(symbol, p, _num(row[2]), rule.side(p), _timestamp(row[0]), asset_class)

    yield from _located(ctx, _rows(ctx.path), parse)


def _book(
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


def _grouped_books(
    ctx: _Context,
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
        return _book(head[0], head[1], bids, asks, asset_class=ctx.asset_class,
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
                    _timestamp(row["timestamp"]),
                    snapshot(row),
                    exchange.upper() if exchange else None,
                )
            side, price, size = level(row)
        except (ReplayError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ReplayError(f"{ctx.path}:{n}: {exc}") from None
        (bids if side == "buy" else asks).append((price, size))
    if current is not None:
        yield finished()


def _side_of(raw: str) -> str:
    side = _BOOK_SIDES.get(raw.strip().lower())
    if side is None:
        raise ReplayError(f"book side {raw!r} is not bid/ask")
    return side


def _read_binance_depth(ctx: _Context) -> Iterator[Record]:
    yield from _grouped_books(
        ctx,
        _dict_rows(ctx.path),
        key=lambda r: (r["timestamp"], r.get("last_update_id"), r["update_type"]),
        level=lambda r: (_side_of(r["side"]), _num(r["price"]), _num(r["qty"])),
        snapshot=lambda r: r["update_type"].strip().lower() == "snap",
        symbol_col="symbol",
    )


def _read_tardis_incremental(ctx: _Context) -> Iterator[Record]:
    yield from _grouped_books(
        ctx,
        _dict_rows(ctx.path),
        key=lambda r: (r["symbol"], r["timestamp"], r["is_snapshot"]),
        level=lambda r: (_side_of(r["side"]), _num(r["price"]), _num(r["amount"])),
        snapshot=lambda r: r["is_snapshot"].strip().lower() == "true",
        symbol_col="symbol",
        exchange_col="exchange",
    )


def _read_tardis_snapshots(ctx: _Context) -> Iterator[Record]:
    asset_class = ctx.asset_class

    def parse(row: dict[str, str]) -> Record:
        sides: dict[str, list[Level]] = {"bids": [], "asks": []}
        for name, levels in sides.items():
            i = 0
            while (price := row.get(f"{name}[{i}].price")) is not None:
                amount = row.get(f"{name}[{i}].amount", "")
                if price.strip() and amount.strip():
                    levels.append((_num(price), _num(amount)))
                i += 1
        exchange = row.get("exchange") or None
        return _book(
            ctx.symbol(row.get("symbol")),
            _timestamp(row["timestamp"]),
            sides["bids"],
            sides["asks"],
            asset_class=asset_class,
            snapshot=True,
            exchange=exchange.upper() if exchange else None,
        )

    yield from _located(ctx, _dict_rows(ctx.path), parse)


def _quote_tick(
    ctx: _Context, symbol: str | None, ts: Any, *, bid: str, ask: str, exchange: str | None = None
) -> Tick:
    b, a = _num(bid), _num(ask)
    return Tick(
        ctx.symbol(symbol),
        b * 0.5 + a * 0.5,
        0.0,
        _timestamp(ts),
        ctx.asset_class,
        b,
        a,
        exchange.upper() if exchange else None,
    )


def _read_quotes(ctx: _Context) -> Iterator[Record]:
    def parse(row: dict[str, str]) -> Tick:
        return _quote_tick(ctx, row.get("symbol"), row["timestamp"], bid=row["bid"], ask=row["ask"])

    yield from _located(ctx, _dict_rows(ctx.path), parse)


def _read_tardis_quotes(ctx: _Context) -> Iterator[Record]:
    def parse(row: dict[str, str]) -> Tick:
        return _quote_tick(
            ctx,
            row.get("symbol"),
            row["timestamp"],
            bid=row["bid_price"],
            ask=row["ask_price"],
            exchange=row.get("exchange"),
        )

    yield from _located(ctx, _dict_rows(ctx.path), parse)


def _read_tardis_trades(ctx: _Context) -> Iterator[Record]:
    asset_class = ctx.asset_class
    rules: dict[str, _TickRule] = {}

    def parse(row: dict[str, str]) -> Trade:
        symbol = ctx.symbol(row.get("symbol"))
        rule = rules.setdefault(symbol, _TickRule())
        p = _num(row["price"])
        side = _SIDES.get(row["side"].strip().lower()) or rule.side(p)
        rule.last_price = p
        exchange = row.get("exchange") or None
        return Trade(
            symbol,
            p,
            _num(row["amount"]),
            side,
            _timestamp(row["timestamp"]),
            asset_class,
            row.get("id") or None,
            exchange.upper() if exchange else None,
        )

    yield from _located(ctx, _dict_rows(ctx.path), parse)


_READERS: Final[dict[str, Callable[[_Context], Iterator[Record]]]] = {
    "candles_json": _read_candles_json,
    "candles_columns_json": _read_candles_columns_json,
    "candles_csv": _read_candles_csv,
    "binance_klines_csv": _read_binance_klines,
    "trades_json": _read_trades_json,
    "ccxt_trades_json": _read_ccxt_trades,
    "trades_csv": _read_trades_csv,
    "nautilus_trades_csv": _read_nautilus_trades,
    "kraken_trades_csv": _read_kraken_trades,
    "binance_depth_csv": _read_binance_depth,
    "quotes_csv": _read_quotes,
    "tardis_trades_csv": _read_tardis_trades,
    "tardis_quotes_csv": _read_tardis_quotes,
    "tardis_book_snapshot_csv": _read_tardis_snapshots,
    "tardis_incremental_book_csv": _read_tardis_incremental,
}


def read_records(
    path: str | Path, symbol: str | None = None, asset_class: str = DEFAULT_ASSET_CLASS
) -> Iterator[Record]:
    """The records of a recorded file, in file order (see the module doc for the layouts).

    Raises ``OSError`` (unreadable) or ``ReplayError`` (unknown layout, no symbol) before
    returning; a row that does not parse raises ``ReplayError`` naming its line when reached.
    """
    return open_records(path, symbol, asset_class)[1]


def open_records(
    path: str | Path, symbol: str | None = None, asset_class: str = DEFAULT_ASSET_CLASS
) -> tuple[str, Iterator[Record]]:
    """``read_records``, with the layout it detected (the file is looked at once)."""
    path = Path(path)
    layout, doc = _detect(path)
    ctx = _Context(path, symbol, asset_class, doc)
    if ctx.given is None and ctx.fallback is None and layout in _NEEDS_NAME_SYMBOL:
        raise ReplayError(_NO_SYMBOL.format(path=path))
    return layout, _READERS[layout](ctx)


_NEEDS_NAME_SYMBOL: Final = frozenset(
    (
        "candles_json",
        "candles_columns_json",
        "candles_csv",
        "binance_klines_csv",
        "trades_json",
        "trades_csv",
        "nautilus_trades_csv",
        "kraken_trades_csv",
    )
)
"""Layouts without a symbol column: the symbol comes from ``symbol=`` or the file name."""
