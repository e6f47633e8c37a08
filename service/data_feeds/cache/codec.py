"""How a record is laid out in a stream entry: one ``data`` field holding compact JSON.

One field keeps a read to a single ``orjson.loads``; the JSON is the documented public layout
(see ``records.*.to_dict``), so any publisher can ``XADD crypto_price:BTCUSDT * data '{...}'``.
Decoding goes through ``SchemaValidator``, which also reads flat-field layouts (cryptofeed's).
"""

from __future__ import annotations

import math
from typing import Final

import orjson

from data_feeds.records import Record

DATA_FIELD: Final = "data"
DATA_FIELD_B: Final = b"data"


def encode_fields(record: Record) -> dict[str, bytes]:
    """The field mapping to XADD for a record."""
    return {DATA_FIELD: orjson.dumps(record.to_dict())}


def as_text(value: object) -> str:
    """A Redis reply (bytes: our clients never decode) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def event_ms(record: Record) -> int:
    """The millisecond a stored record's entry id is given: its event time."""
    return math.floor(record.timestamp * 1000.0)


# History is stored at its event time: the entry id of a record is ``<event ms>-<seq>``, or
# just after the stream's newest id when the stream is already past that time (ids only grow;
# such a record keeps its order of storing), and never later than the server's clock (a
# record stamped in the future is stored at "now": auto ids never run ahead of the clock
# either, and the live merge relies on it). So the arrival order every processing path
# replays (``data_feeds.arrival``) is the records' time order, and importing streams one after
# the other interleaves them as they happened. Live publishers append with ``*`` (arrival =
# when Redis got it). One Lua function, shared by both scripts below.
_APPEND_AT_FUNCTION: Final = """
local tops = {}
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function top_of(key)
  if redis.call('EXISTS', key) == 0 then return {-1, 0} end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local id = info[i + 1]
      local dash = string.find(id, '-', 1, true)
      return {tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))}
    end
  end
  return {-1, 0}
end
local function append_at(key, ms, maxlen, fields)
  local top = tops[key] or top_of(key)
  local seq = 0
  if ms > now_ms then  -- never ahead of the server's clock (the live merge waits for it)
    ms = now_ms
  end
  if ms <= top[1] then
    ms = top[1]
    seq = top[2] + 1
  end
  if ms < 0 then  -- a message without a time, first in a new stream: now
    ms = now_ms
  end
  local id = string.format('%.0f-%.0f', ms, seq)
  redis.call('XADD', key, 'MAXLEN', '~', maxlen, id, unpack(fields))
  tops[key] = {ms, seq}
  return id
end
"""

APPEND_AT: Final = (
    _APPEND_AT_FUNCTION
    + """
-- KEYS: each message's stream; ARGV[1]: MAXLEN; then per message its event ms (-1: none,
-- append after the stream's newest), its number of fields and the field names and values.
local ids = {}
local i = 2
for k = 1, #KEYS do
  local n = tonumber(ARGV[i + 1])
  local fields = {}
  for f = 1, 2 * n do
    fields[f] = ARGV[i + 1 + f]
  end
  ids[k] = append_at(KEYS[k], tonumber(ARGV[i]), ARGV[1], fields)
  i = i + 2 + 2 * n
end
return ids
"""
)

IMPORT_AT: Final = (
    _APPEND_AT_FUNCTION
    + """
-- KEYS[1]: the stream, KEYS[2]: the set of fingerprints imported into it; ARGV[1]: MAXLEN;
-- then per record its fingerprint, event ms and data field. A fingerprint seen before is
-- skipped (re-imports add nothing); the number appended is returned.
local added = 0
for i = 2, #ARGV, 3 do  -- fingerprint recorded after the append: a failed one stays new
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then
    append_at(KEYS[1], tonumber(ARGV[i + 1]), ARGV[1], {'data', ARGV[i + 2]})
    redis.call('SADD', KEYS[2], ARGV[i])
    added = added + 1
  end
end
return added
"""
)
