"""CleanerConfig: the cleaner's parameters, their defaults and their checks, in one place."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from typing import Any

import pytest

from data_feeds.learning_layer.retraining import settings_from_dict, settings_to_dict
from data_feeds.settings import Settings
from data_feeds.validation.cleaner import DataCleaner
from data_feeds.validation.cleaner_config import CleanerConfig


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_keys", 0),
        ("max_keys", True),
        ("max_keys", 2.5),
        ("dedupe_window", 0),
        ("dedupe_horizon_s", -1.0),
        ("dedupe_horizon_s", math.nan),
        ("reorder_tolerance_s", -1.0),
        ("reorder_tolerance_s", math.nan),
        ("gap_factor", 0.0),
        ("gap_factor", "10"),
        ("min_gap_s", -0.5),
        ("min_gap_s", math.inf),
        ("cadence_window", 0),
        ("cadence_min_count", 0),
        ("cadence_quantile", 1.5),
        ("cadence_quantile", -0.1),
        ("spike_z", 0.0),
        ("spike_z", math.nan),
        ("spike_window", 1),
        ("spike_min_count", 0),
        ("min_mad", 0.0),
        ("min_mad", math.inf),
        ("level_shift_ticks", 1),
        ("refresh_every", 0),
    ],
)
def test_invalid_configuration_raises_value_error_naming_the_parameter(
    name: str, value: object
) -> None:
    """Every out-of-range or wrongly typed setting is refused with its name in the message."""
    kwargs: dict[str, Any] = {name: value}
    with pytest.raises(ValueError, match=name):
        CleanerConfig(**kwargs)


def test_numbers_are_kept_as_plain_floats() -> None:
    """Whole numbers given for float parameters are kept as floats, as the hot path expects."""
    config = CleanerConfig(reorder_tolerance_s=3, gap_factor=5, min_mad=1)
    assert type(config.reorder_tolerance_s) is float and config.reorder_tolerance_s == 3.0
    assert type(config.gap_factor) is float and type(config.min_mad) is float


def test_a_cleaner_runs_with_its_config() -> None:
    """DataCleaner(config) runs with exactly that config; without one, with the defaults."""
    config = CleanerConfig(max_keys=7, spike_z=math.inf, refresh_every=1)
    assert DataCleaner(config).config == config
    assert DataCleaner().config == CleanerConfig()
    assert pickle.loads(pickle.dumps(DataCleaner(config))).config == config


def test_settings_carry_the_live_cleaner_config() -> None:
    """Settings hold the cleaner's config; it survives the trip to a retraining process."""
    assert Settings().cleaner == CleanerConfig()
    settings = replace(Settings(), cleaner=CleanerConfig(dedupe_window=8))
    assert settings_from_dict(settings_to_dict(settings)).cleaner == CleanerConfig(dedupe_window=8)
