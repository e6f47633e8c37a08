"""DataCleaner: synthetic checks of every decision, then planted anomalies in real trade series."""

from __future__ import annotations

import functools
import itertools
import math
import os
import pickle
import random
import subprocess
import sys
from array import array
from collections import Counter, deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.sources import read_records
from data_feeds.validation.cleaner import (
    ACCEPT,
    CLEAN_ACTIONS,
    DROP_DUPLICATE,
    DUPLICATE,
    FEED_EVENT_TYPES,
    GAP,
    LATE,
    LEVEL_SHIFT,
    OUT_OF_ORDER,
    QUARANTINE,
    REJECT_LATE,
    SPIKE,
    CleanResult,
    DataCleaner,
    FeedEvent,
    _feed_key,
)
from data_feeds.validation.cleaner_config import CleanerConfig
from tests.shared_data import shared_data_path

T0 = 1_700_000_000.0
Decision = tuple[str, tuple[str, ...]]
QUIET: Decision = (ACCEPT, ())


def decision(result: CleanResult) -> Decision:
    return result.action, tuple(event.type for event in result.events)


def remembered(cleaner: DataCleaner, state: Any) -> list[Any]:
    """The fingerprints a feed remembers: the last ``dedupe_window`` of its ring."""
    return list(state.fingerprint_ring)[-cleaner.dedupe_window :]


def walk(n: int, *, seed: int = 7, sigma: float = 1e-3, start: float = 100.0) -> list[float]:
    """A geometric random walk: small, normal log returns."""
    rng = random.Random(seed)
    prices = [start]
    for _ in range(n - 1):
        prices.append(prices[-1] * math.exp(rng.gauss(0.0, sigma)))
    return prices


def ticks(
    prices: list[float], *, t0: float = T0, step_s: float = 1.0, symbol: str = "BTCUSDT"
) -> list[Tick]:
    return [
        Tick(symbol=symbol, price=p, volume=1.0, timestamp=t0 + i * step_s)
        for i, p in enumerate(prices)
    ]


def run(cleaner: DataCleaner, records: list[Any]) -> list[CleanResult]:
    return [cleaner.clean(record) for record in records]


def warmed(n: int = 60, **config: Any) -> tuple[DataCleaner, list[Tick]]:
    """A cleaner that has seen ``n`` ordinary one-second ticks, and those ticks."""
    cleaner = DataCleaner(CleanerConfig(**config))
    history = ticks(walk(n))
    assert [decision(r) for r in run(cleaner, history)] == [QUIET] * n
    return cleaner, history


def next_tick(history: list[Tick], factor: float = 1.0, dt_s: float = 1.0) -> Tick:
    last = history[-1]
    tick = Tick(last.symbol, last.price * factor, 1.0, last.timestamp + dt_s)
    history.append(tick)
    return tick


# -- configuration -------------------------------------------------------------------------------


def test_infinite_spike_z_turns_spike_detection_off() -> None:
    """spike_z=inf is allowed and lets a tenfold jump through."""
    cleaner, history = warmed(spike_z=math.inf)
    assert decision(cleaner.clean(next_tick(history, 10.0))) == QUIET


# -- the common case -----------------------------------------------------------------------------


def test_in_order_ticks_are_accepted_with_one_shared_empty_events_tuple() -> None:
    """Ordinary ticks are accepted, and accepted results share one empty events tuple."""
    cleaner = DataCleaner()
    results = run(cleaner, ticks(walk(200)))
    assert all(r.action == ACCEPT and r.accepted for r in results)
    assert all(r.events is results[0].events == () for r in results)
    assert len({id(r) for r in results}) == len(results)  # results are not recycled
    assert cleaner.counts[ACCEPT] == 200
    assert sum(cleaner.counts.values()) == 200


def test_counts_have_a_fixed_key_set_covering_every_action_and_event() -> None:
    """counts holds exactly the actions and event types, and every record counts one action."""
    cleaner, history = warmed()
    extra = [
        history[-1],  # duplicate
        Tick("BTCUSDT", history[-1].price, 2.0, history[-1].timestamp - 0.5),  # out of order
        Tick("BTCUSDT", history[-1].price, 3.0, history[-1].timestamp - 60.0),  # late
        next_tick(history, 1.2),  # spike
        Tick("ETHUSDT", 2000.0, 1.0, T0),  # another feed
    ]
    run(cleaner, extra)
    assert set(cleaner.counts) == set(CLEAN_ACTIONS) | set(FEED_EVENT_TYPES)
    assert sum(cleaner.counts[a] for a in CLEAN_ACTIONS) == len(history) - 1 + len(extra)
    assert cleaner.counts[DUPLICATE] == cleaner.counts[DROP_DUPLICATE] == 1
    assert cleaner.counts[OUT_OF_ORDER] == 1
    assert cleaner.counts[LATE] == cleaner.counts[REJECT_LATE] == 1
    assert cleaner.counts[SPIKE] == cleaner.counts[QUARANTINE] == 1


# -- duplicates ----------------------------------------------------------------------------------


def test_trade_with_a_seen_trade_id_is_dropped_even_if_its_content_differs() -> None:
    """A trade id seen before on the same exchange is a duplicate, whatever the other fields."""
    cleaner = DataCleaner()
    first = Trade("BTCUSDT", 100.0, 1.0, "buy", T0, trade_id="42", exchange="BINANCE")
    again = Trade("BTCUSDT", 100.5, 2.0, "sell", T0 + 1, trade_id="42", exchange="BINANCE")
    assert decision(cleaner.clean(first)) == QUIET
    result = cleaner.clean(again)
    assert decision(result) == (DROP_DUPLICATE, (DUPLICATE,))
    assert result.record is again
    event = result.events[0]
    assert (event.symbol, event.kind, event.timestamp) == ("BTCUSDT", "trade", T0 + 1)


def test_same_trade_id_on_another_exchange_is_not_a_duplicate() -> None:
    """Trade ids are per exchange: the same id from two venues is two trades."""
    cleaner = DataCleaner()
    a = Trade("BTCUSDT", 100.0, 1.0, "buy", T0, trade_id="42", exchange="BINANCE")
    b = Trade("BTCUSDT", 100.0, 1.0, "buy", T0, trade_id="42", exchange="KRAKEN")
    assert [decision(r) for r in run(cleaner, [a, b])] == [QUIET, QUIET]


def test_records_without_ids_are_duplicates_when_their_content_is_equal() -> None:
    """A tick, an id-less trade and a sentiment score repeated verbatim are dropped."""
    cleaner = DataCleaner()
    records: list[Record] = [
        Tick("BTCUSDT", 100.0, 1.0, T0, bid=99.9, ask=100.1),
        Trade("BTCUSDT", 100.0, 1.0, "buy", T0),
        Sentiment("BTC", 0.25, T0, source="twitter"),
    ]
    first = run(cleaner, records)
    second = run(cleaner, [replace(r) for r in records])  # equal, not the same objects
    assert [decision(r) for r in first] == [QUIET] * 3
    assert [decision(r) for r in second] == [(DROP_DUPLICATE, (DUPLICATE,))] * 3
    first_tick = records[0]
    assert isinstance(first_tick, Tick)
    changed = replace(first_tick, volume=2.0)
    assert decision(cleaner.clean(changed)) == QUIET


def test_fingerprints_are_remembered_for_a_bounded_window_only() -> None:
    """After dedupe_window newer records, an old record is no longer recognised as a copy."""
    cleaner = DataCleaner(CleanerConfig(dedupe_window=8, reorder_tolerance_s=1000.0))
    history = ticks(walk(20))
    run(cleaner, history)
    assert decision(cleaner.clean(replace(history[12]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(cleaner.clean(replace(history[11]))) == (ACCEPT, (OUT_OF_ORDER,))
    state = cleaner._feeds[_feed_key("price", "BTCUSDT")]
    assert len(state.fingerprints) == len(remembered(cleaner, state)) == 8


def test_a_price_feed_forgets_fingerprints_a_horizon_behind_its_newest() -> None:
    """A tick every 5 s: the ring holds one to two horizons of fingerprints (not the last
    1,024). A copy of a tick within the horizon is a duplicate; of an older one, late (it would
    be late whatever the ring held); with an infinite horizon, a duplicate, as by count only."""
    history = ticks(walk(2_000), step_s=5.0)
    aged = DataCleaner()  # dedupe_horizon_s 60, reorder_tolerance_s 2
    by_count = DataCleaner(CleanerConfig(dedupe_horizon_s=math.inf))
    lengths = []
    for tick in history:
        assert decision(aged.clean(tick)) == decision(by_count.clean(tick))
        lengths.append(len(aged._feeds["BTCUSDT"].fingerprint_ring))
    assert max(lengths) == 2 * 60 // 5 + 1 and min(lengths[100:]) == 60 // 5 + 1
    assert len(by_count._feeds["BTCUSDT"].fingerprint_ring) >= 1_024
    recent, old = replace(history[-6]), replace(history[-100])
    for cleaner in (aged, by_count):
        assert decision(cleaner.clean(recent)) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(aged.clean(old)) == (REJECT_LATE, (LATE,))
    assert decision(by_count.clean(old)) == (DROP_DUPLICATE, (DUPLICATE,))
    assert aged.config.dedupe_horizon_s == 60.0


def test_a_horizon_shorter_than_the_reorder_tolerance_is_the_tolerance() -> None:
    """A tick that can still be accepted out of order is always checked for a copy: the
    fingerprints it could repeat are kept for ``reorder_tolerance_s`` whatever the horizon."""
    cleaner = DataCleaner(CleanerConfig(dedupe_horizon_s=0.0, reorder_tolerance_s=30.0))
    history = ticks(walk(200))
    run(cleaner, history)
    assert decision(cleaner.clean(replace(history[-30]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(cleaner.clean(replace(history[-31]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(cleaner.clean(replace(history[-100]))) == (REJECT_LATE, (LATE,))


def test_a_feed_pickled_before_rings_aged_marks_its_ring_at_its_next_tick() -> None:
    """A price feed's state from a checkpoint of format 5 or older (no mark) keeps its 1,024
    fingerprints until a horizon after its next tick, then ages like a fresh one; the duplicate
    set, rebuilt after a redelivery, shrinks with the ring."""
    history = ticks(walk(1_500), step_s=5.0)
    old = DataCleaner(CleanerConfig(dedupe_horizon_s=math.inf))
    run(old, history[:1_200])
    feed = old._feeds["BTCUSDT"]
    slots = feed.__getstate__()[1]  # type: ignore[index]
    del slots["ring_mark"], slots["ring_until"]
    restored = DataCleaner()
    feed = feed.__new__(type(feed))
    feed.__setstate__((None, slots))
    restored.put_feeds([("BTCUSDT", feed)])
    assert len(feed.fingerprint_ring) == 1_024
    assert decision(restored.clean(replace(history[1_190]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert feed.fingerprints is not None and len(feed.fingerprints) == 1_024
    run(restored, history[1_200:1_214])  # the first marks; more than a horizon later: aged
    assert len(feed.fingerprint_ring) == 60 // 5 + 1
    assert feed.fingerprints == set(feed.fingerprint_ring)
    assert decision(restored.clean(replace(history[1_210]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(restored.clean(replace(history[1_190]))) == (REJECT_LATE, (LATE,))


def test_a_feed_handed_to_a_cleaner_with_a_longer_horizon_ages_by_the_takers() -> None:
    """The taker forgets by its own horizon from the handover on: a tick it could still accept
    out of order is not forgotten early because the giver would have (found in review: the
    giver's time to age at came along and let a copy through)."""
    history = [Tick("BTCUSDT", 100.0, 1.0, T0 + i) for i in range(10)]
    giver = DataCleaner(CleanerConfig(dedupe_horizon_s=0.0, reorder_tolerance_s=0.0))
    taker = DataCleaner(CleanerConfig(reorder_tolerance_s=1_000.0))
    run(giver, history)
    taker.put_feeds(pickle.loads(pickle.dumps(giver.take_feeds("BTCUSDT"))))
    assert decision(taker.clean(Tick("BTCUSDT", 100.0, 1.0, T0 + 10))) == QUIET
    assert decision(taker.clean(replace(history[9]))) == (DROP_DUPLICATE, (DUPLICATE,))
    (feed,) = [f for _, f in taker.feeds_of("BTCUSDT")]
    assert feed.ring_until == T0 + 9 + 1_000.0  # marked at the giver's newest


def test_a_redelivered_quarantined_record_is_dropped_not_quarantined_twice() -> None:
    """Quarantined records are remembered, so their redelivery is a duplicate."""
    cleaner, history = warmed()
    bad = next_tick(history, 1.5)
    assert cleaner.clean(bad).action == QUARANTINE
    assert decision(cleaner.clean(replace(bad))) == (DROP_DUPLICATE, (DUPLICATE,))


# -- ordering ------------------------------------------------------------------------------------


def test_slightly_old_record_is_accepted_as_out_of_order() -> None:
    """A record behind the newest by no more than reorder_tolerance_s is accepted and flagged."""
    cleaner = DataCleaner(CleanerConfig(reorder_tolerance_s=2.0))
    run(cleaner, ticks([100.0, 100.1, 100.2], step_s=1.0))  # newest at T0 + 2
    result = cleaner.clean(Tick("BTCUSDT", 100.05, 1.0, T0 + 0.5))
    assert decision(result) == (ACCEPT, (OUT_OF_ORDER,))
    event = result.events[0]
    assert event.previous_timestamp == T0 + 2
    assert event.lag_s == pytest.approx(1.5)


def test_record_older_than_the_tolerance_is_rejected_as_late() -> None:
    """A record further behind the newest than reorder_tolerance_s is rejected with a late event."""
    cleaner = DataCleaner(CleanerConfig(reorder_tolerance_s=2.0))
    run(cleaner, ticks([100.0, 100.1, 100.2, 100.3], step_s=1.0))  # newest at T0 + 3
    result = cleaner.clean(Tick("BTCUSDT", 100.0, 5.0, T0 + 0.5))
    assert decision(result) == (REJECT_LATE, (LATE,))
    assert result.events[0].lag_s == pytest.approx(2.5)
    assert result.events[0].previous_timestamp == T0 + 3


def test_equal_timestamps_are_in_order() -> None:
    """Several distinct trades in the same millisecond are all plainly accepted."""
    cleaner = DataCleaner()
    trades = [Trade("BTCUSDT", 100.0, 1.0, "buy", T0, trade_id=str(i)) for i in range(5)]
    assert [decision(r) for r in run(cleaner, trades)] == [QUIET] * 5


def test_an_out_of_order_record_moves_neither_the_newest_time_nor_the_reference() -> None:
    """After an out-of-order record, lateness and returns are still judged from the newest one."""
    cleaner, history = warmed()
    newest = history[-1]
    old = Tick("BTCUSDT", newest.price * 0.999, 1.0, newest.timestamp - 1.5)
    assert decision(cleaner.clean(old)) == (ACCEPT, (OUT_OF_ORDER,))
    state = cleaner._feeds[_feed_key("price", "BTCUSDT")]
    assert state.newest_ts == newest.timestamp
    assert state.ref_price == newest.price


def test_an_out_of_order_spike_is_quarantined() -> None:
    """A reordered record is still checked against the reference price."""
    cleaner, history = warmed()
    newest = history[-1]
    result = cleaner.clean(Tick("BTCUSDT", newest.price * 1.3, 1.0, newest.timestamp - 0.5))
    assert decision(result) == (QUARANTINE, (OUT_OF_ORDER, SPIKE))


# -- gaps ----------------------------------------------------------------------------------------


def test_silence_much_longer_than_the_cadence_is_reported_as_a_gap() -> None:
    """After regular one-second ticks, a 30 s silence is a gap event on an accepted record."""
    cleaner, history = warmed(60)
    last_ts = history[-1].timestamp
    result = cleaner.clean(next_tick(history, dt_s=30.0))
    assert decision(result) == (ACCEPT, (GAP,))
    event = result.events[0]
    assert event.previous_timestamp == last_ts
    assert event.timestamp == last_ts + 30.0
    assert event.gap_s == pytest.approx(30.0)
    assert decision(cleaner.clean(next_tick(history, dt_s=1.0))) == QUIET


def test_a_silence_within_gap_factor_cadences_is_not_a_gap() -> None:
    """A silence of nine cadences is not a gap at gap_factor 10."""
    cleaner, history = warmed(60)
    assert decision(cleaner.clean(next_tick(history, dt_s=9.0))) == QUIET


def test_no_gap_is_reported_before_the_cadence_is_known() -> None:
    """Fewer than cadence_min_count intervals: even a long silence is not a gap yet."""
    cleaner = DataCleaner(CleanerConfig(cadence_min_count=20))
    history = ticks(walk(15))
    run(cleaner, history)
    assert decision(cleaner.clean(next_tick(history, dt_s=600.0))) == QUIET


def test_min_gap_s_floors_the_gap_threshold() -> None:
    """A fast feed's gap must also exceed min_gap_s."""
    cleaner = DataCleaner(CleanerConfig(min_gap_s=1.0))
    history = ticks(walk(60), step_s=0.01)
    run(cleaner, history)
    assert decision(cleaner.clean(next_tick(history, dt_s=0.5))) == QUIET  # 50 cadences
    assert decision(cleaner.clean(next_tick(history, dt_s=1.5))) == (ACCEPT, (GAP,))


def test_the_cadence_is_a_high_quantile_so_bursty_feeds_do_not_gap_on_ordinary_pauses() -> None:
    """Bursts of trades 10 ms apart every 5 s: the pauses are no gaps, a 5 minute one is."""
    trades = [
        Trade("XRPETH", 1.0, 1.0, "buy", T0 + 5.0 * burst + 0.01 * k, trade_id=f"{burst}-{k}")
        for burst in range(40)
        for k in range(4)
    ]
    cleaner = DataCleaner()
    assert [decision(r) for r in run(cleaner, trades)] == [QUIET] * len(trades)
    late_burst = Trade("XRPETH", 1.0, 1.0, "buy", trades[-1].timestamp + 300.0, trade_id="x")
    assert decision(cleaner.clean(late_burst)) == (ACCEPT, (GAP,))
    median_cleaner = DataCleaner(CleanerConfig(cadence_quantile=0.5))
    pauses = [r for r in run(median_cleaner, trades) if r.events]
    assert len(pauses) > 10  # with the median every pause would have been a gap


def test_records_sharing_a_timestamp_do_not_shrink_the_cadence() -> None:
    """A sweep of 100 fills in one millisecond does not turn the next 3 s pause into a gap."""
    cleaner = DataCleaner()
    trades = [Trade("BTCUSDT", 100.0, 1.0, "buy", T0 + i, trade_id=str(i)) for i in range(40)]
    sweep_ts = trades[-1].timestamp + 1.0
    trades += [Trade("BTCUSDT", 100.0, 1.0, "buy", sweep_ts, trade_id=f"s{i}") for i in range(100)]
    trades.append(Trade("BTCUSDT", 100.0, 1.0, "buy", sweep_ts + 3.0, trade_id="after"))
    assert [decision(r) for r in run(cleaner, trades)] == [QUIET] * len(trades)


def test_sentiment_has_no_gaps_and_no_spikes() -> None:
    """Sentiment scores are only deduplicated and ordered: long silences and jumps pass."""
    cleaner = DataCleaner()
    scores = [Sentiment("BTC", 0.01 * (i % 3), T0 + i) for i in range(60)]
    scores += [Sentiment("BTC", -1.0, T0 + 3600.0), Sentiment("BTC", 1.0, T0 + 3601.0)]
    assert [decision(r) for r in run(cleaner, scores)] == [QUIET] * len(scores)
    assert decision(cleaner.clean(Sentiment("BTC", 0.5, T0))) == (REJECT_LATE, (LATE,))


# -- spikes and level shifts ---------------------------------------------------------------------


def test_a_price_spike_is_quarantined_and_does_not_move_the_reference() -> None:
    """A +10 % tick is quarantined with its z-score, and the next ordinary tick is fine."""
    cleaner, history = warmed()
    reference = history[-1].price
    result = cleaner.clean(next_tick(history, 1.10))
    assert decision(result) == (QUARANTINE, (SPIKE,))
    event = result.events[0]
    assert event.z is not None
    assert event.z > cleaner.spike_z
    assert event.reference_price == reference
    assert event.price == pytest.approx(reference * 1.10)
    history.pop()
    assert decision(cleaner.clean(next_tick(history, 1.0005))) == QUIET


def test_a_downward_spike_is_quarantined_too() -> None:
    """A -10 % tick is quarantined with a negative z-score."""
    cleaner, history = warmed()
    result = cleaner.clean(next_tick(history, 0.90))
    assert decision(result) == (QUARANTINE, (SPIKE,))
    assert result.events[0].z is not None
    assert result.events[0].z < -cleaner.spike_z


def test_no_spike_is_judged_before_spike_min_count_returns() -> None:
    """During warm-up even a large move is accepted."""
    cleaner = DataCleaner(CleanerConfig(spike_min_count=20))
    history = ticks(walk(10))
    run(cleaner, history)
    assert decision(cleaner.clean(next_tick(history, 1.5))) == QUIET


def test_a_flat_series_does_not_make_every_small_move_a_spike() -> None:
    """After a perfectly flat series, a 0.3 % move is within the MAD floor."""
    cleaner = DataCleaner()
    history = ticks([100.0] * 60)
    run(cleaner, history)
    assert decision(cleaner.clean(next_tick(history, 1.003))) == QUIET
    assert decision(cleaner.clean(next_tick(history, 1.05))) == (QUARANTINE, (SPIKE,))


def test_mostly_unchanged_prices_do_not_collapse_the_scale() -> None:
    """Returns equal to the median (repeated prices) are left out of the MAD."""
    cleaner = DataCleaner()
    prices = []
    rng = random.Random(3)
    price = 100.0
    for i in range(64):
        if i % 4 == 0:  # one move in four, about 1 % each: the MAD of all returns would be 0
            price *= math.exp(rng.choice((-1, 1)) * rng.uniform(0.008, 0.012))
        prices.append(price)
    history = ticks(prices)
    assert [decision(r) for r in run(cleaner, history)] == [QUIET] * len(history)
    assert decision(cleaner.clean(next_tick(history, 1.012))) == QUIET


def test_three_consistent_spikes_are_a_level_shift_and_the_first_two_stay_quarantined() -> None:
    """At level_shift_ticks=3: quarantine, quarantine, then accept with a level_shift event."""
    cleaner, history = warmed()
    reference = history[-1].price
    first = cleaner.clean(next_tick(history, 1.10))
    second = cleaner.clean(next_tick(history, 1.0003))
    third = cleaner.clean(next_tick(history, 0.9998))
    assert [decision(r) for r in (first, second, third)] == [
        (QUARANTINE, (SPIKE,)),
        (QUARANTINE, (SPIKE,)),
        (ACCEPT, (LEVEL_SHIFT,)),
    ]
    shift = third.events[0]
    assert shift.count == 3
    assert shift.reference_price == reference
    assert shift.price == history[-1].price
    after = [cleaner.clean(next_tick(history, f)) for f in (1.0004, 0.9995, 1.0002)]
    assert [decision(r) for r in after] == [QUIET] * 3


def test_level_shift_ticks_sets_the_run_length() -> None:
    """At level_shift_ticks=5 the shift is accepted on the fifth record."""
    cleaner, history = warmed(level_shift_ticks=5)
    results = [cleaner.clean(next_tick(history, f)) for f in (0.8, 1.0, 1.0, 1.0, 1.0)]
    assert [r.action for r in results] == [QUARANTINE] * 4 + [ACCEPT]
    assert results[-1].events[0].count == 5


def test_inconsistent_spikes_are_no_level_shift() -> None:
    """Spikes that jump around (+10 %, -10 %, +10 %...) stay quarantined."""
    cleaner, history = warmed()
    base = history[-1]
    spikes = [
        Tick("BTCUSDT", base.price * f, 1.0, base.timestamp + i + 1)
        for i, f in enumerate((1.1, 0.9, 1.1, 0.9, 1.1))
    ]
    assert [decision(r) for r in run(cleaner, spikes)] == [(QUARANTINE, (SPIKE,))] * 5


def test_an_ordinary_record_in_between_resets_the_level_shift_run() -> None:
    """Spike, normal, spike, spike: no three consecutive spikes, so no shift."""
    cleaner, history = warmed()
    base = history[-1]
    prices = [base.price * 1.1, base.price, base.price * 1.1, base.price * 1.1, base.price * 1.1]
    records = [Tick("BTCUSDT", p, float(i), base.timestamp + i + 1) for i, p in enumerate(prices)]
    assert [r.action for r in run(cleaner, records)] == [
        QUARANTINE,
        ACCEPT,
        QUARANTINE,
        QUARANTINE,
        ACCEPT,
    ]


def test_a_spike_after_a_gap_carries_both_events() -> None:
    """A record after a long silence that is also a spike is quarantined with gap and spike."""
    cleaner, history = warmed()
    result = cleaner.clean(next_tick(history, 1.5, dt_s=120.0))
    assert decision(result) == (QUARANTINE, (GAP, SPIKE))


def test_book_snapshots_are_judged_by_their_mid() -> None:
    """A full book whose mid jumps 20 % is quarantined; its spread alone does not matter."""
    cleaner = DataCleaner()
    books = [
        BookSnapshot("BTCUSDT", T0 + i, bids=((p - 0.5, 1.0),), asks=((p + 0.5, 1.0),))
        for i, p in enumerate(walk(60))
    ]
    assert [decision(r) for r in run(cleaner, books)] == [QUIET] * 60
    mid = 0.5 * (books[-1].bids[0][0] + books[-1].asks[0][0])
    wide = BookSnapshot("BTCUSDT", T0 + 60, bids=((mid - 5.0, 1.0),), asks=((mid + 5.0, 1.0),))
    assert decision(cleaner.clean(wide)) == QUIET
    jump = BookSnapshot("BTCUSDT", T0 + 61, bids=((mid * 1.2, 1.0),), asks=((mid * 1.2 + 1, 1.0),))
    result = cleaner.clean(jump)
    assert decision(result) == (QUARANTINE, (SPIKE,))
    assert result.events[0].price == pytest.approx(mid * 1.2 + 0.5)


def test_book_deltas_are_never_spikes_but_are_deduplicated_and_ordered() -> None:
    """Deltas carry no touch price: only duplicates, ordering and gaps apply."""
    cleaner = DataCleaner()
    deltas = [BookDelta("BTCUSDT", T0 + i, bids=((100.0 + i, 1.0),), asks=()) for i in range(30)]
    assert [decision(r) for r in run(cleaner, deltas)] == [QUIET] * 30
    assert decision(cleaner.clean(replace(deltas[-1]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(cleaner.clean(replace(deltas[0], bids=()))) == (REJECT_LATE, (LATE,))


def calm_then_volatile() -> tuple[int, list[Tick]]:
    """60 ticks at 0.01 % volatility, then 200 at 2 %: the index of the change, and the ticks."""
    calm = walk(60, sigma=1e-4, seed=1)
    volatile = walk(200, sigma=2e-2, seed=2, start=calm[-1])
    return len(calm), ticks(calm + volatile[1:])


def test_a_rise_in_volatility_is_learned_within_half_a_window() -> None:
    """Spikes count in the window, so moves stop being spikes once they are the majority."""
    change, records = calm_then_volatile()
    flagged = [i for i, r in enumerate(run(DataCleaner(), records)) if r.events]
    assert flagged
    assert flagged[0] == change
    assert flagged[-1] < change + 64 // 2 + 8


def test_lazily_refreshed_statistics_never_flag_what_fresh_ones_would_not() -> None:
    """Stale statistics are brought up to date before a spike is called."""
    _, records = calm_then_volatile()
    lazy = [decision(r) for r in run(DataCleaner(CleanerConfig(refresh_every=1000)), records)]
    fresh = [decision(r) for r in run(DataCleaner(CleanerConfig(refresh_every=1)), records)]
    assert lazy == fresh


# -- feeds and memory ----------------------------------------------------------------------------


def test_feeds_are_separate_per_symbol_and_kind() -> None:
    """A trade and a tick of one symbol, or ticks of two symbols, never judge each other."""
    cleaner, history = warmed()
    last = history[-1]
    others: list[Record] = [
        Tick("ETHUSDT", last.price * 30, 1.0, last.timestamp - 100.0),  # new feed: not late
        Trade("BTCUSDT", last.price * 2, 1.0, "buy", last.timestamp - 100.0),  # new feed
        Tick("ETHUSDT", last.price * 30, 1.0, last.timestamp - 99.0),
    ]
    assert [decision(r) for r in run(cleaner, others)] == [QUIET] * 3
    assert cleaner.tracked_feeds == 3


def test_least_recently_seen_feed_is_forgotten_beyond_max_keys() -> None:
    """With max_keys=2, a third feed evicts the least recently seen one, whose history is lost."""
    cleaner = DataCleaner(CleanerConfig(max_keys=2))
    a = Tick("AAA", 1.0, 1.0, T0)
    b = Tick("BBB", 1.0, 1.0, T0)
    c = Tick("CCC", 1.0, 1.0, T0)
    run(cleaner, [a, b, replace(a, timestamp=T0 + 1), c])  # b is the least recently seen
    assert cleaner.tracked_feeds == 2
    assert cleaner.evicted_feeds == 1
    assert decision(cleaner.clean(replace(a))) == (DROP_DUPLICATE, (DUPLICATE,))  # a kept
    assert decision(cleaner.clean(replace(b))) == QUIET  # b forgotten: not a duplicate
    assert cleaner.tracked_feeds == 2
    assert cleaner.evicted_feeds == 2  # c went to make room


def test_per_feed_windows_are_bounded() -> None:
    """However long a feed runs, its windows hold at most their configured sizes (the spike
    and cadence windows at most ``refresh_every`` more: they are cut back when refreshed)."""
    cleaner = DataCleaner(CleanerConfig(dedupe_window=50, cadence_window=16, spike_window=24))
    records = ticks(walk(500))
    for i in range(7, 500, 7):  # records sharing a timestamp need the set, which is kept up
        records[i] = replace(records[i], timestamp=records[i - 1].timestamp, volume=2.0)
    run(cleaner, records)
    state = cleaner._feeds[_feed_key("price", "BTCUSDT")]
    assert state.fingerprints is not None
    assert len(remembered(cleaner, state)) == len(state.fingerprints) == 50
    assert set(remembered(cleaner, state)) == state.fingerprints
    assert len(state.fingerprint_ring) < 63  # cut back to 50 when it holds a quarter more
    assert 16 <= len(state.intervals) <= 16 + cleaner.refresh_every
    assert 24 <= len(state.returns) <= 24 + cleaner.refresh_every


def test_the_duplicate_set_exists_only_while_records_need_it() -> None:
    """Strictly newer ticks only fill the ring; the first record that could be a duplicate
    builds the set from the ring (and so finds a duplicate of a tick remembered without it);
    a whole ring of newer ticks later the set is dropped again. Decisions are the same."""
    cleaner = DataCleaner(CleanerConfig(dedupe_window=40))
    history = ticks(walk(100))
    assert [decision(r) for r in run(cleaner, history)] == [QUIET] * 100
    state = cleaner._feeds[_feed_key("price", "BTCUSDT")]
    assert state.fingerprints is None and len(remembered(cleaner, state)) == 40
    assert decision(cleaner.clean(replace(history[70]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(cleaner.clean(replace(history[59]))) == (REJECT_LATE, (LATE,))  # forgotten
    assert state.fingerprints == set(remembered(cleaner, state))
    more = ticks(walk(80, seed=8, start=history[-1].price), t0=history[-1].timestamp + 1.0)
    assert [decision(r) for r in run(cleaner, more[:39])] == [QUIET] * 39
    assert state.fingerprints == set(remembered(cleaner, state))  # kept up while it exists
    assert decision(cleaner.clean(replace(more[10]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert [decision(r) for r in run(cleaner, more[39:])] == [QUIET] * 41
    assert state.fingerprints is None
    assert decision(cleaner.clean(replace(more[-1]))) == (DROP_DUPLICATE, (DUPLICATE,))


def test_hand_made_records_out_of_the_validators_range_are_judged_as_ever() -> None:
    """Records the validator never makes (infinite prices, NaN timestamps, a list for a field)
    do not break the shortcuts of the common case: an infinite reference still makes the next
    ordinary price a spike; after a NaN timestamp a repeat is still a duplicate; an unhashable
    fingerprint, which nothing can equal, is no obstacle to judging later records."""
    cleaner = DataCleaner(CleanerConfig(spike_min_count=1))
    prices = [1.0, math.inf, 1.0]
    results = [cleaner.clean(Tick("A", p, 1.0, T0 + i)) for i, p in enumerate(prices)]
    assert decision(results[2]) == (QUARANTINE, (SPIKE,))

    cleaner = DataCleaner()
    stamps = [T0 + 100.0, math.nan, T0 + 50.0, T0 + 100.0]
    results = [cleaner.clean(Tick("A", 1.0, 1.0, ts)) for ts in stamps]
    assert decision(results[3]) == (DROP_DUPLICATE, (DUPLICATE,))

    cleaner = DataCleaner()
    odd = Tick("A", 1.0, 1.0, T0, exchange=["X"])  # type: ignore[arg-type]
    assert decision(cleaner.clean(odd)) == QUIET
    assert decision(cleaner.clean(Tick("A", 1.0, 2.0, T0))) == QUIET  # builds the set
    assert decision(cleaner.clean(Tick("A", 1.0, 2.0, T0))) == (DROP_DUPLICATE, (DUPLICATE,))


def test_a_trade_id_is_a_duplicate_whatever_its_timestamp() -> None:
    """Trades are known by their id, so a redelivery with a later timestamp is still caught,
    though it is newer than anything the feed has seen."""
    cleaner = DataCleaner()
    trades = [Trade("BTCUSDT", 100.0 + i * 0.01, 1.0, "buy", T0 + i, trade_id=str(i))
              for i in range(30)]  # fmt: skip
    assert [decision(r) for r in run(cleaner, trades)] == [QUIET] * 30
    later = replace(trades[5], timestamp=T0 + 100.0)
    assert decision(cleaner.clean(later)) == (DROP_DUPLICATE, (DUPLICATE,))


# -- events and pickling -------------------------------------------------------------------------


def test_event_to_dict_has_flat_fields_and_leaves_out_what_does_not_apply() -> None:
    """to_dict gives the type, feed, timestamp and only the detail fields that are set."""
    gap = FeedEvent(GAP, "BTCUSDT", "price", T0 + 30, previous_timestamp=T0, gap_s=30.0)
    assert gap.to_dict() == {
        "type": "gap",
        "symbol": "BTCUSDT",
        "kind": "price",
        "timestamp": T0 + 30,
        "previous_timestamp": T0,
        "gap_s": 30.0,
    }
    shift = FeedEvent(LEVEL_SHIFT, "X", "trade", T0, z=9.5, price=2.0, reference_price=1.0, count=3)
    assert shift.to_dict() == {
        "type": "level_shift",
        "symbol": "X",
        "kind": "trade",
        "timestamp": T0,
        "z": 9.5,
        "price": 2.0,
        "reference_price": 1.0,
        "count": 3,
    }


def mixed_series() -> list[Record]:
    """Two symbols, sentiment, and every kind of anomaly, in one interleaved stream."""
    records: list[Record] = []
    a = ticks(walk(300, seed=11), symbol="AAA")
    b = ticks(walk(300, seed=12, start=5.0), step_s=0.5, symbol="BBB")
    for i in range(300):
        records.append(a[i])
        records.append(b[i])
        if i % 10 == 0:
            records.append(Sentiment("AAA", (i % 7) / 7.0, T0 + i))
        if i == 80:
            records.append(replace(a[75]))  # duplicate
        if i == 90:
            records.append(replace(a[88], volume=9.0))  # out of order
        if i == 100:
            records.append(replace(a[50], volume=9.0))  # late
        if i == 120:
            records.append(replace(a[i], price=a[i].price * 1.3, volume=9.0))  # spike
    for i in range(200, 300):  # a gap and a level shift on BBB
        b[i].timestamp += 600.0
        b[i].price *= 1.25
    return records


def test_pickle_round_trip_continues_identically() -> None:
    """A cleaner restored from a pickle mid-stream decides exactly as the original."""
    records = mixed_series()
    original = DataCleaner()
    head = run(original, records[:400])
    assert {r.action for r in head} >= {ACCEPT, DROP_DUPLICATE, REJECT_LATE, QUARANTINE}
    restored = pickle.loads(pickle.dumps(original))
    assert restored.counts == original.counts
    tail_original = run(original, records[400:])
    tail_restored = run(restored, records[400:])
    assert tail_restored == tail_original
    assert restored.counts == original.counts
    kinds = Counter(e.type for r in head + tail_original for e in r.events)
    assert set(kinds) == set(FEED_EVENT_TYPES)


# -- real data -----------------------------------------------------------------------------------

TOLERANCE_S = 2.0  # the default reorder_tolerance_s
GAP_SHIFT_S = 3600.0
SPIKE_FACTOR = 1.05


@functools.cache
def btcusdt_trades() -> tuple[Trade, ...]:
    """Binance BTC/USDT trades; timestamps are ISO 8601 strings in UTC, ms resolution."""
    path = shared_data_path("nautilus_trader", "binance", "btcusdt-trades.csv")
    return tuple(r for r in read_records(path, "BTCUSDT") if isinstance(r, Trade))


@functools.cache
def xrpeth_trades() -> tuple[Trade, ...]:
    """Binance XRP/ETH trades from freqtrade: [ts_ms, id, type, side, price, amount, cost]."""
    path = shared_data_path("freqtrade", "XRP_ETH-trades.json.gz")
    return tuple(r for r in read_records(path, "XRPETH") if isinstance(r, Trade))


REAL_SERIES = {"btcusdt": btcusdt_trades, "xrpeth": xrpeth_trades}


@pytest.mark.shared_data
def test_real_series_are_read_with_the_right_time_unit() -> None:
    """The CSV's ISO stamps and the JSON's milliseconds both become epoch seconds."""
    btc = btcusdt_trades()
    assert btc[0].timestamp == datetime(2021, 1, 8, 0, 0, 0, 278000, tzinfo=UTC).timestamp()
    assert 40.0 < btc[-1].timestamp - btc[0].timestamp < 50.0  # 2001 trades in 46 s
    xrp = xrpeth_trades()
    assert xrp[0].timestamp == pytest.approx(1570752011.620)
    assert datetime.fromtimestamp(xrp[-1].timestamp, UTC).date().isoformat() == "2019-10-13"


@pytest.mark.shared_data
@pytest.mark.parametrize("series", sorted(REAL_SERIES))
def test_unplanted_real_trades_are_accepted_without_duplicates_or_spikes(series: str) -> None:
    """Real trades with their ids: no duplicate, reordering or spike, and few gaps."""
    records = REAL_SERIES[series]()
    cleaner = DataCleaner()
    results = run(cleaner, list(records))
    assert all(r.action == ACCEPT for r in results)
    flagged = Counter(e.type for r in results for e in r.events)
    assert set(flagged) <= {GAP}
    assert flagged[GAP] <= len(records) // 200  # thin XRP/ETH pauses now and then; BTC never
    for r in results:
        for e in r.events:  # ten times even a busy cadence is a long silence
            assert e.gap_s is not None
            assert e.gap_s > 10 * cleaner.min_gap_s


@dataclass
class Item:
    """A record of a planted series: where it came from, and what it must produce if planted."""

    record: Trade
    origin: int | None  # index in the real series; None for an inserted copy
    expected: Decision | None = None  # None: whatever the unplanted series produced


def is_quiet(baseline: list[Decision], first: int, last: int) -> bool:
    """Whether the real series left records first-5 .. last+5 unflagged."""
    return all(d == QUIET for d in baseline[max(0, first - 5) : last + 6])


def quiet_index(baseline: list[Decision], start: int) -> int:
    """The first index from ``start`` whose neighbourhood the real series left unflagged."""
    return next(i for i in range(start, len(baseline) - 10) if is_quiet(baseline, i, i))


def plant(
    records: tuple[Trade, ...], baseline: list[Decision], anomalies: set[str]
) -> tuple[list[Item], dict[str, int]]:
    """Plant the named anomalies in a copy of a real series, at quiet places far apart.

    Returns the planted items and the change each count must show against the baseline.
    """
    n = len(records)
    ts = [r.timestamp for r in records]
    items = [Item(r, i) for i, r in enumerate(records)]
    diff: Counter[str] = Counter()

    def position(origin: int) -> int:
        return next(p for p, item in enumerate(items) if item.origin == origin)

    # Value changes first, addressed by index in the real series.
    if "spike" in anomalies:  # one bad print, 5 % off
        s = quiet_index(baseline, n * 15 // 100)
        items[s].record = replace(records[s], price=records[s].price * SPIKE_FACTOR)
        items[s].expected = (QUARANTINE, (SPIKE,))
        diff.update({QUARANTINE: 1, SPIKE: 1, ACCEPT: -1})
    if "level_shift" in anomalies:  # every price from here on 5 % higher
        lvl = quiet_index(baseline, n * 25 // 100)
        for item in items[lvl:]:
            item.record = replace(item.record, price=item.record.price * SPIKE_FACTOR)
        items[lvl].expected = items[lvl + 1].expected = (QUARANTINE, (SPIKE,))
        items[lvl + 2].expected = (ACCEPT, (LEVEL_SHIFT,))
        diff.update({QUARANTINE: 2, SPIKE: 2, LEVEL_SHIFT: 1, ACCEPT: -2})
    if "gap" in anomalies:  # the feed falls silent for an hour
        g = quiet_index(baseline, n * 80 // 100)
        for item in items[g:]:
            item.record = replace(item.record, timestamp=item.record.timestamp + GAP_SHIFT_S)
        items[g].expected = (ACCEPT, (GAP,))
        diff.update({GAP: 1})
    # Then moves and copies.
    if "reorder" in anomalies:  # one trade delivered two trades late, within the tolerance
        j = quiet_index(baseline, n * 50 // 100)
        while not ts[j] < ts[j + 2] <= ts[j] + TOLERANCE_S / 2:
            j = quiet_index(baseline, j + 1)
        moved = items.pop(position(j))
        items.insert(position(j + 2) + 1, moved)
        moved.expected = (ACCEPT, (OUT_OF_ORDER,))
        diff.update({OUT_OF_ORDER: 1})
    if "late" in anomalies:  # one trade delivered more than the tolerance late
        m = quiet_index(baseline, n * 60 // 100)
        while True:  # it arrives after trade k, the first more than the tolerance newer
            k = next(i for i in range(m, n) if ts[i] > ts[m] + TOLERANCE_S + 1.0)
            if is_quiet(baseline, m, k):
                break
            m = quiet_index(baseline, m + 1)
        moved = items.pop(position(m))
        items.insert(position(k) + 1, moved)
        moved.expected = (REJECT_LATE, (LATE,))
        diff.update({REJECT_LATE: 1, LATE: 1, ACCEPT: -1})
    if "duplicate" in anomalies:  # one redelivered at once, one three trades later
        for start, delay in ((n * 35 // 100, 0), (n * 40 // 100, 3)):
            d = quiet_index(baseline, start)
            copy = Item(replace(items[position(d)].record), None, (DROP_DUPLICATE, (DUPLICATE,)))
            items.insert(position(d + delay) + 1, copy)
            diff.update({DROP_DUPLICATE: 1, DUPLICATE: 1})
    return items, {k: v for k, v in diff.items() if v}


ANOMALY_SETS = {
    "duplicate": {"duplicate"},
    "reorder": {"reorder"},
    "late": {"late"},
    "gap": {"gap"},
    "spike": {"spike"},
    "level_shift": {"level_shift"},
    "all": {"duplicate", "reorder", "late", "gap", "spike", "level_shift"},
}


@pytest.mark.shared_data
@pytest.mark.parametrize("anomalies", sorted(ANOMALY_SETS))
@pytest.mark.parametrize("series", sorted(REAL_SERIES))
def test_anomalies_planted_in_real_trades_are_each_caught_exactly(
    series: str, anomalies: str
) -> None:
    """Each planted anomaly is caught at its position; every other record decides as unplanted."""
    records = REAL_SERIES[series]()
    base_cleaner = DataCleaner()
    baseline = [decision(r) for r in run(base_cleaner, list(records))]
    items, expected_diff = plant(records, baseline, ANOMALY_SETS[anomalies])

    cleaner = DataCleaner()
    results = run(cleaner, [item.record for item in items])

    wrong = []
    for position, (item, result) in enumerate(zip(items, results, strict=True)):
        if item.expected is not None:
            want = item.expected
        else:
            assert item.origin is not None
            want = baseline[item.origin]
        if decision(result) != want:
            wrong.append((position, item.origin, decision(result), want))
    assert wrong == []
    diff = {
        key: cleaner.counts[key] - base_cleaner.counts[key]
        for key in cleaner.counts
        if cleaner.counts[key] != base_cleaner.counts[key]
    }
    assert diff == expected_diff

    # The events carry the planted quantities.
    for item, result in zip(items, results, strict=True):
        if item.expected is None:
            continue
        event = result.events[-1]
        if event.type == GAP:
            assert item.origin is not None
            real_gap = records[item.origin].timestamp - records[item.origin - 1].timestamp
            assert event.gap_s == pytest.approx(GAP_SHIFT_S + real_gap)
        elif event.type == SPIKE and anomalies == "spike":
            assert item.origin is not None
            assert event.reference_price == records[item.origin - 1].price
            assert event.price == pytest.approx(records[item.origin].price * SPIKE_FACTOR)
        elif event.type in (OUT_OF_ORDER, LATE):
            assert event.lag_s is not None
            assert event.previous_timestamp is not None
            assert event.lag_s == pytest.approx(event.previous_timestamp - item.record.timestamp)
            assert (event.lag_s <= TOLERANCE_S) == (event.type == OUT_OF_ORDER)


@pytest.mark.shared_data
def test_real_trades_survive_a_pickle_round_trip_mid_series() -> None:
    """Checkpointing halfway through the real XRP/ETH trades changes no decision."""
    records = list(xrpeth_trades())
    half = len(records) // 2
    original = DataCleaner()
    run(original, records[:half])
    restored = pickle.loads(pickle.dumps(original))
    assert run(restored, records[half:]) == run(original, records[half:])
    assert restored.counts == original.counts


RESTORE_AND_REPEAT = """
import pickle, sys
from data_feeds.validation.cleaner import DROP_DUPLICATE
cleaner, repeats = pickle.loads(sys.stdin.buffer.read())
print(",".join(cleaner.clean(r).action for r in repeats))
"""


@pytest.mark.parametrize("seed", ["1", "2"])
def test_a_cleaner_restored_in_another_process_still_knows_its_duplicates(seed: str) -> None:
    """A tick's fingerprint must not depend on the process (``hash`` of a str or of None
    does): redeliveries after a restart are the duplicates the ring is for."""
    cleaner = DataCleaner()
    history = [
        Tick("BTCUSDT", 100.0 + i, 1.0, T0 + i, bid=None if i % 2 else 99.0 + i,
             ask=None if i % 3 else 101.0 + i, exchange="binance" if i % 2 else None)
        for i in range(40)
    ]  # fmt: skip
    assert [decision(r) for r in run(cleaner, history)] == [QUIET] * 40
    repeats = [*history[30:], Tick("BTCUSDT", 140.5, 1.0, T0 + 39.5)]
    out = subprocess.run(
        [sys.executable, "-c", RESTORE_AND_REPEAT],
        input=pickle.dumps((cleaner, repeats)),
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
    )
    actions = out.stdout.decode().strip().split(",")
    assert actions == [DROP_DUPLICATE] * 10 + [ACCEPT]


def test_a_ring_pickled_with_tick_tuples_still_knows_its_duplicates() -> None:
    """Rings pickled before the fingerprint was a hash held each tick's content as a tuple."""
    cleaner = DataCleaner()
    history = [Tick("ETHUSDT", 10.0 + i, 1.0, T0 + i, exchange="kraken") for i in range(30)]
    run(cleaner, history)
    (feed,) = [f for _, f in cleaner.feeds_of("ETHUSDT")]
    feed.fingerprint_ring = deque(
        ((t.timestamp, t.price, t.volume, t.bid, t.ask, t.exchange) for t in history),
        maxlen=cleaner.dedupe_window,
    )  # as the previous version pickled it
    restored = pickle.loads(pickle.dumps(cleaner))
    assert decision(restored.clean(history[12])) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(restored.clean(replace(history[12], volume=2.0))) != (
        DROP_DUPLICATE,
        (DUPLICATE,),
    )


def test_a_ring_pickled_as_a_deque_of_hashes_restores_as_an_array_and_decides_the_same() -> None:
    """Rings pickled before a price feed's was an array were deques of the same hashes."""
    records = ticks(walk(400, seed=3))
    for i in range(5, 400, 9):  # repeats and stragglers keep the duplicate set in use
        records[i] = records[i - 3]
    cleaner = DataCleaner(CleanerConfig(dedupe_window=32, reorder_tolerance_s=10.0))
    run(cleaner, records[:200])
    (feed,) = [f for _, f in cleaner.feeds_of("BTCUSDT")]
    assert type(feed.fingerprint_ring) is array and feed.fingerprint_ring.typecode == "q"
    older = pickle.loads(pickle.dumps(cleaner))
    (old_feed,) = [f for _, f in older.feeds_of("BTCUSDT")]
    old_feed.fingerprint_ring = deque(remembered(older, old_feed), maxlen=32)  # as it was
    restored = pickle.loads(pickle.dumps(older))
    (new_feed,) = [f for _, f in restored.feeds_of("BTCUSDT")]
    assert type(new_feed.fingerprint_ring) is array
    assert remembered(restored, new_feed) == remembered(cleaner, feed)
    tail = [decision(r) for r in run(cleaner, records[200:])]
    assert [decision(r) for r in run(restored, records[200:])] == tail
    assert (DROP_DUPLICATE, (DUPLICATE,)) in tail


def test_feeds_handed_to_a_cleaner_with_a_shorter_window_remember_its_window() -> None:
    """``put_feeds`` cuts a ring (and its duplicate set) to the taking cleaner's window."""
    history = ticks(walk(100))
    giver = DataCleaner(CleanerConfig(dedupe_window=64, reorder_tolerance_s=1000.0))
    run(giver, history)
    giver.clean(replace(history[50]))  # a duplicate: the set is built
    taker = DataCleaner(CleanerConfig(dedupe_window=16, reorder_tolerance_s=1000.0))
    taker.put_feeds(giver.take_feeds("BTCUSDT"))
    (feed,) = [f for _, f in taker.feeds_of("BTCUSDT")]
    assert len(feed.fingerprint_ring) == 16 and feed.ring_mark <= 16  # its mark cut along
    assert feed.fingerprints == set(feed.fingerprint_ring)
    assert decision(taker.clean(replace(history[90]))) == (DROP_DUPLICATE, (DUPLICATE,))
    assert decision(taker.clean(replace(history[80]))) == (ACCEPT, (OUT_OF_ORDER,))  # forgotten


def test_feeds_handed_to_a_cleaner_with_a_longer_window_bring_only_what_was_remembered() -> None:
    """A price feed's array holds some fingerprints past its window until it is cut back; a
    cleaner with a longer window must not take those for remembered ones (found in review: a
    redelivery of a record remembered twice was let through)."""
    giver = DataCleaner(CleanerConfig(dedupe_window=12, reorder_tolerance_s=100.0))
    taker = DataCleaner(CleanerConfig(dedupe_window=16, reorder_tolerance_s=100.0))
    history = [Tick("BTCUSDT", 100.0, 1.0, T0 + i) for i in range(1, 14)]
    run(giver, history)  # the first tick is forgotten: 12 remembered, 13 in the array
    assert decision(giver.clean(history[0])) == (ACCEPT, (OUT_OF_ORDER,))  # remembered again
    taker.put_feeds(giver.take_feeds("BTCUSDT"))
    (feed,) = [f for _, f in taker.feeds_of("BTCUSDT")]
    assert len(feed.fingerprint_ring) == 12
    run(taker, [Tick("BTCUSDT", 100.0, 1.0, T0 + i) for i in range(14, 17)])
    assert decision(taker.clean(history[0])) == (DROP_DUPLICATE, (DUPLICATE,))


def test_windows_pickled_as_deques_of_floats_restore_as_arrays_and_decide_the_same() -> None:
    """A feed's inter-arrival times and returns were deques of floats before they were arrays
    of doubles (issue 15: 8 bytes a value instead of 32)."""
    records = mixed_series()
    cleaner = DataCleaner(CleanerConfig(cadence_window=32, spike_window=48))
    run(cleaner, records[:400])
    older = pickle.loads(pickle.dumps(cleaner))
    feeds = list(older._feeds.values())
    assert any(len(f.intervals) >= 32 for f in feeds) and any(len(f.returns) >= 48 for f in feeds)
    for feed in feeds:  # as the previous version pickled them
        feed.intervals = deque(feed.intervals[-32:], maxlen=32)  # type: ignore[assignment]
        feed.returns = deque(feed.returns[-48:], maxlen=48)  # type: ignore[assignment]
    restored = pickle.loads(pickle.dumps(older))
    for feed in restored._feeds.values():
        assert type(feed.intervals) is array and type(feed.returns) is array
    assert run(restored, records[400:]) == run(cleaner, records[400:])
    for feed in restored._feeds.values():
        assert len(feed.intervals) <= 32 + 32 and len(feed.returns) <= 48 + 32


def test_windows_are_cut_to_the_running_cleaners_lengths_when_refreshed() -> None:
    """A feed's windows are appended to per record and cut back to the last
    ``cadence_window`` / ``spike_window`` values of the cleaner that runs it when its
    statistics are refreshed (the only time they are read), whichever cleaner filled them."""
    history = ticks(walk(300))
    giver = DataCleaner(CleanerConfig(cadence_window=64, spike_window=64, refresh_every=8))
    run(giver, history[:200])
    (feed,) = [f for _, f in giver.feeds_of("BTCUSDT")]
    assert 64 <= len(feed.intervals) <= 64 + 8 and 64 <= len(feed.returns) <= 64 + 8
    taker = DataCleaner(CleanerConfig(cadence_window=16, spike_window=24, refresh_every=8))
    taker.put_feeds(giver.take_feeds("BTCUSDT"))
    returns = list(feed.returns)
    refreshes = 0
    for i in range(200, 300):
        before = feed.returns_countdown
        run(taker, [history[i]])
        returns.append(math.log(history[i].price) - math.log(history[i - 1].price))
        if before == 1:  # this record refreshed the spike statistics
            refreshes += 1
            assert list(feed.returns) == returns[-24:]
        if refreshes:
            assert len(feed.returns) <= 24 + 8
    assert refreshes >= 10
    assert len(feed.intervals) <= 16 + 8 and len(feed.returns) <= 24 + 8


def test_a_feed_handed_over_brings_only_the_windows_its_cleaner_remembered() -> None:
    """The cadence and return windows hold up to ``refresh_every`` values past their window
    between refreshes; a taker with longer windows must get the giver's last window only
    (found in review: otherwise what it took depended on the giver's refresh phase)."""
    history = ticks(walk(100))
    giver = DataCleaner(CleanerConfig(cadence_window=16, spike_window=16, refresh_every=8))
    run(giver, history[:-3])
    (feed,) = [f for _, f in giver.feeds_of("BTCUSDT")]
    expected = [math.log(b.price / a.price) for a, b in itertools.pairwise(history[:-3])]
    assert list(feed.intervals) == [1.0] * 16
    assert list(feed.returns) == pytest.approx(expected[-16:], rel=1e-12)
    taker = DataCleaner(CleanerConfig(cadence_window=64, spike_window=64, refresh_every=8))
    taker.put_feeds(giver.take_feeds("BTCUSDT"))
    run(taker, history[-3:])
    (taken,) = [f for _, f in taker.feeds_of("BTCUSDT")]
    assert len(taken.intervals) == len(taken.returns) == 16 + 3
