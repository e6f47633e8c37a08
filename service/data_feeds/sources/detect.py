"""Which layout a recorded file is in, from its content: Parquet/Feather magic bytes, the JSON
shape, or a CSV's first rows (the specific layouts first, then the column mapping of
``columns`` for any other header)."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any, Final

from data_feeds.errors import ReplayError
from data_feeds.sources import arrow
from data_feeds.sources.base import is_number
from data_feeds.sources.columns import map_columns, unmapped
from data_feeds.sources.files import head, load_json
from data_feeds.sources.tabular import is_yfinance

LAYOUTS: Final[dict[str, str]] = {
    "candles_json": "freqtrade candles JSON [[ts_ms, open, high, low, close, volume], ...]",
    "candles_columns_json": "pandas orient=columns candles JSON",
    "candles_csv": "CSV candles by column names (date,open,...; pandas to_csv; yfinance)",
    "yfinance_csv": "yfinance download().to_csv(): Price / Ticker / Date header rows",
    "candles_parquet": "Parquet candles by column names (pyarrow)",
    "candles_feather": "Feather candles by column names (pyarrow)",
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
    "trades_columns_csv": "CSV trades by column names (time, price, amount/qty/size...)",
    "trades_parquet": "Parquet trades by column names (pyarrow)",
    "trades_feather": "Feather trades by column names (pyarrow)",
}


def json_layout(doc: Any) -> str | None:
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


def csv_layout(first_row: list[str]) -> str | None:
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
    cmap = map_columns(first_row)
    if cmap is not None:
        return f"{cmap.kind}_csv" if cmap.kind == "candles" else "trades_columns_csv"
    return None


def detect_layout(path: str | Path) -> str:
    """The layout name (a key of ``LAYOUTS``) of a file. ``OSError`` / ``ReplayError``."""
    return detect(Path(path))[0]


def detect(path: Path) -> tuple[str, Any]:
    """The layout of a file and, for a JSON one, the document parsed to tell it (else None)."""
    if "funding_rate" in path.name:
        raise ReplayError(f"{path}: a funding-rate series, not prices")
    fmt = arrow.arrow_format(path)
    if fmt is not None:
        names, index = arrow.columns(path, fmt)
        cmap = map_columns(names, index)
        if cmap is None:
            raise ReplayError(f"{path}: not a layout this reader knows: {unmapped(names)}")
        return f"{cmap.kind}_{fmt}", None
    stripped = head(path).lstrip()
    if not stripped:
        raise ReplayError(f"{path}: the file is empty")
    layout: str | None
    doc: Any = None
    why = f"{', '.join(LAYOUTS)}; see data_feeds.sources"
    if stripped[0] in "[{":
        doc = load_json(path)
        layout = json_layout(doc)
    else:
        rows = [r for r in itertools.islice(csv.reader(io.StringIO(stripped)), 3) if r]
        layout = "yfinance_csv" if is_yfinance(rows) else csv_layout(rows[0])
        first = rows[0]
        if layout is None and not all(is_number(c) for c in first if c.strip()):
            why = unmapped(first)
    if layout is None:
        raise ReplayError(f"{path}: not a layout this reader knows ({why})")
    return layout, doc
