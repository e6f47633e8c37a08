"""The per-batch pipeline: plain synchronous code, no I/O.

    decode -> SchemaValidator -> DataCleaner -> indicators + features -> model -> outputs

``TickPipeline.process(batch)`` takes the entries one read returned and gives back everything
the consumer must write in one Redis pipeline: signals, DLQ entries, quarantined ticks, feed
events and the ids to acknowledge. Each stage runs as one pass over the batch so it can be
timed per batch (``BatchResult.stage_s``) without a clock call per tick.

The same object rebuilds state after a restart (``replay``): entries applied after the last
checkpoint are run through every stage again with their outputs discarded, so the model learns
each outcome exactly once.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import orjson

from data_feeds.arrival import RawEntry
from data_feeds.cache import keys
from data_feeds.errors import InvalidMessage
from data_feeds.records import Record
from data_feeds.signals.generator import Prepared, SignalGenerator
from data_feeds.timestamps import entry_ms
from data_feeds.validation.cleaner import ACCEPT, QUARANTINE, DataCleaner
from data_feeds.validation.schema_validator import SchemaValidator


@dataclass(slots=True)
class BatchResult:
    """What one batch produced, ready for one Redis pipeline."""

    signals: list[tuple[str, bytes]] = field(default_factory=list)
    """(signals:{SYMBOL}, JSON of the Signal)"""
    dlq: list[tuple[str, dict[str, bytes | str | int]]] = field(default_factory=list)
    quarantine: list[tuple[str, bytes]] = field(default_factory=list)
    events: list[bytes] = field(default_factory=list)
    acks: dict[str, list[bytes]] = field(default_factory=dict)
    last_ids: dict[str, bytes] = field(default_factory=dict)
    """Per stream, the newest entry id applied to state in this batch."""
    consumed: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    signal_actions: Counter[str] = field(default_factory=Counter)
    feed_events: Counter[str] = field(default_factory=Counter)
    trimmed: int = 0
    signal_event_ts: list[float] = field(default_factory=list)
    signal_entry_ms: list[int] = field(default_factory=list)
    stage_s: dict[str, float] = field(default_factory=dict)

    def ack(self, stream: str, entry_id: bytes) -> None:
        ids = self.acks.get(stream)
        if ids is None:
            self.acks[stream] = [entry_id]
        else:
            ids.append(entry_id)


DLQ_PAYLOAD_MAX: Final = 16_384
"""The most bytes of an entry's payload a DLQ entry keeps (a 1 MB poison message would
otherwise be kept whole in every retention window)."""


def dlq_fields(
    stream: str,
    entry_id: bytes,
    fields: Mapping[bytes, bytes] | None,
    reason: str,
    detail: str,
    *,
    deliveries: int = 1,
) -> dict[str, bytes | str | int]:
    """A DLQ entry: the original payload (JSON of its fields), where it came from and why.

    A payload over ``DLQ_PAYLOAD_MAX`` bytes keeps its first ``DLQ_PAYLOAD_MAX`` bytes, with
    ``payload_bytes`` (its whole size) and ``payload_sha256`` (of the whole JSON) beside them.
    """
    payload = orjson.dumps(
        {
            k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
            for k, v in (fields or {}).items()
        }
    )
    out: dict[str, bytes | str | int] = {
        "stream": stream,
        "entry_id": entry_id,
        "reason": reason,
        "detail": detail[:500],
        "deliveries": deliveries,
        "payload": payload[:DLQ_PAYLOAD_MAX],
    }
    if len(payload) > DLQ_PAYLOAD_MAX:
        out["payload_bytes"] = len(payload)
        out["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    return out


class TickPipeline:
    """Validator, cleaner and signal generator, run over a batch."""

    def __init__(
        self,
        validator: SchemaValidator,
        cleaner: DataCleaner,
        generator: SignalGenerator,
        *,
        signal_features: bool = False,
    ) -> None:
        """``signal_features``: write each signal's features with it (``features``)."""
        self.validator = validator
        self.cleaner = cleaner
        self.generator = generator
        self.signal_features = signal_features
        self._stream_kinds: dict[str, str] = {}

    def kind_of(self, stream: str) -> str:
        kind = self._stream_kinds.get(stream)
        if kind is None:
            info = keys.parse_stream_key(stream)
            kind = info.kind if info else "unknown"
            self._stream_kinds[stream] = kind
        return kind

    def process(self, batch: Iterable[RawEntry], *, emit: bool = True) -> BatchResult:
        """Run every stage over the batch, in the order given (each stream's entries in id
        order); with ``emit=False`` only state changes (replay)."""
        out = BatchResult()
        clock = time.perf_counter
        t0 = clock()

        # decode: trimmed entries out, kinds counted (the caller orders the batch)
        work: list[tuple[str, bytes, Mapping[bytes, bytes]]] = []
        for stream, entry_id, fields in batch:
            out.ack(stream, entry_id)
            if not fields:
                out.trimmed += 1
                continue
            out.consumed[self.kind_of(stream)] += 1
            work.append((stream, entry_id, fields))
        t1 = clock()

        # validate
        valid: list[tuple[str, bytes, Record]] = []
        validate = self.validator.validate
        for stream, entry_id, fields in work:
            try:
                valid.append((stream, entry_id, validate(fields, stream=stream)))
            except InvalidMessage as exc:
                out.rejected[exc.reason] += 1
                if emit:
                    out.dlq.append(
                        (
                            keys.dlq_key(stream),
                            dlq_fields(stream, entry_id, fields, exc.reason, str(exc)),
                        )
                    )
        t2 = clock()

        # clean
        accepted: list[tuple[str, bytes, Record]] = []
        clean = self.cleaner.clean
        for item in valid:
            result = clean(item[2])
            action = result.action
            if result.events:
                for event in result.events:
                    out.feed_events[event.type] += 1
                    if emit:
                        d = event.to_dict()
                        d["stream"] = item[0]
                        d["entry_id"] = item[1].decode()
                        out.events.append(orjson.dumps(d))
            if action == ACCEPT:
                accepted.append(item)
            elif action == QUARANTINE and emit:
                record = item[2]
                q = record.to_dict()
                q["stream"] = item[0]
                q["entry_id"] = item[1].decode()
                # the event that quarantined it comes last (a gap before it is only noted)
                q["reason"] = result.events[-1].type if result.events else "spike"
                out.quarantine.append((keys.quarantine_key(record.key), orjson.dumps(q)))
        t3 = clock()

        # indicators + features
        observe = self.generator.observe
        prepared: list[tuple[str, bytes, Prepared]] = []
        for stream, entry_id, record in accepted:
            try:
                p = observe(record)
            except InvalidMessage as exc:  # the generator's own guard; normally unreachable
                out.rejected[exc.reason] += 1
                if emit:
                    out.dlq.append(
                        (
                            keys.dlq_key(stream),
                            dlq_fields(stream, entry_id, None, exc.reason, str(exc)),
                        )
                    )
                continue
            if p is not None:
                prepared.append((stream, entry_id, p))
        t4 = clock()

        # model
        decide = self.generator.decide
        with_features = self.signal_features
        for stream, entry_id, p in prepared:
            signal = decide(p, entry_id.decode(), stream)
            out.signal_actions[signal.action] += 1
            if emit:
                d = signal.to_dict()
                if with_features:
                    d["features"] = p[2]
                out.signals.append((keys.signals_key(signal.symbol), orjson.dumps(d)))
                out.signal_event_ts.append(signal.timestamp)
                out.signal_entry_ms.append(entry_ms(entry_id))
        t5 = clock()

        for stream, ids in out.acks.items():  # each stream's entries come in id order
            out.last_ids[stream] = ids[-1]
        out.stage_s = {
            "decode": t1 - t0,
            "validate": t2 - t1,
            "clean": t3 - t2,
            "indicators": t4 - t3,
            "model": t5 - t4,
        }
        return out
