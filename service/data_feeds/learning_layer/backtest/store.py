"""Backtest runs kept in Redis: every run's parameters, dataset fingerprints and figures.

Keys (``cache.keys.BACKTEST_*``, ``backtest_run_key``)::

    backtest:run_seq        INCR counter behind run ids (bt-1, bt-2, ...)
    backtest:runs           LIST of run summaries (JSON), newest first, the newest ``keep``
    backtest:run:{id}       JSON of one run (removed when it leaves the list)
"""

from __future__ import annotations

import time
from typing import Any

import redis

from data_feeds.cache.keys import BACKTEST_RUN_SEQ, BACKTEST_RUNS, backtest_run_key
from data_feeds.learning_layer._common import dumps, read_list
from data_feeds.learning_layer.backtest.result import BacktestResult


class BacktestStore:
    """Saves and lists backtest runs (see the module doc)."""

    def __init__(self, client: redis.Redis, *, keep: int = 1000) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        self.redis = client
        self.keep = keep

    def save(self, result: BacktestResult) -> str:
        """Give ``result`` a run id, store it; the id."""
        number = int(self.redis.incr(BACKTEST_RUN_SEQ))
        result.run_id = f"bt-{number}"
        result.created_at = time.time()
        blob = dumps(result.to_dict())
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(backtest_run_key(result.run_id), blob)
            pipe.lpush(BACKTEST_RUNS, blob)
            pipe.ltrim(BACKTEST_RUNS, 0, self.keep - 1)
            if number > self.keep:
                pipe.delete(backtest_run_key(f"bt-{number - self.keep}"))
            pipe.execute()
        return result.run_id

    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored runs, newest first."""
        return read_list(self.redis, BACKTEST_RUNS, limit)
