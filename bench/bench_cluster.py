"""The service on a Redis Cluster beside one Redis, in one run: per-worker drain rates.

    .venv/bin/python -m bench.bench_cluster [--backlog 60000] [--symbols 20] [--rounds 2]

Each configuration pre-fills a backlog of ``--backlog`` price ticks over ``--symbols`` symbols
(the fault suite's load: valid ticks only), starts its workers (``data-feeds run``, default
model, each in its own process) and times the drain from the first signal to the last:

- ``single``: one redis-server, one worker;
- ``cluster x1``: a 3-primary, 3-replica cluster on loopback (``cache.local_cluster``), one
  worker;
- ``cluster x2``: the same cluster, two workers splitting the symbols.

The configurations alternate ``--rounds`` times (the machine is noisy); the medians are
printed with the ratios ``cluster x1 / single`` (what the slot-by-slot reads and writes cost a
worker) and ``cluster x2 / cluster x1`` (what a second worker adds). On a 2-core machine the
two workers and six redis-servers share the two cores: the second ratio is bounded by the CPU
left, not by the design.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.faults.load import PacedLoad, publish
from bench.faults.redis_server import RedisServer
from bench.faults.service import ServiceProcess
from bench.faults.verify import drained, signals_total
from bench.timing import cpu_s

from data_feeds.cache.clients import sync_client
from data_feeds.cache.local_cluster import LocalCluster

DRAIN_TIMEOUT_S = 300.0


def drain(
    url: str, workers: int, tmp: Path, *, backlog: int, symbols: int, servers: list[int]
) -> tuple[float, float, float]:
    """Ticks/s from the first signal to the drained backlog (all workers together), and the
    cores the workers and the redis-servers (``servers``' pids) used meanwhile."""
    client = sync_client(url)
    try:
        client.flushall()
        publish(client, PacedLoad(url, n_symbols=symbols, seed=5).payloads(backlog))
        procs = [
            ServiceProcess(
                url,
                tmp / f"w{i}-{time.monotonic_ns()}",
                horizon_s=60.0,
                extra_args=["--worker-index", str(i), "--worker-count", str(workers)],
            )
            for i in range(workers)
        ]
        for p in procs:
            p.start()
        try:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while (first := signals_total(client)) == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("no signal in time")
                time.sleep(0.01)
            t0 = time.monotonic()
            pids = [p.pid for p in procs if p.pid is not None]
            cpu_w0, cpu_r0 = cpu_s(pids), cpu_s(servers)
            while not drained(client):
                if time.monotonic() > deadline:
                    raise RuntimeError("not drained in time")
                time.sleep(0.02)
            elapsed = time.monotonic() - t0
            done = signals_total(client) - first
            cores_w = (cpu_s(pids) - cpu_w0) / elapsed
            cores_r = (cpu_s(servers) - cpu_r0) / elapsed
        finally:
            for p in procs:
                p.stop()
        return done / elapsed, cores_w, cores_r
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=60_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="df-bc-"))
    single = RedisServer(tmp / "single")
    cluster = LocalCluster(tmp / "cluster")
    rates: dict[str, list[float]] = {"single": [], "cluster x1": [], "cluster x2": []}
    cores: dict[str, list[tuple[float, float]]] = {k: [] for k in rates}
    try:
        single.start()
        cluster.start()
        nodes = [pid for p in cluster.ports if (pid := cluster.pid(p)) is not None]
        assert single.pid is not None
        configs = (("single", single.url, 1, [single.pid]), ("cluster x1", cluster.url, 1, nodes),
                   ("cluster x2", cluster.url, 2, nodes))  # fmt: skip
        for r in range(args.rounds):
            for name, url, workers, servers in configs:
                rate, cw, cr = drain(
                    url, workers, tmp, backlog=args.backlog, symbols=args.symbols, servers=servers
                )
                rates[name].append(rate)
                cores[name].append((cw, cr))
                print(f"round {r + 1}  {name:<11} {rate:>9,.0f} ticks/s   cores: workers "
                      f"{cw:.2f}, redis {cr:.2f}", flush=True)  # fmt: skip
    finally:
        cluster.stop()
        single.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\nbacklog {args.backlog:,} ticks over {args.symbols} symbols, medians of {args.rounds}")
    print(f"  single      1 worker   {med['single']:>9,.0f} ticks/s")
    print(f"  cluster 3+3 1 worker   {med['cluster x1']:>9,.0f} ticks/s")
    print(f"  cluster 3+3 2 workers  {med['cluster x2']:>9,.0f} ticks/s "
          f"({med['cluster x2'] / 2:,.0f} per worker)")  # fmt: skip
    print(f"  per-worker drain, cluster / single: {med['cluster x1'] / med['single']:.2f}x")
    print(f"  2 workers / 1 worker on the cluster: {med['cluster x2'] / med['cluster x1']:.2f}x")
    print(f"  cores used while draining (of {os.cpu_count()}), median:")
    for name, pairs in cores.items():
        w = statistics.median(c[0] for c in pairs)
        r = statistics.median(c[1] for c in pairs)
        print(f"    {name:<11} workers {w:.2f}  redis-servers {r:.2f}  together {w + r:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
