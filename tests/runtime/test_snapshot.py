"""Snapshots: the state as it was when taken, serialized by a forked child while the loop goes
on; a failure says why; an abandoned one leaves no process behind."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from data_feeds.cache import signed
from data_feeds.runtime.snapshot import Snapshot, SnapshotFailed

KEY = b"s" * 32


async def test_the_blob_holds_the_state_as_it_was_when_taken() -> None:
    """Changes made after the snapshot was taken, while the child serializes it, are not in it."""
    state = {"values": list(range(100_000)), "name": "before"}
    snapshot = Snapshot(state, KEY)
    state["values"].append(-1)
    state["name"] = "after"
    loaded = signed.loads(await snapshot.sealed(), KEY)
    assert loaded == {"values": list(range(100_000)), "name": "before"}


async def test_the_loop_keeps_turning_while_the_child_serializes() -> None:
    """Other tasks run while a large state is serialized (the loop only waits for the fork)."""
    state = [{"x": float(i), "y": str(i)} for i in range(300_000)]
    turns = 0
    done = asyncio.Event()

    async def spin() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    spinner = asyncio.create_task(spin())
    blob = await Snapshot(state, KEY).sealed()
    done.set()
    await spinner
    assert turns > 10
    assert signed.loads(blob, KEY) == state


async def test_a_state_that_cannot_be_pickled_fails_with_the_reason() -> None:
    with pytest.raises(SnapshotFailed, match=r"cannot serialize the state: .*lambda"):
        await Snapshot({"model": lambda x: x}, KEY).sealed()


async def test_a_cancelled_snapshot_kills_its_child_and_stores_nothing() -> None:
    """Cancelling the task that waits (a shutdown deadline) kills and reaps the child."""
    state = [list(range(50)) for _ in range(200_000)]
    snapshot = Snapshot(state, KEY)
    pid = snapshot.pid
    task = asyncio.create_task(snapshot.sealed())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped: not even a zombie
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


async def test_a_fork_that_fails_is_a_snapshot_failure_not_a_redis_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No memory or process left to fork: ``SnapshotFailed`` (the consumer logs it and tries
    again at the next interval), and the pipe is closed."""

    def no_fork() -> int:
        raise OSError(12, "Cannot allocate memory")

    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", no_fork)
    with pytest.raises(SnapshotFailed, match=r"cannot fork the snapshot child.*allocate memory"):
        Snapshot({"a": 1}, KEY)
    assert len(os.listdir("/proc/self/fd")) == before
