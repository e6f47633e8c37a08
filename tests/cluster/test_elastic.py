"""Elastic workers (``--ownership leases``) on the 3+3 cluster: scaled 2 -> 3 -> 2 while a
stream is published, no tick is lost or signalled twice, no symbol is served by two workers at
once, and the models learn as many outcomes, all workers together, as one uninterrupted worker
learns from the same ticks."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from bench.faults.elastic import (
    RATE,
    SYMBOLS,
    TICKS,
    history,
    learned,
    served_intervals,
    worker,
)
from bench.faults.load import publish
from bench.faults.service import stop_when_drained
from bench.faults.verify import verify

from .conftest import cluster_client


def test_scale_2_3_2_hands_symbols_over(cluster_url: str, tmp_path: Path) -> None:
    ticks = history()
    client = cluster_client(cluster_url)
    # the reference: one worker, static ownership, the same ticks
    publish(client, ticks, 0)
    ref = worker(cluster_url, tmp_path, [], "ref")
    ref.start()
    stop_when_drained(client, [ref])
    expected = learned(client, ["0of1"])
    assert expected > SYMBOLS * TICKS * 0.8
    client.flushall()

    leases = ["--ownership", "leases", "--lease-s", "3"]
    procs = [worker(cluster_url, tmp_path, [*leases, "--worker-index", str(i)], f"w{i}")
             for i in range(3)]  # fmt: skip
    procs[0].start()
    procs[1].start()
    feeder = threading.Thread(target=publish, args=(cluster_client(cluster_url), ticks, RATE))
    procs[0].wait_logged("service_started")
    procs[1].wait_logged("service_started")
    feeder.start()
    try:
        procs[0].wait_logged("symbol_acquired")
        procs[2].start()  # 2 -> 3
        procs[2].wait_logged("symbol_acquired")
        time.sleep(1.0)
        exit_ = procs[2].sigterm()  # 3 -> 2
        assert exit_ is not None and exit_.code == 0, procs[2].log_text()[-3000:]
        assert feeder.is_alive(), "the scaling happened while ticks were being published"
    finally:
        feeder.join()
    stop_when_drained(client, procs)

    report = verify(client)
    assert report.valid == len(ticks) and report.lost == 0, report.problems(dup_bound=0)
    assert report.dup_total == 0 and report.ok(dup_bound=0), report.problems(dup_bound=0)
    intervals = served_intervals(procs)
    moved = [s for s, spans in intervals.items() if len({w for *_, w in spans}) > 1]
    assert moved, "the third worker took symbols over and gave them back"
    for symbol, spans in intervals.items():
        spans.sort()
        for (_, end, a), (start, _, b) in itertools.pairwise(spans):
            assert end <= start, f"{symbol} served by {a} and {b} at once"
    assert learned(client, ["worker-0", "worker-1", "worker-2"]) == expected
    client.close()
