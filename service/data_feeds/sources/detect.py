"""Which layout a recorded file is in, from its content (the first line or the JSON shape)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Final

from data_feeds.errors import ReplayError
from data_feeds.sources.base import is_number
from data_feeds.sources.files import head, load_json

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
    return None


def detect_layout(path: str | Path) -> str:
    """The layout name (a key of ``LAYOUTS``) of a file. ``OSError`` / ``ReplayError``."""
    return detect(Path(path))[0]


def detect(path: Path) -> tuple[str, Any]:
    """The layout of a file and, for a JSON one, the document parsed to tell it (else None)."""
    if "funding_rate" in path.name:
        raise ReplayError(f"{path}: a funding-rate series, not prices")
    stripped = head(path).lstrip()
    if not stripped:
        raise ReplayError(f"{path}: the file is empty")
    layout: str | None
    doc: Any = None
    if stripped[0] in "[{":
        doc = load_json(path)
        layout = json_layout(doc)
    else:
        line = stripped.splitlines()[0]
        layout = csv_layout(next(csv.reader([line])))
    if layout is None:
        raise ReplayError(
            f"{path}: not a layout this reader knows ({', '.join(LAYOUTS)}; see data_feeds.sources)"
        )
    return layout, doc
