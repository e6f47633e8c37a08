"""SIGINT and SIGTERM as a request to stop, for the service, the demo and the CLI's publishers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None], *, once: bool = False) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM call ``stop`` instead of interrupting; with
    ``once``, only the first of each (a second Ctrl-C interrupts as usual). The handlers are
    removed when the block ends, however it ends. Where the loop cannot take signal handlers
    (not the main thread, Windows) nothing is installed."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def handler(sig: signal.Signals) -> None:
        stop()
        if once:
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, handler, sig)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
