"""Every Redis key the package reads or writes, built in one place.

Input streams (one per kind and symbol; the stream is both the live log and the history):
    ``{asset_class}_{kind}:{SYMBOL}``   e.g. ``crypto_price:BTCUSDT``, ``equity_trade:AAPL``
    ``sentiment:{KEYWORD}``
Foreign layouts read through adapters:
    cryptofeed's Redis Streams backend: ``{channel}-{EXCHANGE}-{SYMBOL}`` e.g.
    ``trades-BINANCE-BTC-USDT``, ``book-KRAKEN-ETH-USD``.
Outputs: ``signals:{SYMBOL}``, ``dlq:{source stream}``, ``quarantine:{SYMBOL}``, ``events:feed``;
state: ``{models}:*``, ``{training}:*``, ``research:*``, ``{backtest}:*``, ``{metrics}:*``,
``checkpoint:*``, ``owner:*`` (worker membership and symbol leases); the simulator's fault
manifest ``sim:faults``.

Redis Cluster (``cache.clients``) places a key by the CRC16 of its hash tag, the text between
the first ``{`` and the next ``}``, or of the whole key without one (``hash_slot``), and refuses
a transaction or script over keys of several slots. So the namespaces written together in one
transaction (a model version's blob, metadata and index; a dataset and its index; a backtest
run and its list; a demo summary and its list) carry their name as a hash tag (``{models}``),
which keeps each in one slot; and a key that goes with one stream (``imported_key``) carries the
stream's own tag. Input streams keep the names publishers give them (``crypto_price:BTCUSDT``,
cryptofeed's ``trades-BINANCE-BTC-USDT``): the service reads and acknowledges them slot by slot
and needs nothing in common between them. A publisher may still tag its streams
(``crypto_price:{BTCUSDT}``): the braces are not part of the symbol. Before the tags (0.x),
these namespaces were spelt without braces; ``cache.migrate`` renames such keys once.

Each prefix is a constant and each key a constant or a small builder here (as arq keeps its
``job_key_prefix`` and kin); nothing else in the package spells a key out by hand
(``tests/cache/test_keys.py`` scans the package for key literals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from redis.crc import key_slot as _key_slot

from data_feeds.records import BOOK, PRICE, SENTIMENT, TRADE, Record, Sentiment

V = TypeVar("V")

SEP: Final = ":"

SIGNALS: Final = "signals"
DLQ: Final = "dlq"
QUARANTINE: Final = "quarantine"
EVENTS: Final = "events"
MODELS: Final = "{models}"
TRAINING: Final = "{training}"
RESEARCH: Final = "research"
BACKTEST: Final = "{backtest}"
METRICS: Final = "{metrics}"
CHECKPOINT: Final = "checkpoint"
OWNER: Final = "owner"
LEGACY: Final = "legacy"
SIM: Final = "sim"

TAGGED_NAMESPACES: Final = (MODELS, TRAINING, BACKTEST, METRICS)
"""The namespaces kept in one hash slot each (see the module doc)."""

# Prefixes under which nothing is an input stream, so pattern scans can skip them.
OUTPUT_PREFIXES: Final = (
    SIGNALS,
    DLQ,
    QUARANTINE,
    EVENTS,
    MODELS,
    TRAINING,
    RESEARCH,
    METRICS,
    CHECKPOINT,
    OWNER,
    LEGACY,
    SIM,
)


def _join(*parts: str) -> str:
    return SEP.join(parts)


# -- outputs -----------------------------------------------------------------------------------
EVENTS_FEED: Final = _join(EVENTS, "feed")
"""Stream of feed events (gaps, duplicates, out-of-order, late, spikes, level shifts)."""
SIGNALS_STREAMS: Final = _join(SIGNALS, "*")
"""Glob of every signal stream."""

# -- {models}:* (learning_layer.registry) --------------------------------------------------------
MODELS_VERSION_SEQ: Final = _join(MODELS, "version_seq")
"""INCR counter behind the version numbers."""
MODELS_VERSIONS: Final = _join(MODELS, "versions")
"""ZSET version -> number."""
MODELS_CHAMPION: Final = _join(MODELS, "champion")
"""The champion's version."""
MODELS_CHAMPION_STACK: Final = _join(MODELS, "champion_stack")
"""LIST of previous champions, newest last (rollback targets)."""
MODELS_HISTORY: Final = _join(MODELS, "history")
"""LIST of JSON events, newest first."""

# -- {training}:* (learning_layer.training, learning_layer.retraining) ---------------------------
TRAINING_DATASETS: Final = _join(TRAINING, "datasets")
"""ZSET dataset fingerprint -> creation time."""
TRAINING_RUN_SEQ: Final = _join(TRAINING, "run_seq")
"""INCR counter behind run ids."""
TRAINING_RUNS: Final = _join(TRAINING, "runs")
"""LIST of run summaries (JSON), newest first."""
TRAINING_DECISIONS: Final = _join(TRAINING, "decisions")
"""LIST of retraining decisions (JSON), newest first."""

# -- research:* (learning_layer.research, learning_layer.evaluation) ---------------------------
RESEARCH_IMPORTS: Final = _join(RESEARCH, "imports")
RESEARCH_FEED_REPORT_LATEST: Final = _join(RESEARCH, "feed_report", "latest")
RESEARCH_FEED_REPORTS: Final = _join(RESEARCH, "feed_reports")
RESEARCH_EVALUATION_LATEST: Final = _join(RESEARCH, "evaluation", "latest")
RESEARCH_EVALUATIONS: Final = _join(RESEARCH, "evaluations")

# -- {backtest}:* (learning_layer.backtest) -----------------------------------------------------
BACKTEST_RUN_SEQ: Final = _join(BACKTEST, "run_seq")
"""INCR counter behind backtest run ids."""
BACKTEST_RUNS: Final = _join(BACKTEST, "runs")
"""LIST of backtest summaries (JSON: parameters, fingerprints, per-fold and total figures),
newest first."""

# -- {metrics}:* (cli.demo) ------------------------------------------------------------------
METRICS_DEMO_LATEST: Final = _join(METRICS, "demo", "latest")
METRICS_DEMO_RUNS: Final = _join(METRICS, "demo", "runs")

# -- sim:* (simulation) ------------------------------------------------------------------------
SIM_FAULTS: Final = _join(SIM, "faults")
"""Stream of the faults an injector put into a simulated feed (its manifest)."""

LEGACY_SENTINELS: Final = tuple(
    key.replace("{", "").replace("}", "")
    for key in (MODELS_VERSION_SEQ, TRAINING_RUN_SEQ, TRAINING_DATASETS, BACKTEST_RUN_SEQ,
                METRICS_DEMO_LATEST)
)  # fmt: skip
"""Keys of the spelling before hash tags (``models:version_seq``) every such store has one of
(``cache.migrate``)."""

# cryptofeed channel name -> our kind. Candles carry a close price, so they read as price ticks.
CRYPTOFEED_CHANNELS: Final = {
    "trades": TRADE,
    "ticker": PRICE,
    "candles": PRICE,
    "book": BOOK,
    "l2_book": BOOK,
}


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a stream key says about the messages in it."""

    kind: str
    symbol: str
    asset_class: str | None
    layout: str  # "native" or "cryptofeed"
    exchange: str | None = None


def normalize_symbol(symbol: str) -> str:
    """``btc-usdt`` / ``BTC/USDT`` / ``BTC_USDT`` -> ``BTCUSDT`` (dots are kept: ``BRK.B``)."""
    return symbol.upper().replace("-", "").replace("/", "").replace("_", "").replace(":", "")


def stream_key(asset_class: str, kind: str, symbol: str) -> str:
    """The input stream of one kind of record for one symbol, e.g. ``crypto_price:BTCUSDT``."""
    if kind == SENTIMENT:
        return _join(SENTIMENT, symbol)
    return _join(f"{asset_class}_{kind}", symbol)


def record_stream(record: Record) -> str:
    """The stream a record is stored in."""
    if isinstance(record, Sentiment):
        return stream_key("", SENTIMENT, record.keyword)
    return stream_key(record.asset_class, record.kind, record.symbol)


def symbol_streams(symbol: str) -> str:
    """Glob of every input stream of one symbol (any kind and asset class)."""
    return _join("*", symbol)


def price_streams(symbol: str) -> str:
    """Glob of one symbol's price streams (any asset class), e.g. ``*_price:BTCUSDT``."""
    return stream_key("*", PRICE, symbol)


SENTIMENT_STREAMS: Final = stream_key("", SENTIMENT, "*")
"""Glob of every sentiment stream."""


def signals_key(symbol: str) -> str:
    return _join(SIGNALS, symbol)


def is_signals_key(key: str) -> bool:
    """Whether ``key`` is a signal stream (``signals:{SYMBOL}``)."""
    return key.startswith(SIGNALS + SEP)


def dlq_key(stream: str) -> str:
    return _join(DLQ, stream)


def quarantine_key(symbol: str) -> str:
    return _join(QUARANTINE, symbol)


def checkpoint_key(group: str, worker: str) -> str:
    """A worker's state (``runtime.checkpointer``); with leases, its part shared by all its
    symbols (the model, sentiment)."""
    return _join(CHECKPOINT, group, worker)


def legacy_key(old: str) -> str:
    """Where ``cache.migrate`` keeps a key of the old spelling whose new name was taken."""
    return _join(LEGACY, old)


def symbol_checkpoint_key(group: str, symbol: str) -> str:
    """With leases (``runtime.ownership``), one symbol's state, whoever serves it."""
    return _join(CHECKPOINT, group, "symbol", symbol)


def members_key(group: str) -> str:
    """ZSET of the live workers of a group: name -> lease expiry (ms, server clock)."""
    return _join(OWNER, group, "members")


def lease_key(group: str, symbol: str) -> str:
    """The lease on serving one symbol: the holder's name, with an expiry."""
    return _join(OWNER, group, "lease", symbol)


def model_meta_key(version: str) -> str:
    """JSON metadata of one model version."""
    return _join(MODELS, "meta", version)


def model_blob_key(version: str) -> str:
    """The signed blob of one model version."""
    return _join(MODELS, "blob", version)


def dataset_key(fingerprint: str) -> str:
    """JSON metadata of one dataset (rows, symbols, span, features, stats)."""
    return _join(TRAINING, "dataset", fingerprint)


def dataset_rows_key(fingerprint: str) -> str:
    """The zlib-compressed JSON rows of one dataset."""
    return _join(TRAINING, "dataset", fingerprint, "rows")


def backtest_run_key(run_id: str) -> str:
    """JSON of one backtest run."""
    return _join(BACKTEST, "run", run_id)


def training_run_key(run_id: str) -> str:
    """JSON of one training run."""
    return _join(TRAINING, "run", run_id)


def imported_key(stream: str) -> str:
    """The set of fingerprints of the records imported into ``stream``; in the stream's hash
    slot (the import script writes both)."""
    return _join(RESEARCH, "imported", colocated(stream))


def hash_tag(key: str) -> str:
    """The part of ``key`` Redis Cluster hashes: its hash tag, else the whole key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def colocated(key: str) -> str:
    """A hash tag that puts a key in ``key``'s slot: ``{crypto_price:BTCUSDT}``."""
    return "{" + hash_tag(key) + "}"


def by_slot(mapping: Mapping[str, V]) -> list[dict[str, V]]:
    """``mapping`` split into one dict per hash slot of its keys (what one command or script
    may touch on a Redis Cluster), in the order the slots first appear."""
    groups: dict[int, dict[str, V]] = {}
    for key, value in mapping.items():
        groups.setdefault(hash_slot(key), {})[key] = value
    return list(groups.values())


def hash_slot(key: str | bytes) -> int:
    """The Redis Cluster hash slot of ``key`` (CRC16/XMODEM of ``hash_tag``, mod 16384)."""
    return _key_slot(key.encode() if isinstance(key, str) else key)


def parse_stream_key(key: str) -> StreamInfo | None:
    """Read kind, symbol and asset class off an input stream key; ``None`` if it is not one."""
    head, sep, tail = key.partition(SEP)
    if sep:
        if not tail or head in OUTPUT_PREFIXES or SEP in tail:
            return None
        if tail[0] == "{" and tail[-1] == "}" and len(tail) > 2:  # a hash-tagged symbol
            tail = tail[1:-1]
        if head == SENTIMENT:
            return StreamInfo(kind=SENTIMENT, symbol=tail, asset_class=None, layout="native")
        asset_class, us, kind = head.rpartition("_")
        if not us or not asset_class or kind not in (PRICE, TRADE, BOOK):
            return None
        return StreamInfo(kind=kind, symbol=tail, asset_class=asset_class, layout="native")
    channel, dash, rest = key.partition("-")
    cf_kind = CRYPTOFEED_CHANNELS.get(channel)
    if not dash or cf_kind is None:
        return None
    exchange, dash, symbol = rest.partition("-")
    if not dash or not exchange or not symbol:
        return None
    return StreamInfo(
        kind=cf_kind,
        symbol=normalize_symbol(symbol),
        asset_class=None,
        layout="cryptofeed",
        exchange=exchange,
    )
