"""What writing a batch's signals costs Redis and the client, by encoding and command shape.

    .venv/bin/python bench/bench_signal_write.py [--batches 40] [--rounds 5] [--redis-url URL]

The signals are the service's own: ``TickPipeline.process`` over 50 symbols' ticks, 500 a batch
(the consumer's chunk), each written as ``BatchWriter`` writes them. Contenders, run in turn
twice over the same batches into an emptied database:

- ``XADD_MANY``, the service's payloads (the baseline): one EVALSHA of the batch writer's script
  a batch, each signal's JSON as it is written today;
- ``XADD_MANY``, a 16-byte payload: the same script and streams with a payload a compact
  encoding could not go below (what the signal's size costs);
- a MULTI of native XADDs: one command per signal (what the script saves).

Printed per signal: the redis-server's CPU (``/proc``), and the client's wall time (packing,
sending, waiting). Redis shares this machine with the worker, so its CPU is the worker's too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import redis

from bench_checkpoint import Market, entries
from data_feeds.runtime.app import build_pipeline
from data_feeds.runtime.batch_writer import OUTPUT_MAXLEN, XADD_MANY
from data_feeds.settings import Settings
from data_feeds.validation.schema_validator import SchemaValidator
from server import bench_redis
from timing import cpu_s, redis_pids

Batch = list[tuple[str, bytes]]
SMALL = b"x" * 16


def signal_batches(n: int) -> list[Batch]:
    """``n`` batches of 500 signals of the service's pipeline over 50 symbols (2,000 ticks/s)."""
    pipeline = build_pipeline(Settings(horizon_s=5.0), SchemaValidator())
    market = Market(50, 2000)
    out: list[Batch] = []
    first = 1
    for _ in range(n):
        ticks = market.next(0.25)
        out.append([(k, bytes(d)) for k, d in pipeline.process(entries(ticks, first)).signals])
        first += len(ticks)
    return out


def measure(
    client: redis.Redis, batches: list[Batch], rounds: int, write: Callable[[Batch], object]
) -> tuple[float, float]:
    """(Redis CPU us, client wall us) a signal of ``write`` over ``batches``, ``rounds`` times."""
    client.flushdb()
    pids = redis_pids(client)
    n = 0
    t0, cpu0 = time.perf_counter(), cpu_s(pids)
    for _ in range(rounds):
        for batch in batches:
            write(batch)
            n += len(batch)
    wall, cpu = time.perf_counter() - t0, cpu_s(pids) - cpu0
    return cpu / n * 1e6, wall / n * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url")
    args = parser.parse_args(argv)
    batches = signal_batches(args.batches)
    sizes = [len(d) for batch in batches for _, d in batch]
    with tempfile.TemporaryDirectory() as tmp, bench_redis(args.redis_url, Path(tmp)) as url:
        client = redis.Redis.from_url(url)
        sha = client.script_load(XADD_MANY)

        def script(batch: Batch, small: bool = False) -> object:
            keys = [k for k, _ in batch]
            payloads = [SMALL] * len(batch) if small else [d for _, d in batch]
            return client.evalsha(sha, len(keys), *keys, OUTPUT_MAXLEN, *payloads)

        def native(batch: Batch) -> object:
            pipe = client.pipeline(transaction=True)
            for key, data in batch:
                pipe.xadd(key, {"data": data}, maxlen=OUTPUT_MAXLEN, approximate=True)
            return pipe.execute()

        contenders: dict[str, Callable[[Batch], object]] = {
            "XADD_MANY, the service's payloads (baseline)": script,
            "XADD_MANY, a 16-byte payload": lambda b: script(b, small=True),
            "MULTI of native XADDs": native,
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for _ in range(2):
            for name, write in contenders.items():
                results[name].append(measure(client, batches, args.rounds, write))
        client.flushdb()
    n = len(sizes)
    print(f"{n:,} signals x {args.rounds} rounds x 2, 500 a batch, "
          f"payload {min(sizes)}-{max(sizes)} bytes (mean {sum(sizes) / n:.0f})")  # fmt: skip
    print(f"{'contender':46s} {'redis us/signal':>16s} {'ratio':>6s} {'client us/signal':>17s} "
          f"{'ratio':>6s}")  # fmt: skip
    base_cpu = min(c for c, _ in results["XADD_MANY, the service's payloads (baseline)"])
    base_wall = min(w for _, w in results["XADD_MANY, the service's payloads (baseline)"])
    for name, runs in results.items():
        cpu = min(c for c, _ in runs)
        wall = min(w for _, w in runs)
        print(f"{name:46s} {cpu:16.2f} {cpu / base_cpu:5.2f}x {wall:17.2f} "
              f"{wall / base_wall:5.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
