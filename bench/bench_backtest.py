"""Backtest replay throughput beside the live service's drain of the same history, in one run.

    .venv/bin/python bench/bench_backtest.py [--backlog 100000] [--symbols 10] [--redis-url URL]

A history of ``--backlog`` price ticks over ``--symbols`` symbols (10 ticks/s each, 5 s
horizon) is stored once. Then, on that same store:

1. ``backtest``: the learning layer's walk-forward (train 50 %, test 10 %, 5 folds, the gate on,
   the default model served online), timed from reading the history to the last figure; its
   ticks/s are the history's ticks over that time (each tick is replayed twice: once into the
   training rows, once through the live cleaner and generator, and each fold trains a model);
2. ``drain``: one ``data-feeds run`` worker in its own process drains the same streams as a
   backlog (bench_service's measure: ticks/s from its first signal to its last).

Printed side by side with their ratio. Without --redis-url the bundled redis-server is started
in a temporary directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from bench_service import drain, prefill, symbols
from data_feeds.cache.db_connector import DBConnector
from data_feeds.learning_layer.backtest import Backtest
from data_feeds.settings import Settings
from server import bench_redis


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--redis-url")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dfb-") as tmp_name:
        tmp = Path(tmp_name)
        with bench_redis(args.redis_url, tmp) as url:
            run(args, url, tmp)
    return 0


def run(args: argparse.Namespace, url: str, tmp: Path) -> None:
    """The bench against the Redis at ``url``."""
    syms = symbols(args.symbols)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        prefill(client, args.backlog, syms)
        settings = Settings(redis_url=url, data_dir=tmp, horizon_s=5.0)
        with DBConnector(url, settings=settings) as db:
            t0 = time.perf_counter()
            result = Backtest(db).run()
            seconds = time.perf_counter() - t0
        replay = result.replay_ticks / seconds
        full = drain(url, client, syms, args.backlog, tmp)
        print(f"{args.backlog:,} stored ticks over {args.symbols} symbols")
        print(
            f"  backtest ({len(result.folds)} folds, {len(result.ticks):,} test ticks)"
            f" {replay:>10,.0f} ticks/s   ({seconds:.1f} s)"
        )
        print(f"  live drain (one worker)            {full:>10,.0f} ticks/s")
        print(f"  backtest / drain                   {replay / full:>10.2f}x")
    finally:
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
