"""The service as a process: kill -9 mid-stream loses nothing, SIGTERM exits 0 with nothing
pending, and `data-feeds run --help` explains the flags."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from data_feeds.cache import signed
from data_feeds.runtime.app import Service
from data_feeds.settings import Settings
from tests.runtime.test_service import pending_total, publish, run_until, signal_ids

BATCH = 200


def start_service(redis_url: str, data_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATA_FEEDS_")}
    env["DATA_FEEDS_DATA_DIR"] = str(data_dir)
    cmd = [sys.executable, "-m", "data_feeds", "run", "--redis-url", redis_url,
           "--metrics-port", "-1", "--block-ms", "50", "--batch-size", str(BATCH),
           "--checkpoint-interval-s", "0.3", "--horizon-s", "5", "--log-level", "warning",
           "--log-format", "json", *extra]  # fmt: skip
    with open(data_dir / "service.log", "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)


def service_log(data_dir: Path) -> str:
    return (data_dir / "service.log").read_text(errors="replace")[-3000:]


def signals_written(client: redis.Redis) -> int:
    return sum(int(client.xlen(k)) for k in client.scan_iter(match="signals:*", _type="stream"))


def wait_for(predicate: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.mark.slow
def test_kill_9_five_times_loses_nothing(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Killed with SIGKILL five times mid-stream: every valid tick ends with a signal, duplicates
    stay under one batch per kill and share their signal id, and the model learned each outcome
    exactly once."""
    valid, _ = publish(redis_client, n_symbols=10, per_symbol=3_000, bad_every=200)
    expected = {f"{stream}/{i.decode()}" for stream, ids in valid.items() for i in ids}
    for _ in range(5):
        before = signals_written(redis_client)
        proc = start_service(redis_url, tmp_path)
        try:
            wait_for(lambda b=before: signals_written(redis_client) >= b + 1_500)
        finally:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    proc = start_service(redis_url, tmp_path)
    try:
        wait_for(lambda: len(set(signal_ids(redis_client))) >= len(expected), timeout_s=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, service_log(tmp_path)
    ids = signal_ids(redis_client)
    assert set(ids) == expected
    duplicates = Counter(ids)
    extra = sum(n - 1 for n in duplicates.values())
    assert extra <= 5 * BATCH
    assert pending_total(redis_client) == 0

    # the checkpointed model learned what one uninterrupted run learns
    (key,) = redis_client.scan_iter(match="checkpoint:data-feeds:*")
    settings = Settings(redis_url=redis_url, data_dir=tmp_path)
    state = signed.loads(redis_client.get(key), signed.hmac_key(settings))
    resumed = state["generator"]
    straight = Service(replace(settings, consumer_group="straight", metrics_port=-1, block_ms=50,
                               horizon_s=5.0))  # fmt: skip
    total = int(sum(redis_client.xlen(k) for k in valid))
    asyncio.run(run_until([straight], lambda: straight.consumer is not None
                          and straight.consumer.started
                          and straight.consumer.pipeline.generator.learned
                          + straight.consumer.pipeline.generator.unlabelled
                          >= resumed.learned + resumed.unlabelled
                          and pending_total(redis_client, "straight") == 0
                          and straight.consumer.processed >= total))  # fmt: skip
    assert straight.consumer is not None
    reference = straight.consumer.pipeline.generator
    assert resumed.learned == reference.learned


def test_sigterm_under_load_exits_0_with_nothing_pending(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """SIGTERM while ticks keep arriving: exit code 0 within the grace period, nothing pending."""
    publish(redis_client, n_symbols=5, per_symbol=200)
    stop = threading.Event()

    def keep_publishing() -> None:
        client = redis.Redis.from_url(redis_url)
        i = 200
        while not stop.is_set():
            publish(client, n_symbols=5, per_symbol=20, first=i)
            i += 20
            time.sleep(0.01)
        client.close()

    proc = start_service(redis_url, tmp_path, "--grace-period-s", "10")
    publisher = threading.Thread(target=keep_publishing)
    publisher.start()
    try:
        wait_for(lambda: signals_written(redis_client) > 2_000)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        publisher.join()
        if proc.poll() is None:
            proc.kill()
    assert code == 0, service_log(tmp_path)
    assert elapsed < 10.0
    assert pending_total(redis_client) == 0


def test_run_help_explains_every_flag() -> None:
    """`data-feeds run --help` lists the flags with their environment variables."""
    out = subprocess.run([sys.executable, "-m", "data_feeds", "run", "--help"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    for flag in ("--redis-url", "--worker-index", "--worker-count", "--batch-size", "--block-ms",
                 "--horizon-s", "--model", "--metrics-port", "--streams", "--group"):  # fmt: skip
        assert flag in out
    assert "DATA_FEEDS_WORKER_COUNT" in out


def test_bad_flag_value_is_a_clear_error(redis_url: str) -> None:
    """A malformed flag exits 2 with a one-line error naming it, not a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "data_feeds", "run", "--redis-url", redis_url, "--block-ms", "ten"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--block-ms" in done.stderr and "Traceback" not in done.stderr
