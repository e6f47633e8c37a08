"""The command line against a cluster's URL: ``signals --follow`` over signal streams in
several hash slots, ``simulate`` then ``backfill``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from data_feeds.records import BUY, SELL

from ..cli.test_signals import follow
from .conftest import cluster_client


def test_follow_on_a_cluster(cluster_url: str) -> None:
    """Signal streams in several hash slots: one read per slot, new streams picked up."""
    client = cluster_client(cluster_url)
    writes = [("OLDUSDT", BUY), ("NEWUSDT", SELL), ("ZZZUSDT", BUY), ("QQQUSDT", SELL)]
    assert follow(cluster_url, client, writes) == set(writes)
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
