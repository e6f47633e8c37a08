"""Ownership: which worker serves which symbol, decided while running (``--ownership leases``).

With ``static`` ownership (the default) a worker owns ``crc32(symbol) % worker_count ==
worker_index`` and the count is fixed for the life of the workers. With ``leases`` the workers
agree on it through Redis, so a StatefulSet scaled from 2 to 3 and back (by hand or by an
autoscaler) hands symbols over with their state:

- **Membership.** Each worker keeps its name in ``keys.members_key(group)`` (a sorted set:
  name -> expiry, ms of the server clock) and renews it every ``tick_s``; the live members are
  those not expired.
- **Who should serve a symbol.** Rendezvous hashing: the live member ``m`` with the highest
  ``blake2b(m + "/" + symbol)`` (not crc32: it is linear, so two names that differ in one
  character rank the symbols alike and a new member would take its share from one worker).
  Every worker computes the same answer from the same members; a worker joining or leaving
  moves only the symbols it gains or loses (about 1/n).
- **Who does serve it.** A worker serves a symbol only while it holds the symbol's lease
  (``keys.lease_key``: ``SET NX PX``, the value its name), renewed every tick by a
  compare-and-PEXPIRE; nobody else can take it until it is released or expired. The holder of
  a symbol that should now be another's finishes what it read, checkpoints the symbol's state
  (``Checkpointer.save_symbol``) and only then releases the lease (compare-and-DEL); the new
  owner acquires it at its next tick, restores that state and continues.

Bounds (``tick_s`` = 1 s, ``lease_s`` = 10 s by default): a handover between live workers
leaves a symbol unserved for at most two ticks plus the time to save and load its state (the
holder sees the new member at its next tick, the new owner acquires at its own next tick); a
worker that dies (kill -9, a lost node) holds its symbols until their leases expire, so they
go unserved for at most ``lease_s + tick_s``. Two workers never serve a symbol at once while
each renews within its lease: a worker whose renewal finds the lease gone stops serving the
symbol at once; one stalled longer than ``lease_s`` (a frozen VM) may still finish the batch
it was computing when it wakes, before its next renewal tells it, and that batch's signals
are duplicates recognisable by their ``signal_id``.

Why leases rather than a static hash with a handover protocol: a static hash needs every worker
to switch to the new count at the same moment, which a StatefulSet scaled by an autoscaler
cannot tell its pods; leases in the Redis that already holds the log make each handover an
explicit, checkable step, with no coordinator of our own.

Each Redis call here touches one key, so it works the same on one Redis and on a cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final

import redis.asyncio as aredis
import structlog

from data_feeds.cache import keys
from data_feeds.cache.codec import as_text

log = structlog.get_logger(__name__)

STATIC: Final = "static"
LEASES: Final = "leases"
OWNERSHIP_MODES: Final = (STATIC, LEASES)

# KEYS[1]: the lease; ARGV[1]: our name; ARGV[2]: lease ms. 1 when we hold it afterwards.
ACQUIRE: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def rendezvous_owner(symbol: str, members: Iterable[str]) -> str | None:
    """The member that should serve ``symbol``: highest ``blake2b(member/symbol)`` (ties: the
    greater name); ``None`` without members."""
    best: tuple[bytes, str] | None = None
    for member in members:
        score = (hashlib.blake2b(f"{member}/{symbol}".encode(), digest_size=8).digest(), member)
        if best is None or score > best:
            best = score
    return None if best is None else best[1]


class Ownership:
    """One worker's membership and symbol leases (see the module doc).

    ``name``: the worker's name (unique among live workers: its consumer name);
    ``lease_s``: how long a lease lasts unrenewed; ``tick_s``: how often ``heartbeat`` and
    ``renew`` run (at most a third of ``lease_s``).
    """

    def __init__(
        self, client: aredis.Redis, group: str, name: str, *, lease_s: float, tick_s: float
    ) -> None:
        if not 0.0 < tick_s <= lease_s / 3.0:
            raise ValueError(f"tick_s must be in (0, lease_s / 3], got {tick_s!r}")
        self.redis: Any = client
        self.group = group
        self.name = name
        self.lease_ms = int(lease_s * 1000)
        self.tick_s = tick_s
        self.members_key = keys.members_key(group)
        self.held: set[str] = set()
        """Symbols whose lease this worker holds."""
        self.members: list[str] = []
        """The live members at the last heartbeat."""
        self._owners: dict[str, str] = {}
        """Symbol -> the member that should serve it, for ``_owners_for``."""
        self._owners_for: list[str] = []

    def _lease(self, symbol: str) -> str:
        return keys.lease_key(self.group, symbol)

    async def heartbeat(self) -> list[str]:
        """Renew this worker's membership; the live members, sorted."""
        seconds, micros = await self.redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.members_key, {self.name: now_ms + self.lease_ms})
            pipe.zremrangebyscore(self.members_key, "-inf", now_ms)
            pipe.zrangebyscore(self.members_key, now_ms, "+inf")
            *_, live = await pipe.execute()
        self.members = sorted(as_text(m) for m in live)
        return self.members

    def desired(self, symbols: Iterable[str]) -> set[str]:
        """Of ``symbols``, those this worker should serve given the last heartbeat's members
        (each symbol's owner is hashed once per membership, not at every tick)."""
        members = self.members or [self.name]
        if members != self._owners_for:
            self._owners, self._owners_for = {}, list(members)
        owners = self._owners
        mine = set()
        for s in symbols:
            owner = owners.get(s)
            if owner is None:
                owner = owners[s] = rendezvous_owner(s, members) or self.name
            if owner == self.name:
                mine.add(s)
        return mine

    async def _each(self, script: str, symbols: list[str]) -> list[bool]:
        if not symbols:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for symbol in symbols:
                pipe.eval(script, 1, self._lease(symbol), self.name, self.lease_ms)
            return [bool(r) for r in await pipe.execute()]

    async def acquire(self, symbols: Iterable[str]) -> list[str]:
        """Take the leases of ``symbols`` that are free (or already ours); the ones taken."""
        wanted = sorted(symbols)
        got = [s for s, ok in zip(wanted, await self._each(ACQUIRE, wanted), strict=True) if ok]
        self.held.update(got)
        return got

    async def renew(self) -> list[str]:
        """Renew every held lease; the symbols whose lease was lost (no longer held)."""
        held = sorted(self.held)
        lost = [s for s, ok in zip(held, await self._each(RENEW, held), strict=True) if not ok]
        self.held.difference_update(lost)
        if lost:
            log.warning("symbol_leases_lost", symbols=len(lost), first=lost[0])
        return lost

    async def release(self, symbols: Iterable[str]) -> None:
        """Give up the leases of ``symbols`` (their state must be saved first)."""
        gone = sorted(set(symbols) & self.held)
        await self._each(RELEASE, gone)
        self.held.difference_update(gone)

    async def leave(self) -> None:
        """Release every lease and leave the membership (a clean shutdown)."""
        await self.release(list(self.held))
        await self.redis.zrem(self.members_key, self.name)
