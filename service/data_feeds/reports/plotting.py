"""matplotlib, imported on first use and on the Agg backend (no display needed)."""

from __future__ import annotations

from types import ModuleType
from typing import Final

from data_feeds.errors import UsageError

MISSING: Final = "--report needs matplotlib: pip install 'data-feeds[report]'"


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend; ``UsageError`` when matplotlib is missing.

    matplotlib takes ~0.3 s to import: call this when a figure is about to be drawn.
    """
    try:
        import matplotlib  # noqa: PLC0415 - optional and slow to import
    except ImportError:
        raise UsageError(MISSING) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after the backend is chosen

    return plt
