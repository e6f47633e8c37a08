"""Where the shared real market data lives, for tests that read it.

The data sits beside the checkout (``<repo>/../shared/data``) and is never copied into the
repository; a test that needs it calls :func:`shared_data_path` and is skipped when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def shared_data_path(*parts: str) -> Path:
    """The path of a shared data file, or skip the calling test when it is not there."""
    path = SHARED_DATA_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path
