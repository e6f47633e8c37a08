"""Tables read by their column names (data_feeds.sources.columns/tabular/arrow): files written
by pandas itself (to_csv, to_parquet, to_feather) import exactly the rows written."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis

from data_feeds.cli import main
from data_feeds.errors import ReplayError
from data_feeds.records import Record, Tick, Trade
from data_feeds.sources import detect_layout, open_records, read_records

DAY = 86400.0


def ohlcv(index: pd.Index) -> pd.DataFrame:
    """Candles whose close, adjusted close and volume differ row by row."""
    n = len(index)
    close = [100.0 + 0.25 * i for i in range(n)]
    return pd.DataFrame(
        {
            "Open": [c - 0.5 for c in close],
            "High": [c + 1.0 for c in close],
            "Low": [c - 1.0 for c in close],
            "Close": close,
            "Adj Close": [c * 0.9 for c in close],
            "Volume": [1000 + 7 * i for i in range(n)],
        },
        index=index,
    )


def epochs(index: pd.Index) -> list[float]:
    """Epoch seconds of an index (naive means UTC)."""
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is None:
        stamps = stamps.tz_localize("UTC")
    return [ts.timestamp() for ts in stamps]


def daily() -> pd.DatetimeIndex:
    """Weekdays only, with Martin Luther King day 2024-01-15 missing."""
    days = pd.bdate_range("2024-01-02", periods=20)
    return days.drop(pd.Timestamp("2024-01-15"))


def ticks(path: Path, symbol: str | None = None) -> list[Tick]:
    rs = list(read_records(path, symbol))
    assert all(isinstance(r, Tick) for r in rs)
    return [r for r in rs if isinstance(r, Tick)]


def assert_candles(rs: list[Tick], df: pd.DataFrame, interval: float, symbol: str) -> None:
    """Exactly the rows written: one tick per candle at its close time, close and volume."""
    assert len(rs) == len(df)
    assert [r.price for r in rs] == list(df["Close"])
    assert [r.volume for r in rs] == [float(v) for v in df["Volume"]]
    assert [r.timestamp for r in rs] == [t + interval for t in epochs(df.index)]
    assert {r.symbol for r in rs} == {symbol}


def unnamed_daily(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path)


def named_index(df: pd.DataFrame, path: Path) -> None:
    df.rename_axis("Date").to_csv(path)


def lower_case_column(df: pd.DataFrame, path: Path) -> None:
    out = df.rename_axis("date").reset_index()
    out.columns = [str(c).lower() for c in out.columns]
    out.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("write", "index", "interval"),
    [
        (unnamed_daily, daily(), DAY),
        (named_index, daily(), DAY),
        (lower_case_column, daily(), DAY),
        (unnamed_daily, pd.date_range("2017-04-19 09:00", periods=30, freq="h"), 3600.0),
        (named_index, pd.date_range("2017-04-19 09:00", periods=30, freq="5min"), 300.0),
        (
            unnamed_daily,
            pd.date_range("2024-03-08 09:30", periods=40, freq="30min", tz="America/New_York"),
            1800.0,
        ),
        (named_index, daily().tz_localize("America/New_York"), DAY),
    ],
    ids=["unnamed", "Date", "date", "hourly", "5min", "tz-intraday", "tz-daily"],
)
def test_pandas_to_csv_candles(
    tmp_path: Path, write: Callable[[pd.DataFrame, Path], None], index: pd.Index, interval: float
) -> None:
    """pandas to_csv OHLCV: any header case, named or unnamed index, date-only or datetime, with
    or without a time zone (the tz-intraday index crosses the DST change of 2024-03-10)."""
    df = ohlcv(index)
    path = tmp_path / "AAPL.csv"
    write(df, path)
    assert detect_layout(path) == "candles_csv"
    assert_candles(ticks(path), df, interval, "AAPL")


def test_daily_interval_is_the_smallest_step_unless_the_name_says(tmp_path: Path) -> None:
    """A file starting on a Friday: its first step is 3 days, its interval still one; a file
    name's interval wins."""
    df = ohlcv(pd.bdate_range("2024-01-05", periods=6))
    df.to_csv(tmp_path / "SPY.csv")
    assert_candles(ticks(tmp_path / "SPY.csv"), df, DAY, "SPY")
    df.to_csv(tmp_path / "SPY-1w.csv")
    assert_candles(ticks(tmp_path / "SPY-1w.csv"), df, 7 * DAY, "SPY")


def test_yfinance_columns(tmp_path: Path) -> None:
    """Date,Open,High,Low,Close,Adj Close,Volume: the close is Close, not Adj Close."""
    df = ohlcv(daily()).rename_axis("Date")
    df = df[["Open", "High", "Low", "Close", "Adj Close", "Volume"]]
    df.to_csv(tmp_path / "msft.csv")
    assert_candles(ticks(tmp_path / "msft.csv"), df, DAY, "MSFT")
    # Adj Close alone is the close.
    df.drop(columns="Close").to_csv(tmp_path / "ADJ.csv")
    rs = ticks(tmp_path / "ADJ.csv")
    assert [r.price for r in rs] == list(df["Adj Close"])


def yfinance_frame(index: pd.Index, tickers: list[str]) -> pd.DataFrame:
    """What yf.download(...) returns: columns (Price, Ticker), Price sorted as yfinance does."""
    prices = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    base = ohlcv(index)
    data = {
        (price, ticker): [v * (k + 1) for v in base[price]]
        for price in prices
        for k, ticker in enumerate(tickers)
    }
    cols = pd.MultiIndex.from_tuples(list(data), names=["Price", "Ticker"])
    return pd.DataFrame(data, index=index.rename("Date")).reindex(columns=cols)


def test_yfinance_multi_row_header(tmp_path: Path) -> None:
    """Price / Ticker / Date rows, then data: the symbol from the Ticker row."""
    df = yfinance_frame(daily(), ["AAPL"])
    path = tmp_path / "download.csv"
    df.to_csv(path)
    assert path.read_text().splitlines()[:3] == [
        "Price,Adj Close,Close,High,Low,Open,Volume",
        "Ticker,AAPL,AAPL,AAPL,AAPL,AAPL,AAPL",
        "Date,,,,,,",
    ]
    assert detect_layout(path) == "yfinance_csv"
    single = df.xs("AAPL", axis=1, level="Ticker")
    assert_candles(ticks(path), single, DAY, "AAPL")
    assert {r.symbol for r in ticks(path, "AAPL.US")} == {"AAPL.US"}  # --symbol wins


def test_yfinance_several_tickers(tmp_path: Path) -> None:
    """Several tickers: one series each, in row order; a given symbol picks its ticker."""
    df = yfinance_frame(daily(), ["AAPL", "MSFT"])
    path = tmp_path / "download.csv"
    df.to_csv(path)
    rs = ticks(path)
    assert len(rs) == 2 * len(df)
    msft = [r for r in rs if r.symbol == "MSFT"]
    assert_candles(msft, df.xs("MSFT", axis=1, level="Ticker"), DAY, "MSFT")
    assert_candles(ticks(path, "MSFT"), df.xs("MSFT", axis=1, level="Ticker"), DAY, "MSFT")
    with pytest.raises(ReplayError, match="AAPL, MSFT"):
        read_records(path, "GOOG")


def trades_frame(n: int = 25) -> pd.DataFrame:
    start = 1_704_067_200_000  # 2024-01-01 in ms
    return pd.DataFrame(
        {
            "timestamp": [start + 137 * i for i in range(n)],
            "price": [42_000.0 + (i % 5) - 2 for i in range(n)],
            "qty": [0.001 * (i + 1) for i in range(n)],
            "side": ["buy" if i % 3 else "sell" for i in range(n)],
        }
    )


def trades_of(path: Path, symbol: str | None = None) -> list[Trade]:
    rs: list[Record] = list(read_records(path, symbol))
    assert all(isinstance(r, Trade) for r in rs)
    return [r for r in rs if isinstance(r, Trade)]


def test_generic_trades_csv(tmp_path: Path) -> None:
    """timestamp (ms), price, qty, side -> trades, exactly the rows written."""
    df = trades_frame()
    path = tmp_path / "BTCUSDT-trades.csv"
    df.to_csv(path, index=False)
    assert detect_layout(path) == "trades_columns_csv"
    rs = trades_of(path)
    assert len(rs) == len(df)
    assert [r.price for r in rs] == list(df["price"])
    assert [r.volume for r in rs] == list(df["qty"])
    assert [r.side for r in rs] == list(df["side"])
    assert [r.timestamp for r in rs] == [t / 1000 for t in df["timestamp"]]
    assert {r.symbol for r in rs} == {"BTCUSDT"} and rs[0].trade_id is None


def test_trades_with_a_maker_flag_and_ids(tmp_path: Path) -> None:
    """is_buyer_maker true means the seller was the aggressor; trade_id and symbol columns."""
    df = (
        trades_frame().drop(columns="side").rename(columns={"qty": "Quantity", "timestamp": "time"})
    )
    df["is_buyer_maker"] = [i % 2 == 0 for i in range(len(df))]
    df["trade_id"] = range(900, 900 + len(df))
    df["symbol"] = "ETH-USD"
    df["time"] = pd.to_datetime(df["time"], unit="ms", utc=True)
    path = tmp_path / "trades.csv"
    df.to_csv(path, index=False)
    rs = trades_of(path)
    assert len(rs) == len(df)
    assert [r.side for r in rs] == ["sell" if m else "buy" for m in df["is_buyer_maker"]]
    assert [r.trade_id for r in rs] == [str(i) for i in df["trade_id"]]
    assert [r.volume for r in rs] == list(df["Quantity"])
    assert [r.timestamp for r in rs] == pytest.approx([t.timestamp() for t in df["time"]])
    assert {r.symbol for r in rs} == {"ETHUSD"}


def test_parquet_with_its_index(tmp_path: Path) -> None:
    """to_parquet keeps the index (named, or __index_level_0__): a tz-aware and a naive one."""
    df = ohlcv(pd.date_range("2024-03-08 09:30", periods=40, freq="30min", tz="America/New_York"))
    df.to_parquet(tmp_path / "QQQ.parquet")
    assert detect_layout(tmp_path / "QQQ.parquet") == "candles_parquet"
    assert_candles(ticks(tmp_path / "QQQ.parquet"), df, 1800.0, "QQQ")
    named = ohlcv(daily()).rename_axis("Date")
    named.to_parquet(tmp_path / "SPY-1d.parquet")
    assert_candles(ticks(tmp_path / "SPY-1d.parquet"), named, DAY, "SPY")
    # An index of another name: the pandas metadata says which column it is.
    other = ohlcv(daily()).rename_axis("session")
    other.to_parquet(tmp_path / "IWM.parquet")
    assert_candles(ticks(tmp_path / "IWM.parquet"), other, DAY, "IWM")


def test_feather_after_reset_index(tmp_path: Path) -> None:
    """to_feather needs a default index: reset_index gives an 'index' or 'Date' column."""
    df = ohlcv(pd.date_range("2017-04-19 09:00", periods=30, freq="h"))
    df.reset_index().to_feather(tmp_path / "GLD.feather")
    assert detect_layout(tmp_path / "GLD.feather") == "candles_feather"
    assert_candles(ticks(tmp_path / "GLD.feather"), df, 3600.0, "GLD")
    trades = trades_frame()
    trades["timestamp"] = pd.to_datetime(trades["timestamp"], unit="ms")  # naive: UTC
    trades.to_feather(tmp_path / "BTCUSDT.feather")
    rs = trades_of(tmp_path / "BTCUSDT.feather")
    assert detect_layout(tmp_path / "BTCUSDT.feather") == "trades_feather"
    assert [r.timestamp for r in rs] == pytest.approx(epochs(pd.Index(trades["timestamp"])))
    assert [r.side for r in rs] == list(trades["side"])


def test_date32_column(tmp_path: Path) -> None:
    """A column of dates (Arrow date32) is each day's midnight UTC."""
    df = ohlcv(daily()).rename_axis("date").reset_index()
    df["date"] = df["date"].dt.date
    df.to_parquet(tmp_path / "DIA.parquet", index=False)
    assert_candles(ticks(tmp_path / "DIA.parquet"), ohlcv(daily()), DAY, "DIA")


def test_unmappable_files_name_their_columns(tmp_path: Path) -> None:
    """Neither candles nor trades: the error names the columns found and what each needs."""
    df = pd.DataFrame({"foo": [1, 2], "bar": [3, 4]})
    df.to_csv(tmp_path / "odd.csv", index=False)
    df.to_parquet(tmp_path / "odd.parquet")
    for name in ("odd.csv", "odd.parquet"):
        with pytest.raises(ReplayError, match="'foo', 'bar'") as info:
            read_records(tmp_path / name)
        assert "close" in str(info.value) and "price" in str(info.value)
    nameless = ohlcv(daily())
    nameless.to_csv(tmp_path / "daily_bars_2024.csv")  # neither the name nor a column says
    with pytest.raises(ReplayError, match="symbol"):
        read_records(tmp_path / "daily_bars_2024.csv")
    assert ticks(tmp_path / "daily_bars_2024.csv", "VTI")[0].symbol == "VTI"


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyarrow, a Parquet file says which extra to install."""
    ohlcv(daily()).to_parquet(tmp_path / "SPY.parquet")
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ReplayError, match=r"pip install 'data-feeds\[parquet\]'"):
        open_records(tmp_path / "SPY.parquet")


def test_import_takes_the_asset_class_from_the_settings(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """data-feeds import: no --asset-class, DATA_FEEDS_ASSET_CLASSES maps the symbol; an
    explicit --asset-class wins."""
    df = yfinance_frame(daily(), ["AAPL"])
    df.to_csv(tmp_path / "download.csv")
    ohlcv(daily()).to_csv(tmp_path / "EURUSD.csv")
    monkeypatch.setenv("DATA_FEEDS_ASSET_CLASSES", "AAPL=equity,EURUSD=fx")
    code = main(["import", str(tmp_path / "download.csv"), "--redis-url", redis_url, "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["imported"] == len(df)
    assert redis_client.xlen("equity_price:AAPL") == len(df)
    code = main(["import", str(tmp_path / "EURUSD.csv"), "--asset-class", "crypto",
                 "--redis-url", redis_url, "--json"])  # fmt: skip
    capsys.readouterr()
    assert code == 0 and redis_client.xlen("crypto_price:EURUSD") == len(df)
    assert not redis_client.exists("fx_price:EURUSD")


def test_date_and_time_in_separate_columns_are_refused_with_the_reason(tmp_path: Path) -> None:
    """MetaTrader-style ``Date,Time,...``: not stamped at midnight each, but refused, saying so."""
    df = pd.DataFrame(
        {
            "Date": ["2024.01.02"] * 3,
            "Time": ["09:30", "09:31", "09:32"],
            "Close": [1.0, 2.0, 3.0],
            "Volume": [1, 1, 1],
        }
    )
    path = tmp_path / "EURUSD.csv"
    df.to_csv(path, index=False)
    with pytest.raises(ReplayError, match=r"'Date', 'Time'.*separate columns"):
        read_records(path)


def test_candles_newest_first_are_refused(tmp_path: Path) -> None:
    """A file sorted newest first (as some exports are) would stamp each close at its open
    time, before it was known: refused with what to do."""
    days = pd.date_range("2024-01-02", periods=4, freq="D")[::-1].rename("Date")
    df = pd.DataFrame({"Close": [5.0, 4.0, 3.0, 2.0], "Volume": [1, 1, 1, 1]}, index=days)
    path = tmp_path / "SPY.csv"
    df.to_csv(path)
    with pytest.raises(ReplayError, match="newest first; sort them oldest first"):
        list(read_records(path))
