"""Redis keys: every one is built in ``cache.keys``, and nothing else in the package spells one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from data_feeds.cache import keys
from data_feeds.records import PRICE, SENTIMENT, TRADE

PACKAGE = Path(keys.__file__).resolve().parent.parent
KEYS_MODULE = Path(keys.__file__).resolve()

_PREFIXES = "|".join(
    re.escape(p)
    for p in (*keys.OUTPUT_PREFIXES, *(p.strip("{}") for p in keys.OUTPUT_PREFIXES), SENTIMENT,
              "_price", "_trade", "_book")
)  # fmt: skip
"""The namespaces as spelt now (``{models}``) and before hash tags (``models``)."""
KEY_LITERAL = re.compile(rf"^(?:\*|[*a-z0-9_]*(?:{_PREFIXES})):(?!\s|//)")
"""A string that starts like a key or a key pattern: ``signals:``, ``crypto_price:``,
``*_price:``, ``*:``. A colon followed by a space (``"faults: 3"``) or ``//`` (a URL) is prose."""


def _constant_name(node: ast.expr) -> bool:
    """Whether ``node`` names a constant (``SIGNALS``, ``keys.MODELS``): a key prefix, here."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return bool(name) and name.isupper()


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the module's, classes' and functions' docstring nodes (prose, not keys)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def hand_built_keys(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal in ``source`` that spells out a Redis key."""
    tree = ast.parse(source)
    prose = _docstrings(tree)  # and below, the text pieces of f-strings (judged as a whole)
    prose.update(id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for i, part in enumerate(parts):
                if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                    continue
                text = part.value
                before = parts[i - 1] if i > 0 else None
                glued = (  # f"{SIGNALS}:{symbol}": a prefix constant glued to a ':' by hand
                    isinstance(before, ast.FormattedValue)
                    and _constant_name(before.value)
                    and text.startswith(":")
                    and not text[1:2].isspace()
                )
                if (i == 0 and KEY_LITERAL.match(text)) or glued:
                    found.append((node.lineno, ast.unparse(node)))
                    break
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in prose and KEY_LITERAL.match(node.value):
                found.append((node.lineno, repr(node.value)))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            colon = any(isinstance(n, ast.Constant) and n.value == ":" for n in sides)
            if colon and any(_constant_name(n) for n in sides):  # SIGNALS + ":"
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_module_outside_cache_keys_spells_a_key() -> None:
    """No module but cache/keys.py has a key literal, a key f-string or a hand-glued ':'."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if path.resolve() == KEYS_MODULE:
            continue
        for line, text in hand_built_keys(path.read_text(encoding="utf-8")):
            offenders.append(f"{name}:{line}: {text}")
    assert offenders == [], "build these keys in cache/keys.py:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        'KEY = "signals:BTCUSDT"',
        'pattern = "sentiment:*"',
        'x = f"*_price:{symbol}"',
        'x = f"*:{symbol}"',
        'x = f"crypto_trade:{symbol}"',
        'x = f"{SIGNALS}:{symbol}"',
        'x = SIGNALS + ":" + symbol',
        'x = f"models:blob:{version}"',
        'x = "sim:faults"',
    ],
)
def test_the_scan_catches_hand_built_keys(source: str) -> None:
    """Every way of spelling a key out by hand is caught."""
    assert hand_built_keys(source)


@pytest.mark.parametrize(
    "source",
    [
        'def f():\n    """Reads signals:{SYMBOL} streams."""',
        'msg = f"faults: {n} labelled"',
        'url = "redis://localhost:6379"',
        'x = f"{name}: {value}"',
        'x = f"{host}:{port}"',
        'x = {"signals": 1, "metrics": 2}',
        'x = "data_feeds_signals_total"',
    ],
)
def test_the_scan_leaves_prose_alone(source: str) -> None:
    """Docstrings, messages with ': ', URLs and plain words are not keys."""
    assert hand_built_keys(source) == []


def test_keys_read_as_documented() -> None:
    """The builders give the documented key names (the literals are the assertion)."""
    assert keys.stream_key("crypto", PRICE, "BTCUSDT") == "crypto_price:BTCUSDT"
    assert keys.stream_key("", SENTIMENT, "BTC") == "sentiment:BTC"
    assert keys.signals_key("BTCUSDT") == "signals:BTCUSDT"
    assert keys.dlq_key("crypto_price:BTCUSDT") == "dlq:crypto_price:BTCUSDT"
    assert keys.quarantine_key("BTCUSDT") == "quarantine:BTCUSDT"
    assert keys.checkpoint_key("data-feeds", "w0") == "checkpoint:data-feeds:w0"
    assert keys.EVENTS_FEED == "events:feed"
    assert keys.model_meta_key("v3") == "{models}:meta:v3"
    assert keys.model_blob_key("v3") == "{models}:blob:v3"
    assert keys.MODELS_CHAMPION == "{models}:champion"
    assert keys.dataset_key("ab") == "{training}:dataset:ab"
    assert keys.dataset_rows_key("ab") == "{training}:dataset:ab:rows"
    assert keys.training_run_key("run-1") == "{training}:run:run-1"
    assert keys.TRAINING_DECISIONS == "{training}:decisions"
    assert keys.imported_key("crypto_trade:XRPETH") == "research:imported:{crypto_trade:XRPETH}"
    assert keys.RESEARCH_FEED_REPORT_LATEST == "research:feed_report:latest"
    assert keys.RESEARCH_EVALUATIONS == "research:evaluations"
    assert keys.METRICS_DEMO_LATEST == "{metrics}:demo:latest"
    assert keys.SIM_FAULTS == "sim:faults"
    assert keys.SIGNALS_STREAMS == "signals:*"
    assert keys.SENTIMENT_STREAMS == "sentiment:*"
    assert keys.price_streams("BTCUSDT") == "*_price:BTCUSDT"
    assert keys.symbol_streams("BTCUSDT") == "*:BTCUSDT"


def test_only_input_streams_parse_as_streams() -> None:
    """Output and state keys are never taken for input streams."""
    for key in (
        keys.signals_key("BTCUSDT"),
        keys.EVENTS_FEED,
        keys.SIM_FAULTS,
        keys.model_blob_key("v1"),
        keys.dataset_rows_key("ab"),
    ):
        assert keys.parse_stream_key(key) is None
    info = keys.parse_stream_key(keys.stream_key("equity", TRADE, "AAPL"))
    assert info is not None and (info.kind, info.symbol, info.asset_class) == (
        TRADE,
        "AAPL",
        "equity",
    )
    assert keys.is_signals_key("signals:BTCUSDT") and not keys.is_signals_key("crypto_price:X")


def test_hash_slots_follow_redis() -> None:
    """``hash_slot`` is Redis Cluster's: CRC16 of the hash tag (checked against CLUSTER KEYSLOT's
    documented values), and keys written together share a slot."""
    assert keys.hash_slot("foo") == 12182  # the cluster spec's example values
    assert keys.hash_slot("{user1000}.following") == keys.hash_slot("{user1000}.followers")
    assert keys.hash_tag("a{}b") == "a{}b" and keys.hash_tag("x{y}z{w}") == "y"
    for ns in keys.TAGGED_NAMESPACES:  # a namespace's keys are in one slot
        assert len({keys.hash_slot(k) for k in (f"{ns}:a", f"{ns}:b:c")}) == 1
    stream = keys.stream_key("crypto", PRICE, "BTCUSDT")
    assert keys.hash_slot(keys.imported_key(stream)) == keys.hash_slot(stream)
    tagged = "crypto_price:{BTCUSDT}"
    assert keys.hash_slot(keys.imported_key(tagged)) == keys.hash_slot(tagged)
    assert keys.model_blob_key("v1") != keys.MODELS_CHAMPION
    assert keys.hash_slot(keys.MODELS_CHAMPION) == keys.hash_slot(keys.model_blob_key("v1"))


def test_a_hash_tagged_symbol_is_the_symbol() -> None:
    """A publisher may tag its streams (``crypto_price:{BTCUSDT}``): the symbol is BTCUSDT."""
    info = keys.parse_stream_key("crypto_price:{BTCUSDT}")
    assert info is not None and (info.kind, info.symbol) == (PRICE, "BTCUSDT")
    assert keys.parse_stream_key("crypto_price:{}") is not None  # not a tag: kept as written


def test_by_slot_groups_keys_a_command_may_touch_together() -> None:
    tagged = {"a{x}": 1, "b": 2, "c{x}": 3}
    groups = keys.by_slot(tagged)
    assert groups[0] == {"a{x}": 1, "c{x}": 3} and {"b": 2} in groups and len(groups) == 2
    for group in groups:
        assert len({keys.hash_slot(k) for k in group}) == 1
