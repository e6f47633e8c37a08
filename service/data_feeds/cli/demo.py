"""``data-feeds demo``: the bundled Redis, the simulator and the service in one process.

A fresh bundled redis-server under ``<data dir>/demo`` (wiped at start: it is the demo's own
store, never the user's data), a seeded simulated market with leading sentiment and labelled
faults published at ``rate`` messages/s, and one service worker with its /metrics endpoint.
A console view refreshes every second (a line every 5 s when not on a terminal); at the end,
after Ctrl-C or ``duration_s``, everything published is drained, a summary is printed and
stored in Redis (``{metrics}:demo:latest`` and the list ``{metrics}:demo:runs``), and the Redis
server and every task are stopped: no process is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from data_feeds.cache import keys
from data_feeds.cache.db_connector import AsyncDBConnector
from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.errors import REASONS, UsageError
from data_feeds.records import ACTIONS, KINDS
from data_feeds.runtime.app import Service
from data_feeds.runtime.metrics import RETRAIN_OUTCOMES
from data_feeds.runtime.shutdown import stop_on_signals
from data_feeds.settings import Settings
from data_feeds.simulation.publisher import PublishProgress, PublishResult, StreamPublisher
from data_feeds.simulation.scenario import build_scenario

SUMMARY_KEY: Final = keys.METRICS_DEMO_LATEST
RUNS_KEY: Final = keys.METRICS_DEMO_RUNS
DRAIN_TIMEOUT_S: Final = 30.0
KEEP_RUNS: Final = 100


class ConsoleView:
    """The live figures: a block redrawn in place on a terminal, a line every 5 s otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.every_s = 1.0 if self.tty else 5.0
        self._lines = 0
        self._last_total = 0.0
        self._last_t = time.monotonic()

    def show(self, stats: dict[str, Any], elapsed_s: float, duration_s: float | None) -> None:
        now = time.monotonic()
        total = stats["consumed"]
        rate = (total - self._last_total) / max(now - self._last_t, 1e-9)
        self._last_total, self._last_t = total, now
        until = f" / {duration_s:g} s" if duration_s else " (Ctrl-C to stop)"
        sig = stats["signals"]
        lat = stats["latency_ms"]
        acc = stats["live_accuracy"]
        lines = [
            f"data-feeds demo  {elapsed_s:5.1f} s{until}   metrics: {stats['metrics_url']}",
            f"  ingest    {rate:8,.0f} msg/s   consumed {total:,.0f}   published "
            f"{stats['published']:,}",
            f"  signals   BUY {sig['BUY']:,.0f}   SELL {sig['SELL']:,.0f}   "
            f"HOLD {sig['HOLD']:,.0f}",
            f"  rejected  {stats['rejected_total']:,.0f}   DLQ {stats['dlq']:,.0f}   quarantined "
            f"{stats['quarantined']:,.0f}",
            f"  latency   publish->signal p50 {_ms(lat['p50'])}  p99 {_ms(lat['p99'])}",
            f"  model     {stats['model_version']}   live accuracy "
            + (f"{acc:.3f}" if acc is not None else "-")
            + f" over {stats['scored']:,} outcomes   retrains {_counts(stats['retrains'])}",
        ]
        if self.tty:
            if self._lines:
                self.out.write(f"\x1b[{self._lines}F")
            self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._lines = len(lines)
        else:
            self.out.write(" | ".join(part.strip() for part in lines) + "\n")
        self.out.flush()


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none yet"


def _ms(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.1f} ms"


def _in_ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def summary_path(settings: Settings) -> Path:
    """Where the last demo's summary is kept (the demo's Redis is stopped when it ends)."""
    return settings.data_dir / "demo-summary.json"


def last_summary(settings: Settings) -> dict[str, Any]:
    """The last demo's summary (``UsageError`` when no demo has run under the data dir)."""
    path = summary_path(settings)
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"no demo has run under {settings.data_dir} yet ({path})") from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UsageError(f"cannot read the last demo's summary {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"cannot read the last demo's summary {path}: not a summary")
    return doc


def collect_stats(service: Service, published: int) -> dict[str, Any]:
    """The figures the view and the summary show, read from the service's own metrics."""
    m = service.metrics
    snap = m.snapshot()
    rejected = {r: int(snap.value("data_feeds_messages_rejected_total", reason=r)) for r in REASONS}
    consumer = service.consumer
    card = consumer.pipeline.generator.scorecard if consumer else None
    scheduler = service.scheduler
    return {
        "published": published,
        "consumed": sum(snap.value("data_feeds_messages_consumed_total", kind=k) for k in KINDS),
        "consumed_by_kind": {
            k: int(snap.value("data_feeds_messages_consumed_total", kind=k)) for k in KINDS
        },
        "signals": {a: snap.value("data_feeds_signals_total", action=a) for a in ACTIONS},
        "rejected_total": sum(rejected.values()),
        "rejected": {r: n for r, n in rejected.items() if n},
        "dlq": snap.value("data_feeds_dlq_messages_total"),
        "quarantined": snap.value("data_feeds_quarantined_messages_total"),
        "latency_ms": {
            "p50": _in_ms(m.quantile(m.entry_to_signal_seconds, 0.5)),
            "p99": _in_ms(m.quantile(m.entry_to_signal_seconds, 0.99)),
        },
        "model_version": m.model_version or "v0",
        "live_accuracy": card.accuracy if card else None,
        "scored": card.n if card else 0,
        "retrains": dict(
            (outcome, int(snap.value("data_feeds_retrain_runs_total", outcome=outcome)))
            for outcome in RETRAIN_OUTCOMES
        )
        if scheduler
        else {},
        "metrics_url": (service.health.url + "/metrics") if service.health else "-",
    }


async def run_demo(
    settings: Settings,
    *,
    duration_s: float | None,
    symbols: int = 10,
    rate: float = 2000.0,
    faults: float = 0.01,
    seed: int | None = None,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Run the demo; its summary (also stored in Redis)."""
    out = out or sys.stdout
    server = EmbeddedRedis(settings.data_dir / "demo")
    url = await asyncio.to_thread(server.ensure_running)
    client = AsyncDBConnector(url, settings=settings).redis
    try:
        await client.flushdb()
        settings = replace(settings, redis_url=url)
        scenario = build_scenario(
            symbols=symbols, rate=rate, seed=seed, sentiment=True,
            sentiment_lead_s=settings.horizon_s, faults=faults,
        )  # fmt: skip
        service = Service(settings)
        stop = asyncio.Event()
        publisher = StreamPublisher(
            client, manifest_key=keys.SIM_FAULTS, maxlen=settings.stream_maxlen
        )
        injector = scenario.injector
        service_task = asyncio.create_task(service.run(), name="service")
        await _until(lambda: service.consumer is not None and service.consumer.started,
                     service_task)  # fmt: skip
        with stop_on_signals(stop.set):  # the service installed its own: take over
            t0 = time.monotonic()
            sent = [0]

            def progress(p: PublishProgress) -> None:
                sent[0] = p.published

            publish_task = asyncio.create_task(
                publisher.publish(
                    scenario.messages, speed=1.0, duration_s=duration_s, stop=stop,
                    faults=injector.faults if injector else None, progress=progress,
                    progress_interval_s=0.5,
                ),
                name="simulator",
            )  # fmt: skip
            view = ConsoleView(out)
            while not publish_task.done() and not service_task.done():
                view.show(collect_stats(service, sent[0]), time.monotonic() - t0,
                          duration_s)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(publish_task), view.every_s)
            stop.set()
            result: PublishResult = await publish_task
            # drain what was published before stopping the service
            await _until(lambda: service.consumer is not None
                         and service.consumer.processed >= result.published, service_task,
                         timeout_s=DRAIN_TIMEOUT_S)  # fmt: skip
            view.show(collect_stats(service, result.published), time.monotonic() - t0, duration_s)
            service.request_stop()
            await service_task
        summary = collect_stats(service, result.published)
        summary.update(
            seed=scenario.seed,
            duration_s=round(time.monotonic() - t0, 3),
            faults_injected=result.faults_by_type(),
            finished_at=time.time(),
        )
        blob = orjson.dumps(summary)
        await asyncio.to_thread(_keep, summary_path(settings), blob)
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(SUMMARY_KEY, blob)
            pipe.lpush(RUNS_KEY, blob)
            pipe.ltrim(RUNS_KEY, 0, KEEP_RUNS - 1)
            await pipe.execute()
        return summary
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
        await asyncio.to_thread(server.stop)


def _keep(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a temporary file beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


async def _until(check: Any, task: asyncio.Task[Any], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if task.done():
            task.result()
            return
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    sig = summary["signals"]
    lat = summary["latency_ms"]
    acc = summary["live_accuracy"]
    faults = ", ".join(f"{k} {v}" for k, v in sorted(summary["faults_injected"].items()))
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(summary["rejected"].items()))
    only_hold = (
        ["  no BUY or SELL: the untrained model's P(up) stayed inside the HOLD margin (online it "
         "learns one outcome a symbol a second; 'data-feeds train --promote' starts it from the "
         "stored history)"]
        if sig["HOLD"] and not (sig["BUY"] or sig["SELL"])
        else []
    )  # fmt: skip
    return [
        "",
        f"demo finished after {summary['duration_s']:.1f} s (seed {summary['seed']})",
        f"  published {summary['published']:,} messages, consumed {summary['consumed']:,.0f}",
        f"  signals   BUY {sig['BUY']:,.0f}  SELL {sig['SELL']:,.0f}  HOLD {sig['HOLD']:,.0f}",
        *only_hold,
        f"  faults injected: {faults or 'none'}",
        f"  rejected {summary['rejected_total']:,} ({rejected or 'none'}); "
        f"DLQ {summary['dlq']:,.0f}; quarantined {summary['quarantined']:,.0f}",
        f"  publish->signal latency p50 {_ms(lat['p50'])}, p99 {_ms(lat['p99'])}",
        f"  model {summary['model_version']}, live accuracy "
        + (f"{acc:.3f}" if acc is not None else "-")
        + f" over {summary['scored']:,} outcomes; retrains {_counts(summary['retrains'])}",
        "  summary kept: 'data-feeds demo --last' prints it again",
    ]
