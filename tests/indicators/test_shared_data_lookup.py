"""The shared-data helper: found beside the checkout, or a clean skip."""

from __future__ import annotations

import pytest

from tests import shared_data


def test_missing_shared_data_skips_instead_of_failing() -> None:
    """Asking for a file that is not there raises pytest's Skipped, naming the path."""
    with pytest.raises(pytest.skip.Exception, match=r"no-such-file\.csv"):
        shared_data.shared_data_path("freqtrade", "no-such-file.csv")


def test_shared_data_sits_beside_the_checkout() -> None:
    """The data folder is <repo>/../shared/data, the repo being the one holding tests/."""
    assert (shared_data.REPO_ROOT / "tests" / "shared_data.py").is_file()
    assert shared_data.REPO_ROOT.parent / "shared" / "data" == shared_data.SHARED_DATA_DIR
