"""The front of the readers: detect a file's layout and hand it to that layout's adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from data_feeds.errors import ReplayError
from data_feeds.records import DEFAULT_ASSET_CLASS, Record
from data_feeds.sources import binance, ccxt, freqtrade, kraken, nautilus, plain, tabular, tardis
from data_feeds.sources.base import NO_SYMBOL, Context
from data_feeds.sources.detect import detect

READERS: Final[dict[str, Callable[[Context], Iterator[Record]]]] = {
    "candles_json": freqtrade.read_candles_json,
    "candles_columns_json": plain.read_candles_columns_json,
    "candles_csv": tabular.read_table_csv,
    "yfinance_csv": tabular.read_yfinance_csv,
    "candles_parquet": tabular.read_parquet,
    "candles_feather": tabular.read_feather,
    "binance_klines_csv": binance.read_binance_klines,
    "trades_json": freqtrade.read_trades_json,
    "ccxt_trades_json": ccxt.read_ccxt_trades,
    "trades_csv": freqtrade.read_trades_csv,
    "nautilus_trades_csv": nautilus.read_nautilus_trades,
    "kraken_trades_csv": kraken.read_kraken_trades,
    "binance_depth_csv": binance.read_binance_depth,
    "quotes_csv": plain.read_quotes,
    "tardis_trades_csv": tardis.read_tardis_trades,
    "tardis_quotes_csv": tardis.read_tardis_quotes,
    "tardis_book_snapshot_csv": tardis.read_tardis_snapshots,
    "tardis_incremental_book_csv": tardis.read_tardis_incremental,
    "trades_columns_csv": tabular.read_table_csv,
    "trades_parquet": tabular.read_parquet,
    "trades_feather": tabular.read_feather,
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
    layout, doc = detect(path)
    ctx = Context(path, symbol, asset_class, doc)
    if ctx.given is None and ctx.fallback is None and layout in NEEDS_NAME_SYMBOL:
        raise ReplayError(NO_SYMBOL.format(path=path))
    return layout, READERS[layout](ctx)


NEEDS_NAME_SYMBOL: Final = frozenset(
    (
        "candles_json",
        "candles_columns_json",
        "binance_klines_csv",
        "trades_json",
        "trades_csv",
        "nautilus_trades_csv",
        "kraken_trades_csv",
    )
)
"""Layouts without a symbol column: the symbol comes from ``symbol=`` or the file name (the
column-mapped layouts of ``tabular`` check for a symbol column themselves)."""
