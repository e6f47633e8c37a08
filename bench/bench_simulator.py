"""Publish simulated messages to Redis and print messages/s beside a bare redis-py baseline.

    .venv/bin/python bench/bench_simulator.py [--messages 200000] [--symbols 20]
        [--faults 0.01] [--repeats 3] [--redis-url URL]

Without ``--redis-url`` a throwaway instance of the bundled redis-server (the same binary and
settings the service starts: unix socket, AOF every second) runs in a temporary directory, so
no one's data is touched, and is stopped at the end. With ``--redis-url`` the streams are named
after bench-only symbols (``crypto_price:BENCH001``...) and deleted afterwards.

Printed, all measured in this one run (median of ``--repeats``, min-max beside it):

1. generation alone: ``MarketSimulator`` (ticks, trades, books for crypto, equity and fx) plus
   ``FaultInjector`` plus encoding the ``data`` field, no Redis;
2. ``StreamPublisher`` end to end: the same generation, encoded and XADDed (``MAXLEN ~``),
   pipelined 1000 commands per round trip on uvloop + hiredis, every count checked afterwards;
3. the baseline: redis-py's own ``Pipeline.xadd`` (asyncio, hiredis) of pre-built identical
   fields, 1000 per ``execute``, no generation at all;
4. the ratio of 2 to 3. The target for 2 is at least 50k messages/s.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aredis
import uvloop

from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.cache.keys import record_stream
from data_feeds.records import Tick
from data_feeds.simulation.edge_cases import FaultConfig, FaultInjector, RawMessage
from data_feeds.simulation.feeds import FeedConfig, MarketSimulator, SymbolSpec, symbol_spec
from data_feeds.simulation.publisher import StreamPublisher

BATCH = 1000
MAXLEN = 1_000_000
CLASSES = ("crypto", "equity", "fx")
PRICES = {"crypto": 100.0, "equity": 150.0, "fx": 1.2}


def bench_symbols(n: int) -> list[SymbolSpec]:
    """Bench-only names (``BENCH001``...) over the three asset classes."""
    return [
        symbol_spec(f"BENCH{i + 1:03d}", CLASSES[i % 3], PRICES[CLASSES[i % 3]]) for i in range(n)
    ]


def messages(n_symbols: int, faults: float, seed: int) -> FaultInjector:
    """Simulated ticks, trades and books with labelled faults (what ``simulate`` publishes)."""
    config = FeedConfig.for_rate(2000, n_symbols)
    sim = MarketSimulator(bench_symbols(n_symbols), config, seed=seed)
    return FaultInjector(sim.records(), FaultConfig.uniform(faults), seed=seed)


def generate_only(n: int, n_symbols: int, faults: float) -> float:
    """Seconds to generate ``n`` messages and encode their stream key and ``data`` field."""
    dumps = orjson.dumps
    started = time.perf_counter()
    for m in itertools.islice(messages(n_symbols, faults, seed=1), n):
        if not isinstance(m, RawMessage):
            record_stream(m)
            dumps(m.to_dict())
    return time.perf_counter() - started


async def publish_once(client: aredis.Redis, n: int, n_symbols: int, faults: float) -> float:
    injector = messages(n_symbols, faults, seed=1)
    publisher = StreamPublisher(client, maxlen=MAXLEN, batch_size=BATCH)
    result = await publisher.publish(injector, limit=n, faults=injector.faults)
    stored = 0
    for stream in result.streams:
        stored += await client.xlen(stream)
    if stored != n or result.published != n:
        raise SystemExit(f"published {result.published}, stored {stored}, expected {n}")
    await client.delete(*result.streams)
    return result.elapsed_s


async def baseline_once(client: aredis.Redis, n: int) -> float:
    """redis-py Pipeline.xadd of identical pre-built fields, BATCH per execute."""
    tick = Tick("BENCH000", 100.01, 1.25, 1_704_067_200.123456, "crypto", 100.0, 100.02)
    stream = record_stream(tick)
    fields = {"data": orjson.dumps(tick.to_dict())}
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(min(BATCH, n - start)):
                pipe.xadd(stream, fields, maxlen=MAXLEN, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()
    took = time.perf_counter() - started
    if await client.xlen(stream) != n:
        raise SystemExit("baseline: stream length does not match")
    await client.delete(stream)
    return took


def summary(name: str, n: int, seconds: list[float], note: str = "") -> float:
    rates = sorted(n / s for s in seconds)
    median = statistics.median(rates)
    spread = f"[{rates[0]:,.0f} - {rates[-1]:,.0f}]" if len(rates) > 1 else ""
    print(f"{name:<30} {median:>10,.0f} msg/s  {1e6 / median:6.2f} us/msg  {spread:<22} {note}")
    return median


async def run(args: argparse.Namespace, url: str, label: str) -> None:
    client: aredis.Redis = aredis.Redis.from_url(url)
    try:
        info: dict[str, Any] = await client.info("server")
        print(
            f"{args.messages:,} messages, {args.symbols} symbols over {', '.join(CLASSES)}, "
            f"faults {args.faults:g}, {BATCH} commands per round trip, {args.repeats} repeats"
        )
        print(
            f"redis-server {info.get('redis_version')} ({label}); redis-py {version('redis')}, "
            f"hiredis {version('hiredis')}, uvloop {version('uvloop')}, "
            f"Python {sys.version.split()[0]}"
        )
        gen = [generate_only(args.messages, args.symbols, args.faults) for _ in range(args.repeats)]
        pub: list[float] = []
        base: list[float] = []
        for _ in range(args.repeats):  # interleaved, so both see the same machine
            pub.append(await publish_once(client, args.messages, args.symbols, args.faults))
            base.append(await baseline_once(client, args.messages))
        summary("generate + encode (no Redis)", args.messages, gen)
        p = summary("StreamPublisher end to end", args.messages, pub, "target >= 50,000")
        b = summary("redis-py pipeline baseline", args.messages, base, "pre-built fields")
        print(f"{'ratio publisher / baseline':<30} {p / b:>10.2f}")
    finally:
        await client.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--faults", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    if args.messages < BATCH or args.symbols < 1 or args.repeats < 1:
        parser.error("need --messages >= 1000, --symbols >= 1, --repeats >= 1")
    runner: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
    if args.redis_url:
        runner(run(args, args.redis_url, "at --redis-url"))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="dfsim-"))
    server = EmbeddedRedis(tmp / "redis")
    try:
        url = server.ensure_running()
        runner(run(args, url, "bundled binary, temporary instance, unix socket, AOF everysec"))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
