"""How a record is laid out in a stream entry: one ``data`` field holding compact JSON.

One field keeps a read to a single ``orjson.loads``; the JSON is the documented public layout
(see ``records.*.to_dict``), so any publisher can ``XADD crypto_price:BTCUSDT * data '{...}'``.
Decoding goes through ``SchemaValidator``, which also reads flat-field layouts (cryptofeed's).
"""

from __future__ import annotations

from typing import Final

import orjson

from data_feeds.records import Record

DATA_FIELD: Final = "data"
DATA_FIELD_B: Final = b"data"


def encode_fields(record: Record) -> dict[str, bytes]:
    """The field mapping to XADD for a record."""
    return {DATA_FIELD: orjson.dumps(record.to_dict())}
