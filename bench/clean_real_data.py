"""Run the DataCleaner over real recorded series and print what it decided, and how fast.

    .venv/bin/python bench/clean_real_data.py [--data-dir ../shared/data] [--repeats 5]

Files (from the shared data folder beside the checkout, never copied into the repo):
Binance BTC/USDT trades (nautilus_trader), Binance XRP/ETH trades (freqtrade), and two candle
series read as price ticks (close price), plus a synthetic in-order tick stream that takes the
hot path only. Everything is the cleaner's default configuration.

The time per record is the median over chunks of ``CHUNK`` consecutive ``clean`` calls (one
``perf_counter_ns`` pair per chunk, so the timer's own cost is spread thin), over ``--repeats``
passes with a fresh cleaner each, in this one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from data_feeds.records import Record
from data_feeds.sources import read_records
from data_feeds.validation.cleaner import CLEAN_ACTIONS, FEED_EVENT_TYPES, DataCleaner
from streams import random_walk

CHUNK = 100
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def real(relative: str, symbol: str) -> Callable[[Path], list[Record]]:
    """A recorded file read by the project's one reader of these layouts (candles become
    ticks at their close)."""

    def load(data: Path) -> list[Record]:
        return list(read_records(data / relative, symbol))

    return load


btcusdt_trades = real("nautilus_trader/binance/btcusdt-trades.csv", "BTCUSDT")
xrpeth_trades = real("freqtrade/XRP_ETH-trades.json.gz", "XRPETH")
unittest_btc_candles = real("freqtrade/UNITTEST_BTC-1m.json", "UNITTESTBTC")
ethbtc_candles = real("freqtrade/ETH_BTC-5m.csv", "ETHBTC")


def synthetic_ticks(_data: Path) -> list[Record]:
    """The hot path alone: 20k in-order ticks of a seeded random walk, nothing to flag."""
    return list(random_walk(20_000, 1, symbols=("SYNTH",), start=100.0, sigma=1e-4, rate_hz=10.0))


SERIES: dict[str, Callable[[Path], list[Record]]] = {
    "binance/btcusdt-trades.csv": btcusdt_trades,
    "freqtrade/XRP_ETH-trades.json.gz": xrpeth_trades,
    "freqtrade/UNITTEST_BTC-1m.json (candles)": unittest_btc_candles,
    "freqtrade/ETH_BTC-5m.csv (candles)": ethbtc_candles,
    "synthetic in-order ticks (hot path)": synthetic_ticks,
}


def median_us_per_record(records: list[Record], repeats: int) -> float:
    per_record_ns: list[float] = []
    for _ in range(repeats):
        clean = DataCleaner().clean
        for start in range(0, len(records) - CHUNK + 1, CHUNK):
            chunk = records[start : start + CHUNK]
            t0 = time.perf_counter_ns()
            for record in chunk:
                clean(record)
            per_record_ns.append((time.perf_counter_ns() - t0) / CHUNK)
    return statistics.median(per_record_ns) / 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.data_dir.is_dir():
        print(f"no shared data at {args.data_dir}", file=sys.stderr)
        return 2

    columns = (*CLEAN_ACTIONS, *FEED_EVENT_TYPES)
    widths = [max(len(c), 6) for c in columns]
    header = " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(f"{'file':42} {'records':>7} {header} us/record")
    for label, load in SERIES.items():
        records = load(args.data_dir)
        cleaner = DataCleaner()
        for record in records:
            cleaner.clean(record)
        us = median_us_per_record(records, args.repeats)
        counts = " ".join(f"{cleaner.counts[c]:>{w}}" for c, w in zip(columns, widths, strict=True))
        print(f"{label:42} {len(records):>7} {counts} {us:9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
