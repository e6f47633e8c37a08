"""Fault injection: every fault type at its rate, each one labelled with the right outcome."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import orjson
import pytest

from data_feeds.errors import REASONS, InvalidMessage
from data_feeds.records import Record, Tick, Trade
from data_feeds.simulation.edge_cases import (
    ACCEPT,
    EXPECTED_OUTCOME,
    FAULT_TYPES,
    REJECT,
    Fault,
    FaultConfig,
    FaultInjector,
    Message,
    RawMessage,
)
from data_feeds.simulation.feeds import FeedConfig, MarketSimulator, make_symbols
from data_feeds.simulation.publisher import encode_message
from data_feeds.validation.cleaner import DataCleaner
from data_feeds.validation.cleaner_config import CleanerConfig
from data_feeds.validation.schema_validator import SchemaValidator

# Fast streams, so a natural pause never looks like a gap and a swap is rarely given up.
CONFIG = FeedConfig(tick_rate_hz=50.0, trade_rate_hz=20.0, book_rate_hz=2.0)


def inject(
    n: int, rates: dict[str, float], seed: int = 4, **shape: float
) -> tuple[list[Message], FaultInjector]:
    sim = MarketSimulator(make_symbols(5, ("crypto", "equity", "fx")), CONFIG, seed=seed)
    injector = FaultInjector(sim.records(), FaultConfig(rates=rates, **shape), seed=seed)  # type: ignore[arg-type]
    return list(itertools.islice(injector, n)), injector


def test_each_fault_type_is_injected_at_its_rate_and_labelled() -> None:
    """injected / eligible matches each configured rate, and the manifest labels every fault."""
    rates = dict.fromkeys(FAULT_TYPES, 0.008)
    messages, injector = inject(150_000, rates)
    eligible = injector.eligible
    for name in FAULT_TYPES:
        n = eligible[name]
        expected = n * rates[name]
        tolerance = 5 * math.sqrt(expected) + 0.02 * expected  # 5 sigma, and given-up swaps
        assert abs(injector.injected[name] - expected) < tolerance, (
            name,
            injector.injected[name],
            n,
        )
        assert injector.injected[name] > 30, name
    labelled = Counter(f.fault for f in injector.faults)
    assert labelled == {k: v for k, v in injector.injected.items() if v}
    for f in injector.faults:
        assert f.outcome == EXPECTED_OUTCOME[f.fault]
        assert (f.reason in REASONS) if f.outcome == REJECT else f.reason is None
        assert isinstance(messages[f.seq], RawMessage) == (f.outcome == REJECT)
    seqs = [f.seq for f in injector.faults]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert injector.dropped > 0 and injector.delivered == len(messages)


def test_labels_match_what_the_validator_and_cleaner_do() -> None:
    """Each label predicts the SchemaValidator's reason or the DataCleaner's action exactly."""
    rates = dict.fromkeys(FAULT_TYPES, 0.006)
    messages, injector = inject(100_000, rates, seed=9)
    by_seq = {f.seq: f for f in injector.faults}
    validator = SchemaValidator()
    # the simulated equity and FX markets trade around the clock (docs/calendars.md)
    cleaner = DataCleaner(CleanerConfig(calendars=(("equity", "24/7"), ("fx", "24/7"))))
    unlabelled: Counter[str] = Counter()
    burst_left: dict[str, int] = {}
    for seq, message in enumerate(messages):
        stream, fields = encode_message(message)
        fault = by_seq.get(seq)
        if fault is not None and fault.outcome == REJECT:
            with pytest.raises(InvalidMessage) as caught:
                validator.validate(fields, stream=stream)
            assert caught.value.reason == fault.reason, (fault, fields)
            continue
        record = validator.validate(fields, stream=stream)  # everything else is valid
        result = cleaner.clean(record)
        events = {e.type for e in result.events}
        assert "level_shift" not in events and "late" not in events
        if fault is None:
            if burst_left.get(stream):
                burst_left[stream] -= 1
                continue
            unlabelled[result.action] += 1
            unlabelled.update(events)
            continue
        if fault.fault == "duplicate":
            assert result.action == "drop_duplicate"
        elif fault.fault == "out_of_order":
            assert result.action == "accept" and "out_of_order" in events
        elif fault.fault == "spike":
            assert result.action == "quarantine" and "spike" in events
        elif fault.fault == "gap":
            assert result.action == "accept" and "gap" in events
        else:
            assert fault.fault == "burst" and fault.outcome == ACCEPT
            burst_left[stream] = int(fault.detail["ticks"]) - 1
    # Nothing the injector did not label looks like a fault to the cleaner.
    assert unlabelled["drop_duplicate"] == unlabelled["gap"] == unlabelled["out_of_order"] == 0
    assert unlabelled["quarantine"] <= 0.001 * unlabelled["accept"], unlabelled
    assert len(by_seq) > 200


def test_spikes_are_unambiguous() -> None:
    """A spike is one tick at 20x (or 1/20) the price; the next tick of the stream is back."""
    messages, injector = inject(60_000, {"spike": 0.01})
    last: dict[str, float] = {}
    spikes = {f.seq for f in injector.faults}
    after_spike: dict[str, float] = {}
    checked = 0
    for seq, m in enumerate(messages):
        if not isinstance(m, Tick):
            continue
        if seq in spikes:
            ratio = m.price / last[m.symbol]
            assert ratio == pytest.approx(20.0, rel=0.05) or ratio == pytest.approx(0.05, rel=0.05)
            after_spike[m.symbol] = last[m.symbol]
            continue
        if m.symbol in after_spike:
            assert m.price == pytest.approx(after_spike.pop(m.symbol), rel=0.01)
            checked += 1
        last[m.symbol] = m.price
    assert checked > 50


def test_out_of_order_stays_within_the_tolerance() -> None:
    """A late message is older than the one before it on its stream, by at most max_reorder_s."""
    messages, injector = inject(40_000, {"out_of_order": 0.02}, max_reorder_s=0.5)
    newest: dict[str, float] = {}
    late = {f.seq: f for f in injector.faults}
    for seq, m in enumerate(messages):
        assert isinstance(m, Record)
        if not isinstance(m, Tick | Trade):
            continue
        stream = encode_message(m)[0]
        if seq in late:
            lag = newest[stream] - m.timestamp
            assert 0 < lag <= 0.5
            assert late[seq].detail["lag_s"] == pytest.approx(lag)
        else:
            assert m.timestamp >= newest.get(stream, 0.0)
            newest[stream] = m.timestamp
    assert len(late) > 100


def test_gaps_silence_a_stream() -> None:
    """During a silence its stream publishes nothing; the gap label sits on the message after."""
    messages, injector = inject(60_000, {"gap": 0.002}, gap_s=2.0)
    last: dict[str, float] = {}
    gaps = {f.seq: f for f in injector.faults}
    for seq, m in enumerate(messages):
        if not isinstance(m, Tick):
            continue
        stream = encode_message(m)[0]
        if seq in gaps:
            silence = m.timestamp - last[stream]
            assert silence >= 2.0
            assert gaps[seq].detail["silence_s"] == pytest.approx(silence)
        last[stream] = m.timestamp
    assert len(gaps) > 5 and injector.dropped > 100 * len(gaps)


def test_bad_messages_are_raw_fields() -> None:
    """Rejects are field mappings: NaN as bare JSON text that orjson refuses, truncated JSON..."""
    rates = {"nan": 0.05, "malformed_json": 0.05}
    messages, injector = inject(20_000, rates)
    variants: Counter[str] = Counter()
    for f in injector.faults:
        m = messages[f.seq]
        assert isinstance(m, RawMessage) and set(m.fields) == {"data"}
        data = m.fields["data"]
        variants[f.detail["variant"]] += 1
        if f.detail["variant"] in ("NaN", "Infinity") or f.fault == "malformed_json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(data)
        if f.detail["variant"] == "NaN":
            assert b'"price":NaN' in data
    assert set(variants) == {
        "NaN",
        "Infinity",
        "nan_text",
        "truncated",
        "garbage",
        "trailing_comma",
    }


def test_fault_config_validation() -> None:
    """Unknown types, rates beyond 1 and a bad shape are refused; uniform() splits a fraction."""
    with pytest.raises(ValueError, match="unknown fault type"):
        FaultConfig(rates={"cosmic_ray": 0.1})
    with pytest.raises(ValueError, match="add up"):
        FaultConfig(rates=dict.fromkeys(FAULT_TYPES, 0.2))
    with pytest.raises(ValueError, match="spike_factor"):
        FaultConfig(spike_factor=1.5)
    config = FaultConfig.uniform(0.01)
    assert config.rates["nan"] == pytest.approx(0.001)
    assert config.rates["burst"] == pytest.approx(0.001 / config.burst_ticks)
    assert config.rates["gap"] == pytest.approx(0.001 / config.gap_intervals)
    assert set(FaultConfig.uniform(0.1, ["nan", "gap"]).rates) == {"nan", "gap"}


def test_fault_round_trips_through_its_dict() -> None:
    """A manifest entry survives to_dict / JSON / from_dict unchanged."""
    fault = Fault(3, "crypto_price:BTCUSDT", "nan", REJECT, "non_finite", 1.5, {"variant": "NaN"})
    assert Fault.from_dict(orjson.loads(orjson.dumps(fault.to_dict()))) == fault


def test_a_clean_stream_passes_through_untouched() -> None:
    """With no rates the injector yields exactly the simulator's records."""
    plain = list(itertools.islice(MarketSimulator(make_symbols(3), CONFIG, seed=1).records(), 5000))
    sim = MarketSimulator(make_symbols(3), CONFIG, seed=1)
    injector = FaultInjector(sim.records(), FaultConfig(), seed=1)
    assert list(itertools.islice(injector, 5000)) == plain
    assert injector.faults == []
    with pytest.raises(RuntimeError):
        iter(injector)
