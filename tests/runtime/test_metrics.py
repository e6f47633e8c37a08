"""ServiceMetrics: names, bounded labels, batch latency observation; deploy files use them."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from data_feeds import __version__
from data_feeds.errors import REASONS
from data_feeds.records import ACTIONS, KINDS
from data_feeds.runtime.metrics import (
    ENTRY_LATENCY_BUCKETS_S,
    EVENT_LATENCY_BUCKETS_S,
    RETRAIN_OUTCOMES,
    STAGES,
    BatchHistogram,
    ServiceMetrics,
)
from data_feeds.validation.cleaner import FEED_EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULES_TEST = DEPLOY / "prometheus" / "rules_test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "data-feeds.json"
PROMTOOL = shutil.which("promtool") or (
    "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package: prometheus)"
)

# name -> (type as exposed, label names)
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "data_feeds_messages_consumed": ("counter", ("kind",)),
    "data_feeds_messages_rejected": ("counter", ("reason",)),
    "data_feeds_batches": ("counter", ()),
    "data_feeds_signals": ("counter", ("action",)),
    "data_feeds_dlq_messages": ("counter", ()),
    "data_feeds_quarantined_messages": ("counter", ()),
    "data_feeds_feed_events": ("counter", ("type",)),
    "data_feeds_redeliveries": ("counter", ()),
    "data_feeds_pending_trimmed": ("counter", ()),
    "data_feeds_heap_released_bytes": ("counter", ()),
    "data_feeds_trimmed_entries": ("counter", ("kind",)),
    "data_feeds_late_entries": ("counter", ()),
    "data_feeds_checkpoints_refused": ("counter", ()),
    "data_feeds_rollbacks": ("counter", ()),
    "data_feeds_checkpoint_seconds": ("histogram", ()),
    "data_feeds_checkpoint_bytes": ("gauge", ()),
    "data_feeds_stage_duration_seconds": ("histogram", ("stage",)),
    "data_feeds_event_to_signal_seconds": ("histogram", ()),
    "data_feeds_entry_to_signal_seconds": ("histogram", ()),
    "data_feeds_event_loop_lag_seconds": ("histogram", ()),
    "data_feeds_heartbeat_age_seconds": ("gauge", ()),
    "data_feeds_consumer_lag_seconds": ("gauge", ("kind",)),
    "data_feeds_pending_entries": ("gauge", ("kind",)),
    "data_feeds_consumer_lag_entries": ("gauge", ("kind",)),
    "data_feeds_model_info": ("gauge", ("version",)),
    "data_feeds_live_accuracy_ratio": ("gauge", ()),
    "data_feeds_live_log_loss": ("gauge", ()),
    "data_feeds_buy_hit_rate_ratio": ("gauge", ()),
    "data_feeds_sell_hit_rate_ratio": ("gauge", ()),
    "data_feeds_retrain_runs": ("counter", ("outcome",)),
    "data_feeds_retrain_duration_seconds": ("histogram", ()),
    "data_feeds_drift_detected": ("counter", ()),
    "data_feeds_redis_up": ("gauge", ()),
    "data_feeds_redis_reconnects": ("counter", ()),
    "data_feeds_build": ("info", ("version",)),
}
BOUNDED_LABELS = {"kind", "reason", "stage", "action", "type", "outcome", "version", "le"}


def scrape(metrics: ServiceMetrics) -> dict[str, Any]:
    """Parse the exposition text back into families, by name."""
    return {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}


def sample_value(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    assert value is not None, f"no sample {name}{labels}"
    return value


def exposed_sample_names(metrics: ServiceMetrics) -> set[str]:
    """Every sample name the registry exposes, with the model version set so info shows."""
    metrics.set_model_version("v1")
    return {s.name for family in metrics.registry.collect() for s in family.samples}


def bucket_counts(registry: CollectorRegistry, name: str) -> list[tuple[str, float]]:
    return [
        (s.labels["le"], s.value)
        for family in registry.collect()
        for s in family.samples
        if s.name == name + "_bucket"
    ]


# -- names and labels ---------------------------------------------------------------------------


def test_every_metric_has_the_specified_name_type_and_labels() -> None:
    """The registry exposes exactly the documented families, each with its type and labels."""
    metrics = ServiceMetrics()
    metrics.set_model_version("v1")
    families = {f.name: f for f in metrics.registry.collect() if f.name.startswith("data_feeds_")}
    assert set(families) == set(EXPECTED)
    for name, (kind, labels) in EXPECTED.items():
        family = families[name]
        assert family.type == kind, name
        sample_labels = {k for s in family.samples for k in s.labels} - {"le"}
        assert sample_labels == set(labels), name
        assert family.documentation, f"{name} has no HELP text"


def test_the_standard_process_families_are_exported() -> None:
    """process_* (resident memory, CPU, open files) and python_* beside our own, in the one
    scrape: what every Prometheus dashboard for a process expects."""
    body = ServiceMetrics().render().decode()
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_open_fds", "process_start_time_seconds", "python_info"):  # fmt: skip
        assert f"\n{name}" in body or body.startswith(name), name
    assert b"process_resident_memory_bytes" not in ServiceMetrics(process=False).render()


def test_names_carry_a_base_unit_or_total_suffix() -> None:
    """Counters end in _total, durations in _seconds, ratios in _ratio; all share the prefix."""
    names = exposed_sample_names(ServiceMetrics(process=False))
    assert all(n.startswith("data_feeds_") for n in names)
    counters = {n for n, (t, _) in EXPECTED.items() if t == "counter"}
    assert {c + "_total" for c in counters} <= names
    assert not any("_ms" in n or "milliseconds" in n for n in names)


def test_labels_come_from_bounded_sets_only() -> None:
    """No label outside the bounded set, and the series count does not grow with traffic."""
    metrics = ServiceMetrics()
    before = len(metrics.render().splitlines())
    metrics.messages_consumed_total["price"].inc(5)
    metrics.observe_latencies([1.0] * 10, [1000] * 10, 2.0)
    metrics.stage_duration_seconds["model"].observe(0.001)
    assert len(metrics.render().splitlines()) == before
    for family in metrics.registry.collect():
        if not family.name.startswith("data_feeds_"):
            continue  # prometheus_client's process_* and python_* (fixed label sets)
        for s in family.samples:
            assert set(s.labels) <= BOUNDED_LABELS, (s.name, s.labels)


def test_every_reason_code_has_a_child() -> None:
    """Each code in errors.REASONS has a prebound rejected child exposed at 0 from the start."""
    metrics = ServiceMetrics()
    assert set(metrics.messages_rejected_total) == set(REASONS)
    for reason in REASONS:
        assert sample_value(metrics, "data_feeds_messages_rejected_total", reason=reason) == 0.0
    metrics.messages_rejected_total["non_finite"].inc()
    assert sample_value(metrics, "data_feeds_messages_rejected_total", reason="non_finite") == 1


def test_children_are_resolved_for_every_bounded_value() -> None:
    """kinds, stages, actions, feed events, outcomes: every child exists and counts its own."""
    metrics = ServiceMetrics()
    assert (
        set(metrics.messages_consumed_total)
        == set(KINDS)
        == {"price", "trade", "book", "sentiment"}
    )
    assert tuple(metrics.stage_duration_seconds) == STAGES
    assert set(STAGES) == {"decode", "validate", "clean", "indicators", "model", "write"}
    assert set(metrics.signals_total) == set(ACTIONS) == {"BUY", "SELL", "HOLD"}
    assert set(metrics.feed_events_total) == set(FEED_EVENT_TYPES)
    assert set(metrics.retrain_runs_total) == set(RETRAIN_OUTCOMES)
    assert set(RETRAIN_OUTCOMES) == {"promoted", "kept", "failed", "insufficient_data"}
    for per_kind in (
        metrics.consumer_lag_seconds,
        metrics.pending_entries,
        metrics.consumer_lag_entries,
    ):
        assert set(per_kind) == set(KINDS)

    metrics.messages_consumed_total["trade"].inc(7)
    metrics.signals_total["SELL"].inc()
    metrics.feed_events_total["gap"].inc(2)
    metrics.retrain_runs_total["kept"].inc()
    metrics.pending_entries["book"].set(12)
    assert sample_value(metrics, "data_feeds_messages_consumed_total", kind="trade") == 7
    assert sample_value(metrics, "data_feeds_messages_consumed_total", kind="price") == 0
    assert sample_value(metrics, "data_feeds_signals_total", action="SELL") == 1
    assert sample_value(metrics, "data_feeds_feed_events_total", type="gap") == 2
    assert sample_value(metrics, "data_feeds_retrain_runs_total", outcome="kept") == 1
    assert sample_value(metrics, "data_feeds_pending_entries", kind="book") == 12


def test_stage_help_says_observed_once_per_batch() -> None:
    """The stage histogram's HELP documents that it is observed once per batch."""
    families = scrape(ServiceMetrics())
    assert "once per batch" in families["data_feeds_stage_duration_seconds"].documentation


def test_each_instance_has_its_own_registry() -> None:
    """Two ServiceMetrics side by side neither collide nor share values."""
    a, b = ServiceMetrics(), ServiceMetrics()
    a.batches_total.inc(3)
    assert sample_value(a, "data_feeds_batches_total") == 3
    assert sample_value(b, "data_feeds_batches_total") == 0


def test_a_given_registry_is_used() -> None:
    """ServiceMetrics(registry) registers into that registry."""
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    metrics.dlq_messages_total.inc()
    assert registry.get_sample_value("data_feeds_dlq_messages_total") == 1


# -- model and build info -----------------------------------------------------------------------


def test_model_version_keeps_one_series() -> None:
    """set_model_version exposes the new version at 1 and drops the old one's series."""
    metrics = ServiceMetrics()
    assert "data_feeds_model_info{" not in metrics.render().decode()
    metrics.set_model_version("v1")
    metrics.set_model_version("v2")
    metrics.set_model_version("v2")
    infos = [s for s in scrape(metrics)["data_feeds_model_info"].samples]
    assert [(s.labels, s.value) for s in infos] == [({"version": "v2"}, 1.0)]
    assert metrics.model_version == "v2"


@pytest.mark.parametrize("bad", ["", "v" * 129])
def test_model_version_refuses_unbounded_values(bad: str) -> None:
    """An empty or overlong version string is refused rather than exported."""
    with pytest.raises(ValueError, match="model version"):
        ServiceMetrics().set_model_version(bad)


def test_build_info_carries_the_package_version() -> None:
    """data_feeds_build_info{version} is 1 for the installed package version."""
    metrics = ServiceMetrics()
    assert sample_value(metrics, "data_feeds_build_info", version=__version__) == 1


def test_quality_gauges_start_unknown() -> None:
    """Accuracy, log loss and hit rates are NaN until set, so no alert sees a fake 0."""
    metrics = ServiceMetrics()
    for name in (
        "data_feeds_live_accuracy_ratio",
        "data_feeds_live_log_loss",
        "data_feeds_buy_hit_rate_ratio",
        "data_feeds_sell_hit_rate_ratio",
    ):
        assert math.isnan(sample_value(metrics, name))
    metrics.live_accuracy_ratio.set(0.56)
    assert sample_value(metrics, "data_feeds_live_accuracy_ratio") == 0.56


# -- batch latency observation ------------------------------------------------------------------


def reference_histogram(buckets: tuple[float, ...], values: list[float]) -> CollectorRegistry:
    """The same values observed one by one through the public API (negatives clamped to 0)."""
    registry = CollectorRegistry()
    histogram = Histogram("ref_seconds", "reference", buckets=buckets, registry=registry)
    for v in values:
        if math.isfinite(v):
            histogram.observe(max(v, 0.0))
    return registry


def test_observe_latencies_records_the_same_distribution_as_per_value_observe() -> None:
    """Batch observation gives exactly the bucket counts and sum of observing each value."""
    rng = random.Random(7)
    metrics = ServiceMetrics()
    written_s = 1_700_000_000.0
    event_lat = [rng.lognormvariate(-5, 2) for _ in range(997)] + [-0.002, 0.0, 0.005, 120.0]
    entry_lat = [rng.lognormvariate(-7, 1.5) for _ in range(500)] + [0.01, 0.0001, 11.0]
    event_ts = [written_s - lat for lat in event_lat]
    entry_ms = [round((written_s - lat) * 1000) for lat in entry_lat]
    for chunk in range(0, len(event_ts), 250):  # several batches accumulate
        metrics.observe_latencies(
            event_ts[chunk : chunk + 250], entry_ms[chunk : chunk + 250], written_s
        )
    for name, buckets, lats in (
        (
            "data_feeds_event_to_signal_seconds",
            EVENT_LATENCY_BUCKETS_S,
            [written_s - t for t in event_ts],
        ),
        (
            "data_feeds_entry_to_signal_seconds",
            ENTRY_LATENCY_BUCKETS_S,
            [(written_s * 1000.0 - m) * 0.001 for m in entry_ms],
        ),
    ):
        ref = reference_histogram(buckets, lats)
        got = bucket_counts(metrics.registry, name)
        want = bucket_counts(ref, "ref_seconds")
        assert got == want, name
        assert sample_value(metrics, name + "_count") == len(lats)
        want_sum = ref.get_sample_value("ref_seconds_sum")
        assert want_sum is not None
        assert sample_value(metrics, name + "_sum") == pytest.approx(want_sum, rel=1e-9)


def test_entry_latency_is_read_from_entry_id_milliseconds() -> None:
    """An entry appended at t ms and written 1.5 ms later lands in the 2.5 ms bucket."""
    metrics = ServiceMetrics()
    metrics.observe_latencies([], [1_700_000_000_000], 1_700_000_000.0015)
    name = "data_feeds_entry_to_signal_seconds_bucket"
    assert sample_value(metrics, name, le="0.001") == 0
    assert sample_value(metrics, name, le="0.0025") == 1
    assert sample_value(metrics, "data_feeds_event_to_signal_seconds_count") == 0
    assert sample_value(metrics, "data_feeds_entry_to_signal_seconds_sum") == pytest.approx(
        0.0015, abs=1e-6
    )


def test_clock_skew_counts_in_the_lowest_bucket_without_lowering_the_sum() -> None:
    """A negative latency counts at le=0.001 and adds nothing to the sum."""
    metrics = ServiceMetrics()
    metrics.observe_latencies([101.0, 99.5], [], 100.0)
    assert sample_value(metrics, "data_feeds_event_to_signal_seconds_bucket", le="0.001") == 1
    assert sample_value(metrics, "data_feeds_event_to_signal_seconds_count") == 2
    assert sample_value(metrics, "data_feeds_event_to_signal_seconds_sum") == 0.5


def test_non_finite_latencies_are_dropped() -> None:
    """NaN and infinite values neither count nor poison the sum."""
    metrics = ServiceMetrics()
    metrics.observe_latencies([math.nan, 99.99, math.inf], [], 100.0)
    assert sample_value(metrics, "data_feeds_event_to_signal_seconds_count") == 1
    assert sample_value(metrics, "data_feeds_event_to_signal_seconds_sum") == pytest.approx(0.01)


def test_batch_histogram_falls_back_to_observe_without_the_internals() -> None:
    """When the client's internals are not there, per-value observe gives the same result."""
    values = [0.0004, 0.003, 0.003, 0.2, 7.0, -1.0]
    registry = CollectorRegistry()
    histogram = Histogram(
        "fb_seconds", "fallback", buckets=ENTRY_LATENCY_BUCKETS_S, registry=registry
    )
    batch = BatchHistogram(histogram)
    batch._buckets = None  # what a client release without them would leave
    batch.observe_many(values)
    want = reference_histogram(ENTRY_LATENCY_BUCKETS_S, values)
    assert bucket_counts(registry, "fb_seconds") == bucket_counts(want, "ref_seconds")
    assert registry.get_sample_value("fb_seconds_sum") == want.get_sample_value("ref_seconds_sum")


# -- the deploy files use only what exists ------------------------------------------------------

METRIC_NAME = re.compile(r"\bdata_feeds_[a-z_]+")
RECORDED_NAME = re.compile(r"\bdata_feeds:[a-z0-9_:]+[a-z0-9_]")


def recorded_rules() -> set[str]:
    return set(re.findall(r"^\s*-\s*record:\s*(\S+)\s*$", RULES.read_text(), flags=re.M))


def test_rules_use_only_exported_metric_names() -> None:
    """Every data_feeds_* name in rules.yml is a sample the service exposes."""
    exposed = exposed_sample_names(ServiceMetrics())
    used = set(METRIC_NAME.findall(RULES.read_text()))
    assert used, "no metric names found in rules.yml"
    assert used - exposed == set()


def test_dashboard_uses_only_exported_metrics_and_recorded_rules() -> None:
    """Every data_feeds_* name in the dashboard is exposed, every data_feeds:* is recorded."""
    text = DASHBOARD.read_text()
    exposed = exposed_sample_names(ServiceMetrics())
    used = set(METRIC_NAME.findall(text))
    assert used, "no metric names found in the dashboard"
    assert used - exposed == set()
    recorded = set(RECORDED_NAME.findall(text))
    assert recorded, "the dashboard uses no recorded series"
    assert recorded - recorded_rules() == set()


def test_dashboard_variables_follow_grafanas_variable_model() -> None:
    """A saved ``current`` is a whole option (text and value), never ``{}``; a query variable
    keeps its query in ``query`` only (no ``definition`` beside it)."""
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    assert {v["type"] for v in variables} == {"datasource", "query"}
    for v in variables:
        assert {"name", "type", "hide"} <= set(v), v["name"]
        if "current" in v:
            assert {"text", "value"} <= set(v["current"]), v["name"]
        assert "definition" not in v, v["name"]


def test_dashboard_charts_the_process() -> None:
    """Resident memory and CPU of each worker, from the process_* families it exports, and
    only the service's job (Prometheus exports process_* of its own)."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total"):
        (expr,) = [e for e in exprs if name in e]
        assert 'job="data-feeds"' in expr
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= {
        line.split(" ")[0].split("{")[0]
        for line in ServiceMetrics().render().decode().splitlines()
        if not line.startswith("#")
    }


def test_dashboard_is_a_grafana_dashboard_covering_the_service() -> None:
    """The dashboard JSON parses, has unique panel ids, and charts each area the service has."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "data-feeds"
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    exprs = " ".join(t["expr"] for p in panels for t in p.get("targets", []))
    for needle in (
        "data_feeds_messages_consumed_total",
        "data_feeds_signals_total",
        "data_feeds_messages_rejected_total",
        "data_feeds:event_to_signal_seconds:p99_5m",
        "data_feeds:entry_to_signal_seconds:p50_5m",
        "data_feeds_stage_duration_seconds",
        "data_feeds_consumer_lag_seconds",
        "data_feeds_pending_entries",
        "data_feeds_dlq_messages_total",
        "data_feeds_quarantined_messages_total",
        "data_feeds_live_accuracy_ratio",
        "data_feeds_model_info",
        "data_feeds:event_loop_lag_seconds:p99_5m",
        "data_feeds_retrain_runs_total",
    ):
        assert needle in exprs, needle


def test_alerts_cover_the_documented_conditions() -> None:
    """rules.yml defines the agreed alerts and the p50/p99 latency recordings."""
    text = RULES.read_text()
    alerts = set(re.findall(r"^\s*-\s*alert:\s*(\S+)\s*$", text, flags=re.M))
    assert {
        "DataFeedsNoSignals",
        "DataFeedsDLQRateHigh",
        "DataFeedsConsumerLagHigh",
        "DataFeedsLatencyP99High",
        "DataFeedsUnhealthy",
        "DataFeedsDown",
        "DataFeedsLiveAccuracyLow",
        "DataFeedsRetrainFailed",
    } <= alerts
    assert {
        "data_feeds:event_to_signal_seconds:p50_5m",
        "data_feeds:event_to_signal_seconds:p99_5m",
        "data_feeds:messages_consumed:rate1m",
    } <= recorded_rules()


def run_promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    """promtool check rules passes on deploy/prometheus/rules.yml."""
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_scrape_config() -> None:
    """promtool check config passes on deploy/prometheus/prometheus.yml (and its rule file)."""
    result = run_promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alerts_fire_as_their_unit_tests_expect() -> None:
    """promtool test rules passes: each alert fires on its condition and not before."""
    result = run_promtool("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


# -- YAML files (PyYAML is optional: parse when installed, skip otherwise) -----------------------


def load_yaml_documents(path: Path) -> list[Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed: YAML structure unchecked")
    with path.open() as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def test_compose_file_defines_the_stack() -> None:
    """docker-compose.yml: redis with AOF, two workers with their index, simulator, monitoring."""
    (compose,) = load_yaml_documents(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert {"redis", "worker-0", "worker-1", "simulator", "prometheus", "grafana"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    for i in (0, 1):
        env = services[f"worker-{i}"]["environment"]
        assert env["DATA_FEEDS_WORKER_INDEX"] == str(i)
        assert env["DATA_FEEDS_WORKER_COUNT"] == "2"
        assert env["DATA_FEEDS_REDIS_URL"].startswith("redis://redis:")
        assert env["DATA_FEEDS_LOG_FORMAT"] == "json"
        assert {"DATA_FEEDS_HMAC_KEY", "DATA_FEEDS_CONSUMER_GROUP"} <= set(env)
    assert services["simulator"]["command"][:1] == ["simulate"]


def test_kubernetes_manifests_wire_probes_and_worker_index() -> None:
    """The StatefulSet probes /healthz and /readyz, derives the index, and stops within 15 s;
    the workers share the symbols by leases, so the autoscaler may scale the StatefulSet."""
    docs: dict[str, Any] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in load_yaml_documents(path):
            assert {"apiVersion", "kind"} <= set(doc), path
            docs.setdefault(doc["kind"], doc)
    sts = docs["StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["terminationGracePeriodSeconds"] == 15
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "DATA_FEEDS_WORKER_INDEX" in container["args"][0]
    assert container["resources"]["requests"]
    assert docs["Service"]["spec"]["clusterIP"] == "None"
    config = docs["ConfigMap"]["data"]
    assert config["DATA_FEEDS_OWNERSHIP"] == "leases"  # scaling needs no other change
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                     "name": sts["metadata"]["name"]}  # fmt: skip
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    """The provisioning files name the Prometheus data source and the dashboards folder."""
    provisioning = DEPLOY / "grafana" / "provisioning"
    (ds,) = load_yaml_documents(provisioning / "datasources" / "prometheus.yml")
    assert ds["datasources"][0]["type"] == "prometheus"
    (dash,) = load_yaml_documents(provisioning / "dashboards" / "data-feeds.yml")
    assert dash["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_each_metric_attribute_is_named_after_the_metric_it_exports() -> None:
    """``metrics.X`` exports ``data_feeds_X``: grepping a dashboard's metric finds the code."""
    from prometheus_client.metrics import MetricWrapperBase  # noqa: PLC0415

    metrics = ServiceMetrics()
    exported = {m.name for m in metrics.registry.collect()}
    seen = 0
    for attr, value in vars(metrics).items():
        sample = next(iter(value.values())) if isinstance(value, dict) and value else value
        if not isinstance(sample, MetricWrapperBase) or attr.startswith("_"):
            continue
        seen += 1
        name = f"data_feeds_{attr}"
        family = name.removesuffix("_total") if name.endswith("_total") else name
        assert family.removesuffix("_info") in exported or family in exported, attr
    assert seen >= 25
