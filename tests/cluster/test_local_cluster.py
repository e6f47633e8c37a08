"""The test cluster itself, and the URL detection: a node's URL gives the cluster client."""

from __future__ import annotations

import asyncio

import redis
from redis.cluster import RedisCluster

from data_feeds.cache.clients import async_client, is_cluster, is_cluster_url, sync_client
from data_feeds.cache.local_cluster import LocalCluster


def test_the_cluster_has_three_primaries_with_a_replica_each(cluster: LocalCluster) -> None:
    client = RedisCluster.from_url(cluster.url)
    try:
        nodes = client.get_nodes()
        assert sorted(n.server_type for n in nodes) == ["primary"] * 3 + ["replica"] * 3
        assert int(client.cluster_info()["cluster_slots_ok"]) == 16384
    finally:
        client.close()


def test_a_node_url_gives_a_cluster_client(cluster: LocalCluster, redis_url: str) -> None:
    """Any node's URL is detected as a cluster; the suite's single Redis is not."""
    other_node = f"redis://127.0.0.1:{cluster.ports[-1]}/0"
    assert is_cluster_url(cluster.url) and is_cluster_url(other_node)
    assert not is_cluster_url(redis_url)
    client = sync_client(other_node)
    try:
        assert is_cluster(client)
        for i in range(50):  # keys land on every primary: the client routes them
            client.set(f"k{i}", i)
        assert [int(client.get(f"k{i}")) for i in range(50)] == list(range(50))
    finally:
        client.close()
    plain = sync_client(redis_url)
    assert isinstance(plain, redis.Redis) and not is_cluster(plain)
    plain.close()

    async def ping() -> bool:
        aclient = async_client(cluster.url)
        try:
            return is_cluster(aclient) and bool(await aclient.ping())
        finally:
            await aclient.aclose()

    assert asyncio.run(ping())
