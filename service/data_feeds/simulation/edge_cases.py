"""Fault injection: bad, duplicated, reordered and missing messages, each one labelled.

``FaultInjector(records, FaultConfig(rates={...}), seed=...)`` passes a time-ordered record stream
through and, at the configured rate per fault type, breaks some of it. Every fault is recorded
as a ``Fault``: the sequence number of the message that carries it (its position in the
injector's output, which is the publishing order), its stream, the fault type and the outcome
a correct pipeline must reach, so a test can check exactly how each one was handled.

==============  ==================================================  ==========================
fault           what is delivered                                   expected outcome (reason)
==============  ==================================================  ==========================
missing_field   the record without ``price`` (and bid/ask),         reject (missing_field)
                ``side`` or ``timestamp``
wrong_type      ``price`` as a list, an object, ``"n/a"``, ``true``  reject (wrong_type)
extreme_price   ``price`` 1e13 / negative / 0                       reject (price_out_of_range
                                                                    / non_positive_price)
nan             ``price`` as the JSON text ``NaN`` / ``Infinity``   reject (non_finite)
                (not JSON: orjson refuses it) or the string "nan"
malformed_json  truncated JSON, ``{not json``, a trailing comma     reject (malformed_json)
spike           one tick at ``spike_factor`` (20x) or 1/20 of the   quarantine
                price, bid and ask; the next tick is back
burst           the next ``burst_ticks`` ticks get multiplicative   accept (valid records; a
                noise, ``burst_factor`` x the stream's typical      few may be quarantined,
                tick return (labelled on the first)                 none rejected)
duplicate       the same message again, right after the original    duplicate
out_of_order    a message held back, delivered just after the next  out_of_order (``lag_s`` <=
                one of its stream                                   ``max_reorder_s``)
gap             the stream falls silent (its messages are dropped)  gap (on the first message
                for max(``gap_s``, ``gap_intervals`` x its mean     after the silence)
                interval)
==============  ==================================================  ==========================

Rejects are ``RawMessage`` field mappings (``{"data": b"..."}``), not records. Faults hit price
ticks and trades only (spike, burst and gap: price ticks only), never books or sentiment, so
book deltas stay applicable. Spikes, bursts and gaps start only on a stream that has delivered
``warmup`` clean messages and ``spacing`` messages since its previous episode: a cleaner's
windows are primed, and an injected spike is never mistaken for a level shift.

``rates[t]`` is the probability that an *eligible* message starts fault ``t`` (one draw per
message, so the rates must sum to at most 1): ``injected[t] / eligible[t]`` estimates it. A
message carries at most one fault. An out-of-order swap is given up (counted in ``cancelled``,
not labelled) when the next message of the stream is more than ``max_reorder_s`` later or has
the same timestamp.

The manifest (``FaultInjector.faults``) grows as messages are drawn; ``StreamPublisher`` fills
in each fault's Redis entry id and can store the manifest in the ``cache.keys.SIM_FAULTS`` stream.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from data_feeds.cache.codec import DATA_FIELD
from data_feeds.cache.keys import record_stream
from data_feeds.checks import check_number
from data_feeds.errors import REASONS
from data_feeds.records import Record, Tick, Trade

"""Redis stream of the fault manifest (one entry per fault, field ``data`` = JSON)."""

MISSING_FIELD: Final = "missing_field"
WRONG_TYPE: Final = "wrong_type"
EXTREME_PRICE: Final = "extreme_price"
NAN: Final = "nan"
MALFORMED_JSON: Final = "malformed_json"
SPIKE: Final = "spike"
BURST: Final = "burst"
DUPLICATE: Final = "duplicate"
OUT_OF_ORDER: Final = "out_of_order"
GAP: Final = "gap"
FAULT_TYPES: Final = (
    MISSING_FIELD,
    WRONG_TYPE,
    EXTREME_PRICE,
    NAN,
    MALFORMED_JSON,
    SPIKE,
    BURST,
    DUPLICATE,
    OUT_OF_ORDER,
    GAP,
)
REJECT_FAULTS: Final = (MISSING_FIELD, WRONG_TYPE, EXTREME_PRICE, NAN, MALFORMED_JSON)
EPISODE_FAULTS: Final = (SPIKE, BURST, GAP)
"""Faults that need a warmed-up, quiet price stream."""

REJECT: Final = "reject"
QUARANTINE: Final = "quarantine"
ACCEPT: Final = "accept"
OUTCOMES: Final = (REJECT, DUPLICATE, OUT_OF_ORDER, GAP, QUARANTINE, ACCEPT)

EXPECTED_OUTCOME: Final[dict[str, str]] = {
    MISSING_FIELD: REJECT,
    WRONG_TYPE: REJECT,
    EXTREME_PRICE: REJECT,
    NAN: REJECT,
    MALFORMED_JSON: REJECT,
    SPIKE: QUARANTINE,
    BURST: ACCEPT,
    DUPLICATE: DUPLICATE,
    OUT_OF_ORDER: OUT_OF_ORDER,
    GAP: GAP,
}

EXTREME_HIGH_PRICE: Final = 1e13


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message that is not a valid record: the exact fields to XADD to ``stream``."""

    stream: str
    fields: Mapping[str, bytes]
    timestamp: float | None = None
    """The event time of the record it was made from (for pacing), if any."""


Message = Record | RawMessage
"""What the publisher sends: a record (encoded by the codec) or raw fields."""


@dataclass(slots=True)
class Fault:
    """One injected fault, on the message at position ``seq`` of the published sequence."""

    seq: int
    stream: str
    fault: str
    outcome: str
    reason: str | None = None
    """For ``outcome == "reject"``: the ``InvalidMessage`` reason code the validator must give."""
    timestamp: float | None = None
    """Event time of the record concerned."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Fault specifics: the variant, the field, ``lag_s``, ``factor``, ``silence_s``..."""
    entry_id: str | None = None
    """The Redis entry id of the message, filled in by the publisher."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "stream": self.stream,
            "fault": self.fault,
            "outcome": self.outcome,
            "reason": self.reason,
            "timestamp": self.timestamp,
            "detail": self.detail,
            "entry_id": self.entry_id,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fault:
        return cls(
            seq=int(d["seq"]),
            stream=str(d["stream"]),
            fault=str(d["fault"]),
            outcome=str(d["outcome"]),
            reason=d.get("reason"),
            timestamp=d.get("timestamp"),
            detail=dict(d.get("detail") or {}),
            entry_id=d.get("entry_id"),
        )


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Which faults, how often, and their shapes."""

    rates: Mapping[str, float] = field(default_factory=dict)
    """Fault type -> probability per eligible message (missing types: never)."""
    spike_factor: float = 20.0
    burst_ticks: int = 40
    burst_factor: float = 3.0
    gap_s: float = 3.0
    """Shortest silence, simulated seconds."""
    gap_intervals: float = 30.0
    """A silence also lasts at least this many mean intervals of its stream."""
    max_reorder_s: float = 1.0
    warmup: int = 64
    spacing: int = 16

    def __post_init__(self) -> None:
        total = 0.0
        for name, rate in self.rates.items():
            if name not in FAULT_TYPES:
                raise ValueError(f"unknown fault type {name!r}; known: {', '.join(FAULT_TYPES)}")
            if isinstance(rate, bool) or not isinstance(rate, int | float):
                raise ValueError(f"rate of {name} must be a number, got {rate!r}")
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                raise ValueError(f"rate of {name} must be in [0, 1], got {rate!r}")
            total += rate
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:g} > 1")
        if self.spike_factor <= 2.0 or not math.isfinite(self.spike_factor):
            raise ValueError(f"spike_factor must be > 2, got {self.spike_factor!r}")
        for name in ("burst_factor", "gap_s", "gap_intervals", "max_reorder_s"):
            check_number(name, getattr(self, name), positive=True)
        for name in ("burst_ticks", "warmup", "spacing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")

    @classmethod
    def uniform(
        cls, fraction: float, types: Iterable[str] = FAULT_TYPES, **kwargs: Any
    ) -> FaultConfig:
        """About ``fraction`` of eligible messages affected, split evenly over ``types``.

        A burst affects ``burst_ticks`` messages and a silence about ``gap_intervals``, so their
        start rates are divided by that many: ``uniform(0.01)`` touches ~1 % of the messages.
        """
        if not (isinstance(fraction, int | float) and 0.0 <= fraction <= 1.0):
            raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
        chosen = list(dict.fromkeys(types))
        if not chosen:
            raise ValueError("no fault types")
        shape = cls(**kwargs)  # validates the shape parameters
        share = fraction / len(chosen)
        rates: dict[str, float] = {}
        for name in chosen:
            if name not in FAULT_TYPES:
                raise ValueError(f"unknown fault type {name!r}; known: {', '.join(FAULT_TYPES)}")
            if name == BURST:
                rates[name] = share / shape.burst_ticks
            elif name == GAP:
                rates[name] = share / shape.gap_intervals
            else:
                rates[name] = share
        return cls(rates=rates, **kwargs)


class _Stream:
    """What the injector tracks per stream."""

    __slots__ = (
        "burst_left",
        "burst_sigma",
        "cooldown",
        "count",
        "gap_from",
        "gap_until",
        "held",
        "interval",
        "last_price",
        "last_ts",
        "var",
    )

    def __init__(self) -> None:
        self.count = 0
        self.cooldown = 0
        self.held: Record | None = None
        self.gap_until: float | None = None
        self.gap_from: float | None = None
        self.burst_left = 0
        self.burst_sigma = 0.0
        self.last_ts: float | None = None
        self.last_price: float | None = None
        self.interval = 0.0  # EWMA of inter-arrival times
        self.var = 0.0  # EWMA of squared tick log-returns


_EWMA: Final = 0.05


class FaultInjector:
    """Pass ``records`` through, injecting labelled faults. Iterate it once."""

    def __init__(self, records: Iterable[Record], config: FaultConfig, *, seed: int = 0) -> None:
        self.config = config
        self._records = records
        self._rng = random.Random(f"{seed}/faults")
        active = [(name, rate) for name, rate in config.rates.items() if rate > 0]
        active.sort(key=lambda item: FAULT_TYPES.index(item[0]))
        self._types = [name for name, _ in active]
        self._thresholds: list[float] = []
        total = 0.0
        for _, rate in active:
            total += rate
            self._thresholds.append(total)
        self._total = total
        self.faults: list[Fault] = []
        """The manifest, in sequence order; grows as messages are drawn."""
        self.injected: dict[str, int] = dict.fromkeys(FAULT_TYPES, 0)
        self.dropped = 0
        """Messages lost to silences."""
        self.cancelled = 0
        """Out-of-order swaps given up (see the module doc)."""
        self.delivered = 0
        self._eligible_any = 0
        self._eligible_episode = 0
        self._streams: dict[str, _Stream] = {}
        self._started = False

    @property
    def eligible(self) -> dict[str, int]:
        """Per fault type, how many messages could have started it."""
        return {
            name: self._eligible_episode if name in EPISODE_FAULTS else self._eligible_any
            for name in FAULT_TYPES
        }

    def __iter__(self) -> Iterator[Message]:
        if self._started:
            raise RuntimeError("a FaultInjector can be iterated once")
        self._started = True
        return self._run()

    # -- the stream ----------------------------------------------------------------------------

    def _label(self, fault: str, stream: str, record: Record, **detail: Any) -> None:
        """Record a fault on the message about to be yielded (position ``self.delivered``)."""
        reason = detail.pop("reason", None)
        if reason is not None and reason not in REASONS:
            raise AssertionError(f"unknown reason {reason!r}")
        self.faults.append(
            Fault(
                seq=self.delivered,
                stream=stream,
                fault=fault,
                outcome=EXPECTED_OUTCOME[fault],
                reason=reason,
                timestamp=record.timestamp,
                detail=detail,
            )
        )
        self.injected[fault] += 1

    def _run(self) -> Iterator[Message]:
        cfg = self.config
        rng = self._rng
        rand = rng.random
        streams = self._streams
        total = self._total
        for record in self._records:
            kind = type(record)
            if kind is not Tick and kind is not Trade:
                self.delivered += 1
                yield record
                continue
            stream = record_stream(record)
            st = streams.get(stream)
            if st is None:
                st = streams[stream] = _Stream()
            ts = record.timestamp

            if st.gap_until is not None:  # a silence on this stream
                if ts < st.gap_until:
                    self.dropped += 1
                    continue
                start = st.gap_from if st.gap_from is not None else ts
                st.gap_until = st.gap_from = None
                st.cooldown = cfg.spacing
                self._label(GAP, stream, record, silence_from=start, silence_s=ts - start)
                self._delivered_clean(st, record)
                self.delivered += 1
                yield record
                continue

            held = st.held
            if held is not None:  # deliver this one first, then the held one, if close enough
                st.held = None
                lag = ts - held.timestamp
                if 0.0 < lag <= cfg.max_reorder_s:
                    self._delivered_clean(st, record)
                    self.delivered += 1
                    yield record
                    self._label(OUT_OF_ORDER, stream, held, lag_s=lag)
                    st.count += 1
                    self.delivered += 1
                    yield held
                else:
                    self.cancelled += 1
                    self._delivered_clean(st, held)
                    self.delivered += 1
                    yield held
                    self._delivered_clean(st, record)
                    self.delivered += 1
                    yield record
                continue

            if st.burst_left > 0:
                assert isinstance(record, Tick)
                st.burst_left -= 1
                if st.burst_left == 0:
                    st.cooldown = cfg.spacing
                st.last_ts = ts
                self.delivered += 1
                yield _scaled(record, math.exp(st.burst_sigma * rng.gauss(0.0, 1.0)))
                continue

            self._eligible_any += 1
            episode_ok = kind is Tick and st.count >= cfg.warmup and st.cooldown == 0
            if episode_ok:
                self._eligible_episode += 1
            u = rand()
            if u >= total:
                self._delivered_clean(st, record)
                self.delivered += 1
                yield record
                continue
            fault = self._types[bisect.bisect_right(self._thresholds, u)]

            if fault in REJECT_FAULTS:
                raw, variant, reason = self._break(fault, record)
                self._label(fault, stream, record, reason=reason, variant=variant)
                self.delivered += 1
                yield RawMessage(stream, {DATA_FIELD: raw}, ts)
            elif fault == DUPLICATE:
                self._delivered_clean(st, record)
                self.delivered += 1
                yield record
                self._label(DUPLICATE, stream, record)
                self.delivered += 1
                yield record
            elif fault == OUT_OF_ORDER:
                st.held = record
            elif not episode_ok:  # spike, burst, gap need a warmed-up quiet price stream
                self._delivered_clean(st, record)
                self.delivered += 1
                yield record
            elif fault == SPIKE:
                assert isinstance(record, Tick)
                factor = cfg.spike_factor if rand() < 0.5 else 1.0 / cfg.spike_factor
                st.cooldown = cfg.spacing
                st.last_ts = ts
                self._label(SPIKE, stream, record, factor=factor, price=record.price)
                self.delivered += 1
                yield _scaled(record, factor)
            elif fault == BURST:
                assert isinstance(record, Tick)
                sigma = cfg.burst_factor * math.sqrt(st.var) if st.var > 0 else 1e-3
                st.burst_sigma = sigma
                st.burst_left = cfg.burst_ticks - 1
                if st.burst_left == 0:
                    st.cooldown = cfg.spacing
                st.last_ts = ts
                self._label(BURST, stream, record, ticks=cfg.burst_ticks, sigma=sigma)
                self.delivered += 1
                yield _scaled(record, math.exp(sigma * rng.gauss(0.0, 1.0)))
            else:  # GAP: this record is the first one lost
                silence = max(cfg.gap_s, cfg.gap_intervals * st.interval)
                st.gap_from = st.last_ts
                st.gap_until = ts + silence
                self.dropped += 1
        for st in streams.values():  # a swap that never found its partner
            if st.held is not None:
                self.cancelled += 1
                held, st.held = st.held, None
                self.delivered += 1
                yield held

    @staticmethod
    def _delivered_clean(st: _Stream, record: Record) -> None:
        ts = record.timestamp
        last = st.last_ts
        if last is None:
            st.last_ts = ts
        elif ts > last:
            step = ts - last
            st.interval = step if st.interval == 0.0 else st.interval + _EWMA * (step - st.interval)
            st.last_ts = ts
        if type(record) is Tick:
            price = record.price
            if st.last_price is not None:
                r = math.log(price / st.last_price)
                st.var += _EWMA * (r * r - st.var)
            st.last_price = price
        st.count += 1
        if st.cooldown:
            st.cooldown -= 1

    def _break(self, fault: str, record: Record) -> tuple[bytes, str, str]:
        """The raw ``data`` bytes of a rejected message, its variant and the expected reason."""
        choice = self._rng.choice
        d = record.to_dict()
        price = d["price"]
        if fault == MISSING_FIELD:
            fields = (
                ("price", "side", "timestamp") if type(record) is Trade else ("price", "timestamp")
            )
            variant = choice(fields)
            del d[variant]
            if variant == "price":  # a tick without a price falls back to its bid/ask mid
                d.pop("bid", None)
                d.pop("ask", None)
            return orjson.dumps(d), variant, "missing_field"
        if fault == WRONG_TYPE:
            variant = choice(("list", "object", "text", "boolean"))
            d["price"] = {"list": [price], "object": {"value": price}, "text": "n/a"}.get(
                variant, True
            )
            return orjson.dumps(d), variant, "wrong_type"
        if fault == EXTREME_PRICE:
            variant = choice(("huge", "negative", "zero"))
            if variant == "huge":
                d["price"] = EXTREME_HIGH_PRICE
                return orjson.dumps(d), variant, "price_out_of_range"
            d["price"] = -price if variant == "negative" else 0.0
            return orjson.dumps(d), variant, "non_positive_price"
        if fault == NAN:
            variant = choice(("NaN", "Infinity", "nan_text"))
            if variant == "nan_text":
                d["price"] = "nan"
                return orjson.dumps(d), variant, "non_finite"
            del d["price"]
            body = orjson.dumps(d)
            return b'{"price":' + variant.encode() + b"," + body[1:], variant, "non_finite"
        assert fault == MALFORMED_JSON
        body = orjson.dumps(d)
        variant = choice(("truncated", "garbage", "trailing_comma"))
        if variant == "truncated":
            return body[: len(body) // 2], variant, "malformed_json"
        if variant == "garbage":
            return b"{not json", variant, "malformed_json"
        return body[:-1] + b",}", variant, "malformed_json"


def _scaled(tick: Tick, factor: float) -> Tick:
    """The same tick with price, bid and ask multiplied by ``factor``."""
    return Tick(
        tick.symbol,
        tick.price * factor,
        tick.volume,
        tick.timestamp,
        tick.asset_class,
        None if tick.bid is None else tick.bid * factor,
        None if tick.ask is None else tick.ask * factor,
        tick.exchange,
    )
