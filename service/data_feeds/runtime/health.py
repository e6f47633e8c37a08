"""Liveness, readiness and the metrics endpoint, served from a thread beside the event loop.

``Heartbeat`` is a task on the event loop that wakes every ``interval_s`` and records when it
did; ``HealthServer`` answers HTTP from its own daemon thread (stdlib ``ThreadingHTTPServer``), so
``/metrics`` and ``/healthz`` still answer while the loop is stuck, and ``/healthz`` can say so:

- ``GET /metrics``  200, the Prometheus text exposition (gzip when the scraper accepts it)
- ``GET /healthz``  200 ``ok`` while the heartbeat is fresh; 503 with its age once the event
  loop has not turned for ``max_heartbeat_age_s`` (the liveness probe: restart me)
- ``GET /readyz``   200 when ``readiness()`` says ready; 503 with its reason otherwise (the
  readiness probe: do not count on me yet)
- anything else     404
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import urlsplit

import structlog

from data_feeds.runtime.metrics import ServiceMetrics

DEFAULT_HOST: Final = "0.0.0.0"
"""Every interface: in a container the probes and the scraper come from outside."""
HEARTBEAT_INTERVAL_S: Final = 0.5
MAX_HEARTBEAT_AGE_S: Final = 5.0
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"
REQUEST_TIMEOUT_S: Final = 10.0
"""A client that sends nothing for this long loses its connection (and its thread)."""

Readiness = Callable[[], tuple[bool, str]]
"""Returns ``(ready, reason)``. Called on the server thread: read flags, do no I/O on the loop."""

log = structlog.get_logger(__name__)


class Heartbeat:
    """Beats on the event loop every ``interval_s``; ``age_s()`` tells how long since the last.

    Each beat also observes the loop lag, the overshoot of its sleep, into
    ``metrics.event_loop_lag_seconds``. ``age_s()`` is safe to call from any thread (it reads one
    float the loop writes); ``metrics.heartbeat_age_seconds`` reads it at every scrape.
    """

    def __init__(
        self,
        metrics: ServiceMetrics,
        interval_s: float = HEARTBEAT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        self.interval_s = interval_s
        self._observe_lag = metrics.event_loop_lag_seconds.observe
        self._clock = clock
        self._last = clock()
        self._task: asyncio.Task[None] | None = None
        metrics.heartbeat_age_seconds.set_function(self.age_s)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def age_s(self) -> float:
        """Seconds since the last beat (since construction or ``start()`` before the first)."""
        return max(0.0, self._clock() - self._last)

    def start(self) -> asyncio.Task[None]:
        """Start beating on the running loop (idempotent); returns the task."""
        if self._task is None or self._task.done():
            self._last = self._clock()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="heartbeat")
        return self._task

    async def stop(self) -> None:
        """Cancel the beating task and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        clock, interval, observe = self._clock, self.interval_s, self._observe_lag
        while True:
            before = clock()
            await asyncio.sleep(interval)
            now = clock()
            self._last = now
            lag = now - before - interval
            observe(lag if lag > 0.0 else 0.0)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S
    server_version = "data-feeds"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        path = urlsplit(self.path).path
        health = self.server.health
        if path == "/metrics":
            body = health.metrics.render()
            encoding = None
            if _accepts_gzip(self.headers.get("Accept-Encoding", "")):
                body, encoding = gzip.compress(body, compresslevel=1), "gzip"
            self._send(HTTPStatus.OK, body, METRICS_CONTENT_TYPE, send_body, encoding)
        elif path == "/healthz":
            status, text = health.liveness()
            self._send(status, text.encode(), TEXT_CONTENT_TYPE, send_body)
        elif path == "/readyz":
            status, text = health.readiness_status()
            self._send(status, text.encode(), TEXT_CONTENT_TYPE, send_body)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", TEXT_CONTENT_TYPE, send_body)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        send_body: bool,
        encoding: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: probes and scrapes every few seconds are not news."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], health: HealthServer) -> None:
        self.health = health
        if ":" in address[0]:  # an IPv6 literal such as "::"
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


def _accepts_gzip(header: str) -> bool:
    for item in header.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` over HTTP from a daemon thread.

    ``port=0`` binds a free port; ``.port`` is the bound one after ``start()``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: ServiceMetrics,
        heartbeat: Heartbeat,
        readiness: Readiness,
        *,
        max_heartbeat_age_s: float = MAX_HEARTBEAT_AGE_S,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, got {port}")
        if not max_heartbeat_age_s > 0:
            raise ValueError(f"max_heartbeat_age_s must be > 0, got {max_heartbeat_age_s!r}")
        self.host = host
        self._port = port
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.readiness = readiness
        self.max_heartbeat_age_s = max_heartbeat_age_s
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the configured one before)."""
        return self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", DEFAULT_HOST) else self.host
        return f"http://{host}:{self._port}"

    def start(self) -> None:
        """Bind and serve from a daemon thread. Raises ``OSError`` if the port is taken."""
        if self._server is not None:
            raise RuntimeError("HealthServer already started")
        server = _Server((self.host, self._port), self)
        self._port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"health-http-{self._port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        log.info("health_server_started", host=self.host, port=self._port)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout_s)
        log.info("health_server_stopped", port=self._port)

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def liveness(self) -> tuple[HTTPStatus, str]:
        """200 while the heartbeat is fresh, 503 with its age when the loop has stalled."""
        age = self.heartbeat.age_s()
        if age <= self.max_heartbeat_age_s:
            return HTTPStatus.OK, "ok\n"
        return (
            HTTPStatus.SERVICE_UNAVAILABLE,
            f"event loop stalled: heartbeat {age:.2f} s old "
            f"(limit {self.max_heartbeat_age_s:g} s)\n",
        )

    def readiness_status(self) -> tuple[HTTPStatus, str]:
        """200 ``ready`` or 503 with the reason ``readiness()`` gave (or the error it raised)."""
        try:
            ready, reason = self.readiness()
        except Exception as exc:  # a broken check must answer "not ready", not kill the thread
            return HTTPStatus.SERVICE_UNAVAILABLE, f"readiness check failed: {exc!r:.200}\n"
        if ready:
            return HTTPStatus.OK, f"{reason or 'ready'}\n"
        return HTTPStatus.SERVICE_UNAVAILABLE, f"{reason or 'not ready'}\n"
