"""The fault suite (``bench/faults``) itself, fast: its verifier catches what it must (a lost
input, a duplicate, a signal naming the wrong input, an entry left pending, a poison entry
outside the DLQ), and two short scenarios pass against the current service. Each test starts
its own redis-server (the suite's ``RedisServer``); nothing is mocked."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from bench.faults.redis_server import RedisServer, command_boundaries
from bench.faults.scenarios import Options, Run, kill9, poison
from bench.faults.verify import is_valid_payload, verify


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="df-ft-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_verifier_catches_a_planted_loss(workdir: Path) -> None:
    """After a clean run the verifier passes; then a deleted signal is reported lost (naming
    its input), an extra copy of a signal a duplicate, a signal naming another input a
    mismatch, an entry read and not acknowledged pending, a poison entry outside the DLQ
    lost."""
    opts = Options(workdir=workdir, rate=500.0, symbols=4, quiet=True)
    with Run("planted", opts) as run:
        run.service.start()
        run.load.start()
        assert run.wait_progress(500)
        clean = run.finish(dup_bound=0)
        assert run.row.passed, run.row.notes
        assert clean.lost == 0 and clean.signalled == clean.valid > 0

        client = run.client
        key = "signals:F000USDT"
        (sid, fields), (_, second) = client.xrange(key, count=2)
        victim = orjson.loads(fields[b"data"])["signal_id"]
        client.xdel(key, sid)
        report = verify(client)
        assert report.lost == 1 and report.lost_sample == [victim]
        assert not report.ok()

        client.xadd(key, {"data": second[b"data"]})  # a redelivery's copy: same signal_id
        report = verify(client)
        assert (report.dup_total, report.dup_max) == (1, 2)
        assert not report.ok(dup_bound=0) and report.bad_signal_ids == 0

        forged = orjson.loads(second[b"data"])
        forged["entry_id"] = "1-1"
        client.xadd(key, {"data": orjson.dumps(forged)})
        assert verify(client).bad_signal_ids == 1

        stream = "crypto_price:F001USDT"
        client.xadd(stream, {"data": b'{"symbol": "F001USDT", "price": NaN}'})
        client.xreadgroup("data-feeds", "someone", {stream: ">"}, count=1)
        report = verify(client)
        assert report.pending == 1 and report.groups == {"data-feeds": 1}
        assert report.poison == 1 and report.lost == 2  # the deleted signal, the poison


def test_payload_rule() -> None:
    """The verifier's own notion of a valid tick."""
    good = b'{"symbol": "A", "price": 1.5, "volume": 0, "timestamp": 1.0}'
    assert is_valid_payload(good)
    for bad in (
        b'{"symbol": "A", "price": 1.5, "volume": ',
        b'{"symbol": "A", "volume": 1, "timestamp": 1.0}',
        b'{"symbol": "A", "price": NaN, "volume": 1, "timestamp": 1.0}',
        b'{"symbol": "A", "price": -5, "volume": 1, "timestamp": 1.0}',
        b'{"symbol": "A", "price": "1", "volume": 1, "timestamp": 1.0}',
        None,
    ):
        assert not is_valid_payload(bad), bad


def test_aof_cut_keeps_whole_commands_outside_multi(workdir: Path) -> None:
    """``cut_aof_tail`` leaves an AOF Redis loads whole: the first commands kept, the rest
    gone, never half a MULTI/EXEC."""
    server = RedisServer(workdir / "redis", aof_rewrite=False)
    server.start()
    try:
        client = server.client()
        client.set("a", "1")
        mark = server.aof_size()
        with client.pipeline(transaction=True) as pipe:
            pipe.set("b", "2")
            pipe.set("c", "3")
            pipe.execute()
        client.set("d", "4")
        client.close()
        ends = command_boundaries(server.aof_file().read_bytes())
        assert any(not outside for _, outside in ends)  # the MULTI block is seen
        server.kill9()
        cut, commands = server.cut_aof_tail(mark + 10)  # inside the MULTI block: back to mark
        assert cut > 0 and commands == 5  # MULTI, SET b, SET c, EXEC, SET d
        server.start()
        client = server.client()
        assert client.get("a") == b"1"
        assert client.mget("b", "c", "d") == [None, None, None]
        client.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_kill9_and_poison_scenarios_pass(workdir: Path) -> None:
    """kill -9 twice under load, and poison mixed into valid traffic: 0 lost, 0 pending, the
    DLQ exactly the poison."""
    opts = Options(workdir=workdir, n=2, rate=500.0, symbols=5, poison_s=3.0, quiet=True)
    row = kill9(opts)
    assert row.passed, row.notes
    assert row.report is not None and row.report.lost == 0 and row.report.pending == 0
    assert row.restarts == 2
    row = poison(opts)
    assert row.passed, row.notes
    assert row.report is not None and row.report.poison > 0
    assert row.report.poison_dead_lettered == row.report.dead_lettered == row.report.poison
