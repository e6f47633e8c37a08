"""validate + clean per price tick, beside a bare ``orjson.loads`` of the same payload.

    .venv/bin/python bench/bench_validation.py [--ticks 50000] [--repeats 5]

The payload is our stream layout as redis-py returns it (``{b"data": b'{...}'}``, ~120 bytes);
the SchemaValidator parses and checks it into a Tick and the DataCleaner judges it (duplicates,
ordering, gaps, spikes). Target (issue 2): at most 4x the bare decode.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence

import orjson

from data_feeds.validation.cleaner import DataCleaner
from data_feeds.validation.schema_validator import SchemaValidator
from timing import per_item_us, report

STREAM = "crypto_price:BTCUSDT"


def payloads(n: int, seed: int) -> list[dict[bytes, bytes]]:
    rng = random.Random(seed)
    price, ts = 30_000.0, 1_700_000_000.0
    out = []
    for _ in range(n):
        price *= math.exp(rng.gauss(0.0, 0.0005))
        ts += rng.expovariate(4.0)
        tick = {
            "kind": "price",
            "symbol": "BTCUSDT",
            "price": price,
            "volume": rng.lognormvariate(0.0, 1.0),
            "timestamp": ts,
            "asset_class": "crypto",
        }
        out.append({b"data": orjson.dumps(tick)})
    return out


def validate_and_clean() -> Callable[[dict[bytes, bytes]], object]:
    """One fresh validator + cleaner pair, as the service runs them per message."""
    validate, clean = SchemaValidator().validate, DataCleaner().clean
    return lambda fields: clean(validate(fields, stream=STREAM))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    items = payloads(args.ticks, seed=1)
    loads = orjson.loads
    rows: dict[str, list[float]] = {"orjson.loads (baseline)": [], "validate + clean": [],
                                    "validate only": []}  # fmt: skip
    for _ in range(args.repeats):
        rows["orjson.loads (baseline)"] += per_item_us(items, lambda f: loads(f[b"data"]))
        rows["validate + clean"] += per_item_us(items, validate_and_clean())
        only = SchemaValidator().validate
        rows["validate only"] += per_item_us(items, lambda f, v=only: v(f, stream=STREAM))
    print(f"{args.ticks:,} price ticks x {args.repeats} rounds, payload "
          f"{len(items[0][b'data'])} bytes")  # fmt: skip
    report(rows, "orjson.loads (baseline)", target=4.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
