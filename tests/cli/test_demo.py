"""``data-feeds demo`` runs end to end and leaves nothing running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from data_feeds.cache.embedded import EmbeddedRedis


def test_demo_runs_and_leaves_no_process_behind(short_tmp: Path) -> None:
    """`data-feeds demo --duration N` prints a summary with signals of every action, matches
    rejects to injected faults, exits 0, and stops its Redis."""
    data_dir = short_tmp / "demo-run"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DATA_FEEDS_") and k != "REDIS_URL"}  # fmt: skip
    env["DATA_FEEDS_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "data_feeds", "demo", "--duration", "12", "--rate", "1500",
         "--symbols", "4", "--horizon-s", "2", "--retrain-interval-s", "0", "--metrics-port",
         "0", "--seed", "7", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["published"] == summary["consumed"] > 10_000
    signals = summary["signals"]
    assert set(signals) == {"BUY", "SELL", "HOLD"} and signals["HOLD"] > 0
    assert 0 < sum(signals.values()) <= summary["consumed"]  # a signal per accepted price tick
    rejects = sum(n for f, n in summary["faults_injected"].items()
                  if f in ("missing_field", "wrong_type", "extreme_price", "nan",
                           "malformed_json"))  # fmt: skip
    assert summary["rejected_total"] == summary["dlq"] == rejects
    assert summary["quarantined"] == summary["faults_injected"].get("spike", 0)
    p50, p99 = summary["latency_ms"]["p50"], summary["latency_ms"]["p99"]
    assert 0.05 <= p50 <= p99  # milliseconds: publish -> signal takes more than 50 µs
    # the demo's Redis is stopped, its summary is kept: `demo --last` prints it again
    last = [sys.executable, "-m", "data_feeds", "demo", "--last"]
    again = subprocess.run([*last, "--json"], env=env, capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == summary
    text = subprocess.run(last, env=env, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert text.returncode == 0 and f"(seed {summary['seed']})" in text.stdout
    only_hold = not (signals["BUY"] or signals["SELL"])
    assert ("no BUY or SELL: the untrained model" in text.stdout) == only_hold
    assert not EmbeddedRedis(data_dir / "demo").is_running()
    leftovers = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True,
                               check=False)  # fmt: skip
    assert leftovers.stdout.strip() == ""


def test_demo_last_without_a_demo_is_a_clear_error(short_tmp: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DATA_FEEDS_") and k != "REDIS_URL"}  # fmt: skip
    env["DATA_FEEDS_DATA_DIR"] = str(short_tmp / "no-demo-here")
    done = subprocess.run([sys.executable, "-m", "data_feeds", "demo", "--last"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith("data-feeds demo: error: no demo has run under ")
