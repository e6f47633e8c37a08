"""Readers of recorded market-data files: records to replay into streams or to build datasets
from (used by the simulator's ``replay`` command and the learning layer alike).

``read_records(path, symbol=None, asset_class="crypto")`` detects the layout from the file's
content (its first rows or its JSON shape; gzip, Parquet and Feather are recognised by their
magic bytes) and yields records in file order. It checks the file and detects the layout
before returning, so an unreadable or unknown file fails at once (``OSError`` /
``errors.ReplayError``); a malformed row fails when reached, naming the file and line.

=============================  ==============================================================
layout                         content -> records
=============================  ==============================================================
candles_json                   freqtrade ``[[ts_ms, open, high, low, close, volume], ...]``
candles_columns_json           pandas ``to_json(orient="columns")`` candles (``date``, ``close``..)
candles_csv                    CSV candles by column names (``columns``): ``date,open,high,low,
                               close,volume``, pandas ``to_csv`` (``Open..Volume`` any case,
                               named or unnamed index), yfinance ``Date,...,Adj Close,Volume``
yfinance_csv                   yfinance ``download(...).to_csv()``: ``Price,...`` / ``Ticker,...``
                               / ``Date,,,`` header rows; one series per ticker
candles_parquet/_feather       Parquet / Feather candles by column names (pyarrow, the
                               ``parquet`` extra; the pandas index is a column)
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
trades_columns_csv             any other CSV whose names map to trades: a time, ``price`` and a
                               size (``amount``/``qty``/``quantity``/``size``/``volume``),
                               optional ``side``/``is_buyer_maker``, id, ``symbol``
trades_parquet/_feather        Parquet / Feather trades by column names
=============================  ==============================================================

The specific layouts are told first; any other CSV header, and every Parquet/Feather file, goes
through the one column mapping of ``columns`` (names stripped, lower-cased, spaces, ``_`` and
``-`` folded). A file that maps to neither candles nor trades fails naming its columns and what
each kind needs.

Conventions:

- **Candles become price ticks at their close price, timestamped at the candle's close time**
  (open time + interval; Binance klines: ``close_time + 1 ms``), with the candle's volume.
  The close is only known when the candle closes, so a consumer never sees a price before it
  existed. The interval comes from the file name (``-5m``, ``-1h``...), else it is the
  smallest positive step among the first 50 rows (daily equities skip weekends and holidays);
  a single candle with no interval keeps its open time. A date alone is its midnight UTC.
- Quotes become ticks at the mid with their bid/ask and volume 0.
- Trade sides: ``buyer_maker`` true means the seller was the aggressor (``sell``); a file
  without sides (Kraken) or with ``unknown`` gets the tick rule (up-tick ``buy``, down-tick
  ``sell``, unchanged: the previous side).
- Timestamps in seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude)
  or ISO-8601 text (naive means UTC) all become float epoch seconds, by the rules of
  ``data_feeds.timestamps`` (the same as the validator's); Arrow timestamps are their instant
  (without a time zone: UTC), Arrow dates their midnight UTC.
- The symbol: ``symbol`` if given, else the file's symbol column (yfinance: its Ticker row),
  else the file name before its first ``-`` with ``_`` removed (``ETH_BTC-5m.csv`` ->
  ``ETHBTC``; a repeated settle currency is dropped: ``XRP_USDT_USDT-5m-futures.csv`` ->
  ``XRPUSDT``).
- The asset class: ``asset_class`` for every record; ``IMPLIED_ASSET_CLASS`` (``""``) leaves
  it to the validator: the symbol's in its ``asset_classes`` mapping, else its default
  (``data-feeds import`` without ``--asset-class``).
- Funding-rate series (``*funding_rate*``) are not prices and are refused.

No validation beyond parsing: the records go through the pipeline's ``SchemaValidator`` like
any other message.

Modules: ``reader`` (``open_records``/``read_records``, the front), ``detect`` (the layout of a
file), one adapter per foreign format (``freqtrade``, ``ccxt``, ``binance``, ``kraken``,
``nautilus``, ``tardis``, ``plain`` for pandas JSON candles and quotes), ``columns`` (the one
rule mapping column names to candles or trades), ``tabular`` (tables read by that rule: header
CSVs, yfinance, Parquet/Feather), ``arrow`` (Parquet/Feather through pyarrow, imported only for
such a file), ``base`` (what the adapters share: symbols, cells, the tick rule, candle ticks)
and ``files`` (plain or gzip, rows, JSON).
"""

from data_feeds.sources.base import (
    IMPLIED_ASSET_CLASS,
    interval_from_name,
    is_number,
    symbol_from_name,
)
from data_feeds.sources.detect import LAYOUTS, detect_layout
from data_feeds.sources.reader import open_records, read_records

__all__ = [
    "IMPLIED_ASSET_CLASS",
    "LAYOUTS",
    "detect_layout",
    "interval_from_name",
    "is_number",
    "open_records",
    "read_records",
    "symbol_from_name",
]
