"""Running a command's coroutine: on uvloop when it is installed, else on asyncio's loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

try:
    import uvloop

    _LOOP: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
    _LOOP = None

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh loop; its result."""
    with asyncio.Runner(loop_factory=_LOOP) as runner:
        return runner.run(coro)
