"""errors.classify: every failure sorted into bad input, transient, missing group or fatal."""

from __future__ import annotations

import socket

import pytest
import redis
import redis.exceptions as rex

from data_feeds.errors import (
    REDIS_DOWN,
    TRANSIENT_ERRORS,
    TRANSIENT_REPLIES,
    CheckpointRejected,
    ConfigError,
    Failure,
    InvalidMessage,
    PublishError,
    classify,
)


def test_invalid_input_is_bad_input() -> None:
    """An InvalidMessage is bad input, whatever its reason."""
    assert classify(InvalidMessage("malformed_json", "no")) is Failure.BAD_INPUT
    assert classify(InvalidMessage("delivery_limit")) is Failure.BAD_INPUT


@pytest.mark.parametrize(
    "exc",
    [
        rex.ConnectionError("Connection closed by server."),
        rex.TimeoutError("Timeout reading from socket"),
        rex.BusyLoadingError("Redis is loading the dataset in memory"),
        rex.AuthenticationError("invalid password"),  # a ConnectionError to redis-py
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(32, "Broken pipe"),
        TimeoutError(),
        OSError(113, "No route to host"),
        rex.ReadOnlyError("You can't write against a read only replica."),
        rex.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        rex.ExecAbortError("Transaction discarded because of previous errors."),
        rex.NoScriptError("No matching script. Please use EVAL."),
        rex.MasterDownError("Link with MASTER is down and replica-serve-stale-data is set to no"),
        rex.TryAgainError("Multiple keys request during rehashing of slot"),
        rex.ClusterDownError("The cluster is down"),
        rex.ResponseError("BUSY Redis is busy running a script."),
        rex.ResponseError("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
        rex.ResponseError("CLUSTERDOWN Hash slot not served"),
        rex.ResponseError(
            "Command # 2 (EVALSHA abc 1 k) of pipeline caused error: BUSY Redis is busy"
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_outages_and_not_now_replies_are_transient(exc: BaseException) -> None:
    """Connection loss, timeouts and the "not now" replies (redis-py's classes or codes)."""
    assert classify(exc) is Failure.TRANSIENT


def test_every_listed_reply_code_is_transient() -> None:
    """Each code in TRANSIENT_REPLIES, as a plain ResponseError carries it, is transient."""
    for code in TRANSIENT_REPLIES:
        assert classify(rex.ResponseError(f"{code} not now")) is Failure.TRANSIENT
    for cls in TRANSIENT_ERRORS:
        assert classify(cls("")) is Failure.TRANSIENT
    for down in REDIS_DOWN:
        assert classify(down()) is Failure.TRANSIENT


@pytest.mark.parametrize(
    "exc",
    [
        rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        rex.ResponseError("ERR unknown command 'FOO'"),
        rex.ResponseError("BUSYGROUP Consumer Group name already exists"),
        rex.ResponseError("BUSYKEY Target key name already exists."),
        rex.NoPermissionError("this user has no permissions to run the 'xadd' command"),
        rex.MovedError("3999 127.0.0.1:6381"),
        rex.DataError("Invalid input of type: 'dict'."),
        rex.WatchError("Watched variable changed."),
        CheckpointRejected("bad signature"),
        ConfigError("DATA_FEEDS_BATCH_SIZE=0"),
        PublishError("XADD to s failed: WRONGTYPE"),
        ValueError("bug"),
        KeyError("bug"),
        KeyboardInterrupt(),
    ],
    ids=lambda e: f"{type(e).__name__}:{str(e)[:10]}",
)
def test_anything_else_is_fatal(exc: BaseException) -> None:
    """Replies meaning "never", our own non-input errors and plain bugs are fatal."""
    assert classify(exc) is Failure.FATAL


def test_a_real_nogroup_reply_is_a_missing_group(redis_client: redis.Redis) -> None:
    """XREADGROUP on a group that does not exist: the reply the consumer rediscovers on."""
    redis_client.xadd("crypto_price:NOGROUPTEST", {"data": b"{}"})
    with pytest.raises(rex.ResponseError) as caught:
        redis_client.xreadgroup("no-such-group", "c", {"crypto_price:NOGROUPTEST": ">"})
    assert classify(caught.value) is Failure.MISSING_GROUP
    pipe = redis_client.pipeline(transaction=False)
    pipe.xreadgroup("no-such-group", "c", {"crypto_price:NOGROUPTEST": ">"})
    with pytest.raises(rex.ResponseError) as in_pipeline:
        pipe.execute()
    assert classify(in_pipeline.value) is Failure.MISSING_GROUP


def test_real_replies_sort_as_their_codes_say(redis_client: redis.Redis) -> None:
    """A real NOSCRIPT is transient; real WRONGTYPE and BUSYGROUP replies are fatal."""
    with pytest.raises(rex.NoScriptError) as noscript:
        redis_client.evalsha("0" * 40, 0)
    assert classify(noscript.value) is Failure.TRANSIENT
    redis_client.set("errors:plain", b"x")
    with pytest.raises(rex.ResponseError) as wrongtype:
        redis_client.xadd("errors:plain", {"data": b"{}"})
    assert classify(wrongtype.value) is Failure.FATAL
    redis_client.xgroup_create("errors:stream", "g", id="0", mkstream=True)
    with pytest.raises(rex.ResponseError) as busygroup:
        redis_client.xgroup_create("errors:stream", "g", id="0")
    assert classify(busygroup.value) is Failure.FATAL


def test_a_real_connection_failure_is_transient() -> None:
    """Connecting to a closed port fails with an error sorted as transient."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = redis.Redis(port=port, socket_connect_timeout=1.0)
    try:
        with pytest.raises(rex.ConnectionError) as caught:
            client.ping()
    finally:
        client.close()
    assert classify(caught.value) is Failure.TRANSIENT


def test_failures_read_as_their_names() -> None:
    """Failure values are plain strings, for logs and metric labels."""
    assert [str(f) for f in Failure] == ["bad_input", "transient", "missing_group", "fatal"]
