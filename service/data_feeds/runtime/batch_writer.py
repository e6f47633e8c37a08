"""BatchWriter: a batch's outputs and its acknowledgements, in one MULTI/EXEC.

Signals, DLQ entries, quarantined ticks and feed events are written in the same transaction
that acknowledges the batch's entries, so an entry is never acknowledged without its outputs
(at-least-once, DESIGN §5). A transaction Redis refuses (a command refused as it is queued:
OOM, ACL, a lost connection) writes nothing. MULTI/EXEC does not roll back, though: a command
that fails as it runs (a key of the wrong type) leaves the others written. A batch whose write fails
(Redis down, a failover) stays ``pending`` here and is written again, before anything new is
read, by ``flush``; the state it was computed from is never applied twice.

Two Lua scripts keep the per-command client cost down (the limit for a Python consumer,
DESIGN §9): one XADD per signal and one XACK per stream would cost a round of parsing each.
Their SHA1s are loaded once and forgotten after an outage (a restarted Redis has no scripts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.checks import check_int
from data_feeds.runtime.pipeline import BatchResult

OUTPUT_MAXLEN: Final = 100_000
"""Approximate cap of the DLQ, quarantine and event streams."""

# One command for all of a batch's signals: per-command client cost, not Redis, is what limits
# a Python consumer (DESIGN §9: ~22k ticks/s with one XADD per signal, ~39k with one command).
# KEYS: the signal streams; ARGV[1]: MAXLEN; ARGV[i + 1]: the i-th signal's JSON.
XADD_MANY: Final = """
local maxlen = ARGV[1]
for i = 1, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', maxlen, '*', 'data', ARGV[i + 1])
end
return #KEYS
"""

# One command for all of a batch's acknowledgements. KEYS: the input streams; ARGV: for each
# stream in turn its group, the number of ids, then the ids.
XACK_MANY: Final = """
local i, acked = 1, 0
for k = 1, #KEYS do
  local group, count = ARGV[i], tonumber(ARGV[i + 1])
  local first, last = i + 2, i + 1 + count
  while first <= last do  -- slices: unpack() is limited by Lua's stack (~8000 values)
    local upto = math.min(first + 999, last)
    acked = acked + redis.call('XACK', KEYS[k], group, unpack(ARGV, first, upto))
    first = upto + 1
  end
  i = i + 2 + count
end
return acked
"""

Written = Callable[[BatchResult, float, float], None]
"""Called after a batch is written: (the batch, seconds the write took, epoch s written at)."""


class BatchWriter:
    """Writes batches; holds the one that failed until it is written.

    ``group_for``: the consumer group a stream's entries are acknowledged in.
    ``signals_maxlen``: approximate cap of each ``signals:{SYMBOL}`` stream.
    ``on_written``: told of every batch once it is in Redis.
    """

    def __init__(
        self,
        client: aredis.Redis,
        *,
        group_for: Callable[[str], str],
        signals_maxlen: int,
        on_written: Written,
    ) -> None:
        # redis-py types replies as unions over every decode setting; ours are always bytes.
        self.redis: Any = client
        self.group_for = group_for
        self.signals_maxlen = check_int("signals_maxlen", signals_maxlen)
        self.on_written = on_written
        self.pending: BatchResult | None = None
        """The batch computed but not yet in Redis (its write failed, or is under way)."""
        self._shas: dict[str, str] = {}

    async def write(self, result: BatchResult) -> None:
        """Write one batch; it stays ``pending`` if the write raises."""
        self.pending = result
        t0 = time.perf_counter()
        if not self._shas:
            for name, script in (("xadd", XADD_MANY), ("xack", XACK_MANY)):
                sha = await self.redis.script_load(script)
                self._shas[name] = sha.decode() if isinstance(sha, bytes) else str(sha)
        async with self.redis.pipeline(transaction=True) as pipe:
            if result.signals:
                keys_, args = zip(*result.signals, strict=True)
                pipe.evalsha(self._shas["xadd"], len(keys_), *keys_, self.signals_maxlen, *args)
            for key, fields in result.dlq:
                pipe.xadd(key, fields, maxlen=OUTPUT_MAXLEN, approximate=True)
            for key, data in result.quarantine:
                pipe.xadd(key, {"data": data}, maxlen=OUTPUT_MAXLEN, approximate=True)
            for data in result.events:
                pipe.xadd(keys.EVENTS_FEED, {"data": data}, maxlen=OUTPUT_MAXLEN, approximate=True)
            ack_args: list[str | bytes | int] = []
            for stream, ids in result.acks.items():
                ack_args += (self.group_for(stream), len(ids), *ids)
            if result.acks:
                pipe.evalsha(self._shas["xack"], len(result.acks), *result.acks, *ack_args)
            await pipe.execute()
        written = time.time()
        self.pending = None
        self.on_written(result, time.perf_counter() - t0, written)

    async def flush(self) -> None:
        """Write the pending batch, if there is one."""
        if self.pending is not None:
            await self.write(self.pending)

    def drop_pending(self) -> None:
        """Forget the pending batch: its entries are still pending in Redis and come back
        (a retry of start-up, where the state it was computed from is about to be restored)."""
        self.pending = None

    def forget_scripts(self) -> None:
        """After an outage: load the scripts again before the next write."""
        self._shas.clear()
