"""The backtest's PnL recomputed by an established backtesting library from ``--positions``.

vectorbt's ``Portfolio.from_orders`` with ``size_type="targetamount"`` takes each tick's
position as the holding to reach at that tick's price, with ``fees`` as a fraction of each
order's value: the convention of ``signals.positions`` (fill at the tick's price, cost per unit
of turnover, the last position left open and marked at the last price). Its trades' PnL, summed,
must equal ours to 1e-9 relative.
"""

from __future__ import annotations

import csv
import math
import random
import warnings
from pathlib import Path

import numpy as np
import pytest

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cli import main
from data_feeds.learning_layer.backtest import BacktestStore
from data_feeds.records import BookSnapshot, Tick
from tests.learning_layer.history import T0, planted_history

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # vectorbt's own imports warn on newer pandas/numpy
    vbt = pytest.importorskip("vectorbt")
    pd = pytest.importorskip("pandas")


def books_and_walk(n: int, seed: int) -> list[Tick | BookSnapshot]:
    """A second symbol whose book gives every tick a spread and slippage cost of its own."""
    rng = random.Random(seed)
    price, out = 0.0016, []  # a small price, as on the real ALT/BTC candles
    for i in range(n):
        t = T0 + i + 0.25
        half = price * rng.uniform(1e-4, 6e-4)
        out.append(BookSnapshot("LOWBTC", t - 0.1, ((price - half, 5.0),), ((price + half, 5.0),)))
        out.append(Tick("LOWBTC", price, 1.0, t))
        price *= math.exp(rng.gauss(0.0, 2e-3))
    return out


def test_vectorbt_recomputes_our_pnl(
    db: DBConnector, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_FEEDS_REDIS_URL", redis_url)
    db.store_many(planted_history([(4000, 1.0)], seed=5))
    db.store_many(books_and_walk(4000, seed=6))
    out = tmp_path / "positions.csv"
    argv = ["backtest", "--horizon-s", "1", "--cost-bps", "3", "--margin", "0", "--no-gate",
            "--hold", "keep", "--positions", str(out)]  # fmt: skip
    assert main(argv) == 0
    store = BacktestStore(db.redis)
    run = store.get(store.runs()[0]["run_id"])
    assert run is not None
    with out.open() as f:
        rows = list(csv.DictReader(f))
    ours_total = run["figures"]["model"]["pnl"]
    theirs_total = 0.0
    for symbol in ("SENTUSDT", "LOWBTC"):
        mine = [r for r in rows if r["symbol"] == symbol]
        close = pd.Series([float(r["price"]) for r in mine])
        size = pd.Series([float(r["position"]) for r in mine])
        fees = pd.Series([float(r["cost_bps"]) * 1e-4 for r in mine])
        assert (size != 0).any() and (size.diff().abs() > 0).sum() > 20  # it really trades
        if symbol == "LOWBTC":
            assert fees.nunique() > 100  # the book's cost differs tick to tick
        pf = vbt.Portfolio.from_orders(
            close,
            size,
            size_type="targetamount",
            fees=fees,
            init_cash=float(close.max()) * 10.0,
            direction="both",
            freq="1s",
        )
        theirs = float(pf.trades.pnl.sum())
        ours = run["by_symbol"][symbol]["model"]["pnl"]
        assert math.isclose(theirs, ours, rel_tol=1e-9), (symbol, theirs, ours)
        assert np.isfinite(theirs) and theirs != 0.0
        theirs_total += theirs
    assert math.isclose(theirs_total, ours_total, rel_tol=1e-9)
