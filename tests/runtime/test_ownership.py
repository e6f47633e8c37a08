"""Ownership by leases (``runtime.ownership``) on a real Redis: who should serve a symbol, and
that a lease is held by one worker at a time."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.runtime.ownership import Ownership, rendezvous_owner

SYMBOLS = [f"S{i:03d}USDT" for i in range(600)]


def test_rendezvous_moves_only_what_the_new_member_takes() -> None:
    """Each symbol has one owner; a third member takes about a third of the symbols, all from
    the other two, and nothing else moves; removing it puts them back where they were."""
    two = {s: rendezvous_owner(s, ["worker-0", "worker-1"]) for s in SYMBOLS}
    three = {s: rendezvous_owner(s, ["worker-0", "worker-1", "worker-2"]) for s in SYMBOLS}
    moved = [s for s in SYMBOLS if two[s] != three[s]]
    assert all(three[s] == "worker-2" for s in moved)
    assert 150 < len(moved) < 250
    assert {s: rendezvous_owner(s, ["worker-1", "worker-0"]) for s in SYMBOLS} == two
    assert rendezvous_owner("X", []) is None


async def test_a_lease_is_held_by_one_worker_at_a_time(aclient: aredis.Redis) -> None:
    a = Ownership(aclient, "g", "worker-0", lease_s=3.0, tick_s=1.0)
    b = Ownership(aclient, "g", "worker-1", lease_s=3.0, tick_s=1.0)
    assert await a.acquire(["BTC", "ETH"]) == ["BTC", "ETH"]
    assert await b.acquire(["BTC", "SOL"]) == ["SOL"]
    assert await a.acquire(["BTC"]) == ["BTC"]  # already ours: kept
    assert await a.renew() == []
    await a.release(["BTC"])
    assert a.held == {"ETH"}
    assert await b.acquire(["BTC"]) == ["BTC"]
    await a.release(["SOL"])  # not ours: nothing happens
    assert await aclient.get(keys.lease_key("g", "SOL")) == b"worker-1"
    await aclient.delete(keys.lease_key("g", "ETH"))  # as if it expired
    await b.acquire(["ETH"])
    assert await a.renew() == ["ETH"] and a.held == set()


async def test_membership_expires_and_decides(aclient: aredis.Redis) -> None:
    """Live members are those that renewed within their lease; each computes the same split."""
    a = Ownership(aclient, "g", "worker-0", lease_s=3.0, tick_s=1.0)
    b = Ownership(aclient, "g", "worker-1", lease_s=3.0, tick_s=1.0)
    await a.heartbeat()
    assert await b.heartbeat() == ["worker-0", "worker-1"]
    await a.heartbeat()
    mine, theirs = a.desired(SYMBOLS), b.desired(SYMBOLS)
    assert mine.isdisjoint(theirs) and mine | theirs == set(SYMBOLS)
    await b.leave()
    assert await a.heartbeat() == ["worker-0"]
    assert a.desired(SYMBOLS) == set(SYMBOLS)
    stale = Ownership(aclient, "g", "worker-9", lease_s=3.0, tick_s=1.0)
    await stale.heartbeat()
    await aclient.zadd(keys.members_key("g"), {"worker-9": 1})  # its lease ran out long ago
    assert await a.heartbeat() == ["worker-0"]


async def test_an_expired_lease_is_free(aclient: aredis.Redis) -> None:
    a = Ownership(aclient, "g", "worker-0", lease_s=3.0, tick_s=1.0)
    await a.acquire(["BTC"])
    await aclient.pexpire(keys.lease_key("g", "BTC"), 50)
    await asyncio.sleep(0.1)
    b = Ownership(aclient, "g", "worker-1", lease_s=3.0, tick_s=1.0)
    assert await b.acquire(["BTC"]) == ["BTC"]


def test_tick_must_fit_the_lease(aclient: aredis.Redis) -> None:
    with pytest.raises(ValueError, match="tick_s"):
        Ownership(aclient, "g", "w", lease_s=3.0, tick_s=2.0)
