"""Walk-forward backtests of the served model against baselines, after costs.

- ``windows``: the fold plan (train, embargo, test, step; in time, bars or a share);
- ``engine.Backtest``: one run (a retraining cycle per fold, served through the live objects);
- ``performance``: per-strategy figures with block-bootstrap intervals;
- ``result``: what a run found, its table and verdict, the positions file;
- ``store``: runs kept in Redis and listed;
- its HTML report is ``reports.backtest`` (needs the ``report`` extra: matplotlib).
"""

from data_feeds.learning_layer.backtest.engine import Backtest
from data_feeds.learning_layer.backtest.result import STRATEGIES, BacktestResult, FoldResult
from data_feeds.learning_layer.backtest.store import BacktestStore
from data_feeds.learning_layer.backtest.windows import Fold, WalkForward, Window

__all__ = [
    "STRATEGIES",
    "Backtest",
    "BacktestResult",
    "BacktestStore",
    "Fold",
    "FoldResult",
    "WalkForward",
    "Window",
]
