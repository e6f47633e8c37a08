"""ArrivalMerge without Redis: what it releases, and in which order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from data_feeds.runtime.arrival import ArrivalMerge, arrival_ms, by_arrival
from data_feeds.runtime.pipeline import RawEntry

Log = dict[str, list[tuple[bytes, object]]]


def make_log(times: dict[str, list[int]]) -> Log:
    """Per stream, entries with ids ``<ms>-<seq>`` at the given (sorted) milliseconds."""
    out: Log = {}
    for stream, ms in times.items():
        seqs: dict[int, int] = {}
        entries = []
        for t in sorted(ms):
            seqs[t] = seqs.get(t, -1) + 1
            entries.append((f"{t}-{seqs[t]}".encode(), {b"data": stream.encode()}))
        out[stream] = entries
    return out


def drain(log: Log, page: int) -> list[list[RawEntry]]:
    """Read every stream to its end through the merge as the consumer does; each release."""
    merge = ArrivalMerge(page)
    cursor = dict.fromkeys(log, 0)
    releases = []
    for _ in range(10_000):
        for stream in merge.readable(log):
            got = log[stream][cursor[stream] : cursor[stream] + page]
            cursor[stream] += len(got)
            merge.add(stream, got)
        releases.append(merge.release())
        if all(cursor[s] == len(log[s]) for s in log) and not merge:
            return releases
    raise AssertionError("the merge made no progress")


def test_releases_up_to_the_earliest_open_stream_and_holds_the_rest() -> None:
    merge = ArrivalMerge(page=2)
    assert merge.readable(["a", "b"]) == ["a", "b"]
    merge.add("a", [(b"10-0", {}), (b"20-0", {})])  # full page: "a" may hold more after 20
    merge.add("b", [(b"15-0", {}), (b"30-0", {})])  # full page, up to 30
    out = merge.release()
    assert [e[1] for e in out] == [b"10-0", b"15-0", b"20-0"]
    assert merge.held_ids("b") == {b"30-0"} and len(merge) == 1
    # next round: "a" returns a short page, "b" is readable (one held): nothing is open
    assert merge.readable(["a", "b"]) == ["a", "b"]
    merge.add("a", [(b"40-0", {})])
    assert [e[1] for e in merge.release()] == [b"30-0", b"40-0"]
    assert not merge


def test_a_stream_with_a_page_held_is_not_read_and_bounds_the_release() -> None:
    merge = ArrivalMerge(page=2)
    merge.readable(["a", "b"])
    merge.add("a", [(b"1-0", {}), (b"2-0", {})])
    merge.add("b", [(b"50-0", {}), (b"60-0", {})])
    assert [e[1] for e in merge.release()] == [b"1-0", b"2-0"]
    # "b" holds a full page: it is left out and counts as open up to 60
    assert merge.readable(["a", "b"]) == ["a"]
    merge.add("a", [(b"55-0", {}), (b"70-0", {})])
    assert [e[1] for e in merge.release()] == [b"50-0", b"55-0", b"60-0"]
    # a round that adds nothing still releases up to the stream left out, then the rest
    assert merge.readable(["a", "b"]) == ["a", "b"]
    assert [e[1] for e in merge.release()] == [b"70-0"]


def test_take_all_and_clear() -> None:
    merge = ArrivalMerge(page=1)
    merge.readable(["a", "b"])
    merge.add("b", [(b"9-0", {})])
    merge.add("a", [(b"3-0", {})])
    assert [e[1] for e in merge.release()] == [b"3-0"]
    merge.readable(["a", "b"])
    merge.add("a", [(b"12-0", {})])
    merge.release()
    assert [e[1] for e in merge.take_all()] == [b"12-0"] and not merge
    merge.readable(["a"])
    merge.add("a", [(b"13-0", {})])
    merge.clear()
    assert not merge and merge.release() == []


def test_by_arrival_is_stable_within_a_millisecond() -> None:
    entries: list[RawEntry] = [("b", b"5-0", None), ("a", b"5-1", None), ("a", b"4-0", None)]
    assert [(e[0], e[1]) for e in by_arrival(entries)] == [("a", b"4-0"), ("b", b"5-0"),
                                                           ("a", b"5-1")]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    times=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.lists(st.integers(0, 60), max_size=40),
        min_size=1,
    ),
    page=st.integers(1, 8),
)
def test_a_whole_backlog_comes_out_in_arrival_order_each_entry_once(
    times: dict[str, list[int]], page: int
) -> None:
    """Read page by page from streams of any rates, the merge releases every entry once, in
    non-decreasing arrival order overall, each stream's own order kept."""
    log = make_log(times)
    out = [e for release in drain(log, page) for e in release]
    assert sorted((e[0], e[1]) for e in out) == sorted(
        (s, i) for s, entries in log.items() for i, _ in entries
    )
    ms = [arrival_ms(e) for e in out]
    assert ms == sorted(ms)
    for stream, entries in log.items():
        assert [e[1] for e in out if e[0] == stream] == [i for i, _ in entries]
