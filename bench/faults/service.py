"""``data-feeds run`` as a subprocess: started with the suite's settings, stopped with SIGTERM
(the exit code and the seconds to exit recorded) or SIGKILL, its log kept in a file.

Every start, exit and signal is recorded, so a scenario can tell a kill it did from an exit it
did not ask for (a crash, or a crash loop after a bad checkpoint).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import redis

from .verify import drained

HMAC_KEY: Final = "fault-suite-hmac-key-0123456789abcdef"
"""The suite's HMAC key (``DATA_FEEDS_HMAC_KEY``): the suite signs its forged checkpoints
with it."""
GROUP: Final = "data-feeds"
BATCH_SIZE: Final = 200


@dataclass
class Exit:
    how: str
    """``sigterm``, ``sigkill`` or ``unexpected``."""
    code: int | None
    seconds: float
    """From the signal to the process gone (0 for an unexpected exit)."""


@dataclass
class ServiceProcess:
    """One worker, restarted as often as a scenario asks, on one Redis URL and data dir."""

    redis_url: str
    data_dir: Path
    grace_period_s: float = 10.0
    checkpoint_interval_s: float = 1.0
    horizon_s: float = 5.0
    batch_size: int = BATCH_SIZE
    metrics_port: int = -1
    log_level: str = "warning"
    """``info`` logs ``service_started`` (``wait_logged``), and symbol handovers."""
    env: dict[str, str] = field(default_factory=dict)
    """More ``DATA_FEEDS_*`` settings (retention, ...)."""
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exits: list[Exit] = field(default_factory=list)
    _recorded: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    """The process whose exit is already in ``exits``."""

    @property
    def log_path(self) -> Path:
        return self.data_dir / "service.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        if self.alive():
            raise RuntimeError("the service is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATA_FEEDS_")}
        env.pop("REDIS_URL", None)
        env["DATA_FEEDS_DATA_DIR"] = str(self.data_dir)
        env["DATA_FEEDS_HMAC_KEY"] = HMAC_KEY
        env.update(self.env)
        cmd = [
            sys.executable,
            "-m",
            "data_feeds",
            "run",
            "--redis-url",
            self.redis_url,
            "--metrics-port",
            str(self.metrics_port),
            "--metrics-host",
            "127.0.0.1",
            "--block-ms",
            "100",
            "--batch-size",
            str(self.batch_size),
            "--checkpoint-interval-s",
            str(self.checkpoint_interval_s),
            "--grace-period-s",
            str(self.grace_period_s),
            "--horizon-s",
            str(self.horizon_s),
            "--log-level",
            self.log_level,
            "--log-format",
            "json",
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            log.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> bool:
        """Whether it still runs; an exit nobody asked for is recorded (once) as unexpected."""
        if self.proc is None:
            return False
        code = self.proc.poll()
        if code is None:
            return True
        if self._recorded is not self.proc:
            self.exits.append(Exit("unexpected", code, 0.0))
            self._recorded = self.proc
        return False

    def kill9(self) -> None:
        if not self.check() or self.proc is None:
            return
        t0 = time.monotonic()
        os.kill(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait(timeout=10)
        self.exits.append(Exit("sigkill", code, time.monotonic() - t0))
        self._recorded = self.proc

    def sigterm(self, timeout_s: float | None = None) -> Exit | None:
        """SIGTERM and wait (``grace_period_s`` + 5 s, then SIGKILL); the exit, ``None`` if it
        was not running."""
        if not self.check() or self.proc is None:
            return None
        t0 = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout_s or self.grace_period_s + 5.0)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait(timeout=10)
        out = Exit("sigterm", code, time.monotonic() - t0)
        self.exits.append(out)
        self._recorded = self.proc
        return out

    def stop(self) -> None:
        """At the end of a scenario, whatever the state: SIGTERM, else SIGKILL."""
        if self.alive():
            self.sigterm()

    def unexpected_exits(self) -> list[Exit]:
        self.check()
        return [e for e in self.exits if e.how == "unexpected"]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_count(self, needle: str) -> int:
        return self.log_text().count(needle)

    def wait_logged(self, event: str, timeout_s: float = 60.0) -> None:
        """Until the process started last has logged ``event`` (it must not exit meanwhile)."""
        deadline = time.monotonic() + timeout_s
        needle = f'"event": "{event}"'
        while needle not in self.log_text().rpartition("--- start")[2]:
            assert self.check(), self.log_text()[-3000:]
            assert time.monotonic() < deadline, f"no {event} in time"
            time.sleep(0.05)

    def rss_bytes(self) -> int | None:
        """VmRSS of the process (``/proc/PID/status``)."""
        if not self.alive() or self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def scrape_metrics(self) -> str | None:
        if self.metrics_port <= 0:
            return None
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            return None


def stop_when_drained(
    client: redis.Redis, procs: list[ServiceProcess], timeout_s: float = 120.0
) -> None:
    """Wait until every input is read and acknowledged (no worker exiting on its own
    meanwhile), then SIGTERM each worker still running, once it has started (with leases the
    others may drain everything while one restarted is still importing; a SIGTERM then would
    find no handler): each must exit 0. The workers log at ``info``."""
    deadline = time.monotonic() + timeout_s
    while not drained(client):
        assert time.monotonic() < deadline, "not drained in time"
        for p in procs:
            assert not p.unexpected_exits(), f"a worker exited: {p.log_text()[-2000:]}"
        time.sleep(0.2)
    assert all(p.log_level == "info" for p in procs), "stop_when_drained needs info logs"
    for p in procs:
        if p.alive():
            p.wait_logged("service_started")
            exit_ = p.sigterm()
            assert exit_ is not None and exit_.code == 0, p.log_text()[-3000:]


def series_count(exposition: str) -> int:
    """Samples (time series) in a Prometheus text exposition: its non-comment lines."""
    return sum(1 for line in exposition.splitlines() if line and not line.startswith("#"))


def metric_value(exposition: str, name: str) -> float:
    """The sum of a metric's samples (``name`` or ``name{...}``)."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
