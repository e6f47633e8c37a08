"""Heartbeat and HealthServer: /metrics, /healthz, /readyz from a thread beside the event loop."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from data_feeds.runtime.health import (
    METRICS_CONTENT_TYPE,
    HealthServer,
    Heartbeat,
)
from data_feeds.runtime.metrics import ServiceMetrics
from data_feeds.settings import DEFAULT_METRICS_PORT, Settings

PROMTOOL = shutil.which("promtool") or (
    "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(
    server: HealthServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection, closed before returning."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def metrics() -> ServiceMetrics:
    return ServiceMetrics()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Ready:
    """A readiness callable whose answer the test sets."""

    def __init__(self) -> None:
        self.state: tuple[bool, str] = (False, "redis unreachable")

    def __call__(self) -> tuple[bool, str]:
        return self.state


@pytest.fixture
def ready() -> Ready:
    return Ready()


@pytest.fixture
def server(metrics: ServiceMetrics, clock: FakeClock, ready: Ready) -> Iterator[HealthServer]:
    """A started HealthServer on a free port whose heartbeat runs on a fake clock."""
    heartbeat = Heartbeat(metrics, interval_s=0.5, clock=clock)
    srv = HealthServer("127.0.0.1", 0, metrics, heartbeat, ready, max_heartbeat_age_s=5.0)
    srv.start()
    yield srv
    srv.stop()


# -- HealthServer -------------------------------------------------------------------------------


def test_port_zero_binds_a_free_port_and_stop_releases_it(
    metrics: ServiceMetrics, clock: FakeClock, ready: Ready
) -> None:
    """port=0 binds a free port exposed as .port; after stop() nothing listens there."""
    srv = HealthServer("127.0.0.1", 0, metrics, Heartbeat(metrics, clock=clock), ready)
    srv.start()
    port = srv.port
    try:
        assert port != 0
        assert get(srv, "/healthz")[0] == 200
    finally:
        srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_metrics_answers_the_exposition(server: HealthServer, metrics: ServiceMetrics) -> None:
    """/metrics is 200 with the 0.0.4 text content type and the current values."""
    metrics.messages_consumed_total["price"].inc(42)
    status, headers, body = get(server, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == METRICS_CONTENT_TYPE
    assert 'data_feeds_messages_consumed_total{kind="price"} 42.0' in body.decode()


def test_metrics_is_gzipped_when_accepted(server: HealthServer) -> None:
    """With Accept-Encoding: gzip the body is gzip and decompresses to the exposition."""
    status, headers, body = get(server, "/metrics", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert b"data_feeds_build_info" in gzip.decompress(body)
    _, plain_headers, _ = get(server, "/metrics", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in plain_headers


def test_healthz_follows_the_heartbeat_age(server: HealthServer, clock: FakeClock) -> None:
    """/healthz is 200 while the heartbeat is fresh and 503 with its age once it is stale."""
    assert get(server, "/healthz")[:3:2] == (200, b"ok\n")
    clock.now += 6.0
    status, _, body = get(server, "/healthz")
    assert status == 503
    assert b"heartbeat 6.00 s old" in body
    assert b"limit 5 s" in body


def test_readyz_follows_the_readiness_callable(server: HealthServer, ready: Ready) -> None:
    """/readyz is 503 with the reason while not ready and 200 once ready."""
    assert get(server, "/readyz")[:3:2] == (503, b"redis unreachable\n")
    ready.state = (True, "")
    assert get(server, "/readyz")[:3:2] == (200, b"ready\n")
    ready.state = (False, "consumer stopped")
    assert get(server, "/readyz")[:3:2] == (503, b"consumer stopped\n")


def test_readyz_is_503_when_the_check_raises(metrics: ServiceMetrics, clock: FakeClock) -> None:
    """A readiness callable that raises answers 503 and the server keeps serving."""

    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    with HealthServer("127.0.0.1", 0, metrics, Heartbeat(metrics, clock=clock), broken) as srv:
        status, _, body = get(srv, "/readyz")
        assert status == 503
        assert b"readiness check failed" in body
        assert get(srv, "/healthz")[0] == 200


@pytest.mark.parametrize("path", ["/", "/metricsx", "/healthz/extra", "/favicon.ico"])
def test_other_paths_are_404(server: HealthServer, path: str) -> None:
    """Anything but /metrics, /healthz and /readyz is 404."""
    assert get(server, path)[0] == 404


def test_query_strings_are_ignored(server: HealthServer) -> None:
    """/healthz?verbose=1 is /healthz."""
    assert get(server, "/healthz?verbose=1")[0] == 200


def test_head_answers_headers_without_a_body(server: HealthServer) -> None:
    """HEAD /healthz is 200 with no body."""
    status, headers, body = get(server, "/healthz", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "3"


def test_requests_are_not_logged(server: HealthServer, capfd: pytest.CaptureFixture[str]) -> None:
    """Scrapes and probes write nothing to stdout or stderr."""
    capfd.readouterr()
    for path in ("/metrics", "/healthz", "/readyz", "/nope"):
        get(server, path)
    out, err = capfd.readouterr()
    assert "GET" not in out + err


def test_start_twice_is_refused(server: HealthServer) -> None:
    """A started server refuses a second start()."""
    with pytest.raises(RuntimeError, match="already started"):
        server.start()


def test_bad_arguments_are_refused(metrics: ServiceMetrics, ready: Ready) -> None:
    """A port out of range or a non-positive heartbeat limit is a ValueError."""
    heartbeat = Heartbeat(metrics)
    with pytest.raises(ValueError, match="port"):
        HealthServer("127.0.0.1", 70000, metrics, heartbeat, ready)
    with pytest.raises(ValueError, match="max_heartbeat_age_s"):
        HealthServer("127.0.0.1", 0, metrics, heartbeat, ready, max_heartbeat_age_s=0)
    with pytest.raises(ValueError, match="interval_s"):
        Heartbeat(metrics, interval_s=0)


def test_default_metrics_port_is_9108() -> None:
    """The documented default metrics port (the service's and the demo's)."""
    assert DEFAULT_METRICS_PORT == 9108
    assert Settings.from_env({}).metrics_port == DEFAULT_METRICS_PORT


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package: prometheus)")
def test_promtool_finds_nothing_to_lint_in_a_real_scrape(
    server: HealthServer, metrics: ServiceMetrics
) -> None:
    """promtool check metrics is clean on what /metrics serves, with every child in use."""
    assert PROMTOOL is not None
    metrics.set_model_version("v3")
    metrics.observe_latencies([time.time() - 0.002], [int(time.time() * 1000) - 1], time.time())
    for stage in metrics.stage_duration_seconds.values():
        stage.observe(0.0004)
    metrics.live_accuracy_ratio.set(0.53)
    _, _, body = get(server, "/metrics")
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=body.decode(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


# -- Heartbeat on a real event loop --------------------------------------------------------------


@pytest.fixture
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in its own thread, stopped and closed afterwards."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def run_in(loop: asyncio.AbstractEventLoop, coro_fn: Callable[[], object]) -> None:
    async def call() -> None:
        result = coro_fn()
        if asyncio.iscoroutine(result):
            await result

    asyncio.run_coroutine_threadsafe(call(), loop).result(5)


def test_healthz_turns_503_while_the_loop_is_blocked_and_200_after(
    metrics: ServiceMetrics, ready: Ready, loop_in_thread: asyncio.AbstractEventLoop
) -> None:
    """A loop blocked longer than the limit makes /healthz 503 while /metrics still answers."""
    heartbeat = Heartbeat(metrics, interval_s=0.05)
    run_in(loop_in_thread, heartbeat.start)
    srv = HealthServer("127.0.0.1", 0, metrics, heartbeat, ready, max_heartbeat_age_s=0.3)
    srv.start()
    try:
        assert wait_for(lambda: get(srv, "/healthz")[0] == 200, 2.0)
        loop_in_thread.call_soon_threadsafe(time.sleep, 1.0)  # the loop is stuck for 1 s
        assert wait_for(lambda: get(srv, "/healthz")[0] == 503, 2.0)
        status, _, body = get(srv, "/metrics")
        assert status == 200
        assert b"data_feeds_heartbeat_age_seconds" in body
        assert wait_for(lambda: get(srv, "/healthz")[0] == 200, 3.0)
        # the stall was observed as loop lag once the loop turned again
        lag_sum = metrics.registry.get_sample_value("data_feeds_event_loop_lag_seconds_sum")
        assert lag_sum is not None
        assert lag_sum >= 0.5
    finally:
        srv.stop()
        run_in(loop_in_thread, heartbeat.stop)


async def test_heartbeat_beats_and_observes_lag(metrics: ServiceMetrics) -> None:
    """Running, the heartbeat stays fresh and records one loop-lag observation per beat."""
    heartbeat = Heartbeat(metrics, interval_s=0.01)
    heartbeat.start()
    try:
        await asyncio.sleep(0.15)
        assert heartbeat.running
        assert heartbeat.age_s() < 0.1 + 0.4  # slack for a loaded CI machine
        beats = metrics.registry.get_sample_value("data_feeds_event_loop_lag_seconds_count")
        assert beats is not None
        assert beats >= 3
    finally:
        await heartbeat.stop()
    assert not heartbeat.running


async def test_heartbeat_records_a_blocking_call_as_lag(metrics: ServiceMetrics) -> None:
    """Blocking the loop for 0.2 s shows as at least 0.15 s of lag in one observation."""
    heartbeat = Heartbeat(metrics, interval_s=0.01)
    heartbeat.start()
    try:
        await asyncio.sleep(0.03)
        time.sleep(0.2)  # block the loop on purpose
        await asyncio.sleep(0.05)
        below = metrics.registry.get_sample_value(
            "data_feeds_event_loop_lag_seconds_bucket", {"le": "0.1"}
        )
        total = metrics.registry.get_sample_value("data_feeds_event_loop_lag_seconds_count")
        assert below is not None
        assert total is not None
        assert total - below >= 1  # one beat overshot by more than 0.1 s
    finally:
        await heartbeat.stop()


async def test_heartbeat_age_grows_once_stopped(metrics: ServiceMetrics) -> None:
    """A stopped heartbeat ages; stop() twice is harmless."""
    clock = FakeClock()
    heartbeat = Heartbeat(metrics, interval_s=0.01, clock=clock)
    heartbeat.start()
    await heartbeat.stop()
    await heartbeat.stop()
    clock.now += 7.5
    assert heartbeat.age_s() == 7.5


def test_heartbeat_age_is_exported_at_scrape_time(metrics: ServiceMetrics) -> None:
    """data_feeds_heartbeat_age_seconds reads the heartbeat's age when scraped."""
    clock = FakeClock()
    Heartbeat(metrics, clock=clock)
    clock.now += 3.25
    assert metrics.registry.get_sample_value("data_feeds_heartbeat_age_seconds") == 3.25
