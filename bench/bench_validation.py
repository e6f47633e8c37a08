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
import math
import random
from collections.abc import Callable, Sequence

import orjson

from data_feeds.validation.cleaner import DataCleaner
from data_feeds.validation.schema_validator import SchemaValidator
from timing import per_item_us, report

STREAM = "crypto_price:BTCUSDT"


def payloads(n: int, seed: int, *, quoted: bool = False) -> list[dict[bytes, bytes]]:
    """Ticks of a random walk in our layout; ``quoted``: with a bid and ask around the price,
    as the simulator writes them."""
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
        if quoted:
            tick["bid"] = round(price * 0.9999, 2)
            tick["ask"] = round(price * 1.0001, 2)
        out.append({b"data": orjson.dumps(tick)})
    return out


def interleaved(n: int, seed: int, symbols: int) -> list[tuple[str, dict[bytes, bytes]]]:
    """(stream key, entry) pairs: ``symbols`` random walks taking turns, as one worker reads
    its streams; each stream key one str object, as the consumer passes it."""
    rng = random.Random(seed)
    names = [f"SYM{i:03d}USDT" for i in range(symbols)]
    keys = {name: f"crypto_price:{name}" for name in names}
    prices = dict.fromkeys(names, 100.0)
    ts = 1_700_000_000.0
    out = []
    for i in range(n):
        name = names[i % symbols]
        prices[name] *= math.exp(rng.gauss(0.0, 0.0005))
        ts += rng.expovariate(4.0 * symbols)
        volume = rng.lognormvariate(0.0, 1.0)
        tick = {"kind": "price", "symbol": name, "price": prices[name], "volume": volume,
                "timestamp": ts, "asset_class": "crypto"}  # fmt: skip
        out.append((keys[name], {b"data": orjson.dumps(tick)}))
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
    quoted = payloads(args.ticks, seed=1, quoted=True)
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
