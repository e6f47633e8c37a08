"""CleanerConfig: the DataCleaner's parameters and their defaults, checked once.

The live service (``Settings.cleaner``), the training module, evaluation and research all
build their ``DataCleaner`` from one of these, so a rule means the same everywhere and its
default lives here only (``validation.cleaner`` describes what each parameter does).
"""

from __future__ import annotations

from dataclasses import dataclass

from data_feeds.calendars.registry import check_name
from data_feeds.checks import check_int, check_number


@dataclass(frozen=True, slots=True)
class CleanerConfig:
    """How the cleaner judges a record against its feed's recent history.

    ``max_keys``: feeds tracked at once (least recently seen forgotten first).
    ``dedupe_window``: fingerprints remembered per feed.
    ``dedupe_horizon_s``: how far behind the feed's newest record a remembered fingerprint's
    record may fall before it is forgotten (never less than ``reorder_tolerance_s``, so a record
    that can still be accepted is always checked; ``math.inf``: forgotten by count only).
    ``reorder_tolerance_s``: how far behind the newest record a record may arrive and still be
    accepted (as ``out_of_order``); further behind it is rejected as ``late``.
    ``gap_factor``, ``min_gap_s``: a gap is a silence longer than both ``min_gap_s`` and
    ``gap_factor`` times the feed's cadence, the ``cadence_quantile`` (0.5: the median; nearest
    rank) of its last ``cadence_window`` inter-arrival times, reported once
    ``cadence_min_count`` intervals have been seen.
    ``spike_z``: robust z-score of a log return beyond which the record is a spike, against the
    median and MAD (floored at ``min_mad``, in log-return units) of the last ``spike_window``
    in-order returns, judged once ``spike_min_count`` returns were seen (``math.inf`` turns
    spike detection off).
    ``level_shift_ticks``: consecutive consistent spikes that make a new level (>= 2).
    ``refresh_every``: new observations between recomputations of a window's statistics.
    ``calendars``: ``(symbol or asset class, calendar name)`` pairs: which trading calendar a
    feed's silences and cadence are measured in (``data_feeds.calendars``; unlisted feeds
    follow their asset class's default: crypto 24/7, fx the FX week, equity XNYS).
    """

    max_keys: int = 10_000
    dedupe_window: int = 1024
    dedupe_horizon_s: float = 60.0
    reorder_tolerance_s: float = 2.0
    gap_factor: float = 10.0
    min_gap_s: float = 1.0
    cadence_window: int = 64
    cadence_min_count: int = 20
    cadence_quantile: float = 0.9
    spike_z: float = 8.0
    spike_window: int = 64
    spike_min_count: int = 20
    min_mad: float = 5e-4
    level_shift_ticks: int = 3
    refresh_every: int = 32
    calendars: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_int("max_keys", self.max_keys, 1)
        check_int("dedupe_window", self.dedupe_window, 1)
        self._float(
            "dedupe_horizon_s",
            check_number("dedupe_horizon_s", self.dedupe_horizon_s, finite=False),
        )
        self._float(
            "reorder_tolerance_s", check_number("reorder_tolerance_s", self.reorder_tolerance_s)
        )
        self._float("gap_factor", check_number("gap_factor", self.gap_factor, positive=True))
        self._float("min_gap_s", check_number("min_gap_s", self.min_gap_s))
        check_int("cadence_window", self.cadence_window, 1)
        check_int("cadence_min_count", self.cadence_min_count, 1)
        quantile = check_number("cadence_quantile", self.cadence_quantile)
        if quantile > 1:
            raise ValueError(f"cadence_quantile must be in [0, 1], got {self.cadence_quantile!r}")
        self._float("cadence_quantile", quantile)
        self._float("spike_z", check_number("spike_z", self.spike_z, positive=True, finite=False))
        check_int("spike_window", self.spike_window, 2)
        check_int("spike_min_count", self.spike_min_count, 1)
        self._float("min_mad", check_number("min_mad", self.min_mad, positive=True))
        check_int("level_shift_ticks", self.level_shift_ticks, 2)
        check_int("refresh_every", self.refresh_every, 1)
        object.__setattr__(self, "calendars", tuple(tuple(p) for p in self.calendars))
        for key, name in self.calendars:
            if not key or not isinstance(key, str):
                raise ValueError(f"calendars: {key!r} is not a symbol or an asset class")
            check_name(name)

    def _float(self, name: str, value: float) -> None:
        """Keep a checked number as a plain float, whatever number type was given."""
        object.__setattr__(self, name, value)
