"""The soak: a paced load (default 2,000 msg/s over 50 symbols) for ``soak_minutes``, horizon
60 s, a short retention policy, sampled every ``soak_sample_s`` (30 s): the service's RSS
(``/proc/PID/status`` VmRSS), Redis ``used_memory``, the total length of the input and of the
signal streams, and the number of series on the service's ``/metrics``. At the end the
verifier judges every input still in Redis, as in every scenario.

Retention (``R`` = ``soak_retention_s``): inputs older than R (once delivered and acknowledged),
signals, dead letters and feed events older than 2R, trimmed every 5 s. Signals are kept
twice as long as inputs, so every input still in Redis still has its signal.

Flat, the rule: warm-up lasts ``max(horizon, 2R) + 30 s`` (the retention windows and the
model's pending outcomes filled up); the baseline is the first sample after it. RSS (resp.
Redis memory) is flat if the largest sample of the last third of the run is at most 10 %
plus 4 MiB above the baseline. A run too short to have a sample after warm-up and a last
third after that cannot be judged (``n/a``, noted, not a failure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .redis_server import free_port
from .scenarios import Options, Row, Run, _final_exit
from .service import series_count
from .verify import inputs_total, signals_total

HORIZON_S = 60.0
MIB = 1024 * 1024
FLAT_RATIO = 1.10
FLAT_SLACK = 4 * MIB


@dataclass
class Sample:
    elapsed_s: float
    rss: int | None
    redis_used: int
    inputs: int
    signals: int
    series: int | None
    published: int


def flat(samples: list[Sample], attr: str, warmup_s: float, total_s: float) -> str:
    """``flat``, ``GROWS`` or ``n/a`` by the module's rule, with its figures."""
    after = [s for s in samples if s.elapsed_s >= warmup_s and getattr(s, attr) is not None]
    tail = [s for s in after if s.elapsed_s >= total_s * 2 / 3]
    if not after or not tail or tail[0] is after[0]:
        return "n/a (run too short to judge)"
    base = int(getattr(after[0], attr))
    top = max(int(getattr(s, attr)) for s in tail)
    limit = base * FLAT_RATIO + FLAT_SLACK
    verdict = "flat" if top <= limit else "GROWS"
    return (
        f"{verdict}: baseline {base / MIB:.1f} MiB at {after[0].elapsed_s:.0f}s, "
        f"last-third max {top / MIB:.1f} MiB (limit {limit / MIB:.1f})"
    )


def soak(opts: Options) -> Row:
    r = opts.soak_retention_s
    env = {
        "DATA_FEEDS_INPUT_RETENTION_S": f"{r:g}",
        "DATA_FEEDS_SIGNALS_RETENTION_S": f"{2 * r:g}",
        "DATA_FEEDS_DLQ_RETENTION_S": f"{2 * r:g}",
        "DATA_FEEDS_EVENTS_RETENTION_S": f"{2 * r:g}",
        "DATA_FEEDS_RETENTION_INTERVAL_S": "5",
    }
    total_s = opts.soak_minutes * 60.0
    warmup_s = max(HORIZON_S, 2 * r) + 30.0
    with Run(
        "soak",
        opts,
        rate=opts.soak_rate,
        symbols=opts.soak_symbols,
        service_env=env,
        horizon_s=HORIZON_S,
        checkpoint_interval_s=10.0,
        batch_size=500,
        metrics_port=free_port(),
    ) as run:
        run.service.start()
        run.load.start()
        samples: list[Sample] = []
        print(
            f"soak: {opts.soak_rate:g} msg/s over {opts.soak_symbols} symbols for "
            f"{opts.soak_minutes:g} min, horizon {HORIZON_S:g}s, inputs kept {r:g}s, "
            f"signals {2 * r:g}s; warm-up {warmup_s:g}s",
            flush=True,
        )
        print(
            f"{'elapsed':>8} {'RSS MiB':>8} {'Redis MiB':>9} {'inputs':>9} {'signals':>9} "
            f"{'series':>7} {'published':>10} {'msg/s':>7}",
            flush=True,
        )
        t0 = time.monotonic()
        k = 1
        last_pub, last_t = 0, 0.0
        while k * opts.soak_sample_s <= total_s + 1e-9:
            time.sleep(max(0.0, t0 + k * opts.soak_sample_s - time.monotonic()))
            if not run.service.check():
                run.fail("the service exited during the soak")
                break
            metrics = run.service.scrape_metrics()
            info = run.client.info("memory")
            s = Sample(
                elapsed_s=time.monotonic() - t0,
                rss=run.service.rss_bytes(),
                redis_used=int(info["used_memory"]),
                inputs=inputs_total(run.client),
                signals=signals_total(run.client),
                series=series_count(metrics) if metrics is not None else None,
                published=run.load.sent,
            )
            samples.append(s)
            rate = (s.published - last_pub) / (s.elapsed_s - last_t)
            last_pub, last_t = s.published, s.elapsed_s
            print(
                f"{s.elapsed_s:7.0f}s {(s.rss or 0) / MIB:8.1f} {s.redis_used / MIB:9.1f} "
                f"{s.inputs:9,} {s.signals:9,} {s.series if s.series is not None else '-':>7} "
                f"{s.published:10,} {rate:7.0f}",
                flush=True,
            )
            k += 1
        run.finish(dup_bound=0)
        rss = flat(samples, "rss", warmup_s, total_s)
        mem = flat(samples, "redis_used", warmup_s, total_s)
        series = sorted({s.series for s in samples if s.series is not None})
        run.row.notes += [
            f"RSS {rss}",
            f"Redis memory {mem}",
            f"series {series[0]}..{series[-1]}" if series else "series: no scrape",
        ]
        for what, verdict in (("RSS", rss), ("Redis memory", mem)):
            if verdict.startswith("GROWS"):
                run.fail(f"{what} grows after warm-up")
        if samples:
            run.row.notes.append(
                f"published {samples[-1].published:,} at "
                f"{samples[-1].published / samples[-1].elapsed_s:,.0f} msg/s"
            )
        run.row.exits = _final_exit(run.service.exits)
    return run.row
