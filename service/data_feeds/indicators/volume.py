"""Volume-weighted average price and a rolling volume z-score."""

from __future__ import annotations

from math import sqrt

from data_feeds.indicators.base import RollingMoments

SECONDS_PER_DAY = 86_400.0
ANCHORS = (None, "D")


class VWAP:
    """Volume-weighted average price ``sum(price * volume) / sum(volume)``.

    ``anchor=None``: cumulative since creation. ``anchor="D"``: restarts at each UTC day
    boundary, which needs the observation's ``timestamp`` (epoch seconds); an observation
    stamped earlier than the current day (a late one) is folded into the current day. Both sums
    use Kahan compensation, so the value stays within a few ulps of the exact ratio however
    long the series. ``None`` until some volume was seen (zero-volume observations count for
    nothing).
    """

    __slots__ = ("_day", "_pv", "_pv_c", "_v", "_v_c", "anchor", "value")

    anchor: str | None
    value: float | None

    def __init__(self, anchor: str | None = None) -> None:
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be None or 'D', got {anchor!r}")
        self.anchor = anchor
        self.value = None
        self._day: float | None = None
        self._pv = 0.0
        self._pv_c = 0.0
        self._v = 0.0
        self._v_c = 0.0

    def update(self, price: float, volume: float, timestamp: float | None = None) -> None:
        """Fold one (price, volume) observation in; ``timestamp`` is needed with an anchor."""
        if self.anchor is not None:
            if timestamp is None:
                raise ValueError("an anchored VWAP needs the observation's timestamp")
            day = timestamp // SECONDS_PER_DAY
            current = self._day
            if current is None or day > current:
                self._day = day
                if current is not None:
                    self._pv = self._pv_c = self._v = self._v_c = 0.0
                    self.value = None
        # Kahan summation of price * volume and of volume.
        pv = self._pv
        y = price * volume - self._pv_c
        new_pv = pv + y
        self._pv_c = (new_pv - pv) - y
        self._pv = new_pv
        v = self._v
        y = volume - self._v_c
        new_v = v + y
        self._v_c = (new_v - v) - y
        self._v = new_v
        if new_v > 0.0:
            self.value = new_pv / new_v


class VolumeZScore:
    """How unusual the latest volume is: ``(v - mean) / std`` over the last ``window`` volumes
    (the latest included, population standard deviation). 0 when the window is flat.
    """

    __slots__ = ("_moments", "value", "window")

    window: int
    value: float | None

    def __init__(self, window: int = 60) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.window = window
        self.value = None
        self._moments = RollingMoments(window)

    def update(self, volume: float) -> None:
        """Fold one volume into the window."""
        moments = self._moments
        if not moments.push(volume):
            return
        mean = moments.mean
        std = sqrt(moments.m2 / self.window)
        # A window whose spread is rounding noise is flat.
        if std <= 1e-12 * abs(mean) or std == 0.0:
            self.value = 0.0
        else:
            self.value = (volume - mean) / std
