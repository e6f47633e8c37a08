"""Elastic workers on a 3+3 Redis Cluster: how long a symbol goes unserved when it changes hands.

    .venv/bin/python -m bench.bench_elastic [--lease-s 3]

Twelve symbols are published at 800 ticks/s while the workers (``--ownership leases``, each
``data-feeds run`` in its own process) go 2 -> 3 (a worker joins), 3 -> 2 (it leaves on
SIGTERM), and then one of the two is killed with SIGKILL and not restarted, so the last one
takes everything over once the leases expire. From the workers' logs (``symbol_acquired``,
``symbol_released``, ``symbol_lost``) it prints, per kind of handover, how many symbols moved
and the longest and median time one went unserved, beside the bound ``docs/cluster.md``
states; then what the independent verifier finds (lost, duplicates) and the learned-outcome
count of all workers together against one uninterrupted worker's on the same ticks.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.faults.elastic import RATE, gaps, history, learned, served_intervals, worker
from bench.faults.load import publish
from bench.faults.service import stop_when_drained
from bench.faults.verify import verify

from data_feeds.cache.clients import sync_client
from data_feeds.cache.local_cluster import LocalCluster

TICK_S = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lease-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="df-be-"))
    cluster = LocalCluster(tmp / "cluster")
    try:
        url = cluster.start()
        client = sync_client(url)
        ticks = history()
        publish(client, ticks, 0)
        ref = worker(url, tmp, [], "ref")
        ref.start()
        stop_when_drained(client, [ref])
        expected = learned(client, ["0of1"])
        client.flushall()

        leases = ["--ownership", "leases", "--lease-s", f"{args.lease_s:g}"]
        procs = [worker(url, tmp, [*leases, "--worker-index", str(i)], f"w{i}") for i in range(3)]
        procs[0].start()
        procs[1].start()
        procs[0].wait_logged("service_started")
        procs[1].wait_logged("service_started")
        feeder = threading.Thread(target=publish, args=(sync_client(url), ticks, RATE / 2))
        feeder.start()
        procs[0].wait_logged("symbol_acquired")
        t_join = time.time()
        procs[2].start()
        procs[2].wait_logged("symbol_acquired")
        time.sleep(2.0)
        t_leave = time.time()
        procs[2].sigterm()
        time.sleep(3.0)
        t_kill = time.time()
        procs[1].kill9()  # not restarted: worker-0 takes its symbols once their leases expire
        feeder.join()
        stop_when_drained(client, procs)
        report = verify(client)
        got = learned(client, ["worker-0", "worker-1", "worker-2"])
        intervals = served_intervals(procs)
        for symbol, spans in intervals.items():  # the killed worker served until it died
            intervals[symbol] = [
                (s, min(e, t_kill) if w == "w1" and s < t_kill <= e else e, w) for s, e, w in spans
            ]
        client.close()
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(ticks):,} ticks over 12 symbols at {RATE / 2:,.0f}/s; lease {args.lease_s:g} s, "
          f"tick {TICK_S:g} s")  # fmt: skip
    rows = (
        ("2 -> 3 (join)", t_join, t_leave, f"2 ticks + load = {2 * TICK_S:g} s + load"),
        ("3 -> 2 (SIGTERM)", t_leave, t_kill, f"checkpoint + 1 tick + load = {TICK_S:g} s + ..."),
        ("kill -9", t_kill, 1e18, f"lease + 1 tick = {args.lease_s + TICK_S:g} s"),
    )
    print(f"  {'handover':<18} {'moved':>5} {'max unserved':>13} {'median':>8}   stated bound")
    for name, lo, hi, bound in rows:
        unserved = gaps(intervals, lo, hi)
        worst = f"{max(unserved):.2f} s" if unserved else "-"
        mid = f"{statistics.median(unserved):.2f} s" if unserved else "-"
        print(f"  {name:<18} {len(unserved):>5} {worst:>13} {mid:>8}   {bound}")
    print(f"  verifier: {report.valid:,} valid ticks, lost {report.lost}, duplicates "
          f"{report.dup_total}, pending {report.pending}")  # fmt: skip
    print(
        f"  outcomes learned: all workers {got:,}, one uninterrupted worker {expected:,}"
        f" ({'equal' if got == expected else 'DIFFERENT'}; a kill -9 may learn some twice)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
