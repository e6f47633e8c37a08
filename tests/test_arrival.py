"""The one processing order and ArrivalMerge, without Redis: what is released, in which order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from data_feeds.arrival import ArrivalMerge, RawEntry, arrival_key, by_arrival

Log = dict[str, list[tuple[bytes, object]]]


def make_log(times: dict[str, list[int]]) -> Log:
    """Per stream, entries with ids ``<ms>-<seq>`` at the given milliseconds (sorted)."""
    out: Log = {}
    for stream, ms in times.items():
        seqs: dict[int, int] = {}
        entries = []
        for t in sorted(ms):
            seqs[t] = seqs.get(t, -1) + 1
            entries.append((f"{t}-{seqs[t]}".encode(), {b"data": stream.encode()}))
        out[stream] = entries
    return out


def drain(log: Log, page: int, *, live_clock: int | None = None) -> list[RawEntry]:
    """Read every stream to its end through the merge, as the replay (stored ranges) or, with
    ``live_clock`` (the server's ms, past every entry), as the live read does."""
    merge = ArrivalMerge(page)
    cursor = dict.fromkeys(log, 0)
    out: list[RawEntry] = []
    for _ in range(10_000):
        readable = merge.readable(log)
        pages = {}
        for stream in readable:
            pages[stream] = log[stream][cursor[stream] : cursor[stream] + page]
            cursor[stream] += len(pages[stream])
        if live_clock is None:
            for stream, got in pages.items():
                merge.add_range(stream, got, exhausted=cursor[stream] == len(log[stream]))
        else:
            merge.add_read(readable, {k: v for k, v in pages.items() if v}, live_clock)
        out += merge.release()
        if all(cursor[s] == len(log[s]) for s in log) and not merge:
            assert merge.late == 0
            return out
    raise AssertionError("the merge made no progress")


def ids(entries: list[RawEntry]) -> list[bytes]:
    return [e[1] for e in entries]


def test_the_order_is_ms_then_stream_then_sequence() -> None:
    entries: list[RawEntry] = [("b", b"5-0", None), ("a", b"5-1", None), ("a", b"4-0", None),
                               ("a", b"5-0", None), ("b", b"3-7", None)]  # fmt: skip
    assert [(e[0], e[1]) for e in by_arrival(entries)] == [
        ("b", b"3-7"), ("a", b"4-0"), ("a", b"5-0"), ("a", b"5-1"), ("b", b"5-0")]  # fmt: skip
    assert arrival_key("s", "17-3") == arrival_key("s", b"17-3") == (17, "s", 3)


def test_a_full_page_bounds_the_release_by_its_last_entry() -> None:
    merge = ArrivalMerge(page=2)
    assert merge.readable(["a", "b"]) == ["a", "b"]
    merge.add_range("a", [(b"10-0", {}), (b"20-0", {})], exhausted=False)
    merge.add_range("b", [(b"15-0", {}), (b"30-0", {})], exhausted=False)
    assert ids(merge.release()) == [b"10-0", b"15-0", b"20-0"]
    assert merge.held_ids("b") == {b"30-0"} and len(merge) == 1
    assert merge.readable(["a", "b"]) == ["a", "b"]
    merge.add_range("a", [(b"40-0", {})], exhausted=True)
    merge.add_range("b", [], exhausted=True)
    assert ids(merge.release()) == [b"30-0", b"40-0"] and not merge


def test_a_stream_with_a_page_held_is_not_read_and_bounds_the_release() -> None:
    merge = ArrivalMerge(page=2)
    merge.readable(["a", "b"])
    merge.add_range("a", [(b"1-0", {}), (b"2-0", {})], exhausted=False)
    merge.add_range("b", [(b"50-0", {}), (b"60-0", {})], exhausted=False)
    assert ids(merge.release()) == [b"1-0", b"2-0"]
    assert merge.readable(["a", "b"]) == ["a"]  # "b" holds a full page
    merge.add_range("a", [(b"55-0", {}), (b"70-0", {})], exhausted=False)
    assert ids(merge.release()) == [b"50-0", b"55-0", b"60-0"]


def test_live_entries_wait_until_the_server_clock_has_passed_them() -> None:
    """A read that was not full has delivered everything below the server's time: entries
    of that millisecond or later wait, however long it takes anything else to arrive."""
    merge = ArrivalMerge(page=10)
    merge.readable(["a", "b"])
    merge.add_read(["a", "b"], {"a": [(b"100-0", {}), (b"101-0", {})]}, server_ms=101)
    assert ids(merge.release()) == [b"100-0"]  # "b" might still get an entry at 101
    merge.readable(["a", "b"])
    merge.add_read(["a", "b"], {"b": [(b"101-0", {})]}, server_ms=101)
    assert merge.release() == []
    merge.readable(["a", "b"])
    merge.add_read(["a", "b"], {}, server_ms=102)
    assert [(e[0], e[1]) for e in merge.release()] == [("a", b"101-0"), ("b", b"101-0")]


def test_an_entry_below_what_was_released_is_late_and_counted() -> None:
    merge = ArrivalMerge(page=10)
    merge.readable(["a"])
    merge.add_read(["a"], {"a": [(b"100-0", {})]}, server_ms=200)
    assert ids(merge.release()) == [b"100-0"]
    merge.readable(["a", "new"])  # a stream discovered late, with older entries
    merge.add_read(["a", "new"], {"new": [(b"50-0", {}), (b"150-0", {})]}, server_ms=300)
    assert ids(merge.release()) == [b"50-0", b"150-0"] and merge.late == 1


def test_take_all_and_clear() -> None:
    merge = ArrivalMerge(page=5)
    merge.readable(["a"])
    merge.add_read(["a"], {"a": [(b"12-0", {})]}, server_ms=12)
    assert merge.release() == []
    assert ids(merge.take_all()) == [b"12-0"] and not merge
    merge.readable(["a"])
    merge.add_read(["a"], {"a": [(b"13-0", {})]}, server_ms=13)
    merge.clear()
    assert not merge and merge.release() == []


@settings(max_examples=200, deadline=None)
@given(
    times=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.lists(st.integers(0, 60), max_size=40),
        min_size=1,
    ),
    page=st.integers(1, 8),
)
def test_a_backlog_comes_out_in_the_one_order_each_entry_once(
    times: dict[str, list[int]], page: int
) -> None:
    """Read page by page from streams of any rates, as stored ranges or live, the merge
    releases every entry once and in exactly the order of ``by_arrival`` over all of them."""
    log = make_log(times)
    everything = by_arrival([(s, i, f) for s, entries in log.items() for i, f in entries])  # type: ignore[misc]
    expected = [(e[0], e[1]) for e in everything]
    assert [(e[0], e[1]) for e in drain(log, page)] == expected
    assert [(e[0], e[1]) for e in drain(log, page, live_clock=61)] == expected


def test_an_id_ahead_of_the_clock_completes_nothing() -> None:
    """A read's bound is the server's clock, never an id it returned: an entry stamped ahead
    of the clock (an explicit id) waits for the clock without holding back the others."""
    merge = ArrivalMerge(page=10)
    merge.readable(["a", "b"])
    merge.add_read(["a", "b"], {"a": [(b"500-0", {})], "b": [(b"90-0", {})]}, server_ms=100)
    assert ids(merge.release()) == [b"90-0"] and merge.first_held_ms() == 500
    merge.readable(["a", "b"])
    merge.add_read(["a", "b"], {"b": [(b"120-0", {})]}, server_ms=130)
    assert ids(merge.release()) == [b"120-0"] and merge.late == 0
    merge.hold([("b", b"95-0", None)])  # delivered again after an outage
    merge.readable(["a", "b"])
    merge.add_read(["a", "b"], {}, server_ms=501)
    assert ids(merge.release()) == [b"95-0", b"500-0"] and merge.first_held_ms() is None
