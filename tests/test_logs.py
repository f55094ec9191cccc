"""The log allowlist: whoever logs, no raw value reaches a line."""

import asyncio
import io
import logging

import orjson
import pytest

from collector import logs

SECRET_IP = "203.0.113.77"


@pytest.fixture
def captured():
    stream = io.StringIO()
    logs.setup_logging(logging.INFO)
    root = logging.getLogger()
    root.handlers[0].setStream(stream)
    yield stream
    logs.count_protocol_errors(None)


def lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("name", ["aiohttp.server", "aiohttp.web", "asyncio", "urllib3", "clickhouse_connect", "chdb", "somelib"])
def test_third_party_messages_with_values_are_withheld(captured, name):
    logger = logging.getLogger(name)
    logger.error("Error handling request from %s", SECRET_IP)
    logger.error(f"preformatted {SECRET_IP} with a header X-Forwarded-For: {SECRET_IP}")
    logger.warning("row: %r", {"ip": SECRET_IP})
    try:
        raise ValueError(f"bad input {SECRET_IP}")
    except ValueError:
        logger.exception("failed on %s", SECRET_IP)
    out = captured.getvalue()
    assert SECRET_IP not in out
    entries = lines(captured)
    assert len(entries) == 4 and all(e["logger"] == name for e in entries)
    assert entries[-1]["error"] == "ValueError"


def test_aiohttp_protocol_errors_are_counted_and_logged_without_the_address(captured):
    reasons = []
    logs.count_protocol_errors(reasons.append)
    from aiohttp.http_exceptions import BadHttpMethod, InvalidURLError, LineTooLong

    server = logging.getLogger("aiohttp.server")
    for exc in (LineTooLong(b"x" * 10, 8190), InvalidURLError(SECRET_IP)):
        server.error("Error handling request from %s", SECRET_IP, exc_info=exc)
    server.debug("Error handling request from %s", SECRET_IP, exc_info=BadHttpMethod(SECRET_IP))
    assert reasons == ["line_too_long", "invalid_url_error", "bad_http_method"]
    entries = lines(captured)
    assert [e["msg"] for e in entries] == ["malformed or failed HTTP request"] * 2  # the debug one counted, not shown
    assert SECRET_IP not in captured.getvalue()


def test_own_messages_keep_fields_but_exception_text_is_dropped(captured):
    log = logging.getLogger("spii.test")
    try:
        raise RuntimeError(f"Code: 27. Cannot parse input: {SECRET_IP}")
    except RuntimeError:
        log.warning("ship failed", extra={"fields": {"segment": "abc"}}, exc_info=True)
    (entry,) = lines(captured)
    assert entry == {**entry, "msg": "ship failed", "segment": "abc", "error": "RuntimeError"}
    assert SECRET_IP not in captured.getvalue()


def test_asyncio_task_reprs_and_thread_crashes_are_withheld(captured):
    async def boom(secret):
        raise KeyError(secret)

    loop = asyncio.new_event_loop()
    task = loop.create_task(boom(SECRET_IP))
    loop.run_until_complete(asyncio.sleep(0))
    del task  # "Task exception was never retrieved" + the task's repr, from asyncio's logger
    loop.close()
    import gc
    import threading

    gc.collect()
    thread = threading.Thread(target=lambda: (_ for _ in ()).throw(ValueError(SECRET_IP)))
    thread.start()
    thread.join()
    out = captured.getvalue()
    assert SECRET_IP not in out
    assert '"error":"ValueError"' in out


def test_a_repeated_error_is_one_line_a_minute_with_the_count_withheld(captured):
    now = [1000.0]
    limit = logs.RepeatLimit(clock=lambda: now[0])
    handler = logging.getLogger().handlers[0]
    handler.filters[:] = [limit]
    log = logging.getLogger("spii.test")

    def fail(error: str = "OSError") -> None:
        log.error("unhandled error", extra={"fields": {"error": error}})

    for _ in range(500):
        fail()
    fail("ValueError")  # another error from the same place is its own line
    now[0] += 30
    for _ in range(100):
        fail()
    log.info("info lines are never held back")
    log.info("info lines are never held back")
    now[0] += 31  # a minute after the first line
    fail()
    entries = lines(captured)
    assert [(e["msg"], e.get("error"), e.get("repeats_withheld")) for e in entries] == [
        ("unhandled error", "OSError", None), ("unhandled error", "ValueError", None),
        ("info lines are never held back", None, None), ("info lines are never held back", None, None),
        ("unhandled error", "OSError", 599)]
    text = logs.TextFormatter().format(logging.makeLogRecord({"name": "spii.x", "msg": "m", "levelname": "ERROR", "repeats_withheld": 3}))
    assert text.endswith("(3 more like it in the last minute)")
