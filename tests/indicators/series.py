"""Price series the indicator tests run on: seeded random walks and real shared data."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from tests.shared_data import shared_data_path

RANDOM_WALK_SEEDS = tuple(range(10))


@dataclass(frozen=True)
class OHLCV:
    """Columns of a candle series as float64 arrays."""

    name: str
    timestamp_s: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @property
    def scale(self) -> float:
        """The series' typical price level, for tolerances relative to price."""
        return float(np.mean(np.abs(self.close)))


def random_walk(seed: int, n: int = 3000) -> OHLCV:
    """A geometric random walk with candles around it, at a price level that varies by seed
    (from about 1e-4 to 1e5, so small and large prices are both covered)."""
    rng = np.random.default_rng(seed)
    level = 10.0 ** rng.uniform(-4.0, 5.0)
    close = level * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.001, (2, n))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.lognormal(0.0, 1.0, n)
    timestamp_s = 1_700_000_000.0 + np.arange(n) * 60.0
    return OHLCV(f"walk{seed}", timestamp_s, open_, high, low, close, volume)


def _columns(rows: list[list[float]], name: str) -> OHLCV:
    a = np.asarray(rows, dtype=np.float64)
    return OHLCV(name, a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5])


def freqtrade_json(name: str) -> OHLCV:
    """freqtrade's JSON candles ``[[ts_ms, o, h, l, c, v], ...]``."""
    rows = json.loads(shared_data_path("freqtrade", name).read_text())
    return _columns([[r[0] / 1000.0, *r[1:6]] for r in rows], name)


def freqtrade_csv(name: str) -> OHLCV:
    """freqtrade's CSV candles ``date,open,high,low,close,volume`` (ISO dates)."""
    with shared_data_path("freqtrade", name).open(newline="") as f:
        rows = [
            [datetime.fromisoformat(r["date"]).timestamp()]
            + [float(r[c]) for c in ("open", "high", "low", "close", "volume")]
            for r in csv.DictReader(f)
        ]
    return _columns(rows, name)


@dataclass(frozen=True)
class Trades:
    """Columns of a trade series."""

    timestamp_s: np.ndarray
    price: np.ndarray
    volume: np.ndarray
    side: list[str]


def binance_trades() -> Trades:
    """nautilus_trader's Binance BTCUSDT trades; ``buyer_maker`` True means a seller hit."""
    path = shared_data_path("nautilus_trader", "binance", "btcusdt-trades.csv")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return Trades(
        np.array([datetime.fromisoformat(r["timestamp"]).timestamp() for r in rows]),
        np.array([float(r["price"]) for r in rows]),
        np.array([float(r["quantity"]) for r in rows]),
        ["sell" if r["buyer_maker"] == "True" else "buy" for r in rows],
    )


def trades_as_ticks() -> OHLCV:
    """The Binance trades as a tick series (each trade a candle with open = high = low = close)."""
    t = binance_trades()
    return OHLCV("btcusdt-trades", t.timestamp_s, t.price, t.price, t.price, t.price, t.volume)


REAL_SERIES = {
    "UNITTEST_BTC-1m": lambda: freqtrade_json("UNITTEST_BTC-1m.json"),
    "ETH_BTC-5m": lambda: freqtrade_csv("ETH_BTC-5m.csv"),
    "XRP_ETH-1m": lambda: freqtrade_csv("XRP_ETH-1m.csv"),
    "ADA_BTC-5m": lambda: freqtrade_csv("ADA_BTC-5m.csv"),
    "btcusdt-trades": trades_as_ticks,
}
"""Real series by name, loaded on demand (each skips its test when the data is absent)."""
