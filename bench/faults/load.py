"""A paced publisher: ``rate`` price ticks a second over ``symbols`` symbols, XADDed in our
native layout (field ``data``: ``{"symbol","price","volume","timestamp"}``) to
``crypto_price:{SYMBOL}``, with an optional share of poison entries mixed in.

It keeps going through Redis outages (after a failed write it waits 50 ms and goes on with
fresh ticks; what Redis did or did not store is for the verifier to find out) and never runs
more than one second behind its schedule (a longer backlog is skipped, not burst). It records
counts for the printout only: the verdicts come from ``verify``, which reads Redis.

Valid ticks are built never to be dropped by the service's cleaner: each symbol's timestamps
(wall-clock seconds) strictly increase and its price is a small random walk (no spikes), so
every valid tick must end with a signal.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from data_feeds.cache.clients import sync_client
from data_feeds.cache.keys import stream_key

TICK_S: Final = 0.01
"""Publishing period: each round XADDs what is due, in one pipeline."""

WRITE_FAILED: Final = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.ClusterDownError,  # a cluster's failover under way
    redis.exceptions.MasterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.RedisClusterException,
)
"""A write that may or may not have been stored: the next round goes on with fresh ticks."""

POISON: Final = (
    ("bad_json", b'{"symbol": "%s", "price": 1.0, "volume": '),
    ("missing_field", b'{"symbol": "%s", "volume": 1.0, "timestamp": %f}'),
    ("nan_price", b'{"symbol": "%s", "price": NaN, "volume": 1.0, "timestamp": %f}'),
    ("negative_price", b'{"symbol": "%s", "price": -5.0, "volume": 1.0, "timestamp": %f}'),
    ("string_price", b'{"symbol": "%s", "price": "cheap", "volume": 1.0, "timestamp": %f}'),
)
"""Malformed payloads by kind (``%s`` the symbol, ``%f`` a timestamp where there is one)."""


def publish(client: redis.Redis, payloads: Sequence[tuple[Any, ...]], rate: float = 0.0) -> None:
    """XADD ``payloads`` ((stream, data, ...) each, as ``PacedLoad.payloads`` makes them) in
    pipelines: as fast as possible, or ``rate`` a second."""
    step = 100 if rate else 5000
    t0 = time.monotonic()
    for start in range(0, len(payloads), step):
        with client.pipeline(transaction=False) as pipe:
            for stream, data, *_ in payloads[start : start + step]:
                pipe.xadd(stream, {"data": data})
            pipe.execute()
        if rate:
            time.sleep(max(0.0, t0 + (start + step) / rate - time.monotonic()))


def symbols(n: int) -> list[str]:
    return [f"F{i:03d}USDT" for i in range(n)]


class PacedLoad(threading.Thread):
    """Publishes until ``stop()``; ``pause()``/``resume()`` hold it without ending it."""

    def __init__(
        self,
        url: str,
        *,
        n_symbols: int = 10,
        rate: float = 1000.0,
        poison_fraction: float = 0.0,
        seed: int = 13,
    ) -> None:
        super().__init__(name="paced-load", daemon=True)
        self.url = url
        self.symbols = symbols(n_symbols)
        self.streams = [stream_key("crypto", "price", s) for s in self.symbols]
        self.rate = rate
        self.poison_fraction = poison_fraction
        self.rng = random.Random(seed)
        self.prices = {s: 100.0 * (1 + 0.01 * i) for i, s in enumerate(self.symbols)}
        self.last_ts = dict.fromkeys(self.symbols, 0.0)
        self._halt = threading.Event()
        self._paused = threading.Event()
        self.sent = 0
        self.poison_sent = 0
        self.failed_writes = 0
        self.skipped = 0
        self.error: BaseException | None = None
        self._drawn = 0

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def payloads(self, n: int) -> list[tuple[str, bytes, bool]]:
        """The next ``n`` payloads (stream, data, poison?) as the paced loop would send them."""
        out = [self._payload(self._drawn + k) for k in range(n)]
        self._drawn += n
        return out

    def _payload(self, i: int) -> tuple[str, bytes, bool]:
        sym = self.symbols[i % len(self.symbols)]
        stream = self.streams[i % len(self.symbols)]
        ts = max(time.time(), self.last_ts[sym] + 1e-6)
        if self.poison_fraction and self.rng.random() < self.poison_fraction:
            _, template = POISON[self.rng.randrange(len(POISON))]
            args: tuple[object, ...] = (sym.encode(), ts) if b"%f" in template else (sym.encode(),)
            return stream, template % args, True
        self.last_ts[sym] = ts
        price = self.prices[sym] * math.exp(self.rng.gauss(0.0, 0.0005))
        self.prices[sym] = price
        tick = {
            "symbol": sym,
            "price": price,
            "volume": self.rng.uniform(0.1, 2.0),
            "timestamp": ts,
        }
        return stream, orjson.dumps(tick), False

    def run(self) -> None:
        # no client-side retries: a pipeline retried after a lost reply would store it twice
        client = sync_client(
            self.url, socket_timeout=5.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)
        )
        try:
            self._loop(client)
        except BaseException as exc:  # reported by the scenario, never silent
            self.error = exc
        finally:
            client.close()

    def _loop(self, client: redis.Redis) -> None:
        t0 = time.monotonic()
        due_total = 0
        batch: list[tuple[str, bytes, bool]] = []
        while not self._halt.is_set():
            now = time.monotonic()
            if self._paused.is_set():
                t0, due_total = now, 0
                time.sleep(TICK_S)
                continue
            target = int((now - t0) * self.rate)
            if target - due_total > self.rate:  # more than 1 s behind: skip, do not burst
                self.skipped += target - due_total - int(self.rate)
                due_total = target - int(self.rate)
            if not batch:
                n = target - due_total
                batch = self.payloads(n)
                due_total = target
            if batch:
                try:
                    pipe = client.pipeline(transaction=False)
                    for stream, data, _ in batch:
                        pipe.xadd(stream, {"data": data})
                    pipe.execute()
                except WRITE_FAILED:
                    # Redis may have stored part of it: never send the same payloads again (a
                    # resent tick is a true duplicate, which the cleaner rightly drops); the
                    # next round builds fresh ones
                    self.failed_writes += 1
                    batch = []
                    time.sleep(0.05)
                    continue
                self.sent += len(batch)
                self.poison_sent += sum(1 for *_, bad in batch if bad)
                batch = []
            time.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
