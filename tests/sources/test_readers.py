"""Readers of recorded files (data_feeds.sources): every recorded layout in the shared data
parses into the right records."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_feeds.errors import ReplayError
from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.sources import detect_layout, read_records, symbol_from_name
from tests.shared_data import shared_data_path

pytestmark = pytest.mark.shared_data


def read(*parts: str, symbol: str | None = None) -> tuple[str, list[Record]]:
    path = shared_data_path(*parts)
    return detect_layout(path), list(read_records(path, symbol))


def iso(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_freqtrade_candles_json() -> None:
    """[[ts_ms, o, h, l, c, v]] -> ticks at the close, timestamped at the candle's close time."""
    layout, rs = read("freqtrade", "UNITTEST_BTC-1m.json")
    assert layout == "candles_json" and len(rs) == 13_681
    first = rs[0]
    assert isinstance(first, Tick)
    assert first.symbol == "UNITTESTBTC" and first.asset_class == "crypto"
    assert first.price == 0.00162008 and first.volume == 108.14853839
    assert first.timestamp == 1_509_836_520.0 + 60.0  # open time + 1 minute


@pytest.mark.parametrize(
    ("name", "rows", "symbol", "interval_s"),
    [
        ("ETH_BTC-5m.csv", 5760, "ETHBTC", 300.0),
        ("ADA_BTC-5m.csv", 5720, "ADABTC", 300.0),
        ("XRP_ETH-1m.csv", 2469, "XRPETH", 60.0),
        ("futures/XRP_USDT_USDT-5m-futures.csv", 1999, "XRPUSDT", 300.0),
    ],
)
def test_freqtrade_candles_csv(name: str, rows: int, symbol: str, interval_s: float) -> None:
    """date,open,high,low,close,volume -> ticks at the close time, symbol from the file name."""
    layout, rs = read("freqtrade", *name.split("/"))
    assert layout == "candles_csv" and len(rs) == rows
    assert all(isinstance(r, Tick) and r.symbol == symbol for r in rs)
    assert rs[1].timestamp - rs[0].timestamp == interval_s
    if name == "ETH_BTC-5m.csv":
        assert isinstance(rs[0], Tick)
        assert rs[0].timestamp == iso("2018-01-10 04:55:00") + 300.0
        assert rs[0].price == 0.0994766 and rs[0].volume == 1820.54447418


def test_binance_kline_csv_without_header() -> None:
    """12-column Binance klines -> ticks at close_time + 1 ms."""
    layout, rs = read("nautilus_trader", "ADABTC-1m-2021-11-27.csv")
    assert layout == "binance_klines_csv" and len(rs) == 10
    first = rs[0]
    assert isinstance(first, Tick) and first.symbol == "ADABTC"
    assert first.timestamp == 1_637_971_260.0  # opened 1637971200000, closes 1637971259999
    assert first.price == 0.00002854 and first.volume == 36304.2
    assert len(read("nautilus_trader", "ADABTC-1m-2021-11-28.csv")[1]) == 11


def test_nautilus_binance_trades() -> None:
    """timestamp,trade_id,price,quantity,buyer_maker -> trades, buyer_maker True = a sell."""
    layout, rs = read("nautilus_trader", "binance", "btcusdt-trades.csv")
    assert layout == "nautilus_trades_csv" and len(rs) == 2001
    first, second = rs[0], rs[1]
    assert isinstance(first, Trade) and isinstance(second, Trade)
    assert (first.symbol, first.side, first.trade_id) == ("BTCUSDT", "sell", "553287559")
    assert first.price == 39432.48 and first.volume == 0.000263
    assert first.timestamp == pytest.approx(iso("2021-01-08 00:00:00.278"))
    assert second.side == "buy"


def test_freqtrade_trades_json_gz() -> None:
    """gzip [[ts_ms, id, type, side, price, amount, cost]] -> trades."""
    layout, rs = read("freqtrade", "XRP_ETH-trades.json.gz")
    assert layout == "trades_json" and len(rs) == 12_477
    first = rs[0]
    assert isinstance(first, Trade)
    assert (first.symbol, first.side, first.trade_id) == ("XRPETH", "sell", "13519807")
    assert first.price == 0.00141342 and first.volume == 23.0
    assert first.timestamp == 1_570_752_011.62
    assert {r.side for r in rs if isinstance(r, Trade)} == {"buy", "sell"}


def test_ccxt_trades_match_the_compact_ones() -> None:
    """The same trades as ccxt dicts read to the same records (their own symbol column)."""
    layout, old = read("freqtrade", "XRP_OLD-trades.json.gz")
    assert layout == "ccxt_trades_json"
    assert old == read("freqtrade", "XRP_ETH-trades.json.gz")[1]


def test_kraken_trades_without_header() -> None:
    """ts_s,price,volume -> trades whose side follows the tick rule."""
    layout, rs = read("freqtrade", "kraken", "trades_csv", "BCHEUR.csv")
    assert layout == "kraken_trades_csv" and len(rs) == 148
    trades = [r for r in rs if isinstance(r, Trade)]
    assert trades[0].symbol == "BCHEUR" and trades[0].timestamp == 1_672_531_436.0
    assert trades[1].price < trades[0].price and trades[1].side == "sell"
    for before, now in itertools.pairwise(trades):
        if now.price > before.price:
            assert now.side == "buy"
        elif now.price < before.price:
            assert now.side == "sell"
        else:
            assert now.side == before.side


def test_freqtrade_trades_csv() -> None:
    """[index,]timestamp,id,type,side,price,amount,cost,date -> trades (symbol given)."""
    path = shared_data_path("freqtrade", "orderflow", "public_trades_list.csv")
    with pytest.raises(ReplayError, match="symbol"):
        read_records(path)
    rs = list(read_records(path, "ETH/USDT"))
    assert detect_layout(path) == "trades_csv" and len(rs) == 1000
    first = rs[0]
    assert isinstance(first, Trade) and first.symbol == "ETHUSDT"
    assert (first.side, first.price, first.volume) == ("buy", 1666.8, 26.062)
    assert first.timestamp == 1_675_329_600.138


def test_pandas_columns_candles() -> None:
    """pandas orient=columns candles JSON -> ticks in index order."""
    layout, rs = read("freqtrade", "orderflow", "candles.json", symbol="ETHUSDT")
    assert layout == "candles_columns_json" and len(rs) == 10_999
    times = [r.timestamp for r in rs]
    assert times == sorted(times)
    assert rs[0].timestamp == 1_672_677_900.0 + 300.0


def test_binance_depth_snapshot_and_update() -> None:
    """Depth CSV: the snapshot (bids only) becomes one BookSnapshot, the update one BookDelta."""
    layout, snap = read("nautilus_trader", "binance", "btcusdt-depth-snap.csv")
    assert layout == "binance_depth_csv" and len(snap) == 1
    book = snap[0]
    assert isinstance(book, BookSnapshot) and book.symbol == "BTCUSDT"
    assert len(book.bids) == 100 and book.asks == ()
    assert book.bids[0] == (20377.0, 1.77)
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert book.timestamp == 1_667_346_579.146
    _, update = read("nautilus_trader", "binance", "btcusdt-depth-update.csv")
    assert len(update) == 1
    delta = update[0]
    assert isinstance(delta, BookDelta)
    levels = (*delta.bids, *delta.asks)
    assert len(levels) == 100 and any(size == 0.0 for _, size in levels)


def test_quotes_become_mid_ticks() -> None:
    """timestamp,symbol,ask_size,ask,bid_size,bid -> ticks at the mid with bid and ask."""
    layout, rs = read("nautilus_trader", "binance", "btcusdt-quotes.csv")
    assert layout == "quotes_csv" and len(rs) == 451
    first = rs[0]
    assert isinstance(first, Tick) and first.symbol == "BTCUSDT"
    assert (first.bid, first.ask) == (39432.99, 39433.62)
    assert first.price == pytest.approx((39432.99 + 39433.62) / 2)


@pytest.mark.parametrize(
    ("name", "layout", "kind"),
    [
        ("binance-futures_book_snapshot_25_BTCUSDT.csv", "tardis_book_snapshot_csv", BookSnapshot),
        ("binance-futures_book_snapshot_5_BTCUSDT.csv", "tardis_book_snapshot_csv", BookSnapshot),
        ("bitmex_trades_XBTUSD.csv", "tardis_trades_csv", Trade),
        ("huobi-dm-swap_quotes_BTC-USD.csv", "tardis_quotes_csv", Tick),
        # The sample holds the first 15 ask levels of one snapshot.
        (
            "deribit_incremental_book_L2_BTC-PERPETUAL.csv",
            "tardis_incremental_book_csv",
            BookSnapshot,
        ),
    ],
)
def test_tardis_samples(name: str, layout: str, kind: type) -> None:
    """tardis.dev samples parse with the symbol and exchange of their columns."""
    found, rs = read("nautilus_trader", "tardis", name)
    assert found == layout and rs
    assert all(isinstance(r, kind) for r in rs)
    for r in rs:
        if isinstance(r, BookSnapshot):
            assert r.bids or r.asks
            if r.bids and r.asks:
                assert r.bids[0][0] < r.asks[0][0]
            assert [p for p, _ in r.asks] == sorted(p for p, _ in r.asks)
        assert not isinstance(r, Sentiment)
        assert r.exchange is not None and r.timestamp > 1.5e9


def test_unusable_files_fail_clearly(tmp_path: Path) -> None:
    """Missing, unknown, empty and funding-rate files fail at once; a bad row names its line."""
    with pytest.raises(OSError):
        read_records(tmp_path / "missing.csv")
    unknown = tmp_path / "notes.csv"
    unknown.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ReplayError, match="not a layout"):
        read_records(unknown)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ReplayError, match="empty"):
        read_records(tmp_path / "empty.csv")
    with pytest.raises(ReplayError, match="funding"):
        read_records(shared_data_path("freqtrade", "futures", "XRP_USDT_USDT-8h-funding_rate.csv"))
    bad = tmp_path / "BTC_USDT-1m.csv"
    bad.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-01 00:00:00+00:00,1,1,1,1,1\n"
        "2024-01-01 00:01:00+00:00,1,1,1,oops,1\n"
    )
    records = read_records(bad)
    with pytest.raises(ReplayError, match=r"BTC_USDT-1m.csv:3: not a number"):
        list(records)


def test_small_parsers() -> None:
    """Symbols from file names (timestamps: tests/test_timestamps.py, through the readers)."""
    assert symbol_from_name(Path("XRP_USDT_USDT-5m-futures.csv")) == "XRPUSDT"
    assert symbol_from_name(Path("btcusdt-trades.csv")) == "BTCUSDT"
    assert symbol_from_name(Path("public_trades_list.csv")) is None
