"""Walk-forward windows: lengths in time, bars or shares; folds back to back, the embargo
between training and test, no tick tested twice."""

from __future__ import annotations

import itertools

import pytest

from data_feeds.learning_layer.backtest import WalkForward, Window


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("90s", Window(90.0)),
        ("30m", Window(1800.0)),
        ("6h", Window(21600.0)),
        ("2d", Window(172800.0)),
        ("3600", Window(3600.0)),
        ("500bars", Window(500.0, "bars")),
        ("50%", Window(50.0, "%")),
        (" 1.5H ", Window(5400.0)),
    ],
)
def test_window_lengths_parse(text: str, window: Window) -> None:
    assert Window.parse(text) == window


@pytest.mark.parametrize("text", ["", "5x", "-3h", "0", "150%", "h", "nan", "0.5bars"])
def test_bad_window_lengths_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        Window.parse(text)


def test_folds_in_time_are_back_to_back_with_an_embargo() -> None:
    times = [float(t) for t in range(1001)]  # a tick a second, 1000 s
    folds = WalkForward("400s", "100s", embargo_s=5.0).plan(times)
    assert len(folds) == 6
    for fold in folds:
        assert fold.train_end - fold.train_start == 400.0
        assert fold.test_start == fold.train_end + 5.0
    for a, b in itertools.pairwise(folds):
        assert b.test_start == a.test_end  # back to back: no tick twice, none skipped
    assert folds[-1].test_end <= times[-1] + 1e-6


def test_anchored_folds_grow_from_the_start() -> None:
    times = [float(t) for t in range(1001)]
    folds = WalkForward("50%", "10%", anchored=True).plan(times)
    assert {f.train_start for f in folds} == {0.0}
    assert [f.train_end for f in folds] == sorted(f.train_end for f in folds)


def test_windows_in_bars_count_ticks() -> None:
    times = [float(t * t) for t in range(200)]  # ticks ever further apart
    folds = WalkForward("100bars", "20bars").plan(times)
    assert folds[0].train_end == times[100]
    assert sum(1 for t in times if folds[0].test_start <= t < folds[0].test_end) == 20


def test_a_step_shorter_than_the_test_window_is_refused() -> None:
    with pytest.raises(ValueError, match="tested twice"):
        WalkForward("50%", "10%", "5%")


def test_a_short_history_has_no_fold() -> None:
    assert WalkForward("2d", "1d").plan([0.0, 60.0, 120.0]) == []
    assert WalkForward("1h", "1h").plan([]) == []
