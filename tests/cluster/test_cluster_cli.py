"""The command line against a cluster's URL: ``signals --follow`` over signal streams in
several hash slots, ``simulate`` then ``backfill``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from data_feeds.records import BUY, HOLD, SELL

from ..cli.test_signals import T0, store
from .conftest import cluster_client


def test_follow_on_a_cluster(cluster_url: str) -> None:
    client = cluster_client(cluster_url)
    store(client, "OLDUSDT", T0, HOLD)
    env = {**os.environ, "DATA_FEEDS_REDIS_URL": cluster_url}
    with subprocess.Popen(
        [sys.executable, "-m", "data_feeds", "signals", "--count", "0", "--follow", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        try:
            time.sleep(2.0)  # started and polling
            for i, symbol in enumerate(("OLDUSDT", "NEWUSDT", "ZZZUSDT", "QQQUSDT")):
                store(client, symbol, T0 + 1 + i, BUY if i % 2 else SELL)
            deadline = time.monotonic() + 20
            seen: list[dict[str, object]] = []
            assert proc.stdout is not None
            while len(seen) < 4 and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if line:
                    seen.append(json.loads(line))
            assert {s["symbol"] for s in seen} == {"OLDUSDT", "NEWUSDT", "ZZZUSDT", "QQQUSDT"}
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0, proc.stderr.read() if proc.stderr else ""
    client.close()


def test_simulate_then_backfill_on_a_cluster(cluster_url: str, tmp_path: object) -> None:
    env = {**os.environ, "DATA_FEEDS_REDIS_URL": cluster_url, "DATA_FEEDS_DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "data_feeds", "simulate", "--rate", "0", "--count", "3000",
         "--symbols", "6", "--faults", "0", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    published = json.loads(run.stdout)["published"]
    assert published == 3000
    back = subprocess.run(
        [sys.executable, "-m", "data_feeds", "backfill", "*_price:*"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    ticks = [json.loads(line) for line in back.stdout.splitlines()]
    assert len(ticks) > 500 and len({t["symbol"] for t in ticks}) == 6
    ms = [int(t["timestamp"] * 1000) for t in ticks]  # the processing order: event ms first
    assert ms == sorted(ms)
