"""Backtest runs kept in Redis: every run's parameters, dataset fingerprints and figures.

Keys (``cache.keys.BACKTEST_*``, ``backtest_run_key``)::

    {backtest}:run_seq      INCR counter behind run ids (bt-1, bt-2, ...)
    {backtest}:runs         LIST of run summaries (JSON: id, time, symbols, folds, parameters,
                            verdict, the model's figures), newest first, the newest ``keep``
    {backtest}:run:<id>     JSON of the whole run (removed when it leaves the list)
"""

from __future__ import annotations

import time
from typing import Any

import orjson
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
        whole = result.to_dict()
        summary = {
            key: whole[key]
            for key in ("run_id", "created_at", "verdict", "symbols", "params", "test_ticks",
                        "dataset_fingerprint")
        }  # fmt: skip
        summary["folds"] = len(whole["folds"])
        summary["model"] = whole["figures"].get("model")
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(backtest_run_key(result.run_id), dumps(whole))
            pipe.lpush(BACKTEST_RUNS, dumps(summary))
            pipe.ltrim(BACKTEST_RUNS, 0, self.keep - 1)
            if number > self.keep:
                pipe.delete(backtest_run_key(f"bt-{number - self.keep}"))
            pipe.execute()
        return result.run_id

    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Summaries of the stored runs, newest first."""
        return read_list(self.redis, BACKTEST_RUNS, limit)

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The whole stored run ``run_id`` (``None`` once it has left the list)."""
        raw = self.redis.get(backtest_run_key(run_id))
        return None if raw is None else dict(orjson.loads(raw))
