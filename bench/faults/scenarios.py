"""The scenarios: each a function of the suite's ``Options`` returning one ``Row``.

Each runs in a directory of its own with a Redis of its own (a fresh AOF), the service as a
subprocess and the paced load; it injects its fault, then stops the load, lets the service
drain (every input delivered, nothing pending), stops it with SIGTERM and asks the verifier.
A scenario's verdict is the verifier's (0 lost, 0 pending, duplicates within the bound and
carrying their input's ``signal_id``) and the scenario's own checks (no unexpected exit:
no crash, no crash loop; each its own, listed in ``Row.notes``).
"""

from __future__ import annotations

import pickle
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from data_feeds.cache import keys, signed
from data_feeds.runtime.checkpointer import FORMAT

from .load import PacedLoad
from .redis_server import RedisServer
from .service import BATCH_SIZE, GROUP, HMAC_KEY, Exit, ServiceProcess
from .verify import Report, drained, signals_total, verify

CHECKPOINT_KEY = keys.checkpoint_key(GROUP, "0of1")
PROGRESS_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 180.0


@dataclass
class Options:
    workdir: Path
    n: int = 5
    rate: float = 1000.0
    symbols: int = 10
    soak_minutes: float = 10.0
    soak_rate: float = 2000.0
    soak_symbols: int = 50
    soak_retention_s: float = 30.0
    soak_sample_s: float = 30.0
    aof_cut_s: float = 1.0
    poison_s: float = 10.0
    """How long the poison scenario's load runs."""
    grace_period_s: float = 10.0
    redis_binary: Path | None = None
    seed: int = 13
    quiet: bool = False

    def say(self, scenario: str, text: str) -> None:
        if not self.quiet:
            print(f"[{scenario}] {text}", file=sys.stderr, flush=True)


@dataclass
class Row:
    scenario: str
    report: Report | None = None
    restarts: int = 0
    exits: str = ""
    passed: bool = False
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Run:
    """One scenario's Redis, service and load (``with Run(...) as run``)."""

    def __init__(
        self,
        name: str,
        opts: Options,
        *,
        aof_rewrite: bool = True,
        poison: float = 0.0,
        rate: float | None = None,
        symbols: int | None = None,
        service_env: dict[str, str] | None = None,
        horizon_s: float = 5.0,
        checkpoint_interval_s: float = 1.0,
        batch_size: int = BATCH_SIZE,
        metrics_port: int = -1,
    ) -> None:
        self.name = name
        self.opts = opts
        self.dir = opts.workdir / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.redis = RedisServer(
            self.dir / "redis", binary=opts.redis_binary, aof_rewrite=aof_rewrite
        )
        self.service = ServiceProcess(
            self.redis.url,
            self.dir / "service",
            grace_period_s=opts.grace_period_s,
            checkpoint_interval_s=checkpoint_interval_s,
            horizon_s=horizon_s,
            batch_size=batch_size,
            metrics_port=metrics_port,
            env=service_env or {},
        )
        self.load = PacedLoad(
            self.redis.url,
            n_symbols=symbols or opts.symbols,
            rate=rate or opts.rate,
            poison_fraction=poison,
            seed=opts.seed,
        )
        self.rng = random.Random(opts.seed)
        self.client: redis.Redis
        self.row = Row(name)
        self.failures: list[str] = []
        self.t0 = time.monotonic()

    def __enter__(self) -> Run:
        self.redis.start()
        self.client = self.redis.client()
        return self

    def __exit__(self, *exc: object) -> None:
        # every process this run started is stopped, whatever failed before
        try:
            if self.load.is_alive():
                self.load.stop()
        finally:
            try:
                self.service.stop()
            finally:
                self.client.close()
                self.redis.stop()
                self.row.seconds = time.monotonic() - self.t0

    def say(self, text: str) -> None:
        self.opts.say(self.name, text)

    def fail(self, note: str) -> None:
        """A check of the scenario's own failed: noted, and the verdict is FAIL."""
        self.failures.append(note)
        self.row.notes.append(note)
        self.row.passed = False

    def signals(self) -> int:
        while True:
            try:
                return signals_total(self.client)
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                time.sleep(0.1)  # Redis restarting

    def fault_moments(self, n: int) -> Iterator[int]:
        """``n`` moments to inject a fault at (0, 1, ...): each after a second's worth of
        signals and a random pause under a second; stops early if the service stalls."""
        for k in range(n):
            if not self.wait_progress(int(self.opts.rate)):
                return
            time.sleep(self.rng.uniform(0.0, 1.0))
            yield k

    def wait_progress(self, more: int, timeout_s: float = PROGRESS_TIMEOUT_S) -> bool:
        """Wait until ``more`` signals were written since the call, the service alive
        throughout; ``False`` (noted) if it died or made no such progress in time."""
        base = self.signals()
        deadline = time.monotonic() + timeout_s
        while self.signals() < base + more:
            if not self.service.check():
                self.fail(f"service exited unexpectedly: {self._last_error()}")
                return False
            if time.monotonic() > deadline:
                self.fail(f"no progress ({more} signals) within {timeout_s:g} s")
                return False
            time.sleep(0.05)
        return True

    def stays_up(self, seconds: float) -> bool:
        """The service is still running ``seconds`` from now (no crash loop)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.service.check():
                self.fail(f"service exited unexpectedly: {self._last_error()}")
                return False
            time.sleep(0.1)
        return True

    def _last_error(self) -> str:
        lines = [ln for ln in self.service.log_text().splitlines() if ln.strip()]
        return lines[-1][-300:] if lines else "(empty log)"

    def finish(self, *, dup_bound: int | None) -> Report:
        """Stop the load, let the service drain, SIGTERM it, verify; the verifier's report."""
        self.load.stop()
        if self.load.error is not None:
            self.fail(f"load failed: {self.load.error!r}")
        if not self.service.check():  # died on its own: recorded; start it to drain
            self.service.start()
            self.row.restarts += 1
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while not drained(self.client):
            if time.monotonic() > deadline:
                self.fail(f"not drained within {DRAIN_TIMEOUT_S:g} s")
                break
            if not self.service.check():
                self.fail(f"service exited while draining: {self._last_error()}")
                break
            time.sleep(0.1)
        final = self.service.sigterm()
        if final is None or final.code != 0:
            self.fail(f"final SIGTERM: {final}")
        report = verify(self.client)
        self.row.report = report
        unexpected = self.service.unexpected_exits()
        if unexpected:
            self.fail(
                f"{len(unexpected)} unexpected exit(s) (codes "
                f"{', '.join(str(e.code) for e in unexpected)})"
            )
        self.row.notes = report.problems(dup_bound=dup_bound) + self.row.notes
        self.row.passed = report.ok(dup_bound=dup_bound) and not self.failures
        if report.quarantined:
            self.row.notes.append(
                f"quarantined (kept, not lost): {report.quarantined} valid ticks the cleaner "
                "held as gap/spike"
            )
        if self.load.failed_writes:
            self.row.notes.append(f"publisher: {self.load.failed_writes} writes failed (outages)")
        return report


def _final_exit(exits: list[Exit]) -> str:
    last = exits[-1] if exits and exits[-1].how == "sigterm" else None
    return f"term {last.code} in {last.seconds:.2f}s" if last else "no final exit"


# -- the scenarios ---------------------------------------------------------------------------


def kill9(opts: Options) -> Row:
    """SIGKILL the service ``n`` times under the paced load, restarting it each time."""
    with Run("kill9", opts) as run:
        run.service.start()
        run.load.start()
        for k in run.fault_moments(opts.n):
            run.service.kill9()
            run.say(f"kill -9 {k + 1}/{opts.n}")
            run.service.start()
            run.row.restarts += 1
        run.wait_progress(int(opts.rate))
        run.finish(dup_bound=opts.n * BATCH_SIZE)
        run.row.exits = f"killx{opts.n}; {_final_exit(run.service.exits)}"
    return run.row


def sigterm(opts: Options) -> Row:
    """SIGTERM the service ``n`` times under the paced load: exit 0 within the grace period,
    nothing pending at exit; restarted each time."""
    with Run("sigterm", opts) as run:
        run.service.start()
        run.load.start()
        exits: list[Exit] = []
        pending_at_exit = 0
        for k in run.fault_moments(opts.n):
            out = run.service.sigterm()
            assert out is not None
            exits.append(out)
            pending = sum(
                run.client.xpending(s, GROUP)["pending"]
                for s in run.load.streams
                if run.client.exists(s)
            )
            pending_at_exit = max(pending_at_exit, pending)
            run.say(
                f"SIGTERM {k + 1}/{opts.n}: exit {out.code} in {out.seconds:.2f} s, "
                f"pending {pending}"
            )
            run.service.start()
            run.row.restarts += 1
        run.wait_progress(int(opts.rate))
        run.finish(dup_bound=opts.n * BATCH_SIZE)
        codes = sorted({e.code for e in exits})
        slowest = max((e.seconds for e in exits), default=0.0)
        run.row.exits = (
            f"codes {','.join(map(str, codes))}; max {slowest:.2f}s "
            f"(grace {opts.grace_period_s:g}s)"
        )
        if len(exits) < opts.n or codes != [0] or slowest >= opts.grace_period_s:
            run.fail("a SIGTERM exit was not 0 within the grace period")
        if pending_at_exit:
            run.fail(f"pending at a SIGTERM exit: {pending_at_exit}")
    return run.row


def redis_restart(opts: Options) -> Row:
    """SIGKILL redis-server ``n`` times and start it again on the same AOF and port; the
    service keeps running through it."""
    with Run("redis-restart", opts) as run:
        run.service.start()
        run.load.start()
        for k in run.fault_moments(opts.n):
            run.redis.kill9()
            time.sleep(1.0)
            run.redis.start()
            run.say(f"redis kill -9 + restart {k + 1}/{opts.n}")
        run.wait_progress(int(opts.rate))
        run.finish(dup_bound=opts.n * BATCH_SIZE)
        run.row.exits = f"redis killx{run.redis.kills}; {_final_exit(run.service.exits)}"
    return run.row


def aof_tail(opts: Options) -> Row:
    """Redis loses the tail of its AOF ``n`` times (what a machine crash with
    ``appendfsync everysec`` loses): the AOF size is noted, ``aof_cut_s`` later redis-server
    is SIGKILLed while traffic flows, the file cut back to the last command boundary (outside
    MULTI/EXEC) at or before the noted size, and Redis restarted on it. Every input that
    survived must still get its signal."""
    with Run("aof-tail", opts, aof_rewrite=False) as run:
        run.service.start()
        run.load.start()
        cut_bytes = cut_commands = 0
        for k in range(opts.n):
            if not run.wait_progress(int(opts.rate)):
                break
            mark = run.redis.aof_size()
            time.sleep(opts.aof_cut_s)
            run.redis.kill9()
            b, c = run.redis.cut_aof_tail(mark)
            cut_bytes += b
            cut_commands += c
            run.redis.start()
            run.say(f"AOF tail cut {k + 1}/{opts.n}: {b:,} bytes, {c:,} commands")
        run.wait_progress(int(opts.rate))
        run.finish(dup_bound=opts.n * BATCH_SIZE)
        run.row.exits = f"redis killx{run.redis.kills}; {_final_exit(run.service.exits)}"
        run.row.notes.append(f"AOF cut: {cut_bytes:,} bytes, {cut_commands:,} commands in all")
    return run.row


def poison(opts: Options) -> Row:
    """~1 % malformed entries (bad JSON, a missing field, NaN, a negative or a string price)
    mixed into valid traffic: the DLQ holds exactly those entries, every valid one a signal."""
    with Run("poison", opts, poison=0.01) as run:
        run.service.start()
        run.load.start()
        run.wait_progress(int(opts.rate))
        run.stays_up(opts.poison_s)
        report = run.finish(dup_bound=0)
        run.row.exits = _final_exit(run.service.exits)
        exact = report.poison > 0 and report.poison_dead_lettered == report.poison
        exact = exact and report.dead_lettered == report.poison and report.dlq_unknown == 0
        note = (
            f"poison {report.poison}, in DLQ {report.poison_dead_lettered}, DLQ total "
            f"{report.dead_lettered}"
        )
        if exact:
            run.row.notes.append(note)
        else:
            run.fail(note + " (the DLQ is not exactly the poison)")
    return run.row


def _restart_with(run: Run, forge: Callable[[bytes], bytes], what: str) -> None:
    """SIGTERM the service (it checkpoints), replace its checkpoint by ``forge(blob)``, start
    it again: it must refuse the checkpoint, stay up and make progress."""
    refused_before = run.service.log_count("checkpoint_refused")
    out = run.service.sigterm()
    if out is None or out.code != 0:
        run.fail(f"SIGTERM before {what}: {out}")
    blob = run.client.get(CHECKPOINT_KEY)
    if blob is None:
        run.fail(f"no checkpoint to forge for {what}")
        return
    run.client.set(CHECKPOINT_KEY, forge(bytes(blob)))  # type: ignore[arg-type]
    run.service.start()
    run.row.restarts += 1
    ok = run.wait_progress(int(run.opts.rate)) and run.stays_up(3.0)
    refused = run.service.log_count("checkpoint_refused") - refused_before
    run.say(f"{what}: refused {refused}, up and progressing: {ok}")
    if refused != 1:
        run.fail(f"{what}: the checkpoint was refused {refused} times (expected 1)")


def _flip_byte(rng: random.Random) -> Callable[[bytes], bytes]:
    def forge(blob: bytes) -> bytes:
        i = rng.randrange(len(signed.MAGIC), len(blob))
        return blob[:i] + bytes([blob[i] ^ 0xFF]) + blob[i + 1 :]

    return forge


def checkpoint_tampered(opts: Options) -> Row:
    """Flip one byte (at a random offset past the magic) of the stored checkpoint, then
    restart: the service starts, refuses it (the HMAC does not verify), replays its history
    and loses nothing; ``min(n, 3)`` times."""
    with Run("checkpoint-tampered", opts) as run:
        run.service.start()
        run.load.start()
        run.wait_progress(int(opts.rate))
        for k in range(min(opts.n, 3)):
            time.sleep(1.5)  # a checkpoint every second
            _restart_with(run, _flip_byte(run.rng), f"tampered checkpoint {k + 1}")
        run.finish(dup_bound=run.row.restarts * BATCH_SIZE)
        run.row.exits = _final_exit(run.service.exits)
    return run.row


class _Gone:
    """Pickled under a name that no longer exists when it is loaded (a renamed class)."""


def missing_class_pickle() -> bytes:
    """A pickle of a checkpoint-shaped dict whose generator is an instance of
    ``data_feeds.signals.generator.SignalGeneratorV0``, a class that does not exist."""
    import data_feeds.signals.generator as gen  # noqa: PLC0415

    _Gone.__module__ = gen.__name__
    _Gone.__qualname__ = _Gone.__name__ = "SignalGeneratorV0"
    gen.SignalGeneratorV0 = _Gone  # type: ignore[attr-defined]
    try:
        return pickle.dumps(
            {"format": FORMAT, "generator": _Gone(), "cleaner": None, "last_ids": {}}
        )
    finally:
        del gen.SignalGeneratorV0  # type: ignore[attr-defined]


UNUSABLE: dict[str, Callable[[], Any]] = {
    "wrong format": lambda: signed.dumps(
        {"format": 999, "state": "from a future version"}, HMAC_KEY.encode()
    ),
    "missing class": lambda: signed.seal(missing_class_pickle(), HMAC_KEY.encode()),
    "wrong part type": lambda: signed.dumps(
        {"format": FORMAT, "generator": "not a generator", "cleaner": None, "last_ids": {}},
        HMAC_KEY.encode(),
    ),
}
"""Correctly signed checkpoints that this version cannot use."""


def checkpoint_unusable(opts: Options) -> Row:
    """Replace the checkpoint by a correctly signed one that cannot be used (a layout of
    another format, a class that does not exist, a part of the wrong type), then restart: the
    service refuses it, starts fresh, does not crash-loop, loses nothing."""
    with Run("checkpoint-unusable", opts) as run:
        run.service.start()
        run.load.start()
        run.wait_progress(int(opts.rate))
        for name, make in UNUSABLE.items():
            time.sleep(1.5)
            _restart_with(run, lambda _blob, make=make: make(), name)
        run.finish(dup_bound=run.row.restarts * BATCH_SIZE)
        run.row.exits = _final_exit(run.service.exits)
    return run.row
