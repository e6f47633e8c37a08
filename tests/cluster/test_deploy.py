"""deploy/: the compose file's "cluster" profile is a 3+3 Redis Cluster the workers reach by an
alias every node carries."""

from __future__ import annotations

from ..runtime.test_metrics import DEPLOY, load_yaml_documents


def test_compose_cluster_profile() -> None:
    (compose,) = load_yaml_documents(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    nodes = [services[f"redis-c{i}"] for i in range(1, 7)]
    for node in nodes:
        assert node["profiles"] == ["cluster"]
        assert node["command"][node["command"].index("--cluster-enabled") + 1] == "yes"
        assert "redis-cluster" in node["networks"]["default"]["aliases"]
    init = services["redis-cluster-init"]
    assert "--cluster-replicas 1" in init["command"][0]
    assert set(init["depends_on"]) == {f"redis-c{i}" for i in range(1, 7)}
    for i in (0, 1):
        worker = services[f"worker-c{i}"]
        env = worker["environment"]
        assert worker["profiles"] == ["cluster"]
        assert env["DATA_FEEDS_REDIS_URL"] == "redis://redis-cluster:6379/0"
        assert env["DATA_FEEDS_WORKER_INDEX"] == str(i)
        assert env["DATA_FEEDS_WORKER_COUNT"] == "2"
        assert worker["depends_on"]["redis-cluster-init"]["condition"] == (
            "service_completed_successfully"
        )
    assert "profiles" not in services["worker-0"]  # the default stack is unchanged
