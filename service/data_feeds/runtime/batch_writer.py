"""BatchWriter: a batch's outputs and its acknowledgements, in one MULTI/EXEC.

Signals, DLQ entries, quarantined ticks and feed events are written in the same transaction
that acknowledges the batch's entries, so an entry is never acknowledged without its outputs
(at-least-once, DESIGN §5). A transaction Redis refuses (a command refused as it is queued:
OOM, ACL, a lost connection) writes nothing. MULTI/EXEC does not roll back, though: a command
that fails as it runs (a key of the wrong type) leaves the others written. A batch whose write fails
(Redis down, a failover) stays ``pending`` here and is written again, before anything new is
read, by ``flush``; the state it was computed from is never applied twice.

On a Redis Cluster (``cache.clients``) a transaction or a script may not span hash slots, and a
batch's keys are in many. There the outputs are written first and the acknowledgements after,
each step one cluster pipeline (redis-py sends every node its share), the scripts called once
per slot (EVAL: a replica promoted by a failover has no script cache). At-least-once holds: an
entry is acknowledged only after its outputs are in. A worker that dies between the two steps,
or a step that fails after some nodes applied it, leaves entries pending that are processed
again: their signals are written twice, each copy carrying the same ``signal_id`` (the input
stream and entry id), so a duplicate is recognisable and bounded by one batch per failure.
The step that completed is not repeated when the batch is written again (``flush``).

Two Lua scripts keep the per-command client cost down (the limit for a Python consumer,
DESIGN §9): one XADD per signal and one XACK per stream would cost a round of parsing each.
Their SHA1s are loaded once and forgotten after an outage (a restarted Redis has no scripts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.cache.clients import is_cluster
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
        self.cluster = is_cluster(client)
        self._outputs_written = False
        """On a cluster: the pending batch's outputs are in, its acknowledgements not yet."""

    async def write(self, result: BatchResult) -> None:
        """Write one batch; it stays ``pending`` if the write raises."""
        if result is not self.pending:
            self._outputs_written = False
        self.pending = result
        t0 = time.perf_counter()
        if self.cluster:
            await self._write_by_slot(result)
        else:
            await self._write_atomically(result)
        written = time.time()
        self.pending = None
        self.on_written(result, time.perf_counter() - t0, written)

    async def _write_atomically(self, result: BatchResult) -> None:
        """One Redis: outputs and acknowledgements in one MULTI/EXEC."""
        if not self._shas:
            for name, script in (("xadd", XADD_MANY), ("xack", XACK_MANY)):
                sha = await self.redis.script_load(script)
                self._shas[name] = sha.decode() if isinstance(sha, bytes) else str(sha)
        async with self.redis.pipeline(transaction=True) as pipe:
            if result.signals:
                keys_, args = zip(*result.signals, strict=True)
                pipe.evalsha(self._shas["xadd"], len(keys_), *keys_, self.signals_maxlen, *args)
            self._queue_side_outputs(pipe, result)
            if result.acks:
                ack_args = self._ack_args(result.acks)
                pipe.evalsha(self._shas["xack"], len(result.acks), *result.acks, *ack_args)
            await pipe.execute()

    async def _write_by_slot(self, result: BatchResult) -> None:
        """A cluster: the outputs (scripts per slot), then the acknowledgements (per slot)."""
        if not self._outputs_written:
            async with self.redis.pipeline(transaction=False) as pipe:
                signals: dict[int, tuple[list[str], list[bytes | str | int]]] = {}
                for key, data in result.signals:
                    slot_keys, args = signals.setdefault(keys.hash_slot(key), ([], []))
                    slot_keys.append(key)
                    args.append(data)
                for slot_keys, args in signals.values():
                    pipe.eval(XADD_MANY, len(slot_keys), *slot_keys, self.signals_maxlen, *args)
                self._queue_side_outputs(pipe, result)
                await pipe.execute()
            self._outputs_written = True
        if result.acks:
            async with self.redis.pipeline(transaction=False) as pipe:
                for acks in keys.by_slot(result.acks):
                    pipe.eval(XACK_MANY, len(acks), *acks, *self._ack_args(acks))
                await pipe.execute()
        self._outputs_written = False

    def _ack_args(self, acks: Mapping[str, list[bytes]]) -> list[str | bytes | int]:
        """XACK_MANY's ARGV for ``acks`` (stream -> ids): per stream its group, count, ids."""
        args: list[str | bytes | int] = []
        for stream, ids in acks.items():
            args += (self.group_for(stream), len(ids), *ids)
        return args

    @staticmethod
    def _queue_side_outputs(pipe: Any, result: BatchResult) -> None:
        """The DLQ, quarantine and event entries of a batch, queued on ``pipe``."""
        for key, fields in result.dlq:
            pipe.xadd(key, fields, maxlen=OUTPUT_MAXLEN, approximate=True)
        for key, data in result.quarantine:
            pipe.xadd(key, {"data": data}, maxlen=OUTPUT_MAXLEN, approximate=True)
        for data in result.events:
            pipe.xadd(keys.EVENTS_FEED, {"data": data}, maxlen=OUTPUT_MAXLEN, approximate=True)

    async def flush(self) -> None:
        """Write the pending batch, if there is one."""
        if self.pending is not None:
            await self.write(self.pending)

    def drop_pending(self) -> None:
        """Forget the pending batch: its entries are still pending in Redis and come back
        (a retry of start-up, where the state it was computed from is about to be restored)."""
        self.pending = None
        self._outputs_written = False

    def forget_scripts(self) -> None:
        """After an outage: load the scripts again before the next write."""
        self._shas.clear()
