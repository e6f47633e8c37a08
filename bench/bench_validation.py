"""validate + clean per price tick, beside a bare ``orjson.loads`` of the same payload.

    .venv/bin/python bench/bench_validation.py [--ticks 50000] [--repeats 5]

The payload is our stream layout as redis-py returns it (``{b"data": b'{...}'}``, ~140 bytes);
the SchemaValidator parses and checks it into a Tick and the DataCleaner judges it (duplicates,
ordering, gaps, spikes). Target (issue 2): at most 4x the bare decode. A second table does the
same for ticks with a bid and ask, as the simulator writes them, and a third for 50 symbols taking
turns, so every tick meets another feed's state, as in a worker reading many streams (no target
for either; each has its own baseline).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import orjson

from data_feeds.cache.keys import record_stream, stream_key
from data_feeds.records import PRICE
from data_feeds.validation.cleaner import DataCleaner
from data_feeds.validation.schema_validator import SchemaValidator
from streams import entries, random_walk
from timing import per_item_us, report

STREAM = stream_key("crypto", PRICE, "BTCUSDT")


def interleaved(n: int, seed: int, symbols: int) -> list[tuple[str, dict[bytes, bytes]]]:
    """(stream key, entry) pairs of ``symbols`` symbols taking turns, as one worker reads its
    streams; each stream key one str object, as the consumer passes it."""
    names = [f"SYM{i:03d}USDT" for i in range(symbols)]
    ticks = random_walk(n, seed, symbols=names, start=100.0, rate_hz=4.0 * symbols)
    keys = {name: record_stream(ticks[i]) for i, name in enumerate(names)}
    return [(keys[t.symbol], entry) for t, entry in zip(ticks, entries(ticks), strict=True)]


def validate_and_clean() -> Callable[[dict[bytes, bytes]], object]:
    """One fresh validator + cleaner pair, as the service runs them per message."""
    validate, clean = SchemaValidator().validate, DataCleaner().clean
    return lambda fields: clean(validate(fields, stream=STREAM))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    items = entries(random_walk(args.ticks, seed=1))
    quoted = entries(random_walk(args.ticks, seed=1, quoted=True))
    mixed = interleaved(args.ticks, seed=1, symbols=50)
    loads = orjson.loads
    base = "orjson.loads (baseline)"
    rows: dict[str, list[float]] = {base: [], "validate + clean": [], "validate only": []}
    rows_quoted: dict[str, list[float]] = {base: [], "validate + clean": []}
    rows_mixed: dict[str, list[float]] = {base: [], "validate + clean": []}
    for _ in range(args.repeats):
        rows[base] += per_item_us(items, lambda f: loads(f[b"data"]))
        rows["validate + clean"] += per_item_us(items, validate_and_clean())
        only = SchemaValidator().validate
        rows["validate only"] += per_item_us(items, lambda f, v=only: v(f, stream=STREAM))
        rows_quoted[base] += per_item_us(quoted, lambda f: loads(f[b"data"]))
        rows_quoted["validate + clean"] += per_item_us(quoted, validate_and_clean())
        rows_mixed[base] += per_item_us(mixed, lambda item: loads(item[1][b"data"]))
        v, c = SchemaValidator().validate, DataCleaner().clean
        rows_mixed["validate + clean"] += per_item_us(
            mixed, lambda item, v=v, c=c: c(v(item[1], stream=item[0]))
        )
    print(f"{args.ticks:,} price ticks x {args.repeats} rounds, payload "
          f"{len(items[0][b'data'])} bytes")  # fmt: skip
    report(rows, base, target=4.0)
    print(f"\nthe same ticks with a bid and ask (as the simulator writes them), payload "
          f"{len(quoted[0][b'data'])} bytes")  # fmt: skip
    report(rows_quoted, base)
    print("\n50 symbols taking turns (each tick another feed's state), payload "
          f"{len(mixed[0][1][b'data'])} bytes")  # fmt: skip
    report(rows_mixed, base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
