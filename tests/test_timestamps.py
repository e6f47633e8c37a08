"""One reading of times: the validator, the file readers and the connectors' bounds agree.

Every row of ``TABLE`` is read four ways: ``epoch_seconds`` itself, a price tick through the
``SchemaValidator`` (with a window wide enough to hold every row), a recorded file through
``read_records`` (JSON keeps a number's type, CSV cells are text) and a ``start`` bound through
``time_bound``. Each must give the same seconds, or each must refuse.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from data_feeds.errors import InvalidMessage, ReplayError
from data_feeds.sources import read_records
from data_feeds.timestamps import (
    SECONDS_CEILING,
    entry_key,
    entry_ms,
    epoch_seconds,
    from_iso,
    scale_epoch,
    time_bound,
)
from data_feeds.validation import SchemaValidator

TS = 1_700_000_000.0  # 2023-11-14T22:13:20Z
DAY = 1_699_920_000.0  # 2023-11-14T00:00:00Z
FAR = 253_402_300_799.0  # 9999-12-31T23:59:59Z

TABLE: list[tuple[object, float | str]] = [
    (1_700_000_000, TS),
    (1_700_000_000.5, TS + 0.5),
    ("1700000000", TS),
    ("1700000000.5", TS + 0.5),
    (1_700_000_000_000, TS),
    (1.7e12, TS),
    ("1700000000000", TS),
    (1_700_000_000_000_000, TS),
    ("1700000000000000", TS),
    (1_700_000_000_000_000_000, TS),
    (1.7e18, TS),
    ("1700000000000000000", TS),
    ("2023-11-14T22:13:20Z", TS),
    ("2023-11-14T22:13:20.5Z", TS + 0.5),
    ("2023-11-14T23:13:20+01:00", TS),
    ("2023-11-14T17:13:20-05:00", TS),
    ("2023-11-14T22:13:20", TS),  # naive: UTC
    ("2023-11-14 22:13:20", TS),  # naive: UTC
    ("2023-11-14", DAY),  # a date: its midnight UTC
    ("9999-12-31T23:59:59Z", FAR),  # parses; the validator's default window refuses it
    ("yesterday", "wrong_type"),
    ("2023-13-01T00:00:00Z", "wrong_type"),
    ("\u0661\u0667" + "\u0660" * 8, "wrong_type"),  # Arabic-Indic digits: float() reads them
    ("", "missing_field"),
    ("None", "missing_field"),
    (True, "wrong_type"),
    ("nan", "non_finite"),
    ("-inf", "non_finite"),
    (math.nan, "non_finite"),
    (math.inf, "non_finite"),
    (10**400, "non_finite"),
]
IDS = [f"{i}-{str(value)[:24]}" for i, (value, _) in enumerate(TABLE)]
NOW = TS + 10.0


def wide_validator() -> SchemaValidator:
    """A validator whose window holds every row of the table."""
    return SchemaValidator(min_timestamp_s=0.0, max_future_s=1e12, clock=lambda: NOW)


def via_validator(value: object) -> float | str:
    raw = {"kind": "price", "symbol": "BTCUSDT", "price": 1.0, "volume": 1.0, "timestamp": value}
    try:
        return wide_validator().validate(raw).timestamp
    except InvalidMessage as exc:
        return exc.reason


def via_reader(value: object, tmp_path: Path) -> float | None:
    """The trade's timestamp a recorded file gives (None: refused as not a timestamp).

    A JSON file keeps a number's type; what JSON cannot hold (NaN, infinities, integers beyond
    64 bits) and all text goes in a CSV cell, as its text.
    """
    json_safe = isinstance(value, bool | float) and math.isfinite(value)
    json_safe = json_safe or (isinstance(value, int) and abs(value) < 2**63)
    if json_safe:
        row = {"timestamp": value, "id": "1", "side": "buy", "price": 1.0, "amount": 1.0}
        path = tmp_path / "BTC_USDT-trades.json"
        path.write_bytes(orjson.dumps([row]))
    else:
        path = tmp_path / "BTC_USDT-trades.csv"
        path.write_text(f"timestamp,id,side,price,amount\n{value},1,buy,1.0,1.0\n")
    try:
        return next(read_records(path)).timestamp
    except ReplayError as exc:
        assert "not a timestamp" in str(exc)
        return None


def via_bound(value: object) -> float | None:
    try:
        return time_bound(value, "start")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize(("value", "expected"), TABLE, ids=IDS)
def test_every_reader_of_times_agrees(value: object, expected: float | str, tmp_path: Path) -> None:
    """The same input means the same instant (or the same refusal) on every path."""
    if isinstance(expected, float):
        assert epoch_seconds(value) == pytest.approx(expected, abs=1e-6)
        assert via_validator(value) == pytest.approx(expected, abs=1e-6)
        assert via_bound(value) == pytest.approx(expected, abs=1e-6)
        assert via_reader(value, tmp_path) == pytest.approx(expected, abs=1e-6)
        return
    with pytest.raises(InvalidMessage) as info:
        epoch_seconds(value)
    assert info.value.reason == expected
    assert via_validator(value) == expected
    assert via_bound(value) is None
    assert via_reader(value, tmp_path) is None


def test_the_validator_window_is_policy_not_parsing() -> None:
    """A far but readable time parses everywhere; the default validator refuses it by window."""
    assert epoch_seconds("9999-12-31T23:59:59Z") == FAR
    raw = {"kind": "price", "symbol": "X", "price": 1.0, "volume": 1.0, "timestamp": FAR}
    with pytest.raises(InvalidMessage) as info:
        SchemaValidator(clock=lambda: NOW).validate(raw)
    assert info.value.reason == "timestamp_out_of_range"


def test_units_by_magnitude() -> None:
    """Below 1e11 seconds, below 1e14 ms, below 1e17 us, else ns; the edges exactly."""
    assert scale_epoch(SECONDS_CEILING) == SECONDS_CEILING
    assert scale_epoch(1e11) == 1e8
    assert scale_epoch(1e14) == 1e8
    assert scale_epoch(1e17) == 1e8
    assert scale_epoch(-1.7e12) == -1.7e9
    assert epoch_seconds(1_700_000_000) == epoch_seconds("1700000000000") == 1.7e9
    assert epoch_seconds(1_700_000_000_000_000) == epoch_seconds(1.7e18) == 1.7e9
    assert epoch_seconds("2023-11-14T22:13:20Z") == 1.7e9
    assert epoch_seconds("2023-11-14 22:13:20") == 1.7e9  # naive = UTC
    with pytest.raises(InvalidMessage):
        epoch_seconds("yesterday")


def test_integer_nanoseconds_keep_their_precision() -> None:
    """An integer is divided exactly, not through a lossy float first."""
    assert epoch_seconds(1_699_999_999_123_456_789) == 1_699_999_999_123_456_789 / 1_000_000_000


def test_iso_names_the_field() -> None:
    with pytest.raises(InvalidMessage) as info:
        from_iso("soon", "stop")
    assert (info.value.reason, info.value.field) == ("wrong_type", "stop")


def test_time_bounds() -> None:
    """None is unbounded; datetimes aware or naive (UTC); other types are a TypeError."""
    assert time_bound(None, "end") is None
    assert time_bound(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), "end") == TS
    assert time_bound(datetime(2023, 11, 14, 22, 13, 20), "end") == TS  # naive: UTC
    plus_one = timezone(timedelta(hours=1))
    assert time_bound(datetime(2023, 11, 14, 23, 13, 20, tzinfo=plus_one), "end") == TS
    with pytest.raises(TypeError, match="end"):
        time_bound(True, "end")
    with pytest.raises(TypeError, match="end"):
        time_bound([TS], "end")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start='soon' is not a time"):
        time_bound("soon", "start")


def test_entry_ids() -> None:
    """The millisecond part of an entry id, and the (ms, seq) order Redis keeps."""
    assert entry_ms(b"1700000000000-3") == entry_ms("1700000000000-3") == 1_700_000_000_000
    assert entry_key(b"1700000000000-3") == entry_key("1700000000000-3") == (1_700_000_000_000, 3)
    assert entry_key("1700000000000") == (1_700_000_000_000, 0)
    ids = ["10-2", "9-15", "10-10", "10-1"]
    assert sorted(ids, key=entry_key) == ["9-15", "10-1", "10-2", "10-10"]
