"""One dataset over crypto, FX and equity streams: it trains and backtests end to end, and its
per-open-hour features put the three markets on one scale while the per-tick ones do not."""

from __future__ import annotations

import math
import statistics

import numpy as np

from data_feeds.cache.db_connector import DBConnector
from data_feeds.calendars import calendar
from data_feeds.learning_layer import TrainingModule
from data_feeds.learning_layer.backtest import Backtest
from data_feeds.records import Tick

START = 1_704_205_800.0  # Tuesday 2 January 2024, 14:30 UTC: the NYSE opens
SIGMA_PER_HOUR = 0.004
"""Every market's volatility per square root of an open hour."""


def market(
    symbol: str, asset_class: str, calendar_name: str, *, step_s: float, n: int, seed: int
) -> list[Tick]:
    """``n`` ticks of a random walk, one every ``step_s`` seconds of the market's open time."""
    cal = calendar(calendar_name)
    rng = np.random.default_rng(seed)
    sigma = SIGMA_PER_HOUR * math.sqrt(step_s / 3600.0)
    t, price, out = START, 100.0, []
    while len(out) < n:
        t += step_s
        if not cal.is_open(t - step_s / 2):
            continue
        price *= math.exp(float(rng.normal(0.0, sigma)))
        out.append(Tick(symbol, round(price, 6), 1.0, t, asset_class))
    return out


def test_a_mixed_asset_dataset_trains_and_backtests(db: DBConnector) -> None:
    db.store_many(market("BTCUSDT", "crypto", "24/7", step_s=300.0, n=6000, seed=1))
    db.store_many(market("EURUSD", "fx", "fx", step_s=900.0, n=2000, seed=2))
    db.store_many(market("SPY", "equity", "XNYS", step_s=300.0, n=1600, seed=3))
    training = TrainingModule(db, horizon_s=3600.0)
    dataset = training.prepare_dataset(store=False)
    by_symbol = {
        s: [i for i, x in enumerate(dataset.symbols) if x == s] for s in set(dataset.symbols)
    }
    assert set(by_symbol) == {"BTCUSDT", "EURUSD", "SPY"}
    assert all(len(rows) > 500 for rows in by_symbol.values())

    def median(name: str, symbol: str) -> float:
        k = dataset.feature_names.index(name)
        return statistics.median(dataset.x_rows[i][k] for i in by_symbol[symbol][200:])

    per_hour = {s: median("volatility_per_hour", s) for s in by_symbol}
    per_tick = {s: median("volatility", s) for s in by_symbol}
    for value in per_hour.values():  # one scale: the walks' own volatility per open hour
        assert abs(value / SIGMA_PER_HOUR - 1.0) < 0.25
    assert per_tick["EURUSD"] / per_tick["BTCUSDT"] > 1.5  # 15- vs 5-minute steps: sqrt(3)

    result = training.train_model(dataset, register=False)
    assert result.ok, result.message
    backtest = Backtest(db, horizon_s=3600.0, train="50%", test="15%", gate=False).run()
    assert backtest.folds
    assert set(backtest.ticks.symbols) == {"BTCUSDT", "EURUSD", "SPY"}
    assert len(backtest.ticks.times) > 1000
    assert backtest.verdict.startswith("beats always-hold after costs: ")
