"""The independent verifier: what Redis holds, read directly, decides every verdict.

It does not use the service's counters, logs or code paths. For every input entry in the
input streams (``crypto_price:*``) it reads the payload and judges it itself (a deliberately
plain rule, independent of the service's validator): *valid* when ``data`` is JSON (no NaN or
Infinity) with a string ``symbol``, a finite ``price`` > 0, a finite ``volume`` >= 0 and a
numeric ``timestamp``; *poison* otherwise. Then it joins on the entry id:

- ``signals:*``: each entry's JSON ``data`` names its input: ``signal_id`` is
  ``{stream}/{entry_id}`` and must agree with its ``entry_id`` field (what makes a redelivered
  duplicate recognisable: it carries the same ``signal_id``);
- ``dlq:{stream}``: each entry's ``entry_id`` field;
- ``quarantine:*``: each entry's JSON ``entry_id`` (a suspect tick kept, not lost);
- ``events:feed``: entries naming an input (for the diagnosis of a lost input only: a tick
  the cleaner dropped as a duplicate or as late is still lost, since the suite's load never
  sends a true duplicate nor a late tick).

A valid input is *signalled* with at least one signal, *quarantined* with a quarantine entry,
else *lost*; a poison input is *lost* unless it is in the DLQ; a valid input in the DLQ is
*wrongly dead-lettered*. Duplicates are signals beyond the first for one input. Pending is the
consumer group's XPENDING count and undelivered what the group has not read yet
(``last-delivered-id`` below the stream's last id), both summed over the input streams.

Signals whose input is gone (trimmed by the input retention) are counted apart
(``orphan_signals``), and only the inputs still in Redis are judged: "every input that
survived in Redis has a signal".
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

PAGE = 5000
INPUT_PATTERN = "crypto_price:*"


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def is_valid_payload(data: bytes | None) -> bool:
    """The verifier's own rule for a valid price tick (see the module doc)."""
    if data is None:
        return False
    try:
        obj = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(obj, dict):
        return False
    price, volume, ts = obj.get("price"), obj.get("volume"), obj.get("timestamp")
    number = (int, float)
    return (
        isinstance(obj.get("symbol"), str)
        and isinstance(price, number)
        and not isinstance(price, bool)
        and math.isfinite(price)
        and price > 0
        and isinstance(volume, number)
        and not isinstance(volume, bool)
        and math.isfinite(volume)
        and volume >= 0
        and isinstance(ts, number)
        and not isinstance(ts, bool)
    )


@dataclass
class Report:
    inputs: int = 0
    valid: int = 0
    poison: int = 0
    signalled: int = 0
    """Valid inputs with at least one signal."""
    quarantined: int = 0
    """Valid inputs without a signal but kept in quarantine."""
    dead_lettered: int = 0
    """Inputs (any) with a DLQ entry."""
    poison_dead_lettered: int = 0
    wrongly_dead_lettered: int = 0
    """Valid inputs in the DLQ."""
    poison_signalled: int = 0
    lost: int = 0
    lost_sample: list[str] = field(default_factory=list)
    lost_dropped: Counter[str] = field(default_factory=Counter)
    """Lost inputs the service reported in ``events:feed``, by event type (e.g. duplicate)."""
    signals: int = 0
    dup_total: int = 0
    dup_max: int = 0
    """The most signals one input has (1: no duplicates)."""
    bad_signal_ids: int = 0
    """Signals whose ``signal_id`` is not ``{stream}/{entry_id}`` of their ``entry_id``."""
    orphan_signals: int = 0
    """Signals whose input is no longer in Redis (trimmed)."""
    dlq_unknown: int = 0
    """DLQ entries naming an input that is not in Redis."""
    pending: int = 0
    undelivered_streams: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    """Pending per consumer group."""

    def ok(self, *, dup_bound: int | None = None) -> bool:
        return (
            self.lost == 0
            and self.pending == 0
            and self.undelivered_streams == 0
            and self.wrongly_dead_lettered == 0
            and self.poison_signalled == 0
            and self.bad_signal_ids == 0
            and (dup_bound is None or self.dup_total <= dup_bound)
        )

    def problems(self, *, dup_bound: int | None = None) -> list[str]:
        out = []
        if self.lost:
            why = ", ".join(f"{k} {v}" for k, v in self.lost_dropped.items())
            out.append(f"lost {self.lost}" + (f" (service dropped as: {why})" if why else ""))
        if self.pending:
            out.append(f"pending {self.pending}")
        if self.undelivered_streams:
            out.append(f"{self.undelivered_streams} streams not fully delivered")
        if self.wrongly_dead_lettered:
            out.append(f"valid in DLQ {self.wrongly_dead_lettered}")
        if self.poison_signalled:
            out.append(f"poison signalled {self.poison_signalled}")
        if self.bad_signal_ids:
            out.append(f"signal_id mismatch {self.bad_signal_ids}")
        if dup_bound is not None and self.dup_total > dup_bound:
            out.append(f"duplicates {self.dup_total} > bound {dup_bound}")
        return out


def _scan(client: redis.Redis, pattern: str) -> list[str]:
    return sorted(
        k.decode() if isinstance(k, bytes) else str(k)
        for k in client.scan_iter(match=pattern, count=1000, _type="stream")
    )


def _entries(client: redis.Redis, key: str) -> Any:
    """Every entry of a stream, in pages."""
    start = "-"
    while True:
        page: Any = client.xrange(key, min=start, max="+", count=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        start = "(" + page[-1][0].decode()


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def verify(
    client: redis.Redis, *, group: str = "data-feeds", input_pattern: str = INPUT_PATTERN
) -> Report:
    """Read Redis and judge every input (see the module doc)."""
    r = Report()
    valid: dict[tuple[str, str], bool] = {}
    streams = _scan(client, input_pattern)
    for stream in streams:
        for entry_id, fields in _entries(client, stream):
            valid[(stream, entry_id.decode())] = is_valid_payload(fields.get(b"data"))
    r.inputs = len(valid)
    r.valid = sum(valid.values())
    r.poison = r.inputs - r.valid

    per_input: Counter[tuple[str, str]] = Counter()
    for key in _scan(client, "signals:*"):
        for _, fields in _entries(client, key):
            r.signals += 1
            d = orjson.loads(fields[b"data"])
            stream, _, entry_id = str(d.get("signal_id")).rpartition("/")
            ref = (stream, entry_id)
            if entry_id != d.get("entry_id") or not stream:
                r.bad_signal_ids += 1
            if ref in valid:
                per_input[ref] += 1
            else:
                r.orphan_signals += 1
    r.dup_total = sum(n - 1 for n in per_input.values())
    r.dup_max = max(per_input.values(), default=0)

    in_dlq: set[tuple[str, str]] = set()
    for key in _scan(client, "dlq:*"):
        stream = key.split(":", 1)[1]
        for _, fields in _entries(client, key):
            ref = (stream, _text(fields.get(b"entry_id", b"")))
            if ref in valid:
                in_dlq.add(ref)
            else:
                r.dlq_unknown += 1
    quarantined: set[tuple[str, str]] = set()
    for key in _scan(client, "quarantine:*"):
        for _, fields in _entries(client, key):
            d = orjson.loads(fields[b"data"])
            quarantined.add((str(d.get("stream")), str(d.get("entry_id"))))

    lost: list[tuple[str, str]] = []
    for ref, ok in valid.items():
        if ref in in_dlq:
            r.dead_lettered += 1
            if ok:
                r.wrongly_dead_lettered += 1
            else:
                r.poison_dead_lettered += 1
        if ok:
            if per_input[ref]:
                r.signalled += 1
            elif ref in quarantined:
                r.quarantined += 1
            elif ref not in in_dlq:
                lost.append(ref)
        else:
            if per_input[ref]:
                r.poison_signalled += 1
            if ref not in in_dlq:
                lost.append(ref)
    r.lost = len(lost)
    r.lost_sample = [f"{s}/{i}" for s, i in lost[:5]]
    if lost:
        lost_set = set(lost)
        for _, fields in _entries(client, "events:feed"):
            d = orjson.loads(fields[b"data"])
            ref = (str(d.get("stream")), str(d.get("entry_id")))
            if ref in lost_set:
                r.lost_dropped[str(d.get("type"))] += 1

    for stream in streams:
        info: Any = client.xinfo_stream(stream)
        last = _text(info["last-generated-id"])
        groups: Any = client.xinfo_groups(stream)
        g = next((g for g in groups if _text(g["name"]) == group), None)
        if g is None:
            r.undelivered_streams += 1
            continue
        if _id(_text(g["last-delivered-id"])) < _id(last):
            r.undelivered_streams += 1
        for g in groups:
            name = _text(g["name"])
            r.groups[name] = r.groups.get(name, 0) + int(g["pending"])
    r.pending = sum(r.groups.values())
    return r


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def drained(client: redis.Redis, *, group: str = "data-feeds") -> bool:
    """Whether the group has read every input entry and has none pending (cheap: XINFO)."""
    streams = _scan(client, INPUT_PATTERN)
    if not streams:
        return False
    for stream in streams:
        info: Any = client.xinfo_stream(stream)
        groups: Any = client.xinfo_groups(stream)
        g = next((g for g in groups if _text(g["name"]) == group), None)
        if g is None or int(g["pending"]):
            return False
        if _id(_text(g["last-delivered-id"])) < _id(_text(info["last-generated-id"])):
            return False
    return True


def signals_total(client: redis.Redis) -> int:
    return sum(int(client.xlen(k)) for k in _scan(client, "signals:*"))


def inputs_total(client: redis.Redis) -> int:
    return sum(int(client.xlen(k)) for k in _scan(client, INPUT_PATTERN))
