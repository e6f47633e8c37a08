"""A copy-on-write snapshot: state serialized in a forked child while the loop goes on.

Pickling the worker's state costs time in proportion to its size: 50 symbols with a 60 s
horizon at 2,000 ticks/s hold 120k pending predictions, a 36 MB pickle and about 1.2 s of CPU.
On the event loop that stalls every stream for as long; in a thread it races the loop, which
keeps changing the state under the pickler. ``fork`` gives a consistent copy for the price of
the fork itself (the kernel copies page tables, not pages: 7-10 ms for a 420 MB worker here):
the child sees the state as it was at the fork, pickles, compresses and signs it
(``cache.signed.dumps``), writes the blob to a pipe and exits, while the parent keeps serving
and collects the blob in a thread. Redis takes its BGSAVE snapshots the same way.

What it costs: pages either process writes while the child works are copied (the child's own
reference counting touches every object it pickles), so memory can approach twice the state's
for the child's life-time, a second or two. The child runs only pickle, zlib and hmac: no
logging, no Redis client, no lock another thread may hold. It ignores SIGINT (a Ctrl-C reaches
the whole process group; the parent decides), detaches from the parent's signal wake-up pipe
and leaves with ``os._exit``: no atexit handlers, no buffers flushed twice.

Cancelling the awaiting task (a deadline at shutdown) kills the child: no blob comes back, so
nothing half-made is ever stored. Where there is no ``fork`` the state is pickled on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import os
import pickle
import signal
import warnings
from collections.abc import Callable
from typing import Any, Final, NoReturn

from data_feeds.cache import signed
from data_feeds.errors import DataFeedsError

READ_CHUNK: Final = 1 << 20
OK: Final = b"\x00"
FAILED: Final = b"\x01"
"""The first byte the child writes: the sealed state follows, or the reason it failed."""


class SnapshotFailed(DataFeedsError):
    """The child that serialized the state died or exited with an error: nothing to store."""


Serialize = Callable[[Any, bytes], bytes]
"""Turns the state into the blob to store, given the HMAC key (``cache.signed.dumps``); it runs
in the child, on the child's own copy of the state, which it may take apart."""


def _child(write_fd: int, state: Any, key: bytes, serialize: Serialize) -> NoReturn:
    """In the forked child: write ``OK``, the sealed ``state``'s length (8 bytes) and the
    sealed state to ``write_fd``, or ``FAILED`` and why, and exit."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)  # the parent's loop reads that pipe, not us
        gc.disable()  # a collection here would only copy more of the parent's pages
        try:
            blob = serialize(state, key)
            parts = (OK + len(blob).to_bytes(8, "big"), blob)
        except Exception as exc:  # e.g. a model that cannot be pickled: say why
            parts = (FAILED, f"{type(exc).__name__}: {exc}".encode()[:1000])
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[os.write(write_fd, view) :]
    finally:  # never return into the parent's code, whatever happened
        os._exit(0)


Collected = tuple[bytes, bytes | memoryview, int]
"""What the parent gets back: the first byte, the rest, the child's wait status."""


def _collect(read_fd: int, pid: int) -> Collected:
    """In a thread of the parent (megabytes are read there, not on the loop): read the pipe to
    its end and reap the child; its first byte, what follows, and the child's wait status. The
    sealed state is read straight into a buffer of its announced length: one copy of it in
    this process, not two."""
    head = os.read(read_fd, 1)
    body: bytes | memoryview = b""
    if head == OK:
        size = int.from_bytes(_read_exactly(read_fd, 8) or b"\0" * 8, "big")
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size and (n := os.readv(read_fd, [view[got:]])):
            got += n
        body = view[:got] if got == size else b""
    else:
        parts: list[bytes] = []
        while chunk := os.read(read_fd, READ_CHUNK):
            parts.append(chunk)
        body = b"".join(parts)
    _, status = os.waitpid(pid, 0)
    return (head if body or head != OK else b""), body, status


def _read_exactly(fd: int, n: int) -> bytes | None:
    data = b""
    while len(data) < n and (chunk := os.read(fd, n - len(data))):
        data += chunk
    return data if len(data) == n else None


class Snapshot:
    """``cache.signed.dumps(state, key)`` of ``state`` as it is at construction, computed in a
    forked child; the caller blocks only for the fork. ``sealed()`` waits for the blob;
    ``abandon()`` kills the child (nothing comes back). Needs a running event loop."""

    def __init__(self, state: Any, key: bytes, serialize: Serialize = signed.dumps) -> None:
        loop = asyncio.get_running_loop()
        self.serialize = serialize
        self._done: asyncio.Future[Collected]
        if not hasattr(os, "fork"):  # pragma: no cover - no fork (Windows): pickled here
            self.pid = 0
            if serialize is signed.dumps:  # the copy: pickled here, sealed in a thread
                pickled = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
                self._done = loop.run_in_executor(None, lambda: (OK, signed.seal(pickled, key), 0))
            else:  # a serializer that takes the state apart gets a copy of its own
                blob = serialize(copy.deepcopy(state), key)
                self._done = loop.run_in_executor(None, lambda: (OK, blob, 0))
            return
        read_fd, write_fd = os.pipe()
        try:
            with warnings.catch_warnings():
                # 3.12+ warns that a child of a threaded process may deadlock on a lock another
                # thread held: this child takes none (see the module doc)
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError as exc:  # no memory or no process left for it: not a Redis failure
            os.close(read_fd)
            os.close(write_fd)
            raise SnapshotFailed(f"cannot fork the snapshot child: {exc}") from None
        if pid == 0:  # pragma: no cover - the child; it never returns
            os.close(read_fd)
            _child(write_fd, state, key, serialize)
        os.close(write_fd)
        self.pid = pid
        """The child's process id (0: no child, the state was pickled here)."""
        self._done = loop.run_in_executor(None, _collect, read_fd, pid)
        self._done.add_done_callback(lambda _: os.close(read_fd))

    async def sealed(self) -> bytes | memoryview:
        """The sealed state; ``SnapshotFailed`` if the child failed. Cancelled, the child is
        killed."""
        try:
            head, body, status = await asyncio.shield(self._done)
        except asyncio.CancelledError:
            await self.abandon()
            raise
        if head == OK:
            return body
        if head == FAILED:
            raise SnapshotFailed(
                f"cannot serialize the state: {bytes(body).decode(errors='replace')}"
            )
        code = os.waitstatus_to_exitcode(status)
        how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
        raise SnapshotFailed(f"the snapshot child {how} before it wrote the state")

    async def abandon(self) -> None:
        """Kill the child if it is still working, and reap it."""
        if self.pid and not self._done.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(self._done)
